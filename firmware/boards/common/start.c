/* start.c - what every board does between its reset vector and main().
 *
 * The architecture's reset code (boards/cortex-m/vectors.c,
 * boards/riscv32/start.S) sets up the stack pointer and whatever the CPU needs
 * before C runs (the FPU on Cortex-M4F), then calls sparrow_start(). This file
 * copies initialised data, clears .bss, points picolibc at its thread-local
 * block, paints the unused stack so board_stack_peak() can measure it, and
 * hands main()'s return value to board_exit().
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "start.h"

/* Symbols of boards/common/sections.ld. */
extern uint8_t __data_start[], __data_end[], __data_source[];
extern uint8_t __bss_start[], __bss_end[];
extern uint8_t __tls_base[];
extern uint32_t __stack_bottom[], __stack_top[];

/* picolibc: install the thread-local block that holds errno. */
void _set_tls(void *tls);
int main(void);

/* A word that real stack contents rarely equal. */
#define STACK_PAINT 0xC5A5C3A5u
/* Words below our own frame left unpainted, so painting never overwrites the
 * frame that does the painting. */
#define STACK_MARGIN_WORDS 32u

static void paint_stack(void)
{
    volatile uint32_t here = 0;
    /* Integer arithmetic: the limit lies outside any C object. */
    uintptr_t limit = (uintptr_t)&here - STACK_MARGIN_WORDS * sizeof(uint32_t);
    uint32_t *p;

    for (p = __stack_bottom; (uintptr_t)p < limit; ++p) {
        *p = STACK_PAINT;
    }
}

size_t board_stack_peak(void)
{
    const uint32_t *p = __stack_bottom;

    while (p < __stack_top && *p == STACK_PAINT) {
        ++p;
    }
    return (size_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

size_t board_stack_size(void)
{
    return (size_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

void sparrow_start(void)
{
    memcpy(__data_start, __data_source, (size_t)(__data_end - __data_start));
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    _set_tls(__tls_base);
    paint_stack();
    board_init();
    board_exit(main());
}
