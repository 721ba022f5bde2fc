/* layers.h - forward and backward of each layer kind (internal to nn/).
 *
 * Forward writes y from x. Backward reads the forward input x and output y,
 * the output gradient dy, adds parameter gradients into grad (at the layer's
 * weight/bias offsets) and writes the input gradient dx unless dx is NULL
 * (the first layer). For in-place kinds (ReLU, flatten) dx may equal dy.
 */
#ifndef SPARROW_NN_LAYERS_H
#define SPARROW_NN_LAYERS_H

#include "nn.h"

void nn_dense_forward(const nn_layer *l, const float *p, const float *x, float *y);
void nn_dense_backward(const nn_layer *l, const float *p, const float *x,
                       const float *dy, float *dx, float *grad);

void nn_conv1d_forward(const nn_layer *l, const float *p, const float *x, float *y);
void nn_conv1d_backward(const nn_layer *l, const float *p, const float *x,
                        const float *dy, float *dx, float *grad);

void nn_relu_forward(const nn_layer *l, const float *x, float *y);
void nn_relu_backward(const nn_layer *l, const float *y, const float *dy, float *dx);

void nn_maxpool1d_forward(const nn_layer *l, const float *x, float *y);
void nn_maxpool1d_backward(const nn_layer *l, const float *x, const float *dy, float *dx);

void nn_avgpool1d_forward(const nn_layer *l, const float *x, float *y);
void nn_avgpool1d_backward(const nn_layer *l, const float *dy, float *dx);

/* Loss of one sample and d(loss)/d(logits) * scale into dz. */
float nn_softmax_xent(const float *z, uint16_t n, uint16_t label, float scale, float *dz);

#endif /* SPARROW_NN_LAYERS_H */
