/* riscv32.h - helpers the RV32 boards share. */
#ifndef SPARROW_RISCV32_H
#define SPARROW_RISCV32_H

/* Exit status reported when the CPU takes an exception. */
#define RISCV_TRAP_STATUS 3

/* Called from the trap vector in start.S; ends the run. */
void riscv_trap(void) __attribute__((noreturn));

#endif /* SPARROW_RISCV32_H */
