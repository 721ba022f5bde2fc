/* unit_tests.c - on-target unit tests of the firmware's own code (nn/,
 * link/cobs, app/lib/node_update), run on every board under QEMU by
 * `make -C firmware test`. Verdict: the exit status (0 = all passed).
 *
 * Gradients are checked against central finite differences on tiny layers;
 * the full model is checked against PyTorch by tests/test_firmware_grad.py.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "report.h"
#include "cobs.h"
#include "model.h"
#include "nn.h"
#include "node_update.h"
#include "shard_data.h"
#include "train.h"

/* ---- COBS ------------------------------------------------------------- */

static int cobs_round_trip(const uint8_t *in, size_t len)
{
    static uint8_t wire[COBS_ENCODED_MAX(600u)];
    static uint8_t back[600];
    cobs_decoder d;
    size_t wire_len = 0, i;
    int packets = 0;

    if (cobs_encode(in, len, wire, sizeof wire, &wire_len) != 0) {
        return 0;
    }
    for (i = 0; i + 1 < wire_len; ++i) {
        if (wire[i] == 0) {
            return 0; /* a zero inside the packet */
        }
    }
    cobs_decoder_init(&d, back, sizeof back);
    for (i = 0; i < wire_len; ++i) {
        if (cobs_decoder_feed(&d, wire[i]) == COBS_PACKET) {
            ++packets;
        }
    }
    return packets == 1 && d.len == len && memcmp(back, in, len) == 0;
}

static void cobs_round_trips_zeros_and_long_runs(void)
{
    static uint8_t buf[600];
    size_t i;

    for (i = 0; i < sizeof buf; ++i) {
        buf[i] = (uint8_t)(i % 7 == 0 ? 0 : i);
    }
    CHECK(cobs_round_trip(buf, 1));
    CHECK(cobs_round_trip(buf, 40));
    memset(buf, 0, sizeof buf);
    CHECK(cobs_round_trip(buf, 3));
    memset(buf, 0xAB, sizeof buf);
    CHECK(cobs_round_trip(buf, 254));
    CHECK(cobs_round_trip(buf, 255));
    CHECK(cobs_round_trip(buf, 600));
    buf[254] = 0;
    CHECK(cobs_round_trip(buf, 600));
}

static void cobs_decoder_drops_a_truncated_block_and_recovers(void)
{
    const uint8_t wire[] = {0x05, 'a', 'b', 0x00, 0x03, 'x', 'y', 0x00};
    uint8_t back[16];
    cobs_decoder d;
    cobs_result r[sizeof wire];
    size_t i;

    cobs_decoder_init(&d, back, sizeof back);
    for (i = 0; i < sizeof wire; ++i) {
        r[i] = cobs_decoder_feed(&d, wire[i]);
    }
    CHECK_EQ_INT(r[3], COBS_DROPPED);
    CHECK_EQ_INT(r[7], COBS_PACKET);
    CHECK_EQ_INT(d.len, 2);
    CHECK(back[0] == 'x' && back[1] == 'y');
}

static void cobs_decoder_drops_a_packet_larger_than_its_buffer(void)
{
    uint8_t in[20], wire[COBS_ENCODED_MAX(20u)], back[8];
    cobs_decoder d;
    size_t wire_len = 0, i;
    int dropped = 0, packets = 0;

    memset(in, 0x11, sizeof in);
    CHECK(cobs_encode(in, sizeof in, wire, sizeof wire, &wire_len) == 0);
    cobs_decoder_init(&d, back, sizeof back);
    for (i = 0; i < wire_len; ++i) {
        cobs_result r = cobs_decoder_feed(&d, wire[i]);
        dropped += r == COBS_DROPPED;
        packets += r == COBS_PACKET;
    }
    CHECK_EQ_INT(dropped, 1);
    CHECK_EQ_INT(packets, 0);
}

static void cobs_encode_refuses_a_buffer_too_small(void)
{
    uint8_t in[10] = {0}, out[11];
    size_t len = 0;

    CHECK_EQ_INT(cobs_encode(in, sizeof in, out, sizeof out, &len), -1);
}

/* ---- layers ------------------------------------------------------------ */

/* A two-layer model for gradient checks: conv1d (2->3, k3, stride 2, pad 1)
 * on a (2, 7) input, then dense to 3 classes. */
static const nn_layer tiny_layers[] = {
    {.kind = NN_CONV1D, .in_ch = 2, .in_len = 7, .out_ch = 3, .out_len = 4, .kernel = 3,
     .stride = 2, .padding = 1, .weight = 0, .bias = 18, .in_act = 0, .out_act = 14},
    {.kind = NN_RELU, .in_ch = 3, .in_len = 4, .out_ch = 3, .out_len = 4, .in_act = 14,
     .out_act = 14},
    {.kind = NN_MAXPOOL1D, .in_ch = 3, .in_len = 4, .out_ch = 3, .out_len = 2, .kernel = 2,
     .stride = 2, .in_act = 14, .out_act = 26},
    {.kind = NN_AVGPOOL1D, .in_ch = 3, .in_len = 2, .out_ch = 3, .out_len = 1, .kernel = 2,
     .stride = 2, .in_act = 26, .out_act = 32},
    {.kind = NN_FLATTEN, .in_ch = 3, .in_len = 1, .out_ch = 3, .out_len = 1, .in_act = 32,
     .out_act = 32},
    {.kind = NN_DENSE, .in_ch = 3, .in_len = 1, .out_ch = 3, .out_len = 1, .weight = 21,
     .bias = 30, .in_act = 32, .out_act = 35},
};
#define TINY_PARAMS 33u
static const nn_model tiny = {"tiny", tiny_layers, 6, 3, TINY_PARAMS, 14, 38, 6, 12};
static float tiny_arena[38 + 12 + 6];

static float tiny_loss(const float *p, const float *x, uint16_t label)
{
    const float *logits;
    float loss = NAN;

    memcpy(nn_input(&tiny, tiny_arena), x, 14 * sizeof(float));
    if (nn_forward(&tiny, p, tiny_arena, &logits) == NN_OK) {
        (void)nn_loss(&tiny, tiny_arena, label, &loss);
    }
    return loss;
}

static void tiny_model_gradient_matches_finite_differences(void)
{
    float p[TINY_PARAMS], g[TINY_PARAMS], x[14], loss = 0.0f;
    const float *logits;
    uint32_t i;
    int bad = 0;

    for (i = 0; i < TINY_PARAMS; ++i) {
        p[i] = 0.37f * sinf(1.3f * (float)i + 0.5f);
        g[i] = 0.0f;
    }
    for (i = 0; i < 14; ++i) {
        x[i] = cosf(0.7f * (float)i);
    }
    CHECK_EQ_INT(nn_validate(&tiny), NN_OK);
    memcpy(nn_input(&tiny, tiny_arena), x, sizeof x);
    CHECK_EQ_INT(nn_forward(&tiny, p, tiny_arena, &logits), NN_OK);
    CHECK_EQ_INT(nn_backward(&tiny, p, tiny_arena, 1, 1.0f, g, &loss), NN_OK);
    CHECK(fabsf(loss - tiny_loss(p, x, 1)) < 1e-6f);
    for (i = 0; i < TINY_PARAMS; ++i) {
        const float h = 1e-2f, saved = p[i];
        float up, down, fd;
        p[i] = saved + h;
        up = tiny_loss(p, x, 1);
        p[i] = saved - h;
        down = tiny_loss(p, x, 1);
        p[i] = saved;
        fd = (up - down) / (2.0f * h);
        if (fabsf(fd - g[i]) > 2e-3f + 2e-2f * fabsf(fd)) {
            ++bad;
            printf("  param %u: backward %d e-6, finite difference %d e-6\n", (unsigned)i,
                   (int)(g[i] * 1e6f), (int)(fd * 1e6f));
        }
    }
    CHECK_EQ_INT(bad, 0);
}

static void softmax_xent_of_equal_logits_is_log_of_class_count(void)
{
    float p[TINY_PARAMS] = {0}, x[14] = {0};

    CHECK(fabsf(tiny_loss(p, x, 2) - logf(3.0f)) < 1e-6f);
}

static void validate_rejects_layers_that_do_not_chain(void)
{
    nn_layer bad[6];
    nn_model m = tiny;

    memcpy(bad, tiny_layers, sizeof bad);
    bad[2].out_len = 3;
    m.layers = bad;
    CHECK_EQ_INT(nn_validate(&m), NN_E_LAYER);
    memcpy(bad, tiny_layers, sizeof bad);
    bad[5].weight = TINY_PARAMS - 2;
    CHECK_EQ_INT(nn_validate(&m), NN_E_LAYER);
    memcpy(bad, tiny_layers, sizeof bad);
    bad[0].kind = 9;
    CHECK_EQ_INT(nn_validate(&m), NN_E_LAYER);
    m = tiny;
    m.grad_b = 11;
    CHECK_EQ_INT(nn_validate(&m), NN_E_LAYER);
    CHECK_EQ_INT(nn_validate(NULL), NN_E_NULL);
}

static void backward_rejects_a_label_outside_the_classes(void)
{
    float p[TINY_PARAMS] = {0}, g[TINY_PARAMS] = {0}, loss;

    CHECK_EQ_INT(nn_backward(&tiny, p, tiny_arena, 3, 1.0f, g, &loss), NN_E_LABEL);
}

/* ---- the generated model and shard ------------------------------------- */

static float params[SPARROW_MODEL_N_PARAMS];
static float residual[SPARROW_MODEL_N_PARAMS];
static float arena[SPARROW_MODEL_ARENA_FLOATS];

static void generated_model_and_shard_fit_together(void)
{
    float x[SPARROW_MODEL_IN_SIZE];
    uint16_t label = 0;

    CHECK_EQ_INT(nn_validate(&sparrow_model), NN_OK);
    CHECK_EQ_INT((uint32_t)sparrow_shard.channels * sparrow_shard.length, sparrow_model.in_size);
    CHECK(sparrow_shard.n_samples > 0);
    CHECK_EQ_INT(nn_shard_sample(&sparrow_shard, sparrow_shard.n_samples - 1, x, &label), NN_OK);
    CHECK(label < SPARROW_MODEL_N_CLASSES);
    CHECK_EQ_INT(nn_shard_sample(&sparrow_shard, sparrow_shard.n_samples, x, &label), NN_E_INDEX);
}

static void batch_functions_reject_an_empty_batch(void)
{
    float loss;
    uint32_t correct;

    CHECK_EQ_INT(nn_batch_grad(&sparrow_model, params, &sparrow_shard, 0, 0, arena, residual,
                               &loss), NN_E_EMPTY);
    CHECK_EQ_INT(nn_batch_eval(&sparrow_model, params, &sparrow_shard, 0, 0, arena, &loss,
                               &correct), NN_E_EMPTY);
}

static void update_sends_the_largest_entries_and_keeps_the_rest(void)
{
    static node_update u;
    static float before[SPARROW_MODEL_N_PARAMS];
    static uint8_t frame[1024];
    sgc_frame_view view;
    size_t len = 0;
    uint32_t i, sent = 0;
    float loss, smallest_sent = INFINITY, largest_kept = 0.0f;

    memcpy(params, sparrow_model_init, sizeof params);
    CHECK_EQ_INT(node_update_init(&u, residual, SPARROW_MODEL_N_PARAMS, sizeof arena), SGC_OK);
    CHECK_EQ_INT(nn_batch_grad(&sparrow_model, params, &sparrow_shard, 0, 8, arena, residual,
                               &loss), NN_OK);
    memcpy(before, residual, sizeof before);
    CHECK_EQ_INT(node_update_encode(&u, residual, arena, sizeof arena, 1, 2, 3, frame,
                                    sizeof frame, &len), SGC_OK);
    CHECK_EQ_INT(sgc_frame_parse(frame, len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(view.header.msg_type, SGC_MSG_SPARSE_UPDATE);
    CHECK_EQ_INT(view.header.n, SPARROW_MODEL_N_PARAMS);
    for (i = 0; i < SPARROW_MODEL_N_PARAMS; ++i) {
        if (residual[i] != before[i]) {
            ++sent;
            CHECK(residual[i] == 0.0f); /* fp32: exactly what was sent is removed */
            smallest_sent = fminf(smallest_sent, fabsf(before[i]));
        } else {
            largest_kept = fmaxf(largest_kept, fabsf(before[i]));
        }
    }
    CHECK_EQ_INT(sent, view.header.k);
    CHECK(smallest_sent >= largest_kept);
    CHECK_EQ_INT(node_update_init(&u, residual, SPARROW_MODEL_N_PARAMS, 16), SGC_E_SCRATCH);
}

int main(void)
{
    RUN(cobs_round_trips_zeros_and_long_runs);
    RUN(cobs_decoder_drops_a_truncated_block_and_recovers);
    RUN(cobs_decoder_drops_a_packet_larger_than_its_buffer);
    RUN(cobs_encode_refuses_a_buffer_too_small);
    RUN(tiny_model_gradient_matches_finite_differences);
    RUN(softmax_xent_of_equal_logits_is_log_of_class_count);
    RUN(validate_rejects_layers_that_do_not_chain);
    RUN(backward_rejects_a_label_outside_the_classes);
    RUN(generated_model_and_shard_fit_together);
    RUN(batch_functions_reject_an_empty_batch);
    RUN(update_sends_the_largest_entries_and_keeps_the_rest);
    report_stack();
    return check_report();
}
