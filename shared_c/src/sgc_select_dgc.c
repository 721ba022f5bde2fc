/* sgc_select_dgc.c - Deep Gradient Compression's sampled threshold, the peer
 * baseline: sample 1% of g at random positions (at least 1024, at most n),
 * take the threshold of the sample's top k*s/n, count and collect over g,
 * move the threshold by DGC's factors while the count is off, and when too
 * many pass, select exactly k among them (DGC's hierarchical top-k). */
#include "sgc_kselect.h"
#include "sgc_math.h"
#include "sgc_rng.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"

#define SGC_DGC_SAMPLE_DIV 100u
#define SGC_DGC_SAMPLE_MIN 1024u

static uint32_t sample_size(uint32_t n)
{
    uint32_t s = n / SGC_DGC_SAMPLE_DIV;
    if (s < SGC_DGC_SAMPLE_MIN) {
        s = SGC_DGC_SAMPLE_MIN;
    }
    return s < n ? s : n;
}

size_t sgci_dgc_scratch_bytes(uint32_t n, uint32_t k)
{
    size_t cands = sgci_cands_bytes(sgci_cands_cap(n, k));
    size_t sample = sgc_size_mul(sample_size(n), 4u);
    return cands == 0u || cands > SIZE_MAX - sample ? 0u : cands + sample;
}

sgc_status sgci_run_dgc(const sgc_job *job)
{
    sgc_cands c;
    sgc_band band;
    uint32_t cap = sgci_cands_cap(job->n, job->k), s = sample_size(job->n), i, ks;
    uint64_t rng = job->opt.seed;
    uint32_t p;
    uint32_t *sample;
    sgci_cands_bind(&c, job->scratch, cap);
    sample = (uint32_t *)(void *)((uint8_t *)job->scratch + sgci_cands_bytes(cap));
    for (i = 0u; i < s; ++i) {
        sample[i] = sgc_key(job->g[sgci_rng_below(&rng, job->n)]);
    }
    /* ceil(k s / n), in float: the sample's share is approximate anyway */
    ks = (uint32_t)((float)job->k * ((float)s / (float)job->n)) + 1u;
    ks = ks < s ? ks : s;
    p = sgci_kselect(sample, s, ks - 1u);
    band = sgci_band_make(job->k, job->opt.tol, job->cap);
    job->info->passes = 0u;
    return sgci_search(job->g, job->n, &band, p < SGC_KEY_NONFINITE ? sgc_u2f(p) : 0.0f,
                       0.0f, job->opt.max_iter, 1, &c, job->idx, job->vals, job->count,
                       job->info);
}
