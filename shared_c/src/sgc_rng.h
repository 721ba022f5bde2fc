/* sgc_rng.h - the one random generator of the core and the one random-k walk.
 *
 * Generator: SplitMix64 from a 64-bit seed, exactly as docs/PROTOCOL.md 4.3
 * defines it for STRATIFIED frames; a pick in [0, m) is the output mod m.
 * Random-k: index j is one pick in the stratum [floor(j n / k),
 * floor((j + 1) n / k)), drawn in order j = 0 .. k-1. The `random` selector,
 * sgc_random_indices, sgc_stratified_indices and the STRATIFIED index reader
 * all walk the strata with these functions, so a random-k selection travels
 * as its seed. Internal. */
#ifndef SGC_RNG_H
#define SGC_RNG_H

#include <stdint.h>

/* Next SplitMix64 output; advances *state. */
uint64_t sgci_rng_next(uint64_t *state);

/* Uniform-ish in [0, m), m >= 1: the next output mod m. */
uint32_t sgci_rng_below(uint64_t *state, uint32_t m);

/* The strata of (seed, n, k), 1 <= k <= n: the bounds advance by n / k plus
 * a carry from the remainders (Bresenham), in 32-bit arithmetic. */
typedef struct {
    uint64_t rng;
    uint32_t q;   /* n / k */
    uint32_t r;   /* n % k */
    uint32_t k;
    uint32_t acc; /* j r mod k */
    uint32_t lo;  /* floor(j n / k) */
} sgci_strata;

void sgci_strata_init(sgci_strata *s, uint64_t seed, uint32_t n, uint32_t k);

/* The index of the next stratum (call at most k times). */
uint32_t sgci_strata_next(sgci_strata *s);

/* All k indices, ascending, into idx (arguments already checked). */
void sgci_strata_fill(uint64_t seed, uint32_t n, uint32_t k, uint32_t *idx);

#endif /* SGC_RNG_H */
