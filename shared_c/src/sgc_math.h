/* sgc_math.h - float bit access and the few transcendental functions the core
 * needs, without libm (MCU builds link no maths library). Internal. */
#ifndef SGC_MATH_H
#define SGC_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bits of the largest finite magnitude + 1: an |x| key at or above it is
 * Inf or NaN. */
#define SGC_KEY_NONFINITE 0x7F800000u

/* The few loops that read a whole gradient are also compiled for AVX2 on
 * x86-64 Linux with GCC and picked when the program loads (the host binding
 * reads 10^7-element gradients); every other build has one portable copy. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SGC_HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define SGC_HOT_LOOP
#endif

/* Before a short constant-trip loop over lanes. SGC_VECTOR_LANES: keep it a
 * loop for the vectoriser on x86-64/AArch64 hosts (GCC -O3 would unroll it
 * first and leave scalar code); nothing elsewhere. SGC_UNROLL_LANES: the
 * same on those hosts, unrolled on builds that do not vectorise (-Os on a
 * Cortex-M would otherwise keep the lane arrays in memory: a load and a
 * store an element more). */
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__aarch64__))
#define SGC_VECTOR_LANES _Pragma("GCC unroll 1")
#define SGC_UNROLL_LANES SGC_VECTOR_LANES
#elif defined(__GNUC__) && !defined(__clang__)
#define SGC_VECTOR_LANES
#define SGC_UNROLL_LANES _Pragma("GCC unroll 8")
#else
#define SGC_VECTOR_LANES
#define SGC_UNROLL_LANES
#endif

/* A rare path kept out of its loop, so the loop keeps its registers. */
#if defined(__GNUC__) || defined(__clang__)
#define SGC_NOINLINE __attribute__((noinline))
#else
#define SGC_NOINLINE
#endif

/* a * b as a size_t, 0 when the product does not fit (32-bit targets). */
static inline size_t sgc_size_mul(uint32_t a, uint32_t b)
{
#if SIZE_MAX >= 0xFFFFFFFFFFFFFFFFu
    return (size_t)a * b;
#else
    uint64_t p = (uint64_t)a * b;
    return p > SIZE_MAX ? 0u : (size_t)p;
#endif
}

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

/* A NaN/Inf detector that vectorises with plain SSE2 or NEON (which lack an
 * unsigned max): OR sgc_nonfinite_bits(key) over all keys; the result has
 * SGC_NONFINITE_FLAG set iff some key is >= SGC_KEY_NONFINITE. */
#define SGC_NONFINITE_FLAG 0x80000000u

static inline uint32_t sgc_nonfinite_bits(uint32_t key)
{
    return key + 0x00800000u;
}

/* |x|: one instruction where the target has a float unit (vabs.f32 on
 * Cortex-M4F, andps on x86-64), a bit clear elsewhere; no libm call. */
static inline float sgc_fabs(float x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_fabsf(x);
#else
    return sgc_u2f(sgc_key(x));
#endif
}

/* Hit test for counting passes: OR sgc_hit_bits(key, tkey - 1) over keys and
 * the result has SGC_NONFINITE_FLAG (the top bit) set iff some key >= tkey
 * (keys and tkey in [0, 2^31]; tkey 0 gives tkey - 1 = UINT32_MAX, all hits).
 * A subtract and an OR: two instructions on a Cortex-M, and it vectorises
 * with plain SSE2/NEON. */
static inline uint32_t sgc_hit_bits(uint32_t key, uint32_t tkey_minus_1)
{
    return tkey_minus_1 - key;
}

static inline int sgc_isfinite(float x)
{
    return sgc_key(x) < SGC_KEY_NONFINITE;
}

/* Natural logarithm of a finite x > 0 (absolute error below 4e-6 over the
 * float range, below 1e-6 for x in [1e-8, 1e8]);
 * returns -88 for x <= 0. */
float sgci_ln(float x);

/* e^x, relative error below 1e-6; 0 below -87, about 1.7e38 above 88. */
float sgci_exp(float x);

/* Largest integer <= x for |x| < 2^31. */
float sgci_floor(float x);

#endif /* SGC_MATH_H */
