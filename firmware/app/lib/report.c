/* report.c - machine-readable console lines (see report.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "report.h"

#define VALUES_PER_LINE 8u

uint32_t report_bits(float value)
{
    uint32_t bits;

    memcpy(&bits, &value, sizeof bits);
    return bits;
}

void report_float(const char *tag, float value)
{
    printf("%s %08" PRIx32 "\n", tag, report_bits(value));
}

void report_floats(const char *tag, const float *values, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; ++i) {
        if (i % VALUES_PER_LINE == 0) {
            printf("%s%s %" PRIu32, i == 0 ? "" : "\n", tag, i);
        }
        printf(" %08" PRIx32, report_bits(values[i]));
    }
    printf("\n");
}

void report_stack(void)
{
    printf("stack %u %u\n", (unsigned)board_stack_peak(), (unsigned)board_stack_size());
}
