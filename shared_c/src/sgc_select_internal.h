/* sgc_select_internal.h - what the selector dispatcher hands each method.
 * Internal. */
#ifndef SGC_SELECT_INTERNAL_H
#define SGC_SELECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sgc.h"

/* Selectors compiled in, one bit per sgc_method (bit 0 exact, 1 laplace,
 * 2 partition, 3 dgc, 4 random); the others answer SGC_E_METHOD and their
 * code is dropped by the linker's --gc-sections. A node that only runs
 * laplace builds with -DSGC_SELECTORS=0x02u. The default (all) belongs in
 * sgc_config.h; it is here until that header carries it. */
#ifndef SGC_SELECTORS
#define SGC_SELECTORS 0x1Fu
#endif

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
} sgc_job;

/* Argument checks every selector entry point shares (not scratch). */
sgc_status sgc_job_check(const float *g, uint32_t n, uint32_t k,
                         const sgc_select_options *opt, const uint32_t *idx,
                         const float *vals, uint32_t cap, const uint32_t *count);

/* Fill a job from checked arguments (opt NULL: defaults; info NULL: *local)
 * and clear the info. */
void sgc_job_init(sgc_job *job, const float *g, uint32_t n, uint32_t k,
                  const sgc_select_options *opt, void *scratch, uint32_t *idx,
                  float *vals, uint32_t cap, uint32_t *count, sgc_select_info *info,
                  sgc_select_info *local);

/* Scratch check: at least `need` bytes, 4-byte aligned when needed. */
sgc_status sgc_scratch_check(const void *scratch, size_t have, size_t need);

size_t sgc_exact_scratch_bytes(uint32_t n, uint32_t k);
size_t sgc_laplace_scratch_bytes(uint32_t n, uint32_t k);
size_t sgc_partition_scratch_bytes(uint32_t n, uint32_t k);
size_t sgc_dgc_scratch_bytes(uint32_t n, uint32_t k);
size_t sgc_random_scratch_bytes(uint32_t n, uint32_t k);

sgc_status sgc_run_exact(const sgc_job *job);
sgc_status sgc_run_laplace(const sgc_job *job);
sgc_status sgc_run_partition_cold(const sgc_job *job);
sgc_status sgc_run_dgc(const sgc_job *job);
sgc_status sgc_run_random(const sgc_job *job);

/* Partition selection on a predictor (validated job). */
sgc_status sgc_run_partition(sgc_partition_state *st, const sgc_job *job);

#endif /* SGC_SELECT_INTERNAL_H */
