/* test_residual.c - residual (error-feedback) memory: the bit-exact
 * invariant for every method and coding, momentum correction and masking,
 * the warm-up schedule, rejected input leaving the state untouched, and
 * argument errors. */
#include <string.h>

#include "check.h"
#include "sel_testutil.h"
#include "sgc.h"

#define N 3000u
#define SCRATCH_BYTES (64u * 1024u)

static float residual[N], velocity[N], before[N], added[N], g[N], vals[N];
static uint32_t idx[N];
static uint32_t scratch[SCRATCH_BYTES / 4u];
static uint8_t payload[4u * N];

static sgc_residual_config config(sgc_method m, sgc_value_coding c, float density, float mom)
{
    sgc_residual_config cfg;
    sgc_residual_config_init(&cfg);
    cfg.method = m;
    cfg.coding = c;
    cfg.density = density;
    cfg.momentum = mom;
    return cfg;
}

static sgc_status step(sgc_residual *r, uint32_t *count, size_t *len, float *scale)
{
    return sgc_residual_step(r, g, scratch, sizeof scratch, idx, vals, N, count, payload,
                             sizeof payload, len, scale);
}

/* residual_after + sent == residual_before + added, bit for bit, where added
 * is g (or the new velocity with momentum). */
static int invariant_holds(const sgc_residual *r, uint32_t count)
{
    uint32_t i, j = 0u;
    for (i = 0u; i < N; ++i) {
        float sent = 0.0f, lhs, rhs;
        if (j < count && idx[j] == i) {
            sent = vals[j++];
        }
        lhs = r->residual[i] + sent;
        rhs = before[i] + added[i];
        if (sgc_f2u(lhs) != sgc_f2u(rhs) && lhs != rhs) {
            return 0;
        }
    }
    return 1;
}

static void invariant_holds_bit_exactly_for_every_method_and_coding(void)
{
    uint32_t m, c, s, i, count;
    for (m = 0u; m < SGC_METHOD_COUNT; ++m) {
        for (c = 0u; c < SGC_VAL_COUNT; ++c) {
            sgc_residual r;
            sgc_residual_config cfg = config((sgc_method)m, (sgc_value_coding)c, 0.01f, 0.0f);
            size_t len;
            float scale;
            CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_OK);
            for (s = 0u; s < 6u; ++s) {
                tu_fill_laplace(g, N, 0.01f);
                memcpy(before, residual, sizeof before);
                memcpy(added, g, sizeof added);
                CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_OK);
                CHECK(count >= tu_lo(30u) && count <= tu_hi(30u));
                CHECK(tu_ascending(idx, count, N));
                CHECK(invariant_holds(&r, count));
                CHECK_EQ_INT(len, sgc_value_bytes((sgc_value_coding)c, count));
            }
            CHECK_EQ_INT(r.step, 6u);
            for (i = 0u; i < N && c == SGC_VAL_FP32; ++i) {
                CHECK(residual[i] == residual[i]); /* finite, no NaN crept in */
            }
        }
    }
}

static void momentum_corrects_and_masks_the_velocity(void)
{
    sgc_residual r;
    sgc_residual_config cfg = config(SGC_SELECT_EXACT, SGC_VAL_FP32, 0.01f, 0.9f);
    uint32_t s, i, count;
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, velocity), SGC_OK);
    for (s = 0u; s < 4u; ++s) {
        float vel_before[N];
        tu_fill_laplace(g, N, 1.0f);
        memcpy(before, residual, sizeof before);
        memcpy(vel_before, velocity, sizeof vel_before);
        for (i = 0u; i < N; ++i) {
            added[i] = 0.9f * vel_before[i] + g[i];
        }
        CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_OK);
        CHECK_EQ_INT(count, 30u);
        CHECK(invariant_holds(&r, count));
        for (i = 0u; i < count; ++i) {
            CHECK(velocity[idx[i]] == 0.0f);
            CHECK(residual[idx[i]] == 0.0f); /* fp32 sends the whole value */
        }
    }
}

static void warm_up_lowers_density_stage_by_stage(void)
{
    static float big[100000];
    static const uint32_t want[9] = {25000u, 25000u, 6250u, 6250u, 1563u, 1563u, 391u, 391u,
                                     100u};
    sgc_residual r;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP32, 0.001f, 0.0f);
    uint32_t s;
    cfg.warmup_steps = 2u;
    CHECK_EQ_INT(sgc_residual_init(&r, 100000u, &cfg, big, NULL), SGC_OK);
    for (s = 0u; s < 9u; ++s) {
        CHECK_EQ_INT(sgc_residual_k(&r), want[s]);
        r.step += 1u; /* the schedule depends on the step count only */
    }
    /* scratch covers the largest k (the first stage) and its encoded values */
    CHECK_EQ_INT(sgc_residual_scratch_bytes(&cfg, 100000u),
                 sgc_select_scratch_bytes(SGC_SELECT_LAPLACE, 100000u, 25000u) +
                     sgc_value_bytes(SGC_VAL_FP32, 25000u));
}

static void rejected_gradients_leave_the_state_untouched(void)
{
    sgc_residual r, copy;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_INT8, 0.01f, 0.5f);
    uint32_t count = 77u;
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, velocity), SGC_OK);
    tu_fill_laplace(g, N, 1.0f);
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_OK);
    memcpy(before, residual, sizeof before);
    memcpy(added, velocity, sizeof added);
    copy = r;
    g[17] = sgc_u2f(0x7FC00000u);
    count = 77u;
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_E_NONFINITE);
    g[17] = 1.0f;
    g[18] = 3.0e38f; /* finite, but the residual would overflow */
    residual[18] = 3.0e38f;
    before[18] = 3.0e38f;
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_E_NONFINITE);
    CHECK_EQ_INT(count, 77u);
    CHECK(memcmp(&r, &copy, sizeof r) == 0);
    CHECK(memcmp(before, residual, sizeof before) == 0);
    CHECK(memcmp(added, velocity, sizeof added) == 0);
}

/* The fused check of a step without momentum (it also yields laplace's
 * moments) rejects a NaN in g and an overflowing sum like the momentum path. */
static void rejected_gradients_leave_the_state_untouched_without_momentum(void)
{
    sgc_residual r, copy;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP16, 0.01f, 0.0f);
    uint32_t count = 77u;
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_OK);
    tu_fill_laplace(g, N, 1.0f);
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_OK);
    memcpy(before, residual, sizeof before);
    copy = r;
    g[N - 1u] = sgc_u2f(0x7F800000u); /* +Inf in the last, unblocked lane */
    count = 77u;
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_E_NONFINITE);
    g[N - 1u] = 1.0f;
    g[5] = -3.0e38f;
    residual[5] = -3.0e38f;
    before[5] = -3.0e38f;
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_E_NONFINITE);
    CHECK_EQ_INT(count, 77u);
    CHECK(memcmp(&r, &copy, sizeof r) == 0);
    CHECK(memcmp(before, residual, sizeof before) == 0);
}

/* g NULL: the caller added the gradient into the residual itself (a board's
 * backward pass does); the step must then match a step given g, bit for bit. */
static void in_place_step_matches_a_step_given_the_gradient(void)
{
    static float other[N];
    static uint32_t idx2[N];
    static float vals2[N];
    sgc_method methods[] = {SGC_SELECT_LAPLACE, SGC_SELECT_PARTITION, SGC_SELECT_EXACT};
    uint32_t m, i, s;
    for (m = 0u; m < 3u; ++m) {
        sgc_residual a, b;
        sgc_residual_config cfg = config(methods[m], SGC_VAL_INT8, 0.02f, 0.0f);
        CHECK_EQ_INT(sgc_residual_init(&a, N, &cfg, residual, NULL), SGC_OK);
        CHECK_EQ_INT(sgc_residual_init(&b, N, &cfg, other, NULL), SGC_OK);
        for (s = 0u; s < 3u; ++s) {
            uint32_t ca = 0u, cb = 0u;
            size_t la = 0u, lb = 0u;
            float sa = 0.0f, sb = 0.0f;
            tu_fill_laplace(g, N, 1.0f + (float)s);
            CHECK_EQ_INT(step(&a, &ca, &la, &sa), SGC_OK);
            for (i = 0u; i < N; ++i) {
                other[i] += g[i];
            }
            CHECK_EQ_INT(sgc_residual_step(&b, NULL, scratch, sizeof scratch, idx2, vals2, N,
                                           &cb, NULL, 0u, &lb, &sb), SGC_OK);
            CHECK_EQ_INT(cb, ca);
            CHECK_EQ_INT(lb, la);
            CHECK(sgc_f2u(sb) == sgc_f2u(sa));
            CHECK(memcmp(idx2, idx, ca * sizeof idx[0]) == 0);
            CHECK(memcmp(vals2, vals, ca * sizeof vals[0]) == 0);
            CHECK(memcmp(other, residual, sizeof other) == 0);
        }
    }
}

/* In place, a NaN already in the residual is refused before anything is
 * selected or subtracted; momentum needs the gradient itself. */
static void in_place_step_refuses_a_nonfinite_residual_and_momentum(void)
{
    sgc_residual r;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP32, 0.01f, 0.0f);
    uint32_t count = 5u;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_OK);
    tu_fill_laplace(residual, N, 1.0f);
    residual[123] = sgc_u2f(0x7FC00000u);
    memcpy(before, residual, sizeof before);
    CHECK_EQ_INT(sgc_residual_step(&r, NULL, scratch, sizeof scratch, idx, vals, N, &count,
                                   NULL, 0u, NULL, NULL), SGC_E_NONFINITE);
    CHECK_EQ_INT(count, 5u);
    CHECK_EQ_INT(r.step, 0u);
    CHECK(memcmp(before, residual, sizeof before) == 0);
    cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP32, 0.01f, 0.9f);
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, velocity), SGC_OK);
    CHECK_EQ_INT(sgc_residual_step(&r, NULL, scratch, sizeof scratch, idx, vals, N, &count,
                                   NULL, 0u, NULL, NULL), SGC_E_NULL);
}

static void bad_configurations_and_calls_get_distinct_codes(void)
{
    sgc_residual r;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP32, 0.01f, 0.0f);
    uint32_t count;
    size_t len;
    float scale;
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_E_STATE);
    CHECK_EQ_INT(sgc_residual_reset(&r), SGC_E_STATE);
    CHECK_EQ_INT(sgc_residual_k(&r), 0u);
    CHECK_EQ_INT(sgc_residual_init(&r, 0u, &cfg, residual, NULL), SGC_E_N);
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, NULL, NULL), SGC_E_NULL);
    cfg.density = 0.0f;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_E_OPTION);
    cfg.density = 1.5f;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_E_OPTION);
    cfg.density = 0.01f;
    cfg.momentum = 1.0f;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, velocity), SGC_E_OPTION);
    cfg.momentum = 0.5f;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_E_NULL);
    cfg.momentum = 0.0f;
    cfg.method = (sgc_method)7;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_E_METHOD);
    cfg.method = SGC_SELECT_DGC;
    cfg.coding = (sgc_value_coding)4;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_E_CODING);
    cfg.coding = SGC_VAL_SIGN;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_OK);
    tu_fill_laplace(g, N, 1.0f);
    CHECK_EQ_INT(sgc_residual_step(&r, g, scratch, 16u, idx, vals, N, &count, NULL, 0u, NULL,
                                   NULL), SGC_E_SCRATCH);
    CHECK_EQ_INT(sgc_residual_step(&r, g, scratch, sizeof scratch, idx, vals, 29u, &count, NULL,
                                   0u, NULL, NULL), SGC_E_CAPACITY);
    CHECK_EQ_INT(sgc_residual_step(&r, g, scratch, sizeof scratch, idx, vals, N, &count, payload,
                                   3u, &len, &scale), SGC_E_CAPACITY);
    CHECK_EQ_INT(r.step, 0u);
    CHECK_EQ_INT(sgc_residual_step(&r, g, scratch, sizeof scratch, idx, vals, N, &count, NULL,
                                   0u, NULL, NULL), SGC_OK);
    CHECK_EQ_INT(r.step, 1u);
    CHECK_EQ_INT(sgc_residual_reset(&r), SGC_OK);
    CHECK_EQ_INT(r.step, 0u);
    CHECK(residual[0] == 0.0f && residual[N - 1u] == 0.0f);
}

static void error_feedback_eventually_sends_a_constant_gradient(void)
{
    sgc_residual r;
    sgc_residual_config cfg = config(SGC_SELECT_LAPLACE, SGC_VAL_FP32, 0.1f, 0.0f);
    static float total[N];
    uint32_t s, i, count;
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_residual_init(&r, N, &cfg, residual, NULL), SGC_OK);
    memset(total, 0, sizeof total);
    for (i = 0u; i < N; ++i) {
        g[i] = (float)(i % 10u) + 1.0f;
    }
    for (s = 0u; s < 40u; ++s) {
        CHECK_EQ_INT(step(&r, &count, &len, &scale), SGC_OK);
        for (i = 0u; i < count; ++i) {
            total[idx[i]] += vals[i];
        }
    }
    for (i = 0u; i < N; ++i) {
        CHECK(total[i] + residual[i] == 40.0f * g[i]);
    }
}

int main(void)
{
    RUN(invariant_holds_bit_exactly_for_every_method_and_coding);
    RUN(momentum_corrects_and_masks_the_velocity);
    RUN(warm_up_lowers_density_stage_by_stage);
    RUN(rejected_gradients_leave_the_state_untouched);
    RUN(rejected_gradients_leave_the_state_untouched_without_momentum);
    RUN(in_place_step_matches_a_step_given_the_gradient);
    RUN(in_place_step_refuses_a_nonfinite_residual_and_momentum);
    RUN(bad_configurations_and_calls_get_distinct_codes);
    RUN(error_feedback_eventually_sends_a_constant_gradient);
    return check_report();
}
