/* sgc_rng.h - the one random generator of the core: a counter hashed by the
 * murmur3 finaliser (splitmix32 style). Sender and receiver rebuild the same
 * stream from the same seed; docs/methods.md spells it out for other
 * languages. Internal. */
#ifndef SGC_RNG_H
#define SGC_RNG_H

#include <stdint.h>

static inline uint32_t sgc_rng_next(uint32_t *state)
{
    uint32_t z = (*state += 0x9E3779B9u);
    z = (z ^ (z >> 16)) * 0x85EBCA6Bu;
    z = (z ^ (z >> 13)) * 0xC2B2AE35u;
    return z ^ (z >> 16);
}

/* Uniform in [0, m) by multiply-shift (m >= 1). */
static inline uint32_t sgc_rng_below(uint32_t *state, uint32_t m)
{
    return (uint32_t)(((uint64_t)sgc_rng_next(state) * m) >> 32);
}

#endif /* SGC_RNG_H */
