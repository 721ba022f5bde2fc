/* nn.c - walks the layer table: validation, forward, loss and backward. */
#include <math.h>

#include "layers.h"
#include "nn.h"

static uint32_t in_size(const nn_layer *l)
{
    return (uint32_t)l->in_ch * l->in_len;
}

static uint32_t out_size(const nn_layer *l)
{
    return (uint32_t)l->out_ch * l->out_len;
}

static int is_in_place(const nn_layer *l)
{
    return l->kind == NN_RELU || l->kind == NN_FLATTEN;
}

float *nn_input(const nn_model *m, float *arena)
{
    return arena + m->layers[0].in_act;
}

/* Replays nn_backward()'s ping-pong between the two gradient buffers and
 * checks that every input gradient fits the buffer it lands in. */
static int backward_buffers_fit(const nn_model *m)
{
    const uint32_t capacity[2] = {m->grad_a, m->grad_b};
    unsigned cur = 0;
    uint16_t i;

    if (m->n_classes > m->grad_a) {
        return 0;
    }
    for (i = m->n_layers; i-- > 1;) {
        const nn_layer *l = &m->layers[i];
        if (is_in_place(l)) {
            continue;
        }
        cur ^= 1u;
        if (in_size(l) > capacity[cur]) {
            return 0;
        }
    }
    return 1;
}

/* Output length of a window sliding over in_len, as PyTorch computes it. */
static int window_fits(const nn_layer *l, uint32_t pad)
{
    uint32_t span = (uint32_t)l->in_len + 2u * pad;
    return l->kernel > 0 && l->stride > 0 && span >= l->kernel &&
           (span - l->kernel) / l->stride + 1u == l->out_len;
}

static int layer_shape_ok(const nn_layer *l, uint32_t n_params)
{
    switch (l->kind) {
    case NN_DENSE:
        return l->out_len == 1 && l->weight + (uint32_t)l->out_ch * in_size(l) <= n_params &&
               l->bias + l->out_ch <= n_params;
    case NN_CONV1D:
        return window_fits(l, l->padding) &&
               l->weight + (uint32_t)l->out_ch * l->in_ch * l->kernel <= n_params &&
               l->bias + l->out_ch <= n_params;
    case NN_MAXPOOL1D:
    case NN_AVGPOOL1D:
        return l->out_ch == l->in_ch && l->padding == 0 && window_fits(l, 0);
    case NN_RELU:
    case NN_FLATTEN:
        return out_size(l) == in_size(l) && l->in_act == l->out_act;
    default:
        return 0;
    }
}

nn_status nn_validate(const nn_model *m)
{
    uint16_t i;

    if (m == NULL || m->layers == NULL) {
        return NN_E_NULL;
    }
    if (m->n_layers == 0 || m->n_classes < 2 || in_size(&m->layers[0]) != m->in_size) {
        return NN_E_LAYER;
    }
    for (i = 0; i < m->n_layers; ++i) {
        const nn_layer *l = &m->layers[i];
        if (!layer_shape_ok(l, m->n_params) || l->in_act + in_size(l) > m->act_floats ||
            l->out_act + out_size(l) > m->act_floats) {
            return NN_E_LAYER;
        }
        if (i > 0 && (in_size(l) != out_size(&m->layers[i - 1]) ||
                      l->in_act != m->layers[i - 1].out_act)) {
            return NN_E_LAYER;
        }
    }
    if (m->layers[m->n_layers - 1].kind != NN_DENSE ||
        m->layers[m->n_layers - 1].out_ch != m->n_classes) {
        return NN_E_LAYER;
    }
    return backward_buffers_fit(m) ? NN_OK : NN_E_LAYER;
}

nn_status nn_forward(const nn_model *m, const float *params, float *arena,
                     const float **logits)
{
    uint16_t i;

    if (m == NULL || params == NULL || arena == NULL || logits == NULL) {
        return NN_E_NULL;
    }
    for (i = 0; i < m->n_layers; ++i) {
        const nn_layer *l = &m->layers[i];
        const float *x = arena + l->in_act;
        float *y = arena + l->out_act;
        switch (l->kind) {
        case NN_DENSE: nn_dense_forward(l, params, x, y); break;
        case NN_CONV1D: nn_conv1d_forward(l, params, x, y); break;
        case NN_RELU: nn_relu_forward(l, x, y); break;
        case NN_MAXPOOL1D: nn_maxpool1d_forward(l, x, y); break;
        case NN_AVGPOOL1D: nn_avgpool1d_forward(l, x, y); break;
        case NN_FLATTEN: break;
        default: return NN_E_LAYER;
        }
    }
    *logits = arena + m->layers[m->n_layers - 1].out_act;
    return NN_OK;
}

/* Backward through one layer that is not in place; dx is NULL for the first
 * layer, whose input gradient nobody needs. */
static nn_status layer_backward(const nn_layer *l, const float *params, const float *arena,
                                const float *dy, float *dx, float *grad)
{
    const float *x = arena + l->in_act;

    switch (l->kind) {
    case NN_DENSE: nn_dense_backward(l, params, x, dy, dx, grad); break;
    case NN_CONV1D: nn_conv1d_backward(l, params, x, dy, dx, grad); break;
    case NN_MAXPOOL1D:
        if (dx != NULL) {
            nn_maxpool1d_backward(l, x, dy, dx);
        }
        break;
    case NN_AVGPOOL1D:
        if (dx != NULL) {
            nn_avgpool1d_backward(l, dy, dx);
        }
        break;
    default: return NN_E_LAYER;
    }
    return NN_OK;
}

nn_status nn_backward(const nn_model *m, const float *params, float *arena,
                      uint16_t label, float scale, float *grad, float *loss)
{
    float *buf[2];
    float *dy;
    unsigned cur = 0;
    uint16_t i;
    float sample_loss;

    if (m == NULL || params == NULL || arena == NULL || grad == NULL || loss == NULL) {
        return NN_E_NULL;
    }
    if (label >= m->n_classes) {
        return NN_E_LABEL;
    }
    buf[0] = arena + m->act_floats;
    buf[1] = buf[0] + m->grad_a;
    dy = buf[0];
    sample_loss = nn_softmax_xent(arena + m->layers[m->n_layers - 1].out_act, m->n_classes,
                                  label, scale, dy);
    if (!isfinite(sample_loss)) {
        return NN_E_NONFINITE;
    }
    for (i = m->n_layers; i-- > 0;) {
        const nn_layer *l = &m->layers[i];
        float *dx;
        nn_status st;
        if (l->kind == NN_RELU) {
            nn_relu_backward(l, arena + l->out_act, dy, dy);
            continue;
        }
        if (l->kind == NN_FLATTEN) {
            continue;
        }
        dx = i == 0 ? NULL : buf[cur ^ 1u];
        st = layer_backward(l, params, arena, dy, dx, grad);
        if (st != NN_OK) {
            return st;
        }
        if (dx != NULL) {
            cur ^= 1u;
            dy = dx;
        }
    }
    *loss = sample_loss;
    return NN_OK;
}

nn_status nn_loss(const nn_model *m, float *arena, uint16_t label, float *loss)
{
    if (m == NULL || arena == NULL || loss == NULL) {
        return NN_E_NULL;
    }
    if (label >= m->n_classes) {
        return NN_E_LABEL;
    }
    *loss = nn_softmax_xent(arena + m->layers[m->n_layers - 1].out_act, m->n_classes, label,
                            0.0f, arena + m->act_floats);
    return isfinite(*loss) ? NN_OK : NN_E_NONFINITE;
}

uint16_t nn_argmax(const float *logits, uint16_t n)
{
    uint16_t i, best = 0;

    for (i = 1; i < n; ++i) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    return best;
}

void nn_sgd_step(float *params, const float *grad, uint32_t n, float lr)
{
    uint32_t i;

    for (i = 0; i < n; ++i) {
        params[i] -= lr * grad[i];
    }
}

const char *nn_strerror(nn_status status)
{
    switch (status) {
    case NN_OK: return "ok";
    case NN_E_NULL: return "a required pointer is NULL";
    case NN_E_LAYER: return "layer table invalid (unknown kind, shapes or offsets)";
    case NN_E_LABEL: return "label not below the number of classes";
    case NN_E_INDEX: return "sample index outside the shard";
    case NN_E_NONFINITE: return "loss is NaN or Inf";
    case NN_E_EMPTY: return "batch of zero samples";
    default: return "unknown nn status";
    }
}
