/* test_select.c - the selectors against the numpy golden vectors and their
 * contracts: ascending indices, values from g, count bands, capacity, errors
 * and rejected non-finite input. Runs on the host, under ASan+UBSan and on
 * QEMU mps2-an386. */
#include <string.h>

#include "check.h"
#include "sel_testutil.h"
#include "sgc.h"
#include "sgc_kselect.h"
#include "../../tests/vectors/select_vectors.h"

#define MAX_N 20000u
#define SCRATCH_WORDS (MAX_N + 4096u)

static float g_buf[MAX_N];
static uint32_t idx_buf[MAX_N + 8u];
static float val_buf[MAX_N + 8u];
static uint32_t scratch[SCRATCH_WORDS]; /* word array: 4-byte aligned */
static uint32_t keys[MAX_N];

static const sgc_method approx[] = {SGC_SELECT_LAPLACE, SGC_SELECT_PARTITION, SGC_SELECT_DGC};

static void load_vector(const select_vector *v)
{
    uint32_t i;
    for (i = 0u; i < v->n; ++i) {
        g_buf[i] = tu_from_bits(v->g[i]);
    }
}

static sgc_status run(sgc_method m, uint32_t n, uint32_t k, const sgc_select_options *opt,
                      uint32_t *count, sgc_select_info *info)
{
    return sgc_select(m, g_buf, n, k, opt, scratch, sizeof scratch, idx_buf, val_buf, MAX_N + 8u,
                      count, info);
}

static void exact_matches_numpy_topk_on_every_vector(void)
{
    uint32_t i, j, count;
    for (i = 0u; i < SELECT_VECTOR_COUNT; ++i) {
        const select_vector *v = &select_vectors[i];
        load_vector(v);
        CHECK_EQ_INT(run(SGC_SELECT_EXACT, v->n, v->k, NULL, &count, NULL), SGC_OK);
        CHECK_EQ_INT(count, v->k);
        for (j = 0u; j < v->k && j < count; ++j) {
            CHECK_EQ_INT(idx_buf[j], v->topk[j]);
        }
        CHECK(tu_values_match(g_buf, idx_buf, val_buf, count));
    }
}

static void approximate_selectors_land_within_tolerance_on_every_vector(void)
{
    uint32_t i, a, count;
    for (i = 0u; i < SELECT_VECTOR_COUNT; ++i) {
        const select_vector *v = &select_vectors[i];
        uint32_t lo = tu_lo(v->k), hi = tu_hi(v->k);
        load_vector(v);
        for (a = 0u; a < sizeof approx / sizeof approx[0]; ++a) {
            sgc_select_info info;
            CHECK_EQ_INT(run(approx[a], v->n, v->k, NULL, &count, &info), SGC_OK);
            CHECK(count >= lo && count <= hi);
            CHECK(tu_ascending(idx_buf, count, v->n));
            CHECK(tu_values_match(g_buf, idx_buf, val_buf, count));
            if (approx[a] != SGC_SELECT_PARTITION) {
                CHECK(tu_is_top_set(g_buf, v->n, idx_buf, count));
            }
        }
    }
}

static void approximate_selectors_capture_the_exact_top_k_norm(void)
{
    uint32_t i, a, count, j;
    for (i = 0u; i < SELECT_VECTOR_COUNT; ++i) {
        const select_vector *v = &select_vectors[i];
        float exact = 0.0f;
        load_vector(v);
        for (j = 0u; j < v->k; ++j) {
            float x = g_buf[v->topk[j]];
            exact += x * x;
        }
        for (a = 0u; a < sizeof approx / sizeof approx[0]; ++a) {
            CHECK_EQ_INT(run(approx[a], v->n, v->k, NULL, &count, NULL), SGC_OK);
            /* within the band the captured energy is at least that of the
             * top k(1 - tol) entries */
            CHECK(tu_energy(val_buf, count) >= 0.9f * exact);
        }
    }
}

static void random_matches_the_reference_indices(void)
{
    uint32_t i, j, count;
    for (i = 0u; i < RANDOM_VECTOR_COUNT; ++i) {
        const random_vector *v = &random_vectors[i];
        sgc_select_options opt;
        if (v->n > MAX_N) {
            CHECK_EQ_INT(sgc_random_indices(v->seed, v->n, v->k, idx_buf, MAX_N), SGC_OK);
        } else {
            sgc_select_options_init(&opt);
            opt.seed = v->seed;
            for (j = 0u; j < v->n; ++j) {
                g_buf[j] = (float)j;
            }
            CHECK_EQ_INT(run(SGC_SELECT_RANDOM, v->n, v->k, &opt, &count, NULL), SGC_OK);
            CHECK_EQ_INT(count, v->k);
            CHECK(tu_values_match(g_buf, idx_buf, val_buf, count));
        }
        for (j = 0u; j < v->k; ++j) {
            CHECK_EQ_INT(idx_buf[j], v->indices[j]);
        }
        CHECK(tu_ascending(idx_buf, v->k, v->n));
    }
}

/* A random-k selection needs no indices on the wire: a STRATIFIED frame
 * carrying the selector's seed decodes to the selected positions and values.
 * Seeds above 32 bits included: both sides take the whole 64-bit seed. */
static void a_random_selection_travels_as_its_seed(void)
{
    static const uint64_t seeds[] = {0u, 1u, 0xDEADBEEFu, UINT64_C(0x100000000),
                                     UINT64_C(0x0123456789ABCDEF), UINT64_MAX};
    static const uint32_t sizes[][2] = {{1u, 1u}, {10u, 10u}, {999u, 333u}, {20000u, 200u}};
    static uint8_t frame[4096];
    static uint32_t idx_rx[MAX_N];
    static float val_rx[MAX_N];
    uint32_t s, z, j, count;
    for (z = 0u; z < sizeof sizes / sizeof sizes[0]; ++z) {
        uint32_t n = sizes[z][0], k = sizes[z][1];
        tu_fill_laplace(g_buf, n, 1.0f);
        for (s = 0u; s < sizeof seeds / sizeof seeds[0]; ++s) {
            sgc_select_options opt;
            sgc_frame_header fields;
            sgc_frame_view view;
            size_t len = 0u;
            sgc_select_options_init(&opt);
            opt.seed = seeds[s];
            CHECK_EQ_INT(run(SGC_SELECT_RANDOM, n, k, &opt, &count, NULL), SGC_OK);
            CHECK_EQ_INT(count, k);
            memset(&fields, 0, sizeof fields);
            fields.msg_type = SGC_MSG_SPARSE_UPDATE;
            fields.segment_count = 1u;
            CHECK(sgc_frame_size_bound(n, k, SGC_VAL_FP32) <= sizeof frame);
            CHECK_EQ_INT(sgc_frame_encode_stratified(&fields, n, k, seeds[s], val_buf,
                                                     SGC_VAL_FP32, NULL, 0u, frame,
                                                     sizeof frame, &len), SGC_OK);
            CHECK_EQ_INT(sgc_frame_parse(frame, len, NULL, 0u, &view), SGC_OK);
            CHECK(view.seed == seeds[s]);
            CHECK_EQ_INT(sgc_frame_decode(&view, idx_rx, val_rx, MAX_N), SGC_OK);
            for (j = 0u; j < k; ++j) {
                CHECK_EQ_INT(idx_rx[j], idx_buf[j]);
            }
            CHECK(memcmp(val_rx, val_buf, k * sizeof val_rx[0]) == 0);
            CHECK_EQ_INT(sgc_stratified_indices(seeds[s], n, k, idx_rx), SGC_OK);
            CHECK(memcmp(idx_rx, idx_buf, k * sizeof idx_rx[0]) == 0);
            CHECK_EQ_INT(sgc_random_indices(seeds[s], n, k, idx_rx, MAX_N), SGC_OK);
            CHECK(memcmp(idx_rx, idx_buf, k * sizeof idx_rx[0]) == 0);
        }
    }
}

static void laplace_makes_two_passes_on_laplace_gradients(void)
{
    uint32_t count, n = 20000u, k = 20u, trial, two = 0u;
    sgc_select_info info;
    for (trial = 0u; trial < 5u; ++trial) {
        tu_fill_laplace(g_buf, n, 0.01f);
        CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, n, k, NULL, &count, &info), SGC_OK);
        CHECK(count >= tu_lo(k) && count <= tu_hi(k));
        CHECK(info.passes <= 3u);
        two += (uint32_t)(info.passes == 2u);
    }
    CHECK(two >= 4u);
}

/* A tail heavier than one Laplace (a mixture: 5 % of the entries 12 times
 * wider, as real gradients mix layers) makes the first count overflow the
 * candidate buffer (about 530 for a buffer of 4k + 64 = 464); the
 * pass raises its own threshold instead of making a third pass, and the
 * result is still every entry at or above one magnitude. */
static void a_heavy_tail_still_costs_laplace_two_passes(void)
{
    uint32_t count, n = 20000u, k = 100u, i, j, trial;
    sgc_select_info info;
    for (trial = 0u; trial < 3u; ++trial) {
        uint32_t min_sel = UINT32_MAX, max_rest = 0u;
        for (i = 0u; i < n; ++i) {
            g_buf[i] = tu_laplace(tu_uniform() < 0.05f ? 12.0f : 1.0f);
        }
        CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, n, k, NULL, &count, &info), SGC_OK);
        CHECK(count >= tu_lo(k) && count <= tu_hi(k));
        CHECK_EQ_INT(info.passes, 2u);
        for (i = 0u, j = 0u; i < n; ++i) {
            uint32_t key = sgc_key(g_buf[i]);
            if (j < count && idx_buf[j] == i) {
                CHECK(sgc_f2u(val_buf[j]) == sgc_f2u(g_buf[i]));
                min_sel = key < min_sel ? key : min_sel;
                ++j;
            } else {
                max_rest = key > max_rest ? key : max_rest;
            }
        }
        CHECK_EQ_INT(j, count);
        CHECK(min_sel > max_rest);
    }
}

static void iteration_cap_forces_an_exact_finish(void)
{
    uint32_t i, count, n = 5000u, k = 50u, ref[50];
    sgc_select_options opt;
    sgc_select_info info;
    tu_fill_laplace(g_buf, n, 1.0f);
    CHECK_EQ_INT(run(SGC_SELECT_EXACT, n, k, NULL, &count, NULL), SGC_OK);
    memcpy(ref, idx_buf, sizeof ref);
    sgc_select_options_init(&opt);
    opt.tol = 0.0f;
    opt.max_iter = 1u;
    for (i = 0u; i < 2u; ++i) {
        sgc_method m = i == 0u ? SGC_SELECT_LAPLACE : SGC_SELECT_DGC;
        CHECK_EQ_INT(run(m, n, k, &opt, &count, &info), SGC_OK);
        CHECK_EQ_INT(count, k);
        CHECK(memcmp(ref, idx_buf, sizeof ref) == 0);
    }
}

static void all_equal_magnitudes_select_the_lowest_indices(void)
{
    uint32_t i, m, count;
    for (i = 0u; i < 1000u; ++i) {
        g_buf[i] = (i % 2u) != 0u ? -1.0f : 1.0f;
    }
    for (m = 0u; m < SGC_METHOD_COUNT; ++m) {
        if (m == SGC_SELECT_RANDOM) {
            continue;
        }
        CHECK_EQ_INT(run((sgc_method)m, 1000u, 10u, NULL, &count, NULL), SGC_OK);
        CHECK(count >= 10u && count <= 10u);
        CHECK(tu_ascending(idx_buf, count, 1000u));
        CHECK_EQ_INT(idx_buf[0], 0u);
        CHECK_EQ_INT(idx_buf[count - 1u], count - 1u);
    }
}

static void an_all_zero_gradient_still_returns_k_entries(void)
{
    uint32_t m, count;
    memset(g_buf, 0, 777u * sizeof g_buf[0]);
    for (m = 0u; m < SGC_METHOD_COUNT; ++m) {
        CHECK_EQ_INT(run((sgc_method)m, 777u, 7u, NULL, &count, NULL), SGC_OK);
        CHECK_EQ_INT(count, 7u);
        CHECK(tu_ascending(idx_buf, count, 777u));
    }
}

static void selectors_reject_nan_and_inf_without_writing(void)
{
    uint32_t m, pos, count;
    const float bad[2] = {sgc_u2f(0x7FC00000u), sgc_u2f(0xFF800000u)};
    for (pos = 0u; pos < 2u; ++pos) {
        tu_fill_laplace(g_buf, 3000u, 1.0f);
        g_buf[pos == 0u ? 0u : 2999u] = bad[pos];
        for (m = 0u; m < SGC_METHOD_COUNT; ++m) {
            count = 0xABCDu;
            idx_buf[0] = 0xFFFFFFFFu;
            CHECK_EQ_INT(run((sgc_method)m, 3000u, 30u, NULL, &count, NULL), SGC_E_NONFINITE);
            CHECK_EQ_INT(count, 0xABCDu);
            CHECK_EQ_INT(idx_buf[0], 0xFFFFFFFFu);
        }
    }
}

static void bad_arguments_get_distinct_codes(void)
{
    uint32_t count;
    sgc_select_options opt;
    tu_fill_laplace(g_buf, 100u, 1.0f);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_LAPLACE, NULL, 100u, 5u, NULL, scratch, sizeof scratch,
                            idx_buf, val_buf, 10u, &count, NULL), SGC_E_NULL);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_LAPLACE, g_buf, 100u, 5u, NULL, scratch, sizeof scratch,
                            idx_buf, val_buf, 10u, NULL, NULL), SGC_E_NULL);
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 0u, 1u, NULL, &count, NULL), SGC_E_N);
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 100u, 0u, NULL, &count, NULL), SGC_E_K);
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 100u, 101u, NULL, &count, NULL), SGC_E_K);
    CHECK_EQ_INT(run((sgc_method)5, 100u, 5u, NULL, &count, NULL), SGC_E_METHOD);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_EXACT, g_buf, 100u, 5u, NULL, scratch, sizeof scratch,
                            idx_buf, val_buf, 4u, &count, NULL), SGC_E_CAPACITY);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_EXACT, g_buf, 100u, 5u, NULL, scratch, 399u, idx_buf,
                            val_buf, 10u, &count, NULL), SGC_E_SCRATCH);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_EXACT, g_buf, 100u, 5u, NULL, (uint8_t *)scratch + 1,
                            sizeof scratch - 1u, idx_buf, val_buf, 10u, &count, NULL),
                 SGC_E_SCRATCH);
    CHECK_EQ_INT(sgc_select(SGC_SELECT_RANDOM, g_buf, 100u, 5u, NULL, NULL, 0u, idx_buf,
                            val_buf, 10u, &count, NULL), SGC_OK);
    sgc_select_options_init(&opt);
    opt.tol = 1.0f;
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 100u, 5u, &opt, &count, NULL), SGC_E_OPTION);
    opt.tol = -0.01f;
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 100u, 5u, &opt, &count, NULL), SGC_E_OPTION);
    opt.tol = sgc_u2f(0x7FC00000u);
    CHECK_EQ_INT(run(SGC_SELECT_LAPLACE, 100u, 5u, &opt, &count, NULL), SGC_E_OPTION);
    CHECK_EQ_INT(sgc_select_scratch_bytes((sgc_method)9, 100u, 5u), 0u);
    CHECK_EQ_INT(sgc_select_scratch_bytes(SGC_SELECT_EXACT, 100u, 0u), 0u);
    CHECK_EQ_INT(sgc_select_scratch_bytes(SGC_SELECT_EXACT, 100u, 5u), 400u);
    /* docs/methods.md quotes this MCU figure: (4k + 64) * 16 + 128 */
    CHECK_EQ_INT(sgc_select_scratch_bytes(SGC_SELECT_LAPLACE, 20000u, 100u), 7552u);
    CHECK_EQ_INT(sizeof(sgc_partition_state), 100u);
    CHECK_EQ_INT(sgc_random_indices(1u, 10u, 11u, idx_buf, 20u), SGC_E_K);
    CHECK_EQ_INT(sgc_random_indices(1u, 10u, 5u, idx_buf, 4u), SGC_E_CAPACITY);
}

static void results_never_exceed_the_callers_capacity(void)
{
    uint32_t m, count, n = 4000u, k = 100u;
    tu_fill_laplace(g_buf, n, 1.0f);
    for (m = 0u; m < SGC_METHOD_COUNT; ++m) {
        idx_buf[k] = 0xDEADBEEFu;
        CHECK_EQ_INT(sgc_select((sgc_method)m, g_buf, n, k, NULL, scratch, sizeof scratch,
                                idx_buf, val_buf, k, &count, NULL), SGC_OK);
        CHECK(count <= k && count >= tu_lo(k));
        CHECK_EQ_INT(idx_buf[k], 0xDEADBEEFu);
    }
}

static void partition_reaches_single_pass_steady_state(void)
{
    sgc_partition_state st;
    sgc_select_info info;
    uint32_t step, count, n = 16384u, k = 164u, single = 0u, i;
    sgc_partition_init(&st);
    for (step = 0u; step < 12u; ++step) {
        /* one layer whose first quarter has 4x larger gradients */
        tu_fill_laplace(g_buf, n, 0.01f);
        for (i = 0u; i < n / 4u; ++i) {
            g_buf[i] *= 4.0f;
        }
        CHECK_EQ_INT(sgc_select_partition(&st, g_buf, n, k, NULL, scratch, sizeof scratch,
                                          idx_buf, val_buf, MAX_N, &count, &info), SGC_OK);
        CHECK(count >= tu_lo(k) && count <= tu_hi(k));
        CHECK(tu_ascending(idx_buf, count, n));
        if (step >= 4u) {
            single += (uint32_t)(info.passes == 1u);
        }
    }
    CHECK(single >= 6u);
    CHECK_EQ_INT(st.steps, 12u);
    CHECK((st.key_mask & 0xFu) == 0xFu); /* the large quarter is the key region */
}

static void partition_state_is_unchanged_by_a_rejected_gradient(void)
{
    sgc_partition_state st, before;
    uint32_t count;
    sgc_partition_init(&st);
    tu_fill_laplace(g_buf, 5000u, 1.0f);
    CHECK_EQ_INT(sgc_select_partition(&st, g_buf, 5000u, 50u, NULL, scratch, sizeof scratch,
                                      idx_buf, val_buf, MAX_N, &count, NULL), SGC_OK);
    before = st;
    g_buf[1234] = sgc_u2f(0x7F800000u);
    CHECK_EQ_INT(sgc_select_partition(&st, g_buf, 5000u, 50u, NULL, scratch, sizeof scratch,
                                      idx_buf, val_buf, MAX_N, &count, NULL), SGC_E_NONFINITE);
    CHECK(memcmp(&st, &before, sizeof st) == 0);
    memset(&st, 0, sizeof st);
    CHECK_EQ_INT(sgc_select_partition(&st, g_buf, 5000u, 50u, NULL, scratch, sizeof scratch,
                                      idx_buf, val_buf, MAX_N, &count, NULL), SGC_E_STATE);
}

static void kselect_agrees_with_counting_on_random_keys(void)
{
    uint32_t trial, i, m, j, p, above, equal;
    for (trial = 0u; trial < 50u; ++trial) {
        m = 1u + tu_next() % 3000u;
        for (i = 0u; i < m; ++i) {
            keys[i] = trial % 3u == 0u ? tu_next() % 7u : tu_next(); /* many ties or few */
        }
        j = tu_next() % m;
        memcpy(scratch, keys, m * sizeof keys[0]);
        p = sgci_kselect(scratch, m, j);
        above = equal = 0u;
        for (i = 0u; i < m; ++i) {
            above += (uint32_t)(keys[i] > p);
            equal += (uint32_t)(keys[i] == p);
        }
        CHECK(above <= j && j < above + equal);
        CHECK_EQ_INT(scratch[j], p);
    }
}

static int close_to(float got, double want, double tol)
{
    double d = (double)got - want;
    return d <= tol && d >= -tol;
}

static void ln_and_exp_match_reference_values(void)
{
    CHECK(close_to(sgci_ln(2.0f), 0.69314718055994531, 1e-6));
    CHECK(close_to(sgci_ln(1.0f), 0.0, 1e-7));
    CHECK(close_to(sgci_ln(1.0e-8f), -18.420680750029838, 1e-6));
    CHECK(close_to(sgci_ln(3.0e38f), 88.59684582427442, 4e-6));
    CHECK(close_to(sgci_ln(1.0e-45f), -103.27892990343184, 1e-4)); /* 2^-149, subnormal */
    CHECK(close_to(sgci_exp(1.0f), 2.7182818284590452, 1e-6));
    CHECK(close_to(sgci_exp(-10.0f) * 1e4f, 0.45399929762484854, 1e-6));
    CHECK(close_to(sgci_exp(20.0f) * 1e-8f, 4.8516519540979028, 5e-6));
    CHECK(sgci_exp(-100.0f) == 0.0f);
    CHECK(sgci_floor(-1.5f) == -2.0f && sgci_floor(2.0f) == 2.0f && sgci_floor(0.25f) == 0.0f);
}

int main(void)
{
    RUN(exact_matches_numpy_topk_on_every_vector);
    RUN(approximate_selectors_land_within_tolerance_on_every_vector);
    RUN(approximate_selectors_capture_the_exact_top_k_norm);
    RUN(random_matches_the_reference_indices);
    RUN(a_random_selection_travels_as_its_seed);
    RUN(laplace_makes_two_passes_on_laplace_gradients);
    RUN(a_heavy_tail_still_costs_laplace_two_passes);
    RUN(iteration_cap_forces_an_exact_finish);
    RUN(all_equal_magnitudes_select_the_lowest_indices);
    RUN(an_all_zero_gradient_still_returns_k_entries);
    RUN(selectors_reject_nan_and_inf_without_writing);
    RUN(bad_arguments_get_distinct_codes);
    RUN(results_never_exceed_the_callers_capacity);
    RUN(partition_reaches_single_pass_steady_state);
    RUN(partition_state_is_unchanged_by_a_rejected_gradient);
    RUN(kselect_agrees_with_counting_on_random_keys);
    RUN(ln_and_exp_match_reference_values);
    return check_report();
}
