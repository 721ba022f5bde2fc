/* sgc_math.c - logarithm and exponential without libm.
 *
 * ln: split x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
 * ln(m) = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172, four odd terms
 * (truncation below 3e-8). exp: x = j ln2 + r with |r| <= ln2/2, a degree-6
 * Taylor polynomial for e^r (truncation below 3e-7) and the exponent field
 * for 2^j. Both are only used for thresholds, scales and entropies, where
 * 1e-6 relative error is far below the count tolerance. */
#include "sgc_math.h"

#define SGC_LN2_HI 0.693145751953125f   /* ln 2 with its low bits cleared */
#define SGC_LN2_LO 1.42860682030941723212e-6f
#define SGC_LN2 0.69314718055994530942f

float sgci_ln(float x)
{
    uint32_t u = sgc_f2u(x);
    int32_t e;
    float m, s, s2, poly;

    if (!(x > 0.0f)) {
        return -88.0f;
    }
    e = 0;
    if (u < 0x00800000u) { /* subnormal: scale into the normal range */
        x *= 8388608.0f; /* 2^23 */
        u = sgc_f2u(x);
        e = -23;
    }
    e += (int32_t)(u >> 23) - 127;
    m = sgc_u2f((u & 0x007FFFFFu) | 0x3F800000u);
    if (m > 1.41421356f) {
        m *= 0.5f;
        e += 1;
    }
    s = (m - 1.0f) / (m + 1.0f);
    s2 = s * s;
    poly = 1.0f + s2 * (1.0f / 3.0f + s2 * (1.0f / 5.0f + s2 * (1.0f / 7.0f)));
    return (float)e * SGC_LN2_HI + ((float)e * SGC_LN2_LO + 2.0f * s * poly);
}

float sgci_exp(float x)
{
    float r, p, jf;
    int32_t j;

    if (x < -87.0f) {
        return 0.0f;
    }
    if (x > 88.0f) {
        x = 88.0f;
    }
    jf = x * (1.0f / SGC_LN2);
    j = (int32_t)(jf + (jf >= 0.0f ? 0.5f : -0.5f));
    r = (x - (float)j * SGC_LN2_HI) - (float)j * SGC_LN2_LO;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6.0f + r * (1.0f / 24.0f +
        r * (1.0f / 120.0f + r * (1.0f / 720.0f))))));
    /* x in [-87, 88] keeps j in [-126, 127]: 2^j is a normal float. */
    return p * sgc_u2f((uint32_t)(j + 127) << 23);
}

float sgci_floor(float x)
{
    float t = (float)(int32_t)x;
    return t > x ? t - 1.0f : t;
}
