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

/* Where the compiler vectorises (x86-64, AArch64), a counting pass first
 * tests blocks of this many elements with no store and no branch, and only
 * blocks with a hit take the scalar path. A scalar MCU gains nothing from
 * it: its plain loop (load, clear the sign, compare, branch) is as short as
 * the block test, and at the densities a node sends (1-5 %) most blocks
 * would hold a hit and be scanned twice. */
#if defined(__x86_64__) || defined(__aarch64__)
#define SGC_COLLECT_BLOCK 64u
#endif

uint32_t sgci_cands_cap(uint32_t n, uint32_t k)
{
    uint64_t cap = 4u * (uint64_t)k + 64u;
    return cap < n ? (uint32_t)cap : n;
}

size_t sgci_cands_bytes(uint32_t cap)
{
    size_t b = sgc_size_mul(cap, 16u);
    return b == 0u || b > SIZE_MAX - 4u * SGC_OVER_BINS ? 0u : b + 4u * SGC_OVER_BINS;
}

void sgci_cands_bind(sgc_cands *c, void *scratch, uint32_t cap)
{
    uint32_t *w = (uint32_t *)scratch;
    c->idx = w;
    c->val = (float *)(void *)(w + cap);
    c->key = w + 2u * (size_t)cap;
    c->tmp = w + 3u * (size_t)cap;
    c->over = w + 4u * (size_t)cap;
    c->cap = cap;
    c->len = 0u;
    c->keep = 0u;
    c->floor = 0u;
}

sgc_band sgci_band_make(uint32_t k, float tol, uint32_t cap)
{
    sgc_band b;
    uint32_t d = (uint32_t)((float)k * tol);
    b.k = k;
    b.lo = k;
    b.hi = (uint64_t)k + d > cap ? cap : k + d;
    return b;
}

float sgci_count_target(const sgc_band *band, uint32_t cap)
{
    return sgci_exp(0.5f * (sgci_ln((float)band->lo) + sgci_ln(0.5f * (float)cap)));
}

/* Elements summed in float before joining the running total: keeps the sum's
 * rounding error near (block + n / block) ulps without double arithmetic,
 * which is soft-float on Cortex-M. Eight lanes: independent additions the
 * compiler vectorises on a host and keeps in registers on a Cortex-M4F (one
 * load, one vabs, two vadd an element). */
#define SGC_SUM_BLOCK 4096u
#define SGC_LANES 8u

SGC_HOT_LOOP void sgci_sums(const float *g, uint32_t from, uint32_t to, float *sum,
                            float *sum_abs)
{
    float tot = 0.0f, tot_abs = 0.0f;
    uint32_t i = from;
    while (i < to) {
        uint32_t end = to - i > SGC_SUM_BLOCK ? i + SGC_SUM_BLOCK : to, j;
        float s[SGC_LANES] = {0}, a[SGC_LANES] = {0}, bs = 0.0f, ba = 0.0f;
        for (; i + SGC_LANES <= end; i += SGC_LANES) {
            const float *p = g + i;
            SGC_UNROLL_LANES
            for (j = 0u; j < SGC_LANES; ++j) {
                s[j] += p[j];
                a[j] += sgc_fabs(p[j]);
            }
        }
        for (; i < end; ++i) {
            bs += g[i];
            ba += sgc_fabs(g[i]);
        }
        SGC_UNROLL_LANES
        for (j = 0u; j < SGC_LANES; ++j) {
            bs += s[j];
            ba += a[j];
        }
        tot += bs;
        tot_abs += ba;
    }
    *sum = tot;
    *sum_abs = tot_abs;
}

SGC_HOT_LOOP uint32_t sgci_sums_added(const float *r, const float *g, uint32_t n,
                                      float *sum, float *sum_abs)
{
    float tot = 0.0f, tot_abs = 0.0f;
    uint32_t i = 0u, bad = 0u;
    while (i < n) {
        uint32_t end = n - i > SGC_SUM_BLOCK ? i + SGC_SUM_BLOCK : n, j;
        float s[SGC_LANES] = {0}, a[SGC_LANES] = {0}, bs = 0.0f, ba = 0.0f;
        /* not unrolled on an MCU: a board adds its gradient in place and
         * steps with g NULL, so this loop is a host's, kept small there */
        for (; i + SGC_LANES <= end; i += SGC_LANES) {
            SGC_VECTOR_LANES
            for (j = 0u; j < SGC_LANES; ++j) {
                float x = r[i + j] + g[i + j];
                bad |= sgc_nonfinite_bits(sgc_key(g[i + j])) | sgc_nonfinite_bits(sgc_key(x));
                s[j] += x;
                a[j] += sgc_fabs(x);
            }
        }
        for (; i < end; ++i) {
            float x = r[i] + g[i];
            bad |= sgc_nonfinite_bits(sgc_key(g[i])) | sgc_nonfinite_bits(sgc_key(x));
            bs += x;
            ba += sgc_fabs(x);
        }
        for (j = 0u; j < SGC_LANES; ++j) {
            bs += s[j];
            ba += a[j];
        }
        tot += bs;
        tot_abs += ba;
    }
    *sum = tot;
    *sum_abs = tot_abs;
    return bad;
}

/* A counting pass in progress: what the rare path needs, passed by one
 * pointer (few arguments keep the call from the test loop cheap on an MCU). */
typedef struct {
    sgc_cands *c;
    uint32_t tkey;
    float key_scale;
    uint32_t cnt;
    uint32_t bad;
} sgc_scan;

/* The buffer is full at threshold s->tkey: raise the threshold to the key
 * of the c->keep-th largest candidate and keep only the candidates at or
 * above it (index order stays). Without progress (ties), stop raising. */
static void raise_threshold(sgc_scan *s)
{
    sgc_cands *c = s->c;
    uint32_t i, m = 0u, p;
    for (i = 0u; i < c->cap; ++i) {
        c->tmp[i] = c->key[i];
    }
    p = sgci_kselect(c->tmp, c->cap, c->keep - 1u);
    for (i = 0u; i < c->cap; ++i) {
        if (c->key[i] >= p) {
            c->idx[m] = c->idx[i];
            c->val[m] = c->val[i];
            c->key[m] = c->key[i];
            ++m;
        }
    }
    if (m == c->cap) {
        c->keep = 0u;
        return;
    }
    s->tkey = p;
    s->cnt = m;
}

/* One hit: store it, or raise the threshold first when the buffer is full,
 * or bin it past the buffer. */
static SGC_NOINLINE void take(sgc_scan *s, uint32_t j, uint32_t u, float v)
{
    sgc_cands *c = s->c;
    s->bad |= sgc_nonfinite_bits(u);
    if (s->cnt == c->cap && c->keep != 0u && u < SGC_KEY_NONFINITE) {
        raise_threshold(s);
        if (u < s->tkey) {
            return;
        }
    }
    if (s->cnt < c->cap) {
        c->idx[s->cnt] = j;
        c->val[s->cnt] = v;
        c->key[s->cnt] = s->key_scale != 1.0f ? sgc_key(sgc_u2f(u) * s->key_scale) : u;
    } else if (c->over != NULL) {
        uint32_t bin = (u - s->tkey) >> SGC_OVER_SHIFT;
        ++c->over[bin < SGC_OVER_BINS ? bin : SGC_OVER_BINS - 1u];
    }
    ++s->cnt;
}

/* The entries of g[from..to) with key >= the pass's threshold. Since that
 * is at most SGC_KEY_NONFINITE, every NaN/Inf is such an entry: the NaN
 * check happens on the hit path, and the test needs no second operation.
 * The common hit (room left, finite, unscaled key) is stored right here;
 * take() handles the rest. */
static void store_hits(const float *g, uint32_t from, uint32_t to, sgc_scan *s)
{
    sgc_cands *c = s->c;
    uint32_t tkey = s->tkey, cnt = s->cnt, room = s->key_scale == 1.0f ? c->cap : 0u;
    uint32_t *idx = c->idx, *key = c->key;
    float *val = c->val;
    const float *p = g + from;
    uint32_t left = to - from;
    /* counting down in a do-while: the loop test is one subtract-and-branch */
    if (left == 0u) {
        return;
    }
    do {
        uint32_t u = sgc_key(*p);
        if (u >= tkey) {
            if (cnt < room && u < SGC_KEY_NONFINITE) {
                idx[cnt] = to - left;
                val[cnt] = *p;
                key[cnt] = u;
                ++cnt;
            } else {
                s->cnt = cnt;
                take(s, to - left, u, *p);
                cnt = s->cnt;
                tkey = s->tkey;
            }
        }
        ++p;
    } while (--left != 0u);
    s->cnt = cnt;
}

SGC_HOT_LOOP uint32_t sgci_collect_range(const float *g, uint32_t from, uint32_t to,
                                         uint32_t tkey, float key_scale, sgc_cands *c,
                                         uint32_t *total)
{
    sgc_scan s;
    uint32_t i = from;
#ifdef SGC_COLLECT_BLOCK
    uint32_t j, tm1;
#endif
    s.c = c;
    s.tkey = tkey < SGC_KEY_NONFINITE ? tkey : SGC_KEY_NONFINITE;
    s.key_scale = key_scale;
    s.cnt = *total;
    s.bad = 0u;
#ifdef SGC_COLLECT_BLOCK
    tm1 = s.tkey - 1u;
    for (; to - i >= SGC_COLLECT_BLOCK; i += SGC_COLLECT_BLOCK) {
        const float *p = g + i;
        uint32_t hit = 0u;
        SGC_VECTOR_LANES
        for (j = 0u; j < SGC_COLLECT_BLOCK; ++j) {
            hit |= sgc_hit_bits(sgc_key(p[j]), tm1);
        }
        if ((hit & SGC_NONFINITE_FLAG) != 0u) {
            store_hits(g, i, i + SGC_COLLECT_BLOCK, &s);
            tm1 = s.tkey - 1u; /* a full buffer may have raised it */
        }
    }
#endif
    store_hits(g, i, to, &s);
    *total = s.cnt;
    c->floor = s.tkey;
    return s.bad;
}

/* One pass over g: counts the |g[i]| keys >= tkey and stores them (key =
 * magnitude key). When the buffer fills, the pass raises its threshold to
 * the key of the (cap/2)-th largest candidate, drops the candidates below it
 * and goes on at the raised threshold, so the stored candidates are always
 * every key at or above the pass's final threshold, and at least cap/2 of
 * them (at least k for sgci_cands_cap): a heavy tail costs no second pass.
 * Only when ties defeat the raise (no candidate could be dropped) it counts
 * on and bins the overflow as sgci_collect_range does. Returns the count at
 * the final threshold, or UINT32_MAX when g holds a NaN or Inf. */
static uint32_t sgc_collect(const float *g, uint32_t n, uint32_t tkey, sgc_cands *c)
{
    uint32_t cnt = 0u, bad, j;
    for (j = 0u; c->over != NULL && j < SGC_OVER_BINS; ++j) {
        c->over[j] = 0u;
    }
    c->keep = c->cap / 2u;
    bad = sgci_collect_range(g, 0u, n, tkey, 1.0f, c, &cnt);
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        c->len = 0u;
        return UINT32_MAX;
    }
    c->len = cnt < c->cap ? cnt : c->cap;
    return cnt;
}

/* A bracket of thresholds (magnitude keys) with their counts: count(lo) is
 * too many, count(hi) too few (c_hi 0 also stands for "not counted"). */
typedef struct {
    uint32_t lo, hi;
    uint32_t c_lo, c_hi;
} sgc_bracket;

/* Threshold between the bracket ends where ln(count), interpolated linearly
 * in the magnitude, meets the target (regula falsi; exact for an exponential
 * tail); bisection on the key bits when that falls outside. */
static uint32_t interpolate(const sgc_bracket *b, float target)
{
    float lo = sgc_u2f(b->lo), hi = sgc_u2f(b->hi), c_lo = (float)b->c_lo;
    float c_hi = b->c_hi > 0u ? (float)b->c_hi : 0.5f;
    uint32_t t = b->hi;
    if (b->hi < SGC_KEY_NONFINITE && c_lo > c_hi) {
        float f = sgci_ln(c_lo / target) / sgci_ln(c_lo / c_hi);
        t = sgc_key(lo + (hi - lo) * f);
    }
    return t > b->lo && t < b->hi ? t : b->lo + (b->hi - b->lo) / 2u;
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
            float v = c->val[i];
            if (key == above) {
                --ties;
            }
            idx[m] = c->idx[i];
            vals[m] = v;
            mink = sgc_key(v) < mink ? sgc_key(v) : mink;
            ++m;
        }
    }
    *count = m;
    info->threshold = m > 0u ? sgc_u2f(mink) : 0.0f;
}

static uint32_t count_at_least(const sgc_cands *c, uint32_t t)
{
    const uint32_t *key = c->key, *end = c->key + c->len;
    uint32_t cnt = 0u;
    for (; key != end; ++key) {
        cnt += (uint32_t)(*key >= t);
    }
    return cnt;
}

void sgci_finish(sgc_cands *c, const sgc_band *band, uint32_t *iter_left, int exact_only,
                 uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info)
{
    uint32_t m = c->len, i, p, gt;
    if (m <= band->hi) {
        emit(c, 0u, UINT32_MAX, idx, vals, count, info);
        return;
    }
    if (!exact_only) {
        /* count(lo) = m > hi; count(hi) = 0 < lo: regula falsi on ln(count)
         * aims each probe at the middle of the band (the candidates' tail is
         * near exponential, so one or two probes usually land) */
        float target = 0.5f * ((float)band->lo + (float)band->hi), sum = 0.0f, beta;
        sgc_bracket b;
        b.lo = c->floor;
        if (b.lo == 0u) {
            b.lo = UINT32_MAX;
            for (i = 0u; i < m; ++i) {
                b.lo = c->key[i] < b.lo ? c->key[i] : b.lo;
            }
        }
        for (i = 0u; i < m; ++i) {
            sum += sgc_u2f(c->key[i]);
        }
        b.hi = SGC_KEY_NONFINITE; /* no key reaches it */
        b.c_lo = m;
        b.c_hi = 0u;
        /* the candidates' tail as an exponential: scale = their mean excess
         * over the lower end (the pass threshold, or the smallest key) */
        beta = sum / (float)m - sgc_u2f(b.lo);
        while (*iter_left > 0u && b.hi - b.lo > 1u) {
            uint32_t t, cnt;
            if (b.c_hi == 0u) {
                /* only the lower end counted: step along the fitted tail */
                t = sgc_key(sgc_u2f(b.lo) + beta * sgci_ln((float)b.c_lo / target));
                t = t > b.lo && t < b.hi ? t : interpolate(&b, target);
            } else {
                t = interpolate(&b, target);
            }
            cnt = count_at_least(c, t);
            --*iter_left;
            ++info->iterations;
            if (cnt >= band->lo && cnt <= band->hi) {
                emit(c, t, UINT32_MAX, idx, vals, count, info);
                return;
            }
            if (cnt > band->hi) {
                b.lo = t;
                b.c_lo = cnt;
            } else {
                b.hi = t;
                b.c_hi = cnt;
            }
        }
    }
    /* exact finish: the k-th largest key among the candidates, ties to the
     * lowest index */
    for (i = 0u; i < m; ++i) {
        c->tmp[i] = c->key[i];
    }
    p = sgci_kselect(c->tmp, m, band->k - 1u);
    gt = 0u;
    for (i = 0u; i + 1u < band->k; ++i) {
        gt += (uint32_t)(c->tmp[i] > p);
    }
    info->exact = true;
    emit(c, p, band->k - gt, idx, vals, count, info);
}

/* After a pass at key t overflowed the buffer: the eighth-octave histogram of
 * every key >= t (stored candidates plus c->over) gives the counts at the bin
 * edges, which narrow the bracket to one bin around the target. */
static void narrow_by_histogram(sgc_cands *c, uint32_t t, uint32_t cnt, const sgc_band *band,
                                sgc_bracket *b)
{
    uint32_t i, j, above = cnt;
    for (i = 0u; i < c->len; ++i) {
        uint32_t bin = (c->key[i] - t) >> SGC_OVER_SHIFT;
        ++c->over[bin < SGC_OVER_BINS ? bin : SGC_OVER_BINS - 1u];
    }
    for (j = 0u; j < SGC_OVER_BINS; ++j) {
        uint64_t edge = (uint64_t)t + ((uint64_t)j << SGC_OVER_SHIFT);
        if (edge >= SGC_KEY_NONFINITE) {
            break;
        }
        if (above < band->lo) {
            if ((uint32_t)edge < b->hi) {
                b->hi = (uint32_t)edge;
                b->c_hi = above;
            }
            break;
        }
        if (above > c->cap && (uint32_t)edge > b->lo) {
            b->lo = (uint32_t)edge;
            b->c_lo = above;
        }
        if (above <= c->cap) {
            break; /* this edge itself is acceptable: the caller tries it */
        }
        above -= c->over[j];
    }
}

/* The next threshold to count at, after a pass at key t gave cnt. */
static uint32_t next_threshold(sgc_cands *c, uint32_t t, uint32_t cnt, const sgc_band *band,
                               float slope, sgc_bracket *b)
{
    float target = sgci_count_target(band, c->cap);
    if (cnt > c->cap) {
        narrow_by_histogram(c, t, cnt, band, b);
        if (b->hi >= SGC_KEY_NONFINITE || b->hi - b->lo > (1u << SGC_OVER_SHIFT)) {
            /* the acceptable edge right above lo */
            uint32_t e = b->lo + (1u << SGC_OVER_SHIFT);
            return e < b->hi ? e : interpolate(b, target);
        }
        return interpolate(b, target);
    }
    if (b->lo == 0u) {
        /* too few and nothing known below: step down along the Laplace slope
         * (DGC's factor 0.7 without a model), at most to a quarter */
        float tf = sgc_u2f(t), nf;
        float have = cnt > 0u ? (float)cnt : 0.5f;
        nf = slope > 0.0f ? tf + slope * sgci_ln(have / target) : tf * 0.7f;
        nf = nf > 0.25f * tf ? nf : 0.25f * tf;
        return nf > 0.0f && sgc_key(nf) < t ? sgc_key(nf) : t / 2u;
    }
    return interpolate(b, target);
}

uint32_t sgci_emit_top(const float *g, uint32_t n, uint32_t k, uint32_t p, uint32_t ties,
                       uint32_t *idx, float *vals)
{
    uint32_t i, m = 0u;
    for (i = 0u; i < n && m < k; ++i) {
        uint32_t u = sgc_key(g[i]);
        if (u > p || (u == p && ties > 0u)) {
            ties -= (uint32_t)(u == p);
            idx[m] = i;
            vals[m] = g[i];
            ++m;
        }
    }
    return m;
}

/* Exact k-th largest key by bisection on the key bits with counting passes,
 * given count(lo_t) >= k and count(hi_t) = cnt_hi < k; then one emitting
 * pass. Only reached when the refinement cap is spent or ties defeat the
 * candidate buffer. */
static void exact_by_bits(const float *g, uint32_t n, uint32_t k, uint32_t lo_t,
                          uint32_t hi_t, uint32_t cnt_hi, uint32_t *idx, float *vals,
                          uint32_t *count, sgc_select_info *info)
{
    sgc_cands none = {0, 0, 0, 0, 0, 0u, 0u, 0u, 0u};
    uint32_t m, ties;
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
    ties = k - cnt_hi; /* how many of key lo_t to take: at least one */
    m = sgci_emit_top(g, n, k, lo_t, ties, idx, vals);
    ++info->passes;
    info->exact = true;
    info->threshold = sgc_u2f(lo_t);
    *count = m;
}

sgc_status sgci_search(const float *g, uint32_t n, const sgc_band *band, float guess,
                       float slope, uint32_t max_iter, int exact_only, sgc_cands *c,
                       uint32_t *idx, float *vals, uint32_t *count, sgc_select_info *info)
{
    sgc_bracket b;
    uint32_t iter_left = max_iter;
    uint32_t t = guess > 0.0f ? sgc_key(guess) : 0u;
    b.lo = 0u;
    b.hi = SGC_KEY_NONFINITE;
    b.c_lo = n;
    b.c_hi = 0u;
    if (t >= SGC_KEY_NONFINITE) {
        t = SGC_KEY_NONFINITE / 2u;
    }
    for (;;) {
        uint32_t cnt = sgc_collect(g, n, t, c);
        ++info->passes;
        if (cnt == UINT32_MAX) {
            return SGC_E_NONFINITE;
        }
        if (cnt >= band->lo && cnt <= c->cap) {
            sgci_finish(c, band, &iter_left, exact_only, idx, vals, count, info);
            return SGC_OK;
        }
        if (cnt < band->lo) {
            b.hi = t;
            b.c_hi = cnt;
        } else if (t >= b.lo) {
            b.lo = t;
            b.c_lo = cnt;
        }
        if (iter_left == 0u || b.hi - b.lo <= 1u) {
            break;
        }
        --iter_left;
        ++info->iterations;
        t = next_threshold(c, t, cnt, band, slope, &b);
        if (!(t >= b.lo && t < b.hi)) {
            t = b.lo + (b.hi - b.lo) / 2u;
        }
    }
    exact_by_bits(g, n, band->k, b.lo, b.hi, b.c_hi, idx, vals, count, info);
    return SGC_OK;
}
