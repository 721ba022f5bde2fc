/* conv1d.c - 1-D convolution with PyTorch's semantics (cross-correlation,
 * zero padding on both sides, stride), weight of shape (out, in, k). */
#include "layers.h"

/* Input position read by output position t at kernel tap k, or -1 when it
 * falls in the zero padding. */
static int32_t tap(const nn_layer *l, uint32_t t, uint32_t k)
{
    int32_t pos = (int32_t)(t * l->stride + k) - (int32_t)l->padding;
    return (pos < 0 || pos >= (int32_t)l->in_len) ? -1 : pos;
}

void nn_conv1d_forward(const nn_layer *l, const float *p, const float *x, float *y)
{
    const float *w = p + l->weight;
    uint32_t o, t, i, k;

    for (o = 0; o < l->out_ch; ++o) {
        for (t = 0; t < l->out_len; ++t) {
            float acc = p[l->bias + o];
            for (i = 0; i < l->in_ch; ++i) {
                const float *wk = w + ((size_t)o * l->in_ch + i) * l->kernel;
                const float *xi = x + (size_t)i * l->in_len;
                for (k = 0; k < l->kernel; ++k) {
                    int32_t pos = tap(l, t, k);
                    if (pos >= 0) {
                        acc += wk[k] * xi[pos];
                    }
                }
            }
            y[(size_t)o * l->out_len + t] = acc;
        }
    }
}

void nn_conv1d_backward(const nn_layer *l, const float *p, const float *x,
                        const float *dy, float *dx, float *grad)
{
    const float *w = p + l->weight;
    float *gw = grad + l->weight;
    float *gb = grad + l->bias;
    uint32_t o, t, i, k;

    if (dx != NULL) {
        for (i = 0; i < (uint32_t)l->in_ch * l->in_len; ++i) {
            dx[i] = 0.0f;
        }
    }
    for (o = 0; o < l->out_ch; ++o) {
        for (t = 0; t < l->out_len; ++t) {
            const float g = dy[(size_t)o * l->out_len + t];
            gb[o] += g;
            for (i = 0; i < l->in_ch; ++i) {
                const size_t base = ((size_t)o * l->in_ch + i) * l->kernel;
                for (k = 0; k < l->kernel; ++k) {
                    int32_t pos = tap(l, t, k);
                    if (pos < 0) {
                        continue;
                    }
                    gw[base + k] += g * x[(size_t)i * l->in_len + (uint32_t)pos];
                    if (dx != NULL) {
                        dx[(size_t)i * l->in_len + (uint32_t)pos] += g * w[base + k];
                    }
                }
            }
        }
    }
}
