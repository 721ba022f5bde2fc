/* softmax_xent.c - softmax cross-entropy of one sample, computed from the
 * shifted logits z - max(z) so that exp() never overflows. */
#include <math.h>

#include "layers.h"

float nn_softmax_xent(const float *z, uint16_t n, uint16_t label, float scale, float *dz)
{
    float zmax = z[0], sum = 0.0f, log_sum;
    uint16_t i;

    for (i = 1; i < n; ++i) {
        zmax = z[i] > zmax ? z[i] : zmax;
    }
    for (i = 0; i < n; ++i) {
        dz[i] = expf(z[i] - zmax);
        sum += dz[i];
    }
    log_sum = logf(sum);
    for (i = 0; i < n; ++i) {
        dz[i] = (dz[i] / sum - (i == label ? 1.0f : 0.0f)) * scale;
    }
    return log_sum - (z[label] - zmax);
}
