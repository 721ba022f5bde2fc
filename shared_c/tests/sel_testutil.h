/* sel_testutil.h - helpers shared by the selection tests: a deterministic
 * generator of test gradients and result checks. Header-only so each test
 * program stays one file. */
#ifndef SEL_TESTUTIL_H
#define SEL_TESTUTIL_H

#include <stdint.h>
#include <string.h>

#include "sgc.h"
#include "sgc_math.h"

static uint32_t tu_state = 12345u;

static inline uint32_t tu_next(void)
{
    tu_state ^= tu_state << 13;
    tu_state ^= tu_state >> 17;
    tu_state ^= tu_state << 5;
    return tu_state;
}

/* uniform in (0, 1) */
static inline float tu_uniform(void)
{
    return ((float)(tu_next() >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* Laplace(0, b) by inversion */
static inline float tu_laplace(float b)
{
    float u = tu_uniform() - 0.5f;
    float a = u < 0.0f ? -u : u;
    float x = -b * sgci_ln(1.0f - 2.0f * a);
    return u < 0.0f ? -x : x;
}

static inline void tu_fill_laplace(float *g, uint32_t n, float b)
{
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        g[i] = tu_laplace(b);
    }
}

/* the count band of the default options: [k, k + floor(k tol)] */
static inline uint32_t tu_lo(uint32_t k)
{
    return k;
}

static inline uint32_t tu_hi(uint32_t k)
{
    return k + (uint32_t)((float)k * SGC_DEFAULT_TOL);
}

static inline float tu_from_bits(uint32_t u)
{
    return sgc_u2f(u);
}

static inline int tu_ascending(const uint32_t *idx, uint32_t m, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < m; ++i) {
        if (idx[i] >= n || (i > 0u && idx[i] <= idx[i - 1u])) {
            return 0;
        }
    }
    return 1;
}

static inline int tu_values_match(const float *g, const uint32_t *idx, const float *vals, uint32_t m)
{
    uint32_t i;
    for (i = 0u; i < m; ++i) {
        if (sgc_f2u(g[idx[i]]) != sgc_f2u(vals[i])) {
            return 0;
        }
    }
    return 1;
}

/* 1 when no unselected magnitude exceeds a selected one. */
static inline int tu_is_top_set(const float *g, uint32_t n, const uint32_t *idx, uint32_t m)
{
    uint32_t i, j = 0u, min_sel = UINT32_MAX, max_rest = 0u;
    for (i = 0u; i < n; ++i) {
        uint32_t key = sgc_key(g[i]);
        if (j < m && idx[j] == i) {
            min_sel = key < min_sel ? key : min_sel;
            ++j;
        } else {
            max_rest = key > max_rest ? key : max_rest;
        }
    }
    return m == 0u || max_rest <= min_sel;
}

/* sum of squares of the selected values */
static inline float tu_energy(const float *vals, uint32_t m)
{
    uint32_t i;
    float s = 0.0f;
    for (i = 0u; i < m; ++i) {
        s += vals[i] * vals[i];
    }
    return s;
}

#endif /* SEL_TESTUTIL_H */
