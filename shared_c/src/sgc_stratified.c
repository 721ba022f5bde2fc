/* sgc_stratified.c - the core's random generator and random-k positions
 * from a shared seed (PROTOCOL.md 4.3, sgc_rng.h).
 *
 * One position per stratum [floor(i n / k), floor((i + 1) n / k)): ascending
 * and distinct by construction, O(k) with no sort, and the same on a
 * microcontroller, in CPython and in MicroPython, so a random-k frame carries
 * 8 bytes of seed instead of its indices. */
#include "sgc.h"
#include "sgc_rng.h"

uint64_t sgci_rng_next(uint64_t *state)
{
    uint64_t z;
    *state += 0x9E3779B97F4A7C15u;
    z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

uint32_t sgci_rng_below(uint64_t *state, uint32_t m)
{
    return (uint32_t)(sgci_rng_next(state) % m);
}

void sgci_strata_init(sgci_strata *s, uint64_t seed, uint32_t n, uint32_t k)
{
    s->rng = seed;
    s->q = n / k;
    s->r = n % k;
    s->k = k;
    s->acc = 0u;
    s->lo = 0u;
}

uint32_t sgci_strata_next(sgci_strata *s)
{
    uint32_t len = s->q, at;
    /* acc + r >= k, written without overflow (acc, r < k) */
    if (s->acc >= s->k - s->r) {
        s->acc -= s->k - s->r;
        ++len;
    } else {
        s->acc += s->r;
    }
    at = s->lo + sgci_rng_below(&s->rng, len);
    s->lo += len;
    return at;
}

void sgci_strata_fill(uint64_t seed, uint32_t n, uint32_t k, uint32_t *idx)
{
    sgci_strata s;
    uint32_t j;
    sgci_strata_init(&s, seed, n, k);
    for (j = 0u; j < k; ++j) {
        idx[j] = sgci_strata_next(&s);
    }
}

sgc_status sgc_stratified_indices(uint64_t seed, uint32_t n, uint32_t k, uint32_t *indices)
{
    if (indices == NULL) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    if (k == 0u || k > n) {
        return SGC_E_K;
    }
    sgci_strata_fill(seed, n, k, indices);
    return SGC_OK;
}
