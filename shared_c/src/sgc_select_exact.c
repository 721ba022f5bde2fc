/* sgc_select_exact.c - true top-k by magnitude: introselect over a copy of
 * the magnitude keys (one pass to copy, O(n) expected to select, one pass to
 * emit in index order; ties at the k-th magnitude go to the lowest indices). */
#include "sgc_kselect.h"
#include "sgc_math.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"

size_t sgci_exact_scratch_bytes(uint32_t n, uint32_t k)
{
    (void)k;
    return sgc_size_mul(n, 4u);
}

sgc_status sgci_run_exact(const sgc_job *job)
{
    uint32_t *keys = (uint32_t *)job->scratch;
    uint32_t i, bad = 0u, p, gt = 0u, ties, m;
    for (i = 0u; i < job->n; ++i) {
        keys[i] = sgc_key(job->g[i]);
        bad |= sgc_nonfinite_bits(keys[i]);
    }
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        return SGC_E_NONFINITE;
    }
    p = sgci_kselect(keys, job->n, job->k - 1u);
    for (i = 0u; i + 1u < job->k; ++i) {
        gt += (uint32_t)(keys[i] > p);
    }
    ties = job->k - gt;
    m = sgci_emit_top(job->g, job->n, job->k, p, ties, job->idx, job->vals);
    *job->count = m;
    job->info->passes = 2u; /* over g: copy and emit; introselect works on the copy */
    job->info->exact = true;
    job->info->threshold = sgc_u2f(p);
    return SGC_OK;
}
