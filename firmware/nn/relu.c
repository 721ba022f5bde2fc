/* relu.c - y = max(x, 0), in place; the backward pass reads the output
 * (y > 0 exactly where x > 0), so the input need not be kept. */
#include "layers.h"

void nn_relu_forward(const nn_layer *l, const float *x, float *y)
{
    uint32_t i, n = (uint32_t)l->in_ch * l->in_len;

    for (i = 0; i < n; ++i) {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

void nn_relu_backward(const nn_layer *l, const float *y, const float *dy, float *dx)
{
    uint32_t i, n = (uint32_t)l->in_ch * l->in_len;

    for (i = 0; i < n; ++i) {
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}
