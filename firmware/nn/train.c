/* train.c - mini-batches over a shard, one sample at a time. */
#include "train.h"

static nn_status check_args(const nn_model *m, const float *params, const nn_shard *s,
                            uint32_t count, const float *arena)
{
    if (m == NULL || params == NULL || s == NULL || arena == NULL) {
        return NN_E_NULL;
    }
    if (count == 0 || s->n_samples == 0) {
        return NN_E_EMPTY;
    }
    if ((uint32_t)s->channels * s->length != m->in_size) {
        return NN_E_LAYER;
    }
    return NN_OK;
}

nn_status nn_batch_grad(const nn_model *m, const float *params, const nn_shard *s,
                        uint32_t first, uint32_t count, float *arena, float *grad,
                        float *loss)
{
    const float scale = 1.0f / (float)count;
    float total = 0.0f;
    uint32_t j;
    nn_status st = check_args(m, params, s, count, arena);

    if (st != NN_OK || grad == NULL || loss == NULL) {
        return st != NN_OK ? st : NN_E_NULL;
    }
    for (j = 0; j < count; ++j) {
        const float *logits;
        uint16_t label;
        float sample_loss;
        st = nn_shard_sample(s, (first + j) % s->n_samples, nn_input(m, arena), &label);
        if (st == NN_OK) {
            st = nn_forward(m, params, arena, &logits);
        }
        if (st == NN_OK) {
            st = nn_backward(m, params, arena, label, scale, grad, &sample_loss);
        }
        if (st != NN_OK) {
            return st;
        }
        total += sample_loss;
    }
    *loss = total / (float)count;
    return NN_OK;
}

nn_status nn_batch_eval(const nn_model *m, const float *params, const nn_shard *s,
                        uint32_t first, uint32_t count, float *arena, float *loss,
                        uint32_t *correct)
{
    uint32_t j, hits = 0;
    float total = 0.0f;
    nn_status st = check_args(m, params, s, count, arena);

    if (st != NN_OK || loss == NULL || correct == NULL) {
        return st != NN_OK ? st : NN_E_NULL;
    }
    for (j = 0; j < count; ++j) {
        const float *logits = NULL;
        uint16_t label;
        float sample_loss = 0.0f;
        st = nn_shard_sample(s, (first + j) % s->n_samples, nn_input(m, arena), &label);
        if (st == NN_OK) {
            st = nn_forward(m, params, arena, &logits);
        }
        if (st == NN_OK) {
            st = nn_loss(m, arena, label, &sample_loss);
        }
        if (st != NN_OK) {
            return st;
        }
        total += sample_loss;
        hits += nn_argmax(logits, m->n_classes) == label ? 1u : 0u;
    }
    *loss = total / (float)count;
    *correct = hits;
    return NN_OK;
}
