/* board.h - the whole interface between Sparrow's firmware and a board.
 *
 * Everything above this line (nn/, link/, app/, shared_c/) is portable C99;
 * everything below it lives in one folder per board under boards/ plus the
 * architecture helpers it shares (boards/cortex-m, boards/riscv32). A port to
 * a real STM32 or ESP32-C3 implements these functions in a new folder.
 */
#ifndef SPARROW_BOARD_H
#define SPARROW_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Bring up clocks, the UART and the millisecond timer. Called by the common
 * startup code before main(). */
void board_init(void);

/* Send one byte on the link UART; blocks while the transmitter is full. */
void board_uart_write(uint8_t byte);

/* Take one received byte from the link UART: 0..255, or -1 when none waits.
 * Never blocks. */
int board_uart_read(void);

/* Milliseconds since board_init(), wrapping at 2^32. */
uint32_t board_millis(void);

/* Stop the board and report status to whoever runs it (semihosting or a test
 * device under QEMU; a reset or a halt on real hardware). 0 means success. */
void board_exit(int status) __attribute__((noreturn));

/* Restart the firmware from its reset vector, keeping nothing in RAM. */
void board_reset(void) __attribute__((noreturn));

/* Short name of the board, e.g. "mps2-an386". */
const char *board_name(void);

/* Largest number of stack bytes used since boot, measured by scanning the
 * pattern the startup code painted over the stack region. */
size_t board_stack_peak(void);

/* Size of the stack region in bytes. */
size_t board_stack_size(void);

#endif /* SPARROW_BOARD_H */
