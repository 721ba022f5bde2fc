/* sgc_select_random.c - random-k with a shared seed. Stratified: the k
 * indices are one uniform pick in each of the strata
 * [floor(j n / k), floor((j + 1) n / k)), j = 0 .. k-1, drawn in order from
 * the sgc_rng stream of `seed`. So they come out distinct and ascending in
 * O(k), every index has probability close to k/n, and a receiver that knows
 * (seed, n, k) rebuilds them with sgc_random_indices: no index is sent. */
#include "sgc_math.h"
#include "sgc_rng.h"
#include "sgc_select_internal.h"

size_t sgc_random_scratch_bytes(uint32_t n, uint32_t k)
{
    (void)n;
    (void)k;
    return 0u;
}

/* Strata bounds floor(j n / k) advance by n / k plus a carry from the
 * remainders (Bresenham), in 32-bit arithmetic. */
static void strata(uint32_t seed, uint32_t n, uint32_t k, uint32_t *idx)
{
    uint32_t j, rng = seed, q = n / k, r = n % k, acc = 0u, lo = 0u;
    for (j = 0u; j < k; ++j) {
        uint32_t len = q;
        acc += r;
        if (acc >= k) {
            acc -= k;
            ++len;
        }
        idx[j] = lo + sgc_rng_below(&rng, len);
        lo += len;
    }
}

sgc_status sgc_random_indices(uint32_t seed, uint32_t n, uint32_t k, uint32_t *idx,
                              uint32_t cap)
{
    if (idx == NULL) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    if (k == 0u || k > n) {
        return SGC_E_K;
    }
    if (cap < k) {
        return SGC_E_CAPACITY;
    }
    strata(seed, n, k, idx);
    return SGC_OK;
}

sgc_status sgc_run_random(const sgc_job *job)
{
    uint32_t i, bad = 0u;
    for (i = 0u; i < job->n; ++i) { /* the contract rejects NaN/Inf anywhere */
        bad |= sgc_nonfinite_bits(sgc_key(job->g[i]));
    }
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        return SGC_E_NONFINITE;
    }
    strata(job->opt.seed, job->n, job->k, job->idx);
    for (i = 0u; i < job->k; ++i) {
        job->vals[i] = job->g[job->idx[i]];
    }
    *job->count = job->k;
    job->info->passes = 1u;
    return SGC_OK;
}
