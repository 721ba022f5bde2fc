/* sgc_select_internal.h - what the selector dispatcher hands each method.
 * Internal. */
#ifndef SGC_SELECT_INTERNAL_H
#define SGC_SELECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sgc.h"


/* One validated selection request: g finite-checked by the method itself,
 * n and k in range, cap >= k, scratch at least the method's size. */
typedef struct {
    const float *g;
    uint32_t n;
    uint32_t k;
    sgc_select_options opt;
    void *scratch;
    uint32_t *idx;
    float *vals;
    uint32_t cap;
    uint32_t *count;
    sgc_select_info *info;
    const float *moments; /* {sum g, sum |g|} when known (laplace skips its
                             first pass), else NULL */
} sgc_job;

/* Argument checks every selector entry point shares (not scratch). */
sgc_status sgci_job_check(const float *g, uint32_t n, uint32_t k,
                          const sgc_select_options *opt, const uint32_t *idx,
                          const float *vals, uint32_t cap, const uint32_t *count);

/* Fill a job from checked arguments (opt NULL: defaults; info NULL: *local)
 * and clear the info. */
void sgci_job_init(sgc_job *job, const float *g, uint32_t n, uint32_t k,
                   const sgc_select_options *opt, void *scratch, uint32_t *idx,
                   float *vals, uint32_t cap, uint32_t *count, sgc_select_info *info,
                   sgc_select_info *local);

/* sgc_select with the moments {sum g, sum |g|} of g already known (a residual
 * step computes them while it checks the update); NULL: not known. */
sgc_status sgci_select_moments(sgc_method method, const float *moments, const float *g,
                               uint32_t n, uint32_t k, const sgc_select_options *opt,
                               void *scratch, size_t scratch_bytes, uint32_t *idx,
                               float *vals, uint32_t cap, uint32_t *count,
                               sgc_select_info *info);

/* Scratch check: at least `need` bytes, 4-byte aligned when needed. */
sgc_status sgci_scratch_check(const void *scratch, size_t have, size_t need);

size_t sgci_exact_scratch_bytes(uint32_t n, uint32_t k);
size_t sgci_laplace_scratch_bytes(uint32_t n, uint32_t k);
size_t sgci_partition_scratch_bytes(uint32_t n, uint32_t k);
size_t sgci_dgc_scratch_bytes(uint32_t n, uint32_t k);
size_t sgci_random_scratch_bytes(uint32_t n, uint32_t k);

sgc_status sgci_run_exact(const sgc_job *job);
sgc_status sgci_run_laplace(const sgc_job *job);
sgc_status sgci_run_partition_cold(const sgc_job *job);
sgc_status sgci_run_dgc(const sgc_job *job);
sgc_status sgci_run_random(const sgc_job *job);

#endif /* SGC_SELECT_INTERNAL_H */
