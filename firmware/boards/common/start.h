/* start.h - the entry from a board's reset code into the common startup. */
#ifndef SPARROW_START_H
#define SPARROW_START_H

/* Copy .data, clear .bss, set up TLS, paint the stack, run board_init() and
 * main(), then board_exit(main's result). Never returns. */
void sparrow_start(void) __attribute__((noreturn));

#endif /* SPARROW_START_H */
