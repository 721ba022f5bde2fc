/* shard.c - reads one sample of the flash-resident data shard. */
#include "shard.h"

nn_status nn_shard_sample(const nn_shard *s, uint32_t index, float *x, uint16_t *label)
{
    const int8_t *q;
    uint32_t c, t;

    if (s == NULL || x == NULL || label == NULL) {
        return NN_E_NULL;
    }
    if (index >= s->n_samples) {
        return NN_E_INDEX;
    }
    q = s->x + (size_t)index * s->channels * s->length;
    for (c = 0; c < s->channels; ++c) {
        for (t = 0; t < s->length; ++t) {
            x[c * s->length + t] = (float)q[c * s->length + t] * s->scale[c];
        }
    }
    *label = s->y[index];
    return NN_OK;
}
