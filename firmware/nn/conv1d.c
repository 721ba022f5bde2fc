/* conv1d.c - 1-D convolution with PyTorch's semantics (cross-correlation,
 * zero padding on both sides, stride), weight of shape (out, in, k).
 *
 * For each output position the kernel taps that fall inside the input are
 * worked out once (taps()), so the inner loops carry no bounds checks. */
#include "layers.h"

/* Kernel taps [*k_lo, *k_hi) of output position t that read real input (not
 * padding); their first input position is *pos0. */
static void taps(const nn_layer *l, uint32_t t, uint32_t *k_lo, uint32_t *k_hi, uint32_t *pos0)
{
    const int32_t start = (int32_t)(t * l->stride) - (int32_t)l->padding;
    const int32_t lo = start < 0 ? -start : 0;
    const int32_t end = start + (int32_t)l->kernel; /* one past the last tap's position */
    const int32_t hi = end > (int32_t)l->in_len ? (int32_t)l->kernel - (end - (int32_t)l->in_len)
                                                : (int32_t)l->kernel;

    *k_lo = (uint32_t)lo;
    *k_hi = hi > lo ? (uint32_t)hi : (uint32_t)lo;
    *pos0 = (uint32_t)(start + lo);
}

void nn_conv1d_forward(const nn_layer *l, const float *p, const float *x, float *y)
{
    const float *w = p + l->weight;
    uint32_t o, t, i, k;

    for (o = 0; o < l->out_ch; ++o) {
        for (t = 0; t < l->out_len; ++t) {
            uint32_t k_lo, k_hi, pos0;
            float acc = p[l->bias + o];
            taps(l, t, &k_lo, &k_hi, &pos0);
            for (i = 0; i < l->in_ch; ++i) {
                const float *wk = w + ((size_t)o * l->in_ch + i) * l->kernel + k_lo;
                const float *xi = x + (size_t)i * l->in_len + pos0;
                for (k = 0; k < k_hi - k_lo; ++k) {
                    acc += wk[k] * xi[k];
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
            uint32_t k_lo, k_hi, pos0;
            gb[o] += g;
            taps(l, t, &k_lo, &k_hi, &pos0);
            for (i = 0; i < l->in_ch; ++i) {
                const size_t base = ((size_t)o * l->in_ch + i) * l->kernel + k_lo;
                const float *xi = x + (size_t)i * l->in_len + pos0;
                float *gwk = gw + base;
                for (k = 0; k < k_hi - k_lo; ++k) {
                    gwk[k] += g * xi[k];
                }
                if (dx != NULL) {
                    const float *wk = w + base;
                    float *dxi = dx + (size_t)i * l->in_len + pos0;
                    for (k = 0; k < k_hi - k_lo; ++k) {
                        dxi[k] += g * wk[k];
                    }
                }
            }
        }
    }
}
