/* sgc_threshold.c - candidate collection, threshold search and the finish
 * among candidates shared by the laplace, dgc and partition selectors.
 *
 * Thresholds live on magnitude keys (the bits of |x|): for finite floats the
 * keys order like the magnitudes, so one integer compare per element decides,
 * and bisection "on the key bits" halves an interval that is close to
 * logarithmic in the magnitude. */
#include "sgc_threshold.h"

#include "sgc_kselect.h"
#include "sgc_math.h"

/* Elements tested at once before the rare store path is taken: the test loop
 * has no store, so the compiler can vectorise it. */
#define SGC_COLLECT_BLOCK 16u

uint32_t sgc_cands_cap(uint32_t n, uint32_t k)
{
    uint64_t cap = 2u * (uint64_t)k + 64u;
    return cap < n ? (uint32_t)cap : n;
}

size_t sgc_cands_bytes(uint32_t cap)
{
    return sgc_size_mul(cap, 16u);
}

void sgc_cands_bind(sgc_cands *c, void *scratch, uint32_t cap)
{
    uint32_t *w = (uint32_t *)scratch;
    c->idx = w;
    c->val = (float *)(void *)(w + cap);
    c->key = w + 2u * (size_t)cap;
    c->tmp = w + 3u * (size_t)cap;
    c->cap = cap;
    c->len = 0u;
}

sgc_band sgc_band_make(uint32_t k, float tol, uint32_t cap)
{
    sgc_band b;
    uint32_t d = (uint32_t)((float)k * tol);
    if (d >= k) {
        d = k - 1u;
    }
    b.k = k;
    b.lo = k - d;
    b.hi = (uint64_t)k + d > cap ? cap : k + d;
    return b;
}

float sgc_count_target(const sgc_band *band, uint32_t cap)
{
    return sgc_exp(0.5f * (sgc_ln((float)band->lo) + sgc_ln((float)cap)));
}

uint32_t sgc_collect(const float *g, uint32_t n, uint32_t tkey, sgc_cands *c)
{
    uint32_t i = 0u, cnt = 0u, bad = 0u;
    while (i < n) {
        uint32_t end = n - i > SGC_COLLECT_BLOCK ? i + SGC_COLLECT_BLOCK : n;
        uint32_t hit = 0u, j;
        for (j = i; j < end; ++j) {
            uint32_t u = sgc_key(g[j]);
            hit |= sgc_key_ge(u, tkey);
            bad |= sgc_nonfinite_bits(u);
        }
        if (hit != 0u) {
            for (j = i; j < end; ++j) {
                uint32_t u = sgc_key(g[j]);
                if (u >= tkey) {
                    if (cnt < c->cap) {
                        c->idx[cnt] = j;
                        c->val[cnt] = g[j];
                        c->key[cnt] = u;
                    }
                    ++cnt;
                }
            }
        }
        i = end;
    }
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        c->len = 0u;
        return UINT32_MAX;
    }
    c->len = cnt < c->cap ? cnt : c->cap;
    return cnt;
}

/* Writes candidates with key > above, and the first `ties` with key == above
 * (ties = UINT32_MAX: all of them), in index order. */
static void emit(const sgc_cands *c, uint32_t above, uint32_t ties, uint32_t *idx,
                 float *vals, uint32_t *count, sgc_select_info *info)
{
    uint32_t i, m = 0u, mink = UINT32_MAX;
    for (i = 0u; i < c->len; ++i) {
        uint32_t key = c->key[i];
        if (key > above || (key == above && ties > 0u)) {
            if (key == above) {
                --ties;
            }
            idx[m] = c->idx[i];
            vals[m] = c->val[i];
            if (sgc_key(c->val[i]) < mink) {
                mink = sgc_key(c->val[i]);
            }
            ++m;
        }
    }
    *count = m;
    info->threshold = m > 0u ? sgc_u2f(mink) : 0.0f;
}

static uint32_t count_at_least(const sgc_cands *c, uint32_t t)
{
    uint32_t i, cnt = 0u;
    for (i = 0u; i < c->len; ++i) {
        cnt += (uint32_t)(c->key[i] >= t);
    }
    return cnt;
}

void sgc_finish(sgc_cands *c, const sgc_band *band, uint32_t *iter_left, int exact_only,
                uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info)
{
    uint32_t m = c->len, i, p, gt;
    if (m <= band->hi) {
        emit(c, 0u, UINT32_MAX, idx, vals, count, info);
        return;
    }
    if (!exact_only) {
        uint32_t lo_t = UINT32_MAX, hi_t = 0u;
        for (i = 0u; i < m; ++i) {
            lo_t = c->key[i] < lo_t ? c->key[i] : lo_t;
            hi_t = c->key[i] > hi_t ? c->key[i] : hi_t;
        }
        ++hi_t; /* count(lo_t) = m > hi; count(hi_t) = 0 < lo */
        while (*iter_left > 0u && hi_t - lo_t > 1u) {
            uint32_t t = lo_t + (hi_t - lo_t) / 2u, cnt = count_at_least(c, t);
            --*iter_left;
            ++info->iterations;
            if (cnt >= band->lo && cnt <= band->hi) {
                emit(c, t, UINT32_MAX, idx, vals, count, info);
                return;
            }
            if (cnt > band->hi) {
                lo_t = t;
            } else {
                hi_t = t;
            }
        }
    }
    /* exact finish: the k-th largest key among the candidates, ties to the
     * lowest index */
    for (i = 0u; i < m; ++i) {
        c->tmp[i] = c->key[i];
    }
    p = sgc_kselect(c->tmp, m, band->k - 1u);
    gt = 0u;
    for (i = 0u; i + 1u < band->k; ++i) {
        gt += (uint32_t)(c->tmp[i] > p);
    }
    info->exact = 1u;
    emit(c, p, band->k - gt, idx, vals, count, info);
}

static uint32_t next_threshold(uint32_t t, uint32_t cnt, const sgc_band *band,
                               uint32_t cap, float slope, uint32_t lo_t, uint32_t hi_t)
{
    float tf = sgc_u2f(t), nf;
    uint32_t nt;
    if (slope > 0.0f) {
        /* Laplace tail: count(t) ~ n exp(-t/b); aim at the geometric middle of
         * the acceptable counts [lo, cap] */
        float have = cnt > 0u ? (float)cnt : 0.5f;
        nf = tf + slope * sgc_ln(have / sgc_count_target(band, cap));
    } else {
        nf = cnt < band->lo ? tf * 0.7f : tf * 1.3f;
    }
    nt = nf > 0.0f ? sgc_key(nf) : 0u;
    if (!(nt > lo_t && nt < hi_t)) {
        nt = lo_t + (hi_t - lo_t) / 2u;
    }
    return nt;
}

/* Exact k-th largest key by bisection on the key bits with counting passes,
 * given count(lo_t) >= k and count(hi_t) = cnt_hi < k; then one emitting
 * pass. Only reached when the refinement cap is spent or ties defeat the
 * candidate buffer. */
static void exact_by_bits(const float *g, uint32_t n, uint32_t k, uint32_t lo_t,
                          uint32_t hi_t, uint32_t cnt_hi, uint32_t *idx, float *vals,
                          uint32_t *count, sgc_select_info *info)
{
    sgc_cands none = {0, 0, 0, 0, 0u, 0u};
    uint32_t i, m = 0u, ties, mink = UINT32_MAX;
    while (hi_t - lo_t > 1u) {
        uint32_t t = lo_t + (hi_t - lo_t) / 2u, cnt = sgc_collect(g, n, t, &none);
        ++info->passes;
        if (cnt >= k) {
            lo_t = t;
        } else {
            hi_t = t;
            cnt_hi = cnt;
        }
    }
    ties = k - cnt_hi; /* how many of key lo_t to take */
    for (i = 0u; i < n && m < k; ++i) {
        uint32_t u = sgc_key(g[i]);
        if (u > lo_t || (u == lo_t && ties > 0u)) {
            if (u == lo_t) {
                --ties;
            }
            idx[m] = i;
            vals[m] = g[i];
            mink = u < mink ? u : mink;
            ++m;
        }
    }
    ++info->passes;
    info->exact = 1u;
    info->threshold = sgc_u2f(mink);
    *count = m;
}

sgc_status sgc_search(const float *g, uint32_t n, const sgc_band *band, float guess,
                      float slope, uint32_t max_iter, int exact_only, sgc_cands *c,
                      uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info)
{
    uint32_t lo_t = 0u, hi_t = SGC_KEY_NONFINITE, cnt_hi = 0u, iter_left = max_iter;
    uint32_t t = guess > 0.0f ? sgc_key(guess) : 0u;
    if (t >= SGC_KEY_NONFINITE) {
        t = lo_t + (hi_t - lo_t) / 2u;
    }
    for (;;) {
        uint32_t cnt = sgc_collect(g, n, t, c);
        ++info->passes;
        if (cnt == UINT32_MAX) {
            return SGC_E_NONFINITE;
        }
        if (cnt >= band->lo && cnt <= c->cap) {
            sgc_finish(c, band, &iter_left, exact_only, idx, vals, count, info);
            return SGC_OK;
        }
        if (cnt < band->lo) {
            hi_t = t;
            cnt_hi = cnt;
        } else {
            lo_t = t;
        }
        if (iter_left == 0u || hi_t - lo_t <= 1u) {
            break;
        }
        --iter_left;
        ++info->iterations;
        t = next_threshold(t, cnt, band, c->cap, slope, lo_t, hi_t);
    }
    exact_by_bits(g, n, band->k, lo_t, hi_t, cnt_hi, idx, vals, count, info);
    return SGC_OK;
}
