/* cortex_m.h - helpers the Cortex-M boards share: SysTick millisecond clock,
 * semihosting exit, system reset. */
#ifndef SPARROW_CORTEX_M_H
#define SPARROW_CORTEX_M_H

#include <stdint.h>

/* Exit status reported when the CPU takes a fault. */
#define CORTEX_M_FAULT_STATUS 3

/* Start SysTick as a 1 kHz tick from the core clock of cpu_hz. */
void cortex_m_systick_start(uint32_t cpu_hz);

/* Milliseconds counted by SysTick since cortex_m_systick_start(). */
uint32_t cortex_m_systick_millis(void);

/* The SysTick exception handler (in the vector table). */
void cortex_m_systick_handler(void);

/* Report status to the debugger or QEMU through semihosting
 * SYS_EXIT_EXTENDED and stop. Without a debugger attached, a real core
 * halts on the BKPT (or faults): real-board ports should not call this. */
void cortex_m_semihost_exit(int status) __attribute__((noreturn));

/* Request a system reset through SCB->AIRCR.SYSRESETREQ. */
void cortex_m_system_reset(void) __attribute__((noreturn));

#endif /* SPARROW_CORTEX_M_H */
