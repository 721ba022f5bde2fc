/* node.c - a Sparrow training node on a bare-metal board.
 *
 * Speaks only Sparrow frames over the UART link (link/link.h), so a gateway
 * relays its bytes to MQTT unchanged:
 *
 *   board -> gateway  HELLO            at boot (and on RESYNC): "I need a model"
 *   gateway -> board  DENSE_MODEL x C  the model of round R in C segments
 *   board -> gateway  SPARSE_UPDATE    round R: top-k of residual + gradient
 *
 * A DENSE_MODEL segment i of C carries parameters [i*S, min(N, (i+1)*S)) with
 * S = ceil(N / C) (the chunk rule of PROTOCOL.md section 10, applied to
 * values); its header n is that count. Segments may arrive in any order and
 * more than once; a segment of another round starts that round afresh. When
 * every segment of round R is in, the node (once per round) adds the gradient of one
 * mini-batch of its flash shard to its residual memory, selects the top-k
 * entries, subtracts what it sends, and sends the SPARSE_UPDATE of round R.
 * After a reset RAM is empty: the node says HELLO again and the gateway
 * answers with the current model (the residual restarts at zero).
 * An image provisioned with the board's key (device_key.h) tags its HELLO
 * and every SPARSE_UPDATE with HMAC-SHA256; the gateway relays them as they
 * are and the host checks them (docs/security-frames.md).
 */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "device_key.h"
#include "link.h"
#include "model.h"
#include "node_update.h"
#include "shard_data.h"
#include "train.h"

#define NODE_BATCH 16u
#define NODE_EXIT_MODEL 2
#define NODE_EXIT_CONFIG 64
#define NODE_MAX_SEGMENTS 64u

static float params[SPARROW_MODEL_N_PARAMS];
static float residual[SPARROW_MODEL_N_PARAMS];
static float arena[SPARROW_MODEL_ARENA_FLOATS];
static link_state link;
static node_update update;
static uint8_t frame_key[DEVICE_KEY_MAX_BYTES];
static size_t frame_key_len; /* 0: an image without a key, frames go untagged */

typedef struct {
    uint32_t round;
    uint16_t count;       /* segments of this round */
    uint64_t have;        /* bitmap of segments received */
    uint8_t active;       /* a round is being assembled */
} model_rx;

static model_rx rx;
static uint32_t cursor; /* next sample of the shard */
/* The round of the last update sent: a model of that round again (a replay,
 * or a gateway that restarted) gets no second update. Lost on reset. */
static uint32_t last_round;
static int sent_any;

static uint32_t device_id(void)
{
    /* One id per board name (FNV-1a), so every board type is its own node. */
    const char *p = board_name();
    uint32_t h = 2166136261u;
    while (*p != '\0') {
        h = (h ^ (uint8_t)*p++) * 16777619u;
    }
    return h;
}

static void send_control(uint8_t type, const char *text)
{
    sgc_frame_header h;
    size_t len;

    memset(&h, 0, sizeof h);
    h.msg_type = type;
    h.device_id = link.device_id;
    h.seq = link_next_seq(&link);
    h.segment_count = 1;
    if (sgc_frame_encode_control(&h, (const uint8_t *)text, strlen(text),
                                 frame_key_len > 0u ? frame_key : NULL, frame_key_len,
                                 link_tx_buffer(&link), LINK_MTU, &len) == SGC_OK) {
        (void)link_send(&link, len, board_millis());
    }
}

static void say_hello(void)
{
    static char text[96];

    link_cancel(&link);
    snprintf(text, sizeof text, "board=%s model=%s n=%u k=%u shard=%u stack=%u", board_name(),
             sparrow_model.name, (unsigned)SPARROW_MODEL_N_PARAMS,
             (unsigned)node_update_k(&update), (unsigned)sparrow_shard.n_samples,
             (unsigned)board_stack_peak());
    send_control(SGC_MSG_HELLO, text);
}

/* Apply one DENSE_MODEL segment; 1 when it completed the model of its round. */
static int take_segment(const sgc_frame_view *v)
{
    const sgc_frame_header *h = &v->header;
    const uint32_t count = h->segment_count;
    const uint32_t size = (SPARROW_MODEL_N_PARAMS + count - 1u) / count;
    const uint32_t first = (uint32_t)h->segment_id * size;
    uint32_t len;

    if (count == 0 || count > NODE_MAX_SEGMENTS || first >= SPARROW_MODEL_N_PARAMS) {
        return 0;
    }
    len = SPARROW_MODEL_N_PARAMS - first < size ? SPARROW_MODEL_N_PARAMS - first : size;
    if (h->n != len || sgc_frame_validate(v) != SGC_OK) {
        return 0;
    }
    if (!rx.active || rx.round != h->round || rx.count != count) {
        rx.active = 1;
        rx.round = h->round;
        rx.count = (uint16_t)count;
        rx.have = 0;
    }
    memset(params + first, 0, len * sizeof params[0]);
    if (sgc_frame_decode_into(v, params + first, len, 1.0f) != SGC_OK) {
        rx.have &= ~((uint64_t)1 << h->segment_id);
        return 0;
    }
    rx.have |= (uint64_t)1 << h->segment_id;
    return rx.have == (count == 64u ? ~(uint64_t)0 : (((uint64_t)1 << count) - 1u));
}

static void train_and_send(uint32_t round)
{
    float loss;
    size_t len;

    if (nn_batch_grad(&sparrow_model, params, &sparrow_shard, cursor, NODE_BATCH, arena,
                      residual, &loss) != NN_OK) {
        return;
    }
    cursor = (cursor + NODE_BATCH) % sparrow_shard.n_samples;
    if (node_update_encode(&update, residual, arena, sizeof arena, link.device_id, round,
                           link_next_seq(&link), link_tx_buffer(&link), LINK_MTU,
                           &len) == SGC_OK &&
        link_send(&link, len, board_millis()) == SGC_OK) {
        last_round = round;
        sent_any = 1;
    }
}

int main(void)
{
    sgc_frame_view view;
    int ready = 0;

    sgc_status st;

    link_init(&link, device_id());
    if (nn_validate(&sparrow_model) != NN_OK) {
        return NODE_EXIT_MODEL;
    }
    st = node_update_init(&update, residual, SPARROW_MODEL_N_PARAMS, sizeof arena);
    if (st != SGC_OK) {
        /* Exit status 64 + |status|: a configuration this build cannot run. */
        return NODE_EXIT_CONFIG - (int)st;
    }
    frame_key_len = device_key_load(frame_key);
    node_update_set_key(&update, frame_key, frame_key_len);
    say_hello();
    for (;;) {
        if (link_poll(&link, board_millis(), &view)) {
            if (view.header.msg_type == SGC_MSG_DENSE_MODEL && take_segment(&view)) {
                rx.active = 0;
                ready = !(sent_any && rx.round == last_round);
            } else if (view.header.msg_type == SGC_MSG_RESYNC) {
                say_hello();
            }
        }
        /* Train once the model is complete and the link is free to send. */
        if (ready && !link_busy(&link)) {
            ready = 0;
            train_and_send(rx.round);
        }
    }
}
