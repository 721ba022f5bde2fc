/* sgc_select.c - the selector entry point: argument checks, scratch sizes and
 * a registry of the methods. */
#include "sgc.h"

#include "sgc_math.h"
#include "sgc_select_internal.h"

typedef struct {
    size_t (*scratch_bytes)(uint32_t n, uint32_t k);
    sgc_status (*run)(const sgc_job *job);
} sgc_method_entry;

/* The selector bits of sgc_config.h follow the sgc_method numbering. */
typedef char sgc_check_selector_bits[
    (SGC_SELECTOR_BIT(SGC_SELECT_EXACT) == SGC_SELECTOR_BIT_EXACT &&
     SGC_SELECTOR_BIT(SGC_SELECT_LAPLACE) == SGC_SELECTOR_BIT_LAPLACE &&
     SGC_SELECTOR_BIT(SGC_SELECT_PARTITION) == SGC_SELECTOR_BIT_PARTITION &&
     SGC_SELECTOR_BIT(SGC_SELECT_DGC) == SGC_SELECTOR_BIT_DGC &&
     SGC_SELECTOR_BIT(SGC_SELECT_RANDOM) == SGC_SELECTOR_BIT_RANDOM &&
     SGC_SELECTOR_BIT(SGC_METHOD_COUNT) - 1u == SGC_SELECTORS_ALL) ? 1 : -1];

/* indexed by sgc_method; {0, 0}: left out of this build (SGC_SELECTORS) */
static const sgc_method_entry methods[SGC_METHOD_COUNT] = {
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_EXACT
    {sgci_exact_scratch_bytes, sgci_run_exact},
#else
    {0, 0},
#endif
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_LAPLACE
    {sgci_laplace_scratch_bytes, sgci_run_laplace},
#else
    {0, 0},
#endif
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_PARTITION
    {sgci_partition_scratch_bytes, sgci_run_partition_cold},
#else
    {0, 0},
#endif
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_DGC
    {sgci_dgc_scratch_bytes, sgci_run_dgc},
#else
    {0, 0},
#endif
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_RANDOM
    {sgci_random_scratch_bytes, sgci_run_random},
#else
    {0, 0},
#endif
};

/* 1 when `method` is known and compiled in */
static int available(sgc_method method)
{
    return (uint32_t)method < SGC_METHOD_COUNT && methods[method].run != 0;
}

void sgc_select_options_init(sgc_select_options *opt)
{
    if (opt != NULL) {
        opt->tol = SGC_DEFAULT_TOL;
        opt->max_iter = SGC_DEFAULT_MAX_ITER;
        opt->seed = 0u;
    }
}

sgc_status sgci_job_check(const float *g, uint32_t n, uint32_t k,
                          const sgc_select_options *opt, const uint32_t *idx,
                          const float *vals, uint32_t cap, const uint32_t *count)
{
    if (g == NULL || idx == NULL || vals == NULL || count == NULL) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    if (k == 0u || k > n) {
        return SGC_E_K;
    }
    if (opt != NULL && (!sgc_isfinite(opt->tol) || opt->tol < 0.0f || opt->tol >= 1.0f)) {
        return SGC_E_OPTION;
    }
    if (cap < k) {
        return SGC_E_CAPACITY;
    }
    return SGC_OK;
}

void sgci_job_init(sgc_job *job, const float *g, uint32_t n, uint32_t k,
                   const sgc_select_options *opt, void *scratch, uint32_t *idx,
                   float *vals, uint32_t cap, uint32_t *count, sgc_select_info *info,
                   sgc_select_info *local)
{
    job->g = g;
    job->n = n;
    job->k = k;
    sgc_select_options_init(&job->opt);
    if (opt != NULL) {
        job->opt = *opt;
    }
    job->scratch = scratch;
    job->idx = idx;
    job->vals = vals;
    job->cap = cap;
    job->count = count;
    job->info = info != NULL ? info : local;
    job->moments = NULL;
    job->info->passes = 0u;
    job->info->iterations = 0u;
    job->info->exact = false;
    job->info->threshold = 0.0f;
}

sgc_status sgci_scratch_check(const void *scratch, size_t have, size_t need)
{
    if (need == 0u) {
        return SGC_OK;
    }
    if (scratch == NULL || have < need || ((uintptr_t)scratch & 3u) != 0u) {
        return SGC_E_SCRATCH;
    }
    return SGC_OK;
}

size_t sgc_select_scratch_bytes(sgc_method method, uint32_t n, uint32_t k)
{
    if (!available(method) || n == 0u || n > SGC_MAX_N || k == 0u || k > n) {
        return 0u;
    }
    return methods[method].scratch_bytes(n, k);
}

sgc_status sgc_select(sgc_method method, const float *g, uint32_t n, uint32_t k,
                      const sgc_select_options *opt, void *scratch, size_t scratch_bytes,
                      uint32_t *idx, float *vals, uint32_t cap, uint32_t *count,
                      sgc_select_info *info)
{
    return sgci_select_moments(method, NULL, g, n, k, opt, scratch, scratch_bytes, idx, vals,
                               cap, count, info);
}

sgc_status sgci_select_moments(sgc_method method, const float *moments, const float *g,
                               uint32_t n, uint32_t k, const sgc_select_options *opt,
                               void *scratch, size_t scratch_bytes, uint32_t *idx,
                               float *vals, uint32_t cap, uint32_t *count,
                               sgc_select_info *info)
{
    sgc_job job;
    sgc_select_info local;
    sgc_status st = sgci_job_check(g, n, k, opt, idx, vals, cap, count);
    if (st != SGC_OK) {
        return st;
    }
    if (!available(method)) {
        return SGC_E_METHOD;
    }
    st = sgci_scratch_check(scratch, scratch_bytes, methods[method].scratch_bytes(n, k));
    if (st != SGC_OK) {
        return st;
    }
    sgci_job_init(&job, g, n, k, opt, scratch, idx, vals, cap, count, info, &local);
    job.moments = moments;
    return methods[method].run(&job);
}
