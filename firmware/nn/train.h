/* train.h - mini-batch gradients and local SGD over a shard. */
#ifndef SPARROW_TRAIN_H
#define SPARROW_TRAIN_H

#include <stdint.h>

#include "nn.h"
#include "shard.h"

/* Add the gradient of the mean loss over `count` samples, starting at sample
 * `first` and wrapping around the shard, into grad (grad is not cleared:
 * passing the residual memory makes this the error-feedback update). The
 * mean loss goes to *loss. The model's input size must equal the shard's
 * sample size. */
nn_status nn_batch_grad(const nn_model *m, const float *params, const nn_shard *s,
                        uint32_t first, uint32_t count, float *arena, float *grad,
                        float *loss);

/* Mean loss over `count` samples from `first` (wrapping) and how many of
 * them the model classifies correctly; forward passes only. */
nn_status nn_batch_eval(const nn_model *m, const float *params, const nn_shard *s,
                        uint32_t first, uint32_t count, float *arena, float *loss,
                        uint32_t *correct);

#endif /* SPARROW_TRAIN_H */
