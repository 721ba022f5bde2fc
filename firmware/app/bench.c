/* bench.c - instruction-count regions for the QEMU plugin (plugin/insn_count.c).
 *
 * Each measured region runs between bench_begin() and bench_end(); the plugin
 * logs the guest instructions executed in between, and this program prints
 * one "region <name> ..." console line per region, in the same order, so
 * tools/insns.py can pair them. Regions: one training step (mean-loss
 * gradient of a 16-sample mini-batch added into the residual), and the
 * node's select + encode of the residual into a SPARSE_UPDATE frame (top-k
 * selection, quantisation, subtraction, frame encoding); and, to see where
 * that time goes, each selector of the core alone on the same residual
 * (the partition selector with its predictor kept warm across repeats);
 * and the HMAC-SHA256 tag of that update frame under a 32-byte key (what
 * a board provisioned with a key adds to every frame it sends,
 * docs/security-frames.md).
 */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "model.h"
#include "node_update.h"
#include "shard_data.h"
#include "train.h"

#define BATCH 16u
#define REPEATS 3u

void bench_begin(void) __attribute__((noinline));
void bench_end(void) __attribute__((noinline));

/* The empty asm keeps the calls and the functions' own addresses. */
void bench_begin(void)
{
    __asm__ volatile("" ::: "memory");
}

void bench_end(void)
{
    __asm__ volatile("" ::: "memory");
}

static float params[SPARROW_MODEL_N_PARAMS];
static float residual[SPARROW_MODEL_N_PARAMS];
static float arena[SPARROW_MODEL_ARENA_FLOATS];
static node_update update;
static uint8_t frame[1024];
static uint32_t idx[NODE_UPDATE_K_MAX];
static float vals[NODE_UPDATE_K_MAX];
static sgc_partition_state predictor;
static const uint8_t bench_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* One selector alone on the residual (which it does not change). */
static int select_only(sgc_method method, const char *name)
{
    uint32_t count = 0;
    sgc_status st;

    bench_begin();
    if (method == SGC_SELECT_PARTITION) {
        st = sgc_select_partition(&predictor, residual, SPARROW_MODEL_N_PARAMS,
                                  node_update_k(&update), NULL, arena, sizeof arena, idx, vals,
                                  NODE_UPDATE_K_MAX, &count, NULL);
    } else {
        st = sgc_select(method, residual, SPARROW_MODEL_N_PARAMS, node_update_k(&update), NULL,
                        arena, sizeof arena, idx, vals, NODE_UPDATE_K_MAX, &count, NULL);
    }
    bench_end();
    printf("region select_%s n %u k %u status %d\n", name, (unsigned)SPARROW_MODEL_N_PARAMS,
           (unsigned)count, (int)st);
    return st == SGC_OK ? 0 : 1;
}

/* The tag of the update frame just encoded: HMAC over its header and payload. */
static int hmac_only(size_t body)
{
    uint8_t tag[SGC_FRAME_TAG_BYTES];
    sgc_status st;

    bench_begin();
    st = sgc_hmac_sha256(bench_key, sizeof bench_key, frame, body, tag);
    bench_end();
    printf("region hmac bytes %u status %d\n", (unsigned)body, (int)st);
    return st == SGC_OK ? 0 : 1;
}

int main(void)
{
    uint32_t r;

    memcpy(params, sparrow_model_init, sizeof params);
    if (node_update_init(&update, residual, SPARROW_MODEL_N_PARAMS, sizeof arena) != SGC_OK) {
        return 2;
    }
    sgc_partition_init(&predictor);
    for (r = 0; r < REPEATS; ++r) {
        float loss;
        size_t len = 0;
        nn_status nst;
        sgc_status sst;
        sgc_frame_view view;

        bench_begin();
        nst = nn_batch_grad(&sparrow_model, params, &sparrow_shard, r * BATCH, BATCH, arena,
                            residual, &loss);
        bench_end();
        if (nst != NN_OK) {
            return 3;
        }
        printf("region train_step batch %u n %u\n", BATCH, (unsigned)SPARROW_MODEL_N_PARAMS);
        if (select_only(SGC_SELECT_EXACT, "exact") || select_only(SGC_SELECT_LAPLACE, "laplace") ||
            select_only(SGC_SELECT_PARTITION, "partition")) {
            return 5;
        }

        bench_begin();
        sst = node_update_encode(&update, residual, arena, sizeof arena, 1, r, r + 1, frame,
                                 sizeof frame, &len);
        bench_end();
        if (sst != SGC_OK || sgc_frame_parse(frame, len, NULL, 0, &view) != SGC_OK) {
            return 4;
        }
        printf("region select_encode n %u k %u bytes %u\n", (unsigned)SPARROW_MODEL_N_PARAMS,
               (unsigned)view.header.k, (unsigned)len);
        if (hmac_only(len - SGC_FRAME_CRC_BYTES)) {
            return 6;
        }
    }
    printf("done\n");
    return 0;
}
