/* sgc_math.h - float bit access and the few transcendental functions the core
 * needs, without libm (MCU builds link no maths library). Internal. */
#ifndef SGC_MATH_H
#define SGC_MATH_H

#include <stdint.h>
#include <string.h>

/* Bits of the largest finite magnitude + 1: an |x| key at or above it is
 * Inf or NaN. */
#define SGC_KEY_NONFINITE 0x7F800000u

static inline uint32_t sgc_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float sgc_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Magnitude key: the bits of |x|. For finite x the keys order exactly like
 * the magnitudes, so selectors compare integers. */
static inline uint32_t sgc_key(float x)
{
    return sgc_f2u(x) & 0x7FFFFFFFu;
}

static inline int sgc_isfinite(float x)
{
    return sgc_key(x) < SGC_KEY_NONFINITE;
}

/* Natural logarithm of a finite x > 0 (relative error below 1e-6);
 * returns -88 for x <= 0. */
float sgc_ln(float x);

/* e^x, relative error below 2e-7; 0 below -87, FLT_MAX-ish above 88. */
float sgc_exp(float x);

/* Largest integer <= x for |x| < 2^31. */
float sgc_floor(float x);

#endif /* SGC_MATH_H */
