/* sgc_half.h - IEEE binary16 conversions without hardware support. Internal. */
#ifndef SGC_HALF_H
#define SGC_HALF_H

#include <stdint.h>

/* Nearest-even binary16 of a finite float; magnitudes that would round past
 * the largest half (65504) saturate to it, so the result is always finite. */
uint16_t sgci_half_from_float(float f);

/* The float a binary16 stands for (exact; Inf/NaN patterns map to Inf/NaN). */
float sgci_half_to_float(uint16_t h);

#endif /* SGC_HALF_H */
