/* report.h - machine-readable lines on the board's console.
 *
 * Floats travel as the 8 hex digits of their IEEE-754 bits, so the host
 * reads back exactly what the board computed (and printf needs no float
 * support). Every line is "<tag> <fields...>"; tests/test_firmware_*.py
 * parse them.
 */
#ifndef SPARROW_REPORT_H
#define SPARROW_REPORT_H

#include <stdint.h>

/* Bits of a float as an integer. */
uint32_t report_bits(float value);

/* "<tag> <hex>" */
void report_float(const char *tag, float value);

/* "<tag> <first> <hex> <hex> ..." in lines of 8 values, first counting from
 * 0: the reader concatenates them in order. */
void report_floats(const char *tag, const float *values, uint32_t n);

/* "stack <peak bytes> <region bytes>" */
void report_stack(void);

#endif /* SPARROW_REPORT_H */
