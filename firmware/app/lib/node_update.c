/* node_update.c - select, subtract and encode (see node_update.h). */
#include <string.h>

#include "node_update.h"

sgc_status node_update_init(node_update *u, float *residual, uint32_t n, size_t scratch_bytes)
{
    uint32_t k;

    if (u == NULL || residual == NULL) {
        return SGC_E_NULL;
    }
    k = (uint32_t)(((uint64_t)n * NODE_UPDATE_DENSITY_PERMILLE + 999u) / 1000u);
    if (n == 0 || k == 0 || k > NODE_UPDATE_K_MAX) {
        return SGC_E_K;
    }
    if (sgc_select_scratch_bytes(NODE_UPDATE_METHOD, n, k) > scratch_bytes) {
        return SGC_E_SCRATCH;
    }
    u->residual = residual;
    u->n = n;
    u->k = k;
    memset(residual, 0, (size_t)n * sizeof residual[0]);
    return SGC_OK;
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
    uint32_t count = 0, i;
    size_t payload_len;
    float scale;
    sgc_status st;

    if (u == NULL || residual != u->residual || out == NULL || len == NULL) {
        return SGC_E_NULL;
    }
    st = sgc_select(NODE_UPDATE_METHOD, residual, u->n, u->k, NULL, scratch, scratch_bytes,
                    u->idx, u->vals, NODE_UPDATE_K_MAX, &count, NULL);
    if (st != SGC_OK) {
        return st;
    }
    memset(&h, 0, sizeof h);
    h.msg_type = SGC_MSG_SPARSE_UPDATE;
    h.device_id = device_id;
    h.round = round;
    h.seq = seq;
    h.segment_count = 1;
    st = sgc_frame_encode_sparse(&h, u->n, u->idx, count, u->vals, NODE_UPDATE_CODING, NULL, 0,
                                 out, cap, len);
    if (st != SGC_OK) {
        return st;
    }
    /* The receiver decodes the quantised values: subtract exactly those. */
    st = sgc_quantize(NODE_UPDATE_CODING, u->vals, count, u->payload, sizeof u->payload,
                      &payload_len, &scale);
    if (st == SGC_OK) {
        st = sgc_dequantize(NODE_UPDATE_CODING, u->payload, payload_len, count, scale, u->vals);
    }
    if (st != SGC_OK) {
        return st;
    }
    for (i = 0; i < count; ++i) {
        residual[u->idx[i]] -= u->vals[i];
    }
    return SGC_OK;
}
