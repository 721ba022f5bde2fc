/* board.c - QEMU `-M virt` with an rv32imc core (the ESP32-C3 class).
 *
 * The UART is an NS16550A at 0x10000000; time comes from the CLINT's mtime
 * (10 MHz); exit and reset go through the SiFive test device at 0x100000.
 */
#include <stdint.h>

#include "board.h"

#define UART_BASE 0x10000000u
#define UART_RBR (*(volatile uint8_t *)(UART_BASE + 0u))
#define UART_THR (*(volatile uint8_t *)(UART_BASE + 0u))
#define UART_FCR (*(volatile uint8_t *)(UART_BASE + 2u))
#define UART_LCR (*(volatile uint8_t *)(UART_BASE + 3u))
#define UART_LSR (*(volatile uint8_t *)(UART_BASE + 5u))
#define LCR_8N1 0x03u
#define FCR_ENABLE_AND_CLEAR 0x07u
#define LSR_DATA_READY (1u << 0)
#define LSR_THR_EMPTY (1u << 5)

#define MTIME_LO (*(volatile uint32_t *)0x0200BFF8u)
#define MTIME_HI (*(volatile uint32_t *)0x0200BFFCu)
#define MTIME_HZ 10000000u

#define TEST_DEVICE (*(volatile uint32_t *)0x00100000u)
#define TEST_PASS 0x5555u
#define TEST_FAIL 0x3333u
#define TEST_RESET 0x7777u

static uint64_t boot_time;

static uint64_t mtime(void)
{
    uint32_t hi, lo;

    do {
        hi = MTIME_HI;
        lo = MTIME_LO;
    } while (hi != MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}

void board_init(void)
{
    UART_LCR = LCR_8N1;
    UART_FCR = FCR_ENABLE_AND_CLEAR;
    boot_time = mtime();
}

void board_uart_write(uint8_t byte)
{
    while (!(UART_LSR & LSR_THR_EMPTY)) {
    }
    UART_THR = byte;
}

int board_uart_read(void)
{
    if (!(UART_LSR & LSR_DATA_READY)) {
        return -1;
    }
    return (int)UART_RBR;
}

uint32_t board_millis(void)
{
    return (uint32_t)((mtime() - boot_time) / (MTIME_HZ / 1000u));
}

void board_exit(int status)
{
    if (status == 0) {
        TEST_DEVICE = TEST_PASS;
    } else {
        /* The test device carries a 16-bit exit code above the fail code. */
        TEST_DEVICE = ((uint32_t)status << 16) | TEST_FAIL;
    }
    for (;;) {
    }
}

void board_reset(void)
{
    TEST_DEVICE = TEST_RESET;
    for (;;) {
    }
}

const char *board_name(void)
{
    return "riscv32-virt";
}
