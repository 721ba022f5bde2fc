/* board.c - Arm MPS2 AN386 (Cortex-M4F) as emulated by QEMU `-M mps2-an386`.
 *
 * UART0 is an Arm CMSDK APB UART; the core clock is 25 MHz. Exit goes through
 * semihosting, so QEMU must run with `-semihosting-config enable=on`; time,
 * exit and reset are the Cortex-M ones (cortex-m/board_cortex_m.c).
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"

#define CPU_HZ 25000000u

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TX_FULL (1u << 0)
#define UART_STATE_RX_FULL (1u << 1)
#define UART_CTRL_TX_EN (1u << 0)
#define UART_CTRL_RX_EN (1u << 1)
#define BAUD 115200u

void board_init(void)
{
    UART_BAUDDIV = CPU_HZ / BAUD;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
    cortex_m_systick_start(CPU_HZ);
}

void board_uart_write(uint8_t byte)
{
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = byte;
}

int board_uart_read(void)
{
    if (!(UART_STATE & UART_STATE_RX_FULL)) {
        return -1;
    }
    return (int)(UART_DATA & 0xFFu);
}

const char *board_name(void)
{
    return "mps2-an386";
}
