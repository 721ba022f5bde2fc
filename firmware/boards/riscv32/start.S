/* start.S - reset entry for RV32 boards: global pointer, stack, trap vector,
 * then the common C startup. The trap handler ends the run with
 * RISCV_TRAP_STATUS (see riscv32.h) so a crash is a distinct test failure. */
    .section .text.reset, "ax"
    .globl sparrow_reset
sparrow_reset:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
    la t0, riscv_trap_entry
    csrw mtvec, t0
    call sparrow_start
1:  j 1b

    .balign 4
riscv_trap_entry:
    la sp, __stack_top
    call riscv_trap
2:  j 2b
