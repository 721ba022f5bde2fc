/* systick.c - a 1 kHz millisecond clock from the Armv7-M SysTick timer. */
#include <stdint.h>

#include "cortex_m.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CPU (1u << 2)

static volatile uint32_t millis;

void cortex_m_systick_start(uint32_t cpu_hz)
{
    SYST_RVR = cpu_hz / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;
}

uint32_t cortex_m_systick_millis(void)
{
    return millis;
}

void cortex_m_systick_handler(void)
{
    millis = millis + 1u;
}
