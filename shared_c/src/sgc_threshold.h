/* sgc_threshold.h - the threshold machinery laplace, dgc and partition share:
 * a candidate buffer in caller scratch, the counting/collecting pass, the
 * search for a threshold over g, and the finish among candidates. Internal. */
#ifndef SGC_THRESHOLD_H
#define SGC_THRESHOLD_H

#include <stddef.h>
#include <stdint.h>

#include "sgc.h"

/* Bins of the overflow histogram: eighth-octave bins (key >> 20) spanning the
 * four octaves above a pass's threshold. */
#define SGC_OVER_BINS 32u
#define SGC_OVER_SHIFT 20u

/* Candidates collected in index order: position, value, selection key, a
 * spare key array the exact finish may reorder, and the histogram of the keys
 * a pass met after the buffer was full (NULL: not kept). keep > 0 lets a
 * counting pass raise its threshold when the buffer fills (sgc_collect). */
typedef struct {
    uint32_t *idx;
    float *val;
    uint32_t *key;
    uint32_t *tmp;
    uint32_t *over;
    uint32_t cap;
    uint32_t len;
    uint32_t keep;
    uint32_t floor; /* the threshold key of the last collecting range: the
                       stored keys are every key >= it (0: unknown) */
} sgc_cands;

/* Count band a selection must land in: [lo, hi] with target k. */
typedef struct {
    uint32_t k;
    uint32_t lo;
    uint32_t hi;
} sgc_band;

/* Candidate capacity for (n, k): room for four times k, plus slack for small
 * k (real gradients' first counts land well above the aim). */
uint32_t sgci_cands_cap(uint32_t n, uint32_t k);

/* Scratch bytes of a candidate buffer of `cap` entries; 0 on overflow. */
size_t sgci_cands_bytes(uint32_t cap);

/* Lay a candidate buffer of `cap` entries over scratch. */
void sgci_cands_bind(sgc_cands *c, void *scratch, uint32_t cap);

/* [k, min(cap, k + floor(k tol))]: the band sits at and above k, so a
 * threshold selection in it holds the whole top-k (docs/methods.md). */
sgc_band sgci_band_make(uint32_t k, float tol, uint32_t cap);

/* Count to aim a collecting pass at: sqrt(band.lo * cap / 2), the middle on
 * a log scale of k and the count a raised pass keeps (cap / 2): larger
 * counts up to cap fit, larger still are caught by the raise. */
float sgci_count_target(const sgc_band *band, uint32_t cap);

/* One read of g[from..to): *sum = sum of g, *sum_abs = sum of |g| (in float,
 * blocked so the error stays small). A NaN or Inf makes the sums non-finite
 * (so can a huge finite range); callers go on to a counting pass, which
 * tells the two apart. The moment pass of laplace and of a cold partition. */
void sgci_sums(const float *g, uint32_t from, uint32_t to, float *sum, float *sum_abs);

/* The moment pass of a residual step, fused with its NaN/Inf check: sums of
 * x = r[i] + g[i] and of |x| over i < n, as sgci_sums; returns the OR of
 * sgc_nonfinite_bits over the keys of every g[i] and x (SGC_NONFINITE_FLAG
 * set: some g or r + g is NaN/Inf). Reads only. */
uint32_t sgci_sums_added(const float *r, const float *g, uint32_t n, float *sum,
                         float *sum_abs);

/* Scans g[from..to): every entry with magnitude key >= tkey is counted in
 * *total and, while *total < c->cap, stored with the key of |g| * key_scale
 * (1: the magnitude key itself). Returns a word with SGC_NONFINITE_FLAG set
 * when the range holds a NaN or Inf (tkey is clamped to SGC_KEY_NONFINITE,
 * so those always count as hits). The building block of every counting
 * pass. */
uint32_t sgci_collect_range(const float *g, uint32_t from, uint32_t to, uint32_t tkey,
                            float key_scale, sgc_cands *c, uint32_t *total);

/* Candidates c hold every entry whose key is >= some threshold and their
 * count lies in [band.lo, c->cap]. Writes the selection, ascending, to
 * idx/vals: all of them when the count is within the band, else the entries
 * above a key threshold found by regula falsi on ln(count) among the
 * candidates, falling back to bisection on the key bits (at most
 * *iter_left steps, which it decrements) or, when `exact_only` is set or the
 * steps run out, exactly band.k entries by introselect (ties to the lowest
 * index). */
void sgci_finish(sgc_cands *c, const sgc_band *band, uint32_t *iter_left, int exact_only,
                 uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info);

/* The emitting pass of an exact finish over g: writes, in index order, the
 * entries of g[0..n) whose key is above p, and of those with key p only the
 * first `ties`, stopping at k; returns how many were written. */
uint32_t sgci_emit_top(const float *g, uint32_t n, uint32_t k, uint32_t p, uint32_t ties,
                       uint32_t *idx, float *vals);

/* Full search from a first threshold `guess`: counting passes over g until
 * a pass collects a count in [band.lo, c->cap], then sgci_finish. Between
 * passes the next threshold comes from the overflow histogram after too many
 * (the bin edge whose count fits), from regula falsi on ln(count) once both
 * ends of the bracket are known, and otherwise after too few from the Laplace
 * slope `slope` (t moves by slope * ln(count / target), at most to t/4) or,
 * with slope 0, DGC's factor 0.7; a step outside the bracket known so far is
 * replaced by bisection on the key bits. When the refinement cap is spent it
 * finishes exactly by bisection on the key bits over g (at most 31 more
 * counting passes). Returns SGC_E_NONFINITE if a pass meets NaN/Inf (no
 * output written). */
sgc_status sgci_search(const float *g, uint32_t n, const sgc_band *band, float guess,
                       float slope, uint32_t max_iter, int exact_only, sgc_cands *c,
                       uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info);

#endif /* SGC_THRESHOLD_H */
