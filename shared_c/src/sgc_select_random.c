/* sgc_select_random.c - random-k with a shared seed. Stratified: the k
 * indices are one pick in each of the strata
 * [floor(j n / k), floor((j + 1) n / k)), j = 0 .. k-1, drawn in order from
 * the SplitMix64 stream of `seed` (sgc_rng.h). So they come out distinct and
 * ascending in O(k), every index has probability close to k/n, and a
 * receiver that knows (seed, n, k) rebuilds them with sgc_random_indices or
 * from a STRATIFIED frame carrying the same seed: no index is sent. */
#include "sgc_math.h"
#include "sgc_rng.h"
#include "sgc_select_internal.h"

size_t sgci_random_scratch_bytes(uint32_t n, uint32_t k)
{
    (void)n;
    (void)k;
    return 0u;
}

sgc_status sgc_random_indices(uint64_t seed, uint32_t n, uint32_t k, uint32_t *idx,
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
    sgci_strata_fill(seed, n, k, idx);
    return SGC_OK;
}

sgc_status sgci_run_random(const sgc_job *job)
{
    uint32_t i, bad = 0u;
    for (i = 0u; i < job->n; ++i) { /* the contract rejects NaN/Inf anywhere */
        bad |= sgc_nonfinite_bits(sgc_key(job->g[i]));
    }
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        return SGC_E_NONFINITE;
    }
    sgci_strata_fill(job->opt.seed, job->n, job->k, job->idx);
    for (i = 0u; i < job->k; ++i) {
        job->vals[i] = job->g[job->idx[i]];
    }
    *job->count = job->k;
    job->info->passes = 1u;
    return SGC_OK;
}
