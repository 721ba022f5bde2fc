/* grad.c - the board computes a mini-batch gradient and takes a few local SGD
 * steps on its own shard, reporting everything bit-exactly on the console.
 *
 * tests/test_firmware_grad.py recomputes the same numbers with PyTorch
 * autograd from the generated model.npz/shard.npz and compares.
 *
 * Lines: "model", "loss", "grad ..." (the batch gradient at the initial
 * weights), then per step "step <s> <loss before the step>", then "eval"
 * before and after, "stack", "done".
 */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "model.h"
#include "report.h"
#include "shard_data.h"
#include "train.h"

#define BATCH 16u
#define STEPS 5u
#define LR 0.05f
#define EVAL_SAMPLES 64u

static float params[SPARROW_MODEL_N_PARAMS];
static float grad[SPARROW_MODEL_N_PARAMS];
static float arena[SPARROW_MODEL_ARENA_FLOATS];

static int fail(const char *what, nn_status st)
{
    printf("error %s: %s\n", what, nn_strerror(st));
    return 1;
}

static int eval(const char *tag)
{
    float loss;
    uint32_t correct;
    nn_status st = nn_batch_eval(&sparrow_model, params, &sparrow_shard, 0, EVAL_SAMPLES,
                                 arena, &loss, &correct);
    if (st != NN_OK) {
        return fail("eval", st);
    }
    report_float(tag, loss);
    printf("%s_correct %u\n", tag, (unsigned)correct);
    return 0;
}

int main(void)
{
    float loss;
    uint32_t s;
    nn_status st = nn_validate(&sparrow_model);

    if (st != NN_OK) {
        return fail("validate", st);
    }
    printf("model %s params %u samples %u batch %u steps %u board %s\n", sparrow_model.name,
           (unsigned)SPARROW_MODEL_N_PARAMS, (unsigned)sparrow_shard.n_samples, BATCH, STEPS,
           board_name());
    report_float("lr", LR);
    memcpy(params, sparrow_model_init, sizeof params);

    st = nn_batch_grad(&sparrow_model, params, &sparrow_shard, 0, BATCH, arena, grad, &loss);
    if (st != NN_OK) {
        return fail("grad", st);
    }
    report_float("loss", loss);
    report_floats("grad", grad, SPARROW_MODEL_N_PARAMS);

    if (eval("eval_before") != 0) {
        return 1;
    }
    for (s = 0; s < STEPS; ++s) {
        memset(grad, 0, sizeof grad);
        st = nn_batch_grad(&sparrow_model, params, &sparrow_shard, s * BATCH, BATCH, arena,
                           grad, &loss);
        if (st != NN_OK) {
            return fail("step", st);
        }
        printf("step %u ", (unsigned)s);
        report_float("loss", loss);
        nn_sgd_step(params, grad, SPARROW_MODEL_N_PARAMS, LR);
    }
    if (eval("eval_after") != 0) {
        return 1;
    }
    report_stack();
    printf("done\n");
    return 0;
}
