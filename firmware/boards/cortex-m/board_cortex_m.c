/* board_cortex_m.c - the board.h functions every Cortex-M board here shares:
 * milliseconds from SysTick, exit through semihosting (these boards run under
 * QEMU, or a debugger), reset through SCB->AIRCR.SYSRESETREQ. Each board's
 * own board.c keeps what differs between them: clock, UART and name.
 * board_exit is weak: a real board with no debugger attached (where the
 * semihosting BKPT would halt the core) defines its own in its board.c. */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"

uint32_t board_millis(void)
{
    return cortex_m_systick_millis();
}

__attribute__((weak)) void board_exit(int status)
{
    cortex_m_semihost_exit(status);
}

void board_reset(void)
{
    cortex_m_system_reset();
}
