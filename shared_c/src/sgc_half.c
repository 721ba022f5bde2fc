/* sgc_half.c - binary16 <-> binary32 by bit manipulation. */
#include "sgc_half.h"

#include "sgc_math.h"

#define SGC_HALF_MAX_BITS 0x7BFFu        /* 65504 */
#define SGC_F32_HALF_OVERFLOW 0x477FF000u /* 65520: rounds past 65504 */
#define SGC_F32_HALF_MIN_NORMAL 0x38800000u /* 2^-14 */
#define SGC_F32_HALF_REBIAS 0x38000000u   /* (127 - 15) << 23 */

uint16_t sgci_half_from_float(float f)
{
    uint32_t u = sgc_f2u(f), a = u & 0x7FFFFFFFu;
    uint32_t sign = (u >> 16) & 0x8000u, h, rem;
    if (a >= SGC_F32_HALF_OVERFLOW) {
        return (uint16_t)(sign | SGC_HALF_MAX_BITS);
    }
    if (a < SGC_F32_HALF_MIN_NORMAL) {
        /* subnormal half: a multiple of 2^-24; x below is exact */
        float x = sgc_u2f(a) * 16777216.0f, frac;
        h = (uint32_t)x;
        frac = x - (float)h;
        if (frac > 0.5f || (frac == 0.5f && (h & 1u) != 0u)) {
            ++h;
        }
        return (uint16_t)(sign | h);
    }
    a -= SGC_F32_HALF_REBIAS;
    h = a >> 13;
    rem = a & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) {
        ++h; /* a carry into the exponent is the correct rounding */
    }
    return (uint16_t)(sign | h);
}

float sgci_half_to_float(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t e = ((uint32_t)h >> 10) & 0x1Fu, m = (uint32_t)h & 0x3FFu;
    if (e == 0u) {
        float x = (float)m * (1.0f / 16777216.0f);
        return sign != 0u ? -x : x;
    }
    if (e == 31u) {
        return sgc_u2f(sign | 0x7F800000u | (m << 13));
    }
    return sgc_u2f(sign | ((e + 112u) << 23) | (m << 13));
}
