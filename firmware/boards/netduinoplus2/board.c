/* board.c - Netduino Plus 2 (STM32F405RG, Cortex-M4F) as emulated by QEMU
 * `-M netduinoplus2`.
 *
 * The link runs on USART1 (PA9/PA10 on the real board). QEMU's USART needs
 * no clock or pin set-up; a real STM32F405 also needs RCC clock enables and
 * GPIO alternate functions (see docs/firmware.md). Time, exit (through
 * semihosting) and reset are the Cortex-M ones (cortex-m/board_cortex_m.c).
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"

/* QEMU models the STM32F405 running at 168 MHz from reset (a real chip
 * starts on its 16 MHz HSI until the PLL is set up; see docs/firmware.md).
 * SysTick counts the same clock. */
#define CPU_HZ 168000000u

#define USART1_BASE 0x40011000u
#define USART_SR (*(volatile uint32_t *)(USART1_BASE + 0x00u))
#define USART_DR (*(volatile uint32_t *)(USART1_BASE + 0x04u))
#define USART_BRR (*(volatile uint32_t *)(USART1_BASE + 0x08u))
#define USART_CR1 (*(volatile uint32_t *)(USART1_BASE + 0x0Cu))
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)
#define BAUD 115200u

void board_init(void)
{
    USART_BRR = CPU_HZ / BAUD;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
    cortex_m_systick_start(CPU_HZ);
}

void board_uart_write(uint8_t byte)
{
    while (!(USART_SR & USART_SR_TXE)) {
    }
    USART_DR = byte;
}

int board_uart_read(void)
{
    if (!(USART_SR & USART_SR_RXNE)) {
        return -1;
    }
    return (int)(USART_DR & 0xFFu);
}

const char *board_name(void)
{
    return "netduinoplus2";
}
