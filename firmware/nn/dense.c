/* dense.c - fully connected layer, y = W x + b, W of shape (out, in). */
#include "layers.h"

void nn_dense_forward(const nn_layer *l, const float *p, const float *x, float *y)
{
    const uint32_t n_in = (uint32_t)l->in_ch * l->in_len;
    const float *w = p + l->weight;
    uint32_t o, i;

    for (o = 0; o < l->out_ch; ++o) {
        float acc = p[l->bias + o];
        const float *row = w + o * n_in;
        for (i = 0; i < n_in; ++i) {
            acc += row[i] * x[i];
        }
        y[o] = acc;
    }
}

void nn_dense_backward(const nn_layer *l, const float *p, const float *x,
                       const float *dy, float *dx, float *grad)
{
    const uint32_t n_in = (uint32_t)l->in_ch * l->in_len;
    const float *w = p + l->weight;
    float *gw = grad + l->weight;
    float *gb = grad + l->bias;
    uint32_t o, i;

    for (o = 0; o < l->out_ch; ++o) {
        float *grow = gw + o * n_in;
        gb[o] += dy[o];
        for (i = 0; i < n_in; ++i) {
            grow[i] += dy[o] * x[i];
        }
    }
    if (dx == NULL) {
        return;
    }
    for (i = 0; i < n_in; ++i) {
        float acc = 0.0f;
        for (o = 0; o < l->out_ch; ++o) {
            acc += w[o * n_in + i] * dy[o];
        }
        dx[i] = acc;
    }
}
