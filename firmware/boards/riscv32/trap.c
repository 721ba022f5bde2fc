/* trap.c - any exception ends the run with a distinct status. */
#include "board.h"
#include "riscv32.h"

void riscv_trap(void)
{
    board_exit(RISCV_TRAP_STATUS);
}
