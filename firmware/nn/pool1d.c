/* pool1d.c - max and average pooling over windows of `kernel` samples,
 * `stride` apart, per channel, no padding (PyTorch's floor mode). */
#include "layers.h"

/* Index in x of the largest value of window t of channel c; the first one
 * on ties, as PyTorch picks. */
static uint32_t window_argmax(const nn_layer *l, const float *x, uint32_t c, uint32_t t)
{
    const uint32_t start = c * l->in_len + t * l->stride;
    uint32_t best = start, k;

    for (k = 1; k < l->kernel; ++k) {
        if (x[start + k] > x[best]) {
            best = start + k;
        }
    }
    return best;
}

void nn_maxpool1d_forward(const nn_layer *l, const float *x, float *y)
{
    uint32_t c, t;

    for (c = 0; c < l->in_ch; ++c) {
        for (t = 0; t < l->out_len; ++t) {
            y[c * l->out_len + t] = x[window_argmax(l, x, c, t)];
        }
    }
}

void nn_maxpool1d_backward(const nn_layer *l, const float *x, const float *dy, float *dx)
{
    uint32_t c, t, i;

    for (i = 0; i < (uint32_t)l->in_ch * l->in_len; ++i) {
        dx[i] = 0.0f;
    }
    for (c = 0; c < l->in_ch; ++c) {
        for (t = 0; t < l->out_len; ++t) {
            dx[window_argmax(l, x, c, t)] += dy[c * l->out_len + t];
        }
    }
}

void nn_avgpool1d_forward(const nn_layer *l, const float *x, float *y)
{
    const float inv = 1.0f / (float)l->kernel;
    uint32_t c, t, k;

    for (c = 0; c < l->in_ch; ++c) {
        for (t = 0; t < l->out_len; ++t) {
            const float *w = x + c * l->in_len + t * l->stride;
            float acc = 0.0f;
            for (k = 0; k < l->kernel; ++k) {
                acc += w[k];
            }
            y[c * l->out_len + t] = acc * inv;
        }
    }
}

void nn_avgpool1d_backward(const nn_layer *l, const float *dy, float *dx)
{
    const float inv = 1.0f / (float)l->kernel;
    uint32_t c, t, k, i;

    for (i = 0; i < (uint32_t)l->in_ch * l->in_len; ++i) {
        dx[i] = 0.0f;
    }
    for (c = 0; c < l->in_ch; ++c) {
        for (t = 0; t < l->out_len; ++t) {
            const float g = dy[c * l->out_len + t] * inv;
            float *w = dx + c * l->in_len + t * l->stride;
            for (k = 0; k < l->kernel; ++k) {
                w[k] += g;
            }
        }
    }
}
