/* stdio.c - picolibc's stdout and stderr write to the board's UART.
 *
 * Linked only into firmware that prints (the on-target tests and the
 * measurement programs); the link firmware keeps its UART for frames.
 * No buffering and no heap: each character goes straight to the UART.
 */
#include <stdio.h>

#include "board.h"

static int uart_put(char c, FILE *file)
{
    (void)file;
    if (c == '\n') {
        board_uart_write((uint8_t)'\r');
    }
    board_uart_write((uint8_t)c);
    return (unsigned char)c;
}

static FILE uart_stream = FDEV_SETUP_STREAM(uart_put, NULL, NULL, _FDEV_SETUP_WRITE);

FILE *const stdout = &uart_stream;
FILE *const stderr = &uart_stream;
