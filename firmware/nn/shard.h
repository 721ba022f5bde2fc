/* shard.h - a node's local training data, stored in flash.
 *
 * Samples are int8 with one float scale per channel (x = q * scale[c]), a
 * quarter of float32's size; tools/gen_shard.py writes the arrays from the
 * watch data set, one subject per board. Labels are one byte each.
 */
#ifndef SPARROW_SHARD_H
#define SPARROW_SHARD_H

#include <stdint.h>

#include "nn.h"

typedef struct {
    uint32_t n_samples;
    uint16_t channels;
    uint16_t length;
    const int8_t *x;      /* n_samples * channels * length, row-major */
    const uint8_t *y;     /* n_samples labels */
    const float *scale;   /* channels */
} nn_shard;

/* Dequantise sample `index` into x (channels*length floats) and give its
 * label. */
nn_status nn_shard_sample(const nn_shard *s, uint32_t index, float *x, uint16_t *label);

#endif /* SPARROW_SHARD_H */
