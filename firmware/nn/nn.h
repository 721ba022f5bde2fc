/* nn.h - tiny on-device training: forward and backward of a layer table over
 * one static arena, no heap.
 *
 * A model is a table of layers generated from the shared model description
 * (agent/modelspec.py) by tools/gen_model.py. Activations follow PyTorch's
 * per-sample layout (channels, length), row-major; parameters follow the
 * description's flat vector: per parametrised layer its weight (dense
 * (out, in), conv1d (out, in, k)) then its bias. The loss is softmax
 * cross-entropy averaged over the batch, as on every other Sparrow node.
 *
 * Samples are processed one at a time, so RAM holds one sample's activations
 * whatever the batch size; gradients accumulate into a caller buffer, which
 * may be the residual memory of the compressor (error feedback needs
 * residual += gradient, so no separate gradient buffer is needed).
 */
#ifndef SPARROW_NN_H
#define SPARROW_NN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    NN_OK = 0,
    NN_E_NULL = -1,       /* a required pointer was NULL */
    NN_E_LAYER = -2,      /* the layer table holds an unknown kind or a bad shape */
    NN_E_LABEL = -3,      /* a label is not below the number of classes */
    NN_E_INDEX = -4,      /* a sample index is outside the shard */
    NN_E_NONFINITE = -5,  /* the loss came out NaN or Inf */
    NN_E_EMPTY = -6       /* a batch of zero samples */
} nn_status;

typedef enum {
    NN_DENSE = 0,
    NN_CONV1D = 1,
    NN_RELU = 2,
    NN_MAXPOOL1D = 3,
    NN_AVGPOOL1D = 4,
    NN_FLATTEN = 5
} nn_kind;

/* One layer. Shapes are (channels, length); a dense layer reads in_ch*in_len
 * features and writes out_ch (out_len 1). Offsets count floats. */
typedef struct {
    uint8_t kind;         /* an nn_kind */
    uint16_t in_ch, in_len;
    uint16_t out_ch, out_len;
    uint16_t kernel, stride, padding; /* conv1d and pooling */
    uint32_t weight, bias;            /* parameter offsets (parametrised layers) */
    uint32_t in_act, out_act;         /* activation offsets in the arena */
} nn_layer;

/* A whole model. The arena holds every layer's output (ReLU and flatten work
 * in place) followed by two backward buffers of grad_a and grad_b floats. */
typedef struct {
    const char *name;
    const nn_layer *layers;
    uint16_t n_layers;
    uint16_t n_classes;
    uint32_t n_params;
    uint32_t in_size;      /* floats in one input sample */
    uint32_t act_floats;   /* activations part of the arena */
    uint32_t grad_a, grad_b; /* the two backward buffers */
} nn_model;

/* Floats a model's arena needs. */
#define NN_ARENA_FLOATS(act, ga, gb) ((act) + (ga) + (gb))

/* Where the caller writes one input sample (in_size floats) before
 * nn_forward(). */
float *nn_input(const nn_model *m, float *arena);

/* Check a layer table: known kinds, shapes that chain, offsets inside the
 * arena and the parameter vector. */
nn_status nn_validate(const nn_model *m);

/* Forward pass of the sample in nn_input(); *logits points into the arena. */
nn_status nn_forward(const nn_model *m, const float *params, float *arena,
                     const float **logits);

/* Softmax cross-entropy of the logits in the arena against label; then the
 * backward pass, adding scale * d(loss)/d(params) into grad. Call right after
 * nn_forward() on the same arena. */
nn_status nn_backward(const nn_model *m, const float *params, float *arena,
                      uint16_t label, float scale, float *grad, float *loss);

/* Softmax cross-entropy of the logits in the arena against label, without
 * the backward pass (uses the first backward buffer as scratch). */
nn_status nn_loss(const nn_model *m, float *arena, uint16_t label, float *loss);

/* Index of the largest logit. */
uint16_t nn_argmax(const float *logits, uint16_t n);

/* params -= lr * grad. */
void nn_sgd_step(float *params, const float *grad, uint32_t n, float lr);

const char *nn_strerror(nn_status status);

#endif /* SPARROW_NN_H */
