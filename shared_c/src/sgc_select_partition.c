/* sgc_select_partition.c - partition-based selection with a per-layer
 * predictor (docs/design.md, method 2; every choice is argued in docs/methods.md).
 *
 * The layer is cut into SGC_PARTITION_BLOCKS positional blocks. Blocks whose
 * running mean |g| is at least the layer's form the key region, the others the
 * sparse region. Each region r keeps its own predicted threshold t_r and a
 * scale b_r = exp(H_r - 1), H_r the differential entropy of the region's
 * log-binned magnitude histogram (for |g| ~ Exponential(b), H = 1 + ln b).
 *
 * Steady state, one streaming pass: an element of region r becomes a
 * candidate when |g| >= t_r - b_r ln 1.4 (about 1.4x the expected count), with
 * the key |g| / t_r, so one cut on the normalised key scales both thresholds
 * together; the pass also feeds the block means and the region histograms
 * from a strided sample (every 4th element, or about 65536 of a large n).
 * If the candidate count lands in [k, 4k+64], the count is finished among
 * the candidates (a threshold search, then exact) with no second pass. Then t_r <- lambda t_r (lambda the final cut) times
 * b_r(now) / b_r(before): each region's threshold follows its own entropy
 * scale into the next step.
 *
 * Re-estimation: a cold predictor (or a changed n) costs one moment pass
 * (block means -> regions; region means -> Laplace scales; a common threshold
 * t with sum_r n_r exp(-t/b_r) = k) before the collecting pass. A count that
 * drifts outside the range moves both thresholds along the Laplace slope and
 * collects once more; if that also misses, the generic threshold search over g
 * finishes the step. */
#include "sgc_math.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"

#define SGC_PART_MAGIC 0x50415254u   /* "PART" */
#define SGC_PART_CHUNK 4096u         /* elements collected before subsampling */
#define SGC_PART_SAMPLES 65536u      /* at most about this many elements are sampled */
#define SGC_PART_MIN_STRIDE 4u       /* and at most every 4th: sampling costs per element */
#define SGC_PART_LN_MARGIN 0.33647224f /* ln 1.4 */
#define SGC_PART_BIN_SHIFT 22u       /* key >> 22: two bins per octave */
#define SGC_PART_BINS_BELOW (SGC_PARTITION_BINS * 3u / 4u) /* 3/4 of the bins lie below t_r */
#define SGC_PART_EMA 0.5f            /* weight of the newest block mean */
#define SGC_PART_KEY 0u
#define SGC_PART_SPARSE 1u

/* What one streaming pass saw, beside the candidates. */
typedef struct {
    uint32_t hist[2][SGC_PARTITION_BINS];
    uint32_t base[2];                        /* key of bin 1's lower edge */
    float block_sum[SGC_PARTITION_BLOCKS];   /* sum |g| over sampled elements */
    uint32_t block_seen[SGC_PARTITION_BLOCKS];
    uint32_t count[2];                       /* candidates per region */
    uint32_t total;                          /* all candidates, UINT32_MAX: NaN/Inf */
} sgc_part_obs;

/* Per-pass thresholds. */
typedef struct {
    uint32_t collect_key[2]; /* candidate when key >= this */
    float inv_t[2];          /* normalisation 1 / t_r */
} sgc_part_cut;

static uint32_t block_count(uint32_t n)
{
    return n < SGC_PARTITION_BLOCKS ? n : SGC_PARTITION_BLOCKS;
}

/* First index of block b: blocks differ in length by at most one, in 32-bit
 * arithmetic (no 64-bit division helper on 32-bit targets). */
static uint32_t block_start(uint32_t b, uint32_t n)
{
    uint32_t nb = block_count(n), base = n / nb, rem = n % nb;
    return b * base + (b < rem ? b : rem);
}

static uint32_t region_of(const sgc_partition_state *st, uint32_t b)
{
    return ((st->key_mask >> b) & 1u) != 0u ? SGC_PART_KEY : SGC_PART_SPARSE;
}

/* Scratch: the candidate buffer, the pass observations, then the working
 * copy of the predictor (all kept off the stack, which stays under 1 KB on
 * the MCU builds). */
typedef struct {
    sgc_part_obs obs;
    sgc_partition_state next;
} sgc_part_work;

size_t sgci_partition_scratch_bytes(uint32_t n, uint32_t k)
{
    size_t cands = sgci_cands_bytes(sgci_cands_cap(n, k));
    return cands == 0u || cands > SIZE_MAX - sizeof(sgc_part_work) ? 0u
                                                                    : cands + sizeof(sgc_part_work);
}

void sgc_partition_init(sgc_partition_state *st)
{
    uint32_t b;
    if (st == NULL) {
        return;
    }
    st->magic = SGC_PART_MAGIC;
    st->n = 0u;
    st->key_mask = 0u;
    st->threshold[0] = st->threshold[1] = 0.0f;
    st->scale[0] = st->scale[1] = 0.0f;
    for (b = 0u; b < SGC_PARTITION_BLOCKS; ++b) {
        st->block_scale[b] = 0.0f;
    }
    st->steps = 0u;
    st->reestimates = 0u;
}

static void subsample(const float *g, uint32_t from, uint32_t to, uint32_t stride,
                      uint32_t r, uint32_t b, sgc_part_obs *obs)
{
    uint32_t i;
    for (i = from; i < to; i += stride) {
        uint32_t u = sgc_key(g[i]), bin;
        obs->block_sum[b] += sgc_u2f(u);
        ++obs->block_seen[b];
        if (u < obs->base[r]) {
            bin = 0u;
        } else {
            bin = ((u - obs->base[r]) >> SGC_PART_BIN_SHIFT) + 1u;
            bin = bin < SGC_PARTITION_BINS ? bin : SGC_PARTITION_BINS - 1u;
        }
        ++obs->hist[r][bin];
    }
}

/* Collect the candidates of one chunk of region r, keyed by |g| / t_r;
 * returns the chunk's OR of sgc_nonfinite_bits. */
static uint32_t collect_chunk(const float *g, uint32_t from, uint32_t to,
                              const sgc_part_cut *cut, uint32_t r, sgc_cands *c,
                              sgc_part_obs *obs)
{
    uint32_t before = obs->total;
    uint32_t bad = sgci_collect_range(g, from, to, cut->collect_key[r], cut->inv_t[r], c,
                                      &obs->total);
    obs->count[r] += obs->total - before;
    return bad;
}

static void obs_reset(sgc_part_obs *obs, const sgc_partition_state *st)
{
    uint32_t r, j, b;
    for (r = 0u; r < 2u; ++r) {
        uint32_t anchor = sgc_key(st->threshold[r]) & ~((1u << SGC_PART_BIN_SHIFT) - 1u);
        uint32_t below = SGC_PART_BINS_BELOW << SGC_PART_BIN_SHIFT;
        obs->base[r] = anchor > below ? anchor - below : 0u;
        for (j = 0u; j < SGC_PARTITION_BINS; ++j) {
            obs->hist[r][j] = 0u;
        }
        obs->count[r] = 0u;
    }
    for (b = 0u; b < SGC_PARTITION_BLOCKS; ++b) {
        obs->block_sum[b] = 0.0f;
        obs->block_seen[b] = 0u;
    }
    obs->total = 0u;
}

/* The streaming pass. */
static void stream(const sgc_partition_state *st, const float *g, uint32_t n,
                   const sgc_part_cut *cut, sgc_cands *c, sgc_part_obs *obs)
{
    uint32_t nb = block_count(n), b, bad = 0u;
    uint32_t stride = n / SGC_PART_SAMPLES > SGC_PART_MIN_STRIDE ? n / SGC_PART_SAMPLES
                                                                 : SGC_PART_MIN_STRIDE;
    obs_reset(obs, st);
    for (b = 0u; b < SGC_OVER_BINS; ++b) {
        c->over[b] = 0u; /* sgci_collect_range bins what overflows */
    }
    for (b = 0u; b < nb; ++b) {
        uint32_t r = region_of(st, b), from = block_start(b, n), to = block_start(b + 1u, n);
        while (from < to) {
            uint32_t end = to - from > SGC_PART_CHUNK ? from + SGC_PART_CHUNK : to;
            bad |= collect_chunk(g, from, end, cut, r, c, obs);
            subsample(g, from, end, stride, r, b, obs);
            from = end;
        }
    }
    c->len = obs->total < c->cap ? obs->total : c->cap;
    c->floor = 0u; /* keys are normalised per region: no common floor */
    if ((bad & SGC_NONFINITE_FLAG) != 0u) {
        obs->total = UINT32_MAX;
    }
}

static sgc_part_cut make_cut(const sgc_partition_state *st)
{
    sgc_part_cut cut;
    uint32_t r;
    for (r = 0u; r < 2u; ++r) {
        float t = st->threshold[r], tc = t - st->scale[r] * SGC_PART_LN_MARGIN;
        cut.collect_key[r] = tc > 0.0f ? sgc_key(tc) : 0u;
        cut.inv_t[r] = t > 0.0f ? 1.0f / t : 1.0f;
    }
    return cut;
}

/* Differential entropy of a region histogram, in nats, over its non-zero
 * magnitudes; returns the scale exp(H - 1), or 0 with too few samples. */
static float entropy_scale(const sgc_part_obs *obs, uint32_t r)
{
    uint32_t j, total = 0u;
    float h = 0.0f;
    for (j = 1u; j < SGC_PARTITION_BINS; ++j) {
        total += obs->hist[r][j];
    }
    if (obs->base[r] > 0u) {
        total += obs->hist[r][0];
    }
    if (total < 8u) {
        return 0.0f;
    }
    for (j = 0u; j < SGC_PARTITION_BINS; ++j) {
        uint32_t lo = j == 0u ? 0u : obs->base[r] + ((j - 1u) << SGC_PART_BIN_SHIFT);
        uint32_t hi = obs->base[r] + (j << SGC_PART_BIN_SHIFT);
        float w, p;
        if (obs->hist[r][j] == 0u || (j == 0u && obs->base[r] == 0u)) {
            continue; /* exact zeros carry no scale */
        }
        w = (j == 0u ? sgc_u2f(obs->base[r]) : sgc_u2f(hi) - sgc_u2f(lo));
        p = (float)obs->hist[r][j] / (float)total;
        h += p * (sgci_ln(w) - sgci_ln(p));
    }
    return sgci_exp(h - 1.0f);
}

/* Key region: blocks whose running mean |g| is at least the mean of all. */
static void update_blocks(sgc_partition_state *st, const sgc_part_obs *obs, uint32_t n,
                          int fresh)
{
    uint32_t nb = block_count(n), b, mask = 0u;
    float mean = 0.0f;
    for (b = 0u; b < nb; ++b) {
        float m = obs->block_seen[b] > 0u ? obs->block_sum[b] / (float)obs->block_seen[b] : 0.0f;
        st->block_scale[b] = fresh ? m : SGC_PART_EMA * m + (1.0f - SGC_PART_EMA) * st->block_scale[b];
        mean += st->block_scale[b];
    }
    mean /= (float)nb;
    for (b = 0u; b < nb; ++b) {
        if (st->block_scale[b] >= mean) {
            mask |= 1u << b;
        }
    }
    st->key_mask = mask;
}

/* Cold estimate: one moment pass; thresholds from the Laplace model of each
 * region (b_r = its mean |g|) with one common t: sum n_r exp(-t/b_r) = k.
 * A NaN/Inf leaves the thresholds at 0; the streaming pass then reports it. */
static void cold_estimate(sgc_partition_state *st, const float *g, uint32_t n, uint32_t k,
                          sgc_part_obs *obs)
{
    uint32_t nb = block_count(n), b, r, it;
    float nr[2] = {0.0f, 0.0f}, sum[2] = {0.0f, 0.0f}, br[2], t;
    obs_reset(obs, st);
    for (b = 0u; b < nb; ++b) {
        uint32_t from = block_start(b, n), to = block_start(b + 1u, n);
        float s;
        sgci_sums(g, from, to, &s, &obs->block_sum[b]);
        obs->block_seen[b] = to - from;
    }
    update_blocks(st, obs, n, 1);
    for (b = 0u; b < nb; ++b) {
        r = region_of(st, b);
        nr[r] += (float)obs->block_seen[b];
        sum[r] += obs->block_sum[b];
    }
    t = 0.0f;
    for (r = 0u; r < 2u; ++r) {
        br[r] = nr[r] > 0.0f ? sum[r] / nr[r] : 0.0f;
        if (br[r] > 0.0f && br[r] * sgci_ln((float)n / (float)k) > t) {
            t = br[r] * sgci_ln((float)n / (float)k);
        }
    }
    for (it = 0u; it < 8u && t > 0.0f; ++it) { /* Newton on ln(sum) = ln k */
        float s = 0.0f, d = 0.0f;
        for (r = 0u; r < 2u; ++r) {
            if (br[r] > 0.0f) {
                float e = nr[r] * sgci_exp(-t / br[r]);
                s += e;
                d += e / br[r];
            }
        }
        if (!(s > 0.0f) || !(d > 0.0f)) {
            break;
        }
        t += (sgci_ln(s) - sgci_ln((float)k)) * s / d;
        t = t > 0.0f ? t : 0.0f;
    }
    for (r = 0u; r < 2u; ++r) {
        st->threshold[r] = t;
        st->scale[r] = br[r];
    }
    st->n = n;
}

/* Smallest normalised key among the selected entries (they are a subsequence
 * of the candidates): the common cut lambda, as a float. */
static float final_cut(const sgc_cands *c, const uint32_t *idx, uint32_t count)
{
    uint32_t i = 0u, j, mink = UINT32_MAX;
    for (j = 0u; j < count; ++j) {
        while (i < c->len && c->idx[i] != idx[j]) {
            ++i;
        }
        if (i < c->len && c->key[i] < mink) {
            mink = c->key[i];
        }
    }
    return mink == UINT32_MAX ? 1.0f : sgc_u2f(mink);
}

/* Threshold and scale update after a finished step. */
static void learn(sgc_partition_state *st, const sgc_part_obs *obs, uint32_t n,
                  float lambda, int cold)
{
    uint32_t r;
    for (r = 0u; r < 2u; ++r) {
        float b = entropy_scale(obs, r);
        st->threshold[r] *= lambda;
        if (b > 0.0f) {
            if (!cold && st->scale[r] > 0.0f) {
                st->threshold[r] *= b / st->scale[r];
            }
            st->scale[r] = b;
        }
    }
    update_blocks(st, obs, n, 0);
    st->n = n;
}

/* Both thresholds along the Laplace slope after a missed count. */
static void shift_thresholds(sgc_partition_state *st, const sgc_part_obs *obs,
                             const sgc_band *band, uint32_t cap)
{
    uint32_t r;
    float have = obs->total > 0u ? (float)obs->total : 0.5f;
    float want = sgci_count_target(band, cap);
    for (r = 0u; r < 2u; ++r) {
        float t = st->threshold[r] - st->scale[r] * SGC_PART_LN_MARGIN;
        t += st->scale[r] * (sgci_ln(have / want) + SGC_PART_LN_MARGIN);
        st->threshold[r] = t > 0.0f ? t : 0.0f;
    }
}

/* Partition selection on a predictor (validated job); st NULL: a cold
 * predictor in scratch, thrown away afterwards. */
static sgc_status sgc_run_partition(sgc_partition_state *st, const sgc_job *job)
{
    sgc_cands c;
    sgc_band band;
    sgc_part_cut cut;
    uint32_t iter_left = job->opt.max_iter, attempt;
    uint32_t cap = sgci_cands_cap(job->n, job->k);
    sgc_part_work *work = (sgc_part_work *)(void *)((uint8_t *)job->scratch +
                                                    sgci_cands_bytes(cap));
    sgc_part_obs *obs = &work->obs;
    sgc_partition_state *next = &work->next;
    int cold;
    if (st != NULL) {
        *next = *st;
    } else {
        sgc_partition_init(next);
    }
    cold = next->n != job->n;
    sgci_cands_bind(&c, job->scratch, cap);
    band = sgci_band_make(job->k, job->opt.tol, job->cap);
    if (cold) {
        sgc_partition_init(next);
        cold_estimate(next, job->g, job->n, job->k, obs);
        ++job->info->passes;
    }
    for (attempt = 0u; attempt < 2u; ++attempt) {
        cut = make_cut(next);
        stream(next, job->g, job->n, &cut, &c, obs);
        ++job->info->passes;
        if (obs->total == UINT32_MAX) {
            return SGC_E_NONFINITE;
        }
        if (obs->total >= band.lo && obs->total <= c.cap) {
            sgci_finish(&c, &band, &iter_left, 0, job->idx, job->vals, job->count, job->info);
            learn(next, obs, job->n, final_cut(&c, job->idx, *job->count), cold);
            next->reestimates += (uint32_t)(attempt > 0u || cold);
            ++next->steps;
            if (st != NULL) {
                *st = *next;
            }
            return SGC_OK;
        }
        shift_thresholds(next, obs, &band, c.cap);
        ++job->info->iterations;
    }
    /* still off: the generic search over g from the shifted thresholds */
    {
        float t = next->threshold[0] < next->threshold[1] ? next->threshold[0] : next->threshold[1];
        float b = 0.5f * (next->scale[0] + next->scale[1]);
        sgc_status s = sgci_search(job->g, job->n, &band, t, b, iter_left, 0, &c, job->idx,
                                   job->vals, job->count, job->info);
        if (s != SGC_OK) {
            return s;
        }
        next->threshold[0] = next->threshold[1] = job->info->threshold;
        update_blocks(next, obs, job->n, 0);
        next->n = job->n;
        ++next->reestimates;
        ++next->steps;
        if (st != NULL) {
            *st = *next;
        }
        return SGC_OK;
    }
}

sgc_status sgci_run_partition_cold(const sgc_job *job)
{
    return sgc_run_partition(NULL, job);
}

sgc_status sgc_select_partition(sgc_partition_state *st, const float *g, uint32_t n,
                                uint32_t k, const sgc_select_options *opt, void *scratch,
                                size_t scratch_bytes, uint32_t *idx, float *vals,
                                uint32_t cap, uint32_t *count, sgc_select_info *info)
{
    sgc_job job;
    sgc_select_info local;
    sgc_status s;
    if (st == NULL) {
        return SGC_E_NULL;
    }
    if (st->magic != SGC_PART_MAGIC) {
        return SGC_E_STATE;
    }
    s = sgci_job_check(g, n, k, opt, idx, vals, cap, count);
    if (s != SGC_OK) {
        return s;
    }
    s = sgci_scratch_check(scratch, scratch_bytes, sgci_partition_scratch_bytes(n, k));
    if (s != SGC_OK) {
        return s;
    }
    sgci_job_init(&job, g, n, k, opt, scratch, idx, vals, cap, count, info, &local);
    return sgc_run_partition(st, &job);
}
