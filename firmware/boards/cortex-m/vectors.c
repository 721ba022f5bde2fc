/* vectors.c - Armv7-M vector table and reset handler shared by the Cortex-M
 * boards.
 *
 * Only the 16 system exceptions are listed: no board here uses a peripheral
 * interrupt (the UARTs are polled), so the table stays 64 bytes. A fault ends
 * the run through board_exit() with CORTEX_M_FAULT_STATUS so that a test sees
 * a crash as a distinct failure rather than a hang.
 */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"
#include "start.h"

extern uint32_t __stack_top[];

void sparrow_reset(void) __attribute__((noreturn, section(".text.reset")));
void cortex_m_fault(void);
void cortex_m_unused(void);

/* Coprocessor Access Control Register: full access to CP10/CP11 (the FPU). */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define CPACR_FPU_FULL (0xFu << 20)

void sparrow_reset(void)
{
#if defined(__ARM_FP)
    SCB_CPACR |= CPACR_FPU_FULL;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    sparrow_start();
}

void cortex_m_fault(void)
{
    board_exit(CORTEX_M_FAULT_STATUS);
}

void cortex_m_unused(void)
{
    board_exit(CORTEX_M_FAULT_STATUS);
}

typedef void (*vector_fn)(void);

__attribute__((section(".vectors"), used))
static const vector_fn vector_table[16] = {
    (vector_fn)(uintptr_t)__stack_top,
    sparrow_reset,
    cortex_m_unused, /* NMI */
    cortex_m_fault,  /* HardFault */
    cortex_m_fault,  /* MemManage */
    cortex_m_fault,  /* BusFault */
    cortex_m_fault,  /* UsageFault */
    0, 0, 0, 0,
    cortex_m_unused, /* SVCall */
    cortex_m_unused, /* DebugMonitor */
    0,
    cortex_m_unused, /* PendSV */
    cortex_m_systick_handler,
};
