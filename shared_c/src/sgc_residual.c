/* sgc_residual.c - residual (error-feedback) memory with optional DGC
 * momentum correction, momentum-factor masking and a density warm-up.
 *
 * One step: check that g and every updated entry stay finite (no state is
 * touched otherwise; without momentum the same read pass yields the moments
 * laplace needs, so it skips its own); v = m v + g; residual += v (or g);
 * or, with g NULL, take the residual as it is (a board whose backward pass
 * accumulates straight into it needs no gradient buffer); select k from the
 * residual; quantise the selected values; decode them exactly as a receiver
 * will; subtract the decoded values. The codings make residual - decoded
 * exact in float32 (sgc_quant.c), so residual_after + sent equals
 * residual_before + added bit for bit, and the rounding error of the coding
 * stays in the residual for later steps. */
#include "sgc.h"

#include "sgc_math.h"
#include "sgc_select_internal.h"
#include "sgc_threshold.h"

#define SGC_RES_MAGIC 0x52455344u /* "RESD" */
#define SGC_WARMUP_FACTOR 0.25f   /* density of warm-up stage s: 0.25^(s+1) */

void sgc_residual_config_init(sgc_residual_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    cfg->method = SGC_SELECT_LAPLACE;
    cfg->coding = SGC_VAL_FP32;
    cfg->density = 0.01f;
    cfg->warmup_steps = 0u;
    cfg->momentum = 0.0f;
    cfg->momentum_masking = true;
    sgc_select_options_init(&cfg->select);
}

static sgc_status config_check(const sgc_residual_config *cfg)
{
    if ((uint32_t)cfg->method >= SGC_METHOD_COUNT ||
        ((SGC_SELECTORS) & SGC_SELECTOR_BIT(cfg->method)) == 0u) {
        return SGC_E_METHOD;
    }
    if ((uint32_t)cfg->coding >= SGC_VAL_COUNT) {
        return SGC_E_CODING;
    }
    if (!sgc_isfinite(cfg->density) || !(cfg->density > 0.0f) || cfg->density > 1.0f ||
        !sgc_isfinite(cfg->momentum) || cfg->momentum < 0.0f || cfg->momentum >= 1.0f ||
        !sgc_isfinite(cfg->select.tol) || cfg->select.tol < 0.0f || cfg->select.tol >= 1.0f) {
        return SGC_E_OPTION;
    }
    return SGC_OK;
}

static float density_at(const sgc_residual_config *cfg, uint32_t step)
{
    float d = SGC_WARMUP_FACTOR;
    uint32_t stage;
    if (cfg->warmup_steps == 0u) {
        return cfg->density;
    }
    for (stage = step / cfg->warmup_steps; stage > 0u && d > cfg->density; --stage) {
        d *= SGC_WARMUP_FACTOR;
    }
    return d > cfg->density ? d : cfg->density;
}

static uint32_t k_at(const sgc_residual_config *cfg, uint32_t n, uint32_t step)
{
    float kf = density_at(cfg, step) * (float)n + 0.5f;
    uint32_t k = kf >= (float)n ? n : (uint32_t)kf;
    return k > 0u ? k : 1u;
}

uint32_t sgc_residual_k(const sgc_residual *r)
{
    if (r == NULL || r->magic != SGC_RES_MAGIC) {
        return 0u;
    }
    return k_at(&r->cfg, r->n, r->step);
}

/* Bytes of the selection scratch, rounded up to 4 so the value buffer that
 * follows stays aligned. */
static size_t select_part(const sgc_residual_config *cfg, uint32_t n, uint32_t k)
{
    size_t s = sgc_select_scratch_bytes(cfg->method, n, k);
    return (s + 3u) & ~(size_t)3u;
}

size_t sgc_residual_scratch_bytes(const sgc_residual_config *cfg, uint32_t n)
{
    uint32_t k;
    if (cfg == NULL || config_check(cfg) != SGC_OK || n == 0u || n > SGC_MAX_N) {
        return 0u;
    }
    k = k_at(cfg, n, 0u); /* the warm-up only ever lowers k */
    return select_part(cfg, n, k) + sgc_value_bytes(cfg->coding, k);
}

sgc_status sgc_residual_init(sgc_residual *r, uint32_t n, const sgc_residual_config *cfg,
                             float *residual, float *velocity)
{
    sgc_status s;
    if (r == NULL || cfg == NULL || residual == NULL) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    s = config_check(cfg);
    if (s != SGC_OK) {
        return s;
    }
    if (cfg->momentum > 0.0f && velocity == NULL) {
        return SGC_E_NULL;
    }
    r->n = n;
    r->cfg = *cfg;
    r->residual = residual;
    r->velocity = cfg->momentum > 0.0f ? velocity : NULL;
    r->magic = SGC_RES_MAGIC;
    return sgc_residual_reset(r);
}

sgc_status sgc_residual_reset(sgc_residual *r)
{
    uint32_t i;
    if (r == NULL) {
        return SGC_E_NULL;
    }
    if (r->magic != SGC_RES_MAGIC) {
        return SGC_E_STATE;
    }
    for (i = 0u; i < r->n; ++i) {
        r->residual[i] = 0.0f;
        if (r->velocity != NULL) {
            r->velocity[i] = 0.0f;
        }
    }
    r->step = 0u;
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_PARTITION
    sgc_partition_init(&r->partition);
#endif
    return SGC_OK;
}

/* 1 when g and every entry the momentum update would write are finite. */
static int update_is_finite(const sgc_residual *r, const float *g)
{
    uint32_t i, bad = 0u;
    float m = r->cfg.momentum;
    for (i = 0u; i < r->n; ++i) {
        float add = m * r->velocity[i] + g[i];
        bad |= sgc_nonfinite_bits(sgc_key(g[i])) | sgc_nonfinite_bits(sgc_key(add)) |
               sgc_nonfinite_bits(sgc_key(r->residual[i] + add));
    }
    return (bad & SGC_NONFINITE_FLAG) == 0u;
}

/* Adds g (through the velocity with momentum) into the residual after a
 * check that writes nothing. Without momentum the check pass also yields
 * the moments of the new residual (moments[0..1], for laplace; *known set). */
static sgc_status accumulate(sgc_residual *r, const float *g, float *moments, int *known)
{
    uint32_t i;
    if (r->velocity != NULL) {
        float m = r->cfg.momentum;
        if (!update_is_finite(r, g)) {
            return SGC_E_NONFINITE;
        }
        for (i = 0u; i < r->n; ++i) {
            r->velocity[i] = m * r->velocity[i] + g[i];
            r->residual[i] += r->velocity[i];
        }
        return SGC_OK;
    }
    if ((sgci_sums_added(r->residual, g, r->n, &moments[0], &moments[1]) &
         SGC_NONFINITE_FLAG) != 0u) {
        return SGC_E_NONFINITE;
    }
    for (i = 0u; i < r->n; ++i) {
        r->residual[i] += g[i];
    }
    *known = 1;
    return SGC_OK;
}

static sgc_status select_from_residual(sgc_residual *r, uint32_t k, const float *moments,
                                       void *scratch, size_t bytes, uint32_t *idx,
                                       float *vals, uint32_t cap, uint32_t *count)
{
    sgc_select_options opt = r->cfg.select;
    /* random-k draws fresh positions each step; receivers derive the same
     * per-step seed (docs/methods.md) */
    opt.seed = r->cfg.select.seed + (uint64_t)r->step * 0x9E3779B9u;
#if (SGC_SELECTORS) & SGC_SELECTOR_BIT_PARTITION
    if (r->cfg.method == SGC_SELECT_PARTITION) {
        return sgc_select_partition(&r->partition, r->residual, r->n, k, &opt, scratch, bytes,
                                    idx, vals, cap, count, NULL);
    }
#endif
    return sgci_select_moments(r->cfg.method, moments, r->residual, r->n, k, &opt, scratch,
                               bytes, idx, vals, cap, count, NULL);
}

sgc_status sgc_residual_step(sgc_residual *r, const float *g, void *scratch,
                             size_t scratch_bytes, uint32_t *idx, float *vals, uint32_t cap,
                             uint32_t *count, uint8_t *payload, size_t payload_cap,
                             size_t *payload_len, float *scale)
{
    uint32_t k, i, m;
    size_t sel_bytes, len, vcap;
    uint8_t *vbuf;
    float s, moments[2];
    int known = 0;
    sgc_status st;
    if (r == NULL || idx == NULL || vals == NULL || count == NULL) {
        return SGC_E_NULL;
    }
    if (r->magic != SGC_RES_MAGIC) {
        return SGC_E_STATE;
    }
    if (g == NULL && r->velocity != NULL) {
        return SGC_E_NULL; /* the velocity needs the gradient itself */
    }
    k = k_at(&r->cfg, r->n, r->step);
    if (cap < k) {
        return SGC_E_CAPACITY;
    }
    st = sgci_scratch_check(scratch, scratch_bytes, sgc_residual_scratch_bytes(&r->cfg, r->n));
    if (st != SGC_OK) {
        return st;
    }
    sel_bytes = select_part(&r->cfg, r->n, k);
    vbuf = payload != NULL ? payload : (uint8_t *)scratch + sel_bytes;
    vcap = payload != NULL ? payload_cap : scratch_bytes - sel_bytes;
    if (sgc_value_bytes(r->cfg.coding, k) > vcap) {
        return SGC_E_CAPACITY;
    }
    if (g != NULL) {
        st = accumulate(r, g, moments, &known);
        if (st != SGC_OK) {
            return st;
        }
    }
    /* with g NULL the caller already added the gradient into the residual;
     * the selector's own NaN/Inf check then guards the step */
    st = select_from_residual(r, k, known ? moments : NULL, scratch, sel_bytes, idx, vals,
                              cap, &m);
    if (st == SGC_OK && payload == NULL && r->cfg.coding == SGC_VAL_FP32) {
        /* fp32 values decode to themselves: nothing to encode */
        len = sgc_value_bytes(SGC_VAL_FP32, m);
        s = 1.0f;
    } else if (st == SGC_OK) {
        st = sgc_quantize(r->cfg.coding, vals, m, vbuf, vcap, &len, &s);
        if (st == SGC_OK) {
            st = sgc_dequantize(r->cfg.coding, vbuf, len, m, s, vals);
        }
    }
    if (st != SGC_OK) {
        return st; /* unreachable for finite input; reported rather than hidden */
    }
    for (i = 0u; i < m; ++i) {
        r->residual[idx[i]] -= vals[i];
        if (r->velocity != NULL && r->cfg.momentum_masking) {
            r->velocity[idx[i]] = 0.0f;
        }
    }
    ++r->step;
    *count = m;
    if (payload_len != NULL) {
        *payload_len = len;
    }
    if (scale != NULL) {
        *scale = s;
    }
    return SGC_OK;
}
