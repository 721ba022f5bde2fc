/* node_update.h - the node's compressed update: error feedback on the
 * board, with the gradient accumulated straight into the residual memory.
 *
 * nn_batch_grad() adds the mini-batch gradient into the residual array, so
 * the board needs no separate gradient buffer (one model-sized array less:
 * what keeps the watch CNN under 48 KB of RAM). node_update_encode() then
 * runs the core's in-place residual step (sgc_residual_step with g NULL:
 * select the top-k entries of the residual, subtract exactly the values the
 * receiver will decode) and encodes a SPARSE_UPDATE frame.
 */
#ifndef SPARROW_NODE_UPDATE_H
#define SPARROW_NODE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "sgc.h"

/* Share of the parameters sent each round, in parts per thousand. */
#ifndef NODE_UPDATE_DENSITY_PERMILLE
#define NODE_UPDATE_DENSITY_PERMILLE 20u
#endif
/* Largest k any model may use on this firmware (sizes the static arrays). */
#ifndef NODE_UPDATE_K_MAX
#define NODE_UPDATE_K_MAX 128u
#endif
#ifndef NODE_UPDATE_METHOD
#define NODE_UPDATE_METHOD SGC_SELECT_LAPLACE
#endif
#ifndef NODE_UPDATE_CODING
#define NODE_UPDATE_CODING SGC_VAL_FP32
#endif

typedef struct {
    sgc_residual memory;  /* the core's error feedback over the residual array */
    const uint8_t *key;   /* HMAC key of the frames (NULL: no tag) */
    size_t key_len;
    uint32_t k;
    uint32_t idx[NODE_UPDATE_K_MAX];
    float vals[NODE_UPDATE_K_MAX];
} node_update;

/* Bind a zeroed residual array of n floats. SGC_E_K when the density gives
 * k above NODE_UPDATE_K_MAX, SGC_E_SCRATCH when the selector needs more than
 * scratch_bytes of scratch. */
sgc_status node_update_init(node_update *u, float *residual, uint32_t n, size_t scratch_bytes);

/* Tag every update frame with HMAC-SHA256 under key (key_len bytes; NULL or
 * 0: no tag). The key is borrowed and must outlive u. */
void node_update_set_key(node_update *u, const uint8_t *key, size_t key_len);

/* k of every update. */
uint32_t node_update_k(const node_update *u);

/* Select, subtract and encode the SPARSE_UPDATE of `round` into out (cap
 * bytes). The selector's scratch is lent by the caller: the training arena,
 * idle between steps, serves. On failure the residual is unchanged
 * (SGC_E_CAPACITY when cap cannot hold the largest frame the step may
 * produce, checked before the step; SGC_E_NONFINITE when the residual holds
 * a NaN/Inf). */
sgc_status node_update_encode(node_update *u, float *residual, void *scratch,
                              size_t scratch_bytes, uint32_t device_id, uint32_t round,
                              uint32_t seq, uint8_t *out, size_t cap, size_t *len);

#endif /* SPARROW_NODE_UPDATE_H */
