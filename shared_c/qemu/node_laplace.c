/* node_laplace.c - what a node that only runs the laplace selector links:
 * residual memory, laplace, quantisation, built with
 * -DSGC_SELECTORS=SGC_SELECTOR_BIT_LAPLACE and --gc-sections (`make node`:
 * prints the core's linked text, then runs this on QEMU). It also checks
 * that a left-out selector answers SGC_E_METHOD. The exit status is the
 * verdict. */
#include "sgc.h"

#define N 4000u
#define K 40u

static float residual[N], g[N], vals[K + 8u];
static uint32_t idx[K + 8u];
static uint32_t scratch[2048];
static uint8_t payload[K + 8u];

int main(void)
{
    sgc_residual r;
    sgc_residual_config cfg;
    uint32_t i, count = 0u, state = 1u;
    size_t len;
    float scale;
    for (i = 0u; i < N; ++i) { /* a deterministic spread of magnitudes */
        state = state * 1664525u + 1013904223u;
        g[i] = ((float)(state >> 8) - 8388608.0f) * 1.0e-9f;
    }
    sgc_residual_config_init(&cfg);
    cfg.density = (float)K / (float)N;
    cfg.coding = SGC_VAL_INT8;
    if (sgc_residual_init(&r, N, &cfg, residual, NULL) != SGC_OK ||
        sgc_residual_scratch_bytes(&cfg, N) > sizeof scratch) {
        return 2;
    }
    if (sgc_residual_step(&r, g, scratch, sizeof scratch, idx, vals, K + 8u, &count, payload,
                          sizeof payload, &len, &scale) != SGC_OK ||
        count < K - K / 20u || count > K + K / 20u) {
        return 3;
    }
    cfg.method = SGC_SELECT_PARTITION;
    if (sgc_residual_init(&r, N, &cfg, residual, NULL) != SGC_E_METHOD) {
        return 4;
    }
    return 0;
}
