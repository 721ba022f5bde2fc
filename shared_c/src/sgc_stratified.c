/* sgc_stratified.c - random-k positions from a shared seed (PROTOCOL.md 4.3).
 *
 * One position per stratum [floor(i n / k), floor((i + 1) n / k)): ascending
 * and distinct by construction, O(k) with no sort, and the same on a
 * microcontroller, in CPython and in MicroPython, so a random-k frame carries
 * 8 bytes of seed instead of its indices. */
#include "sgc_frame_internal.h"

uint64_t sgc_splitmix64(uint64_t *state)
{
    uint64_t z;
    *state += 0x9E3779B97F4A7C15u;
    z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

uint32_t sgc_stratum_pick(uint64_t *state, uint32_t n, uint32_t k, uint32_t i)
{
    uint32_t lo = (uint32_t)(((uint64_t)i * n) / k);
    uint32_t hi = (uint32_t)(((uint64_t)(i + 1u) * n) / k);
    return lo + (uint32_t)(sgc_splitmix64(state) % (hi - lo));
}

sgc_status sgc_stratified_indices(uint64_t seed, uint32_t n, uint32_t k, uint32_t *indices)
{
    uint64_t state = seed;
    uint32_t i;
    if (indices == NULL) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    if (k == 0u || k > n) {
        return SGC_E_K;
    }
    for (i = 0; i < k; ++i) {
        indices[i] = sgc_stratum_pick(&state, n, k, i);
    }
    return SGC_OK;
}
