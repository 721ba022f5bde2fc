/* node_update.c - the core's in-place residual step, then the frame (see
 * node_update.h). */
#include <string.h>

#include "node_update.h"

/* The frame is encoded from the decoded values the residual step returns;
 * these codings encode their own decoded values to the same bytes (int8
 * may not: its scale max|v|/127 can move by an ulp), so the receiver gets
 * exactly what was subtracted. */
typedef char node_update_coding_round_trips[(NODE_UPDATE_CODING == SGC_VAL_FP32 ||
                                             NODE_UPDATE_CODING == SGC_VAL_FP16 ||
                                             NODE_UPDATE_CODING == SGC_VAL_SIGN) ? 1 : -1];

/* The residual configuration of this firmware for n values and k per step. */
static void node_config(sgc_residual_config *cfg, uint32_t n, uint32_t k)
{
    sgc_residual_config_init(cfg);
    cfg->method = NODE_UPDATE_METHOD;
    cfg->coding = NODE_UPDATE_CODING;
    /* density * n + 0.5 rounds back to exactly k (sgc_residual_k) */
    cfg->density = (float)k / (float)n;
}

sgc_status node_update_init(node_update *u, float *residual, uint32_t n, size_t scratch_bytes)
{
    sgc_residual_config cfg;
    uint32_t k;

    if (u == NULL || residual == NULL) {
        return SGC_E_NULL;
    }
    k = (uint32_t)(((uint64_t)n * NODE_UPDATE_DENSITY_PERMILLE + 999u) / 1000u);
    if (n == 0 || k == 0 || k > NODE_UPDATE_K_MAX) {
        return SGC_E_K;
    }
    node_config(&cfg, n, k);
    if (sgc_residual_scratch_bytes(&cfg, n) > scratch_bytes) {
        return SGC_E_SCRATCH;
    }
    u->k = k;
    u->key = NULL;
    u->key_len = 0u;
    return sgc_residual_init(&u->memory, n, &cfg, residual, NULL); /* zeroes it */
}

void node_update_set_key(node_update *u, const uint8_t *key, size_t key_len)
{
    u->key = key_len > 0u ? key : NULL;
    u->key_len = key_len > 0u ? key_len : 0u;
}

uint32_t node_update_k(const node_update *u)
{
    return u->k;
}

sgc_status node_update_encode(node_update *u, float *residual, void *scratch,
                              size_t scratch_bytes, uint32_t device_id, uint32_t round,
                              uint32_t seq, uint8_t *out, size_t cap, size_t *len)
{
    sgc_frame_header h;
    uint32_t count = 0, hi;
    sgc_status st;

    if (u == NULL || residual != u->memory.residual || out == NULL || len == NULL) {
        return SGC_E_NULL;
    }
    /* the step changes the residual: make sure the largest frame it can
     * lead to fits first (the step returns at most k + floor(k tol)) */
    hi = u->k + (uint32_t)((float)u->k * u->memory.cfg.select.tol);
    if (cap < sgc_frame_size_bound(u->memory.n, hi, NODE_UPDATE_CODING)) {
        return SGC_E_CAPACITY;
    }
    /* g NULL: nn_batch_grad() already added the gradient into the residual */
    st = sgc_residual_step(&u->memory, NULL, scratch, scratch_bytes, u->idx, u->vals,
                           NODE_UPDATE_K_MAX, &count, NULL, 0, NULL, NULL);
    if (st != SGC_OK) {
        return st;
    }
    memset(&h, 0, sizeof h);
    h.msg_type = SGC_MSG_SPARSE_UPDATE;
    h.device_id = device_id;
    h.round = round;
    h.seq = seq;
    h.segment_count = 1;
    return sgc_frame_encode_sparse(&h, u->memory.n, u->idx, count, u->vals, NODE_UPDATE_CODING,
                                   u->key, u->key_len, out, cap, len);
}
