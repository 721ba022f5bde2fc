/* test_chunk.c - chunking and bounded-memory reassembly (PROTOCOL.md 10). */
#include <string.h>

#include "check.h"
#include "sgc.h"
#include "../../tests/vectors/frame_vectors.h"

#define MAX_SIZE 256u
#define SLOT_BYTES 2200u

static uint8_t chunks[16][MAX_SIZE];
static size_t chunk_len[16];
static uint8_t reasm_buf[2u * SLOT_BYTES];
static sgc_reasm reasm;

static const frame_vector *chunked_vector(void)
{
    size_t i;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        if (strcmp(frame_vectors[i].name, "chunked_fp32") == 0) {
            return &frame_vectors[i];
        }
    }
    return NULL;
}

/* Splits the chunked vector at MAX_SIZE; returns the chunk count. */
static uint32_t split(void)
{
    const frame_vector *v = chunked_vector();
    uint32_t count = sgc_chunk_count(v->len, MAX_SIZE);
    uint32_t i;
    for (i = 0; i < count && i < 16u; ++i) {
        CHECK_EQ_INT(sgc_chunk_make(v->frame, v->len, MAX_SIZE, i, chunks[i], MAX_SIZE,
                                    &chunk_len[i]), SGC_OK);
    }
    return count;
}

static void reset(uint32_t max_frames, uint32_t timeout_ms)
{
    CHECK_EQ_INT(sgc_reasm_init(&reasm, reasm_buf, sizeof reasm_buf, max_frames, timeout_ms),
                 SGC_OK);
}

static sgc_status feed(uint32_t i, uint32_t now, const uint8_t **frame, size_t *len)
{
    return sgc_reasm_feed(&reasm, chunks[i], chunk_len[i], now, frame, len);
}

static void chunks_fit_the_limit_and_carry_the_frame_in_order(void)
{
    const frame_vector *v = chunked_vector();
    uint32_t count = split();
    uint32_t i;
    size_t at = 0;
    CHECK(count > 1u && count <= 16u);
    for (i = 0; i < count; ++i) {
        CHECK(chunk_len[i] <= MAX_SIZE);
        CHECK(memcmp(chunks[i] + SGC_CHUNK_HEADER_BYTES, v->frame + at,
                     chunk_len[i] - SGC_CHUNK_HEADER_BYTES) == 0);
        at += chunk_len[i] - SGC_CHUNK_HEADER_BYTES;
    }
    CHECK_EQ_INT(at, v->len);
    CHECK_EQ_INT(sgc_chunk_count(v->len, v->len), 1);
    CHECK_EQ_INT(sgc_chunk_count(v->len, 63u), 0);
}

static void chunks_match_the_shared_chunk_vectors_byte_for_byte(void)
{
    uint32_t count = split();
    uint32_t i;
    CHECK_EQ_INT(MAX_SIZE, FV_CHUNKS_MAX_SIZE);
    CHECK_EQ_INT(count, FV_CHUNK_COUNT);
    for (i = 0; i < count && i < FV_CHUNK_COUNT; ++i) {
        CHECK_EQ_INT(chunk_len[i], fv_chunk_lens[i]);
        CHECK(memcmp(chunks[i], fv_chunks[i], fv_chunk_lens[i]) == 0);
    }
}

static void reassembler_accepts_chunks_out_of_order_with_duplicates(void)
{
    const frame_vector *v = chunked_vector();
    uint32_t count = split();
    const uint8_t *frame = NULL;
    size_t len = 0;
    uint32_t i;
    reset(2, 1000);
    /* backwards, every chunk twice */
    for (i = count; i-- > 1u;) {
        CHECK_EQ_INT(feed(i, 10, &frame, &len), SGC_OK);
        CHECK(frame == NULL);
        CHECK_EQ_INT(feed(i, 11, &frame, &len), SGC_OK);
        CHECK(frame == NULL);
    }
    CHECK_EQ_INT(feed(0, 12, &frame, &len), SGC_OK);
    CHECK(frame != NULL);
    CHECK_EQ_INT(len, v->len);
    CHECK(frame != NULL && memcmp(frame, v->frame, v->len) == 0);
    /* a late duplicate of the delivered frame is ignored, not a new frame */
    CHECK_EQ_INT(feed(3, 13, &frame, &len), SGC_OK);
    CHECK(frame == NULL);
    CHECK_EQ_INT(reasm.dropped, 0);
}

static void reassembler_drops_an_incomplete_frame_after_its_timeout(void)
{
    uint32_t count = split();
    const uint8_t *frame = NULL;
    size_t len = 0;
    sgc_drop_record rec[4];
    reset(2, 100);
    CHECK_EQ_INT(feed(0, 1000, &frame, &len), SGC_OK);
    CHECK_EQ_INT(feed(1, 1050, &frame, &len), SGC_OK);
    CHECK_EQ_INT(reasm.dropped, 0);
    CHECK_EQ_INT(feed(2, 1101, &frame, &len), SGC_OK); /* the old frame expires first */
    CHECK_EQ_INT(reasm.dropped, 1);
    CHECK_EQ_INT(sgc_reasm_drain(&reasm, rec, 4), 1);
    CHECK_EQ_INT(rec[0].reason, SGC_DROP_TIMEOUT);
    CHECK_EQ_INT(rec[0].received, 2);
    CHECK_EQ_INT(rec[0].count, count);
    CHECK_EQ_INT(sgc_reasm_drain(&reasm, rec, 4), 0);
}

static void reassembler_timeout_survives_a_clock_wrap(void)
{
    const uint8_t *frame = NULL;
    size_t len = 0;
    split();
    reset(1, 100);
    CHECK_EQ_INT(feed(0, 0xFFFFFFF0u, &frame, &len), SGC_OK);
    CHECK_EQ_INT(feed(1, 0x00000010u, &frame, &len), SGC_OK); /* 32 ms later */
    CHECK_EQ_INT(reasm.dropped, 0);
}

static void a_new_frame_evicts_the_oldest_incomplete_one_when_slots_are_full(void)
{
    const uint8_t *frame = NULL;
    size_t len = 0;
    sgc_drop_record rec;
    split();
    reset(1, 1000);
    CHECK_EQ_INT(feed(0, 5, &frame, &len), SGC_OK);
    /* the same chunk claiming another frame id is another frame */
    chunks[1][4] ^= 0x01u;
    CHECK_EQ_INT(feed(1, 6, &frame, &len), SGC_OK);
    CHECK_EQ_INT(reasm.dropped, 1);
    CHECK_EQ_INT(sgc_reasm_drain(&reasm, &rec, 1), 1);
    CHECK_EQ_INT(rec.reason, SGC_DROP_EVICTED);
}

static void a_frame_whose_crc_is_not_its_id_is_dropped_on_completion(void)
{
    uint32_t count = split();
    const uint8_t *frame = NULL;
    size_t len = 0;
    uint32_t i;
    sgc_status st = SGC_OK;
    reset(2, 1000);
    for (i = 0; i < count; ++i) {
        chunks[i][4] ^= 0x01u; /* every chunk agrees on a wrong id */
        st = feed(i, 1, &frame, &len);
    }
    CHECK_EQ_INT(st, SGC_E_CHUNK);
    CHECK(frame == NULL);
    CHECK_EQ_INT(reasm.dropped, 1);
}

static void inconsistent_chunk_headers_are_rejected(void)
{
    const uint8_t *frame = NULL;
    size_t len = 0;
    split();
    reset(2, 1000);
    chunks[0][3] = 1; /* reserved */
    CHECK_EQ_INT(feed(0, 1, &frame, &len), SGC_E_CHUNK);
    split();
    chunks[0][12] = 99; /* index >= count */
    CHECK_EQ_INT(feed(0, 1, &frame, &len), SGC_E_CHUNK);
    split();
    CHECK_EQ_INT(sgc_reasm_feed(&reasm, chunks[0], chunk_len[0] - 1u, 1, &frame, &len),
                 SGC_E_CHUNK);
    CHECK_EQ_INT(sgc_reasm_feed(&reasm, chunks[0], 10, 1, &frame, &len), SGC_E_TRUNCATED);
    chunks[0][0] = 'X';
    CHECK_EQ_INT(feed(0, 1, &frame, &len), SGC_E_MAGIC);
    CHECK_EQ_INT(reasm.rejected, 5);
}

static void a_frame_larger_than_a_slot_is_rejected_for_capacity(void)
{
    const uint8_t *frame = NULL;
    size_t len = 0;
    split();
    CHECK_EQ_INT(sgc_reasm_init(&reasm, reasm_buf, 1000, 1, 1000), SGC_OK);
    CHECK_EQ_INT(feed(0, 1, &frame, &len), SGC_E_CAPACITY);
}

static void a_whole_frame_passes_through_the_reassembler(void)
{
    const frame_vector *v = &frame_vectors[0];
    const uint8_t *frame = NULL;
    size_t len = 0;
    reset(2, 1000);
    CHECK_EQ_INT(sgc_reasm_feed(&reasm, v->frame, v->len, 1, &frame, &len), SGC_OK);
    CHECK(frame == v->frame);
    CHECK_EQ_INT(len, v->len);
}

int main(void)
{
    RUN(chunks_fit_the_limit_and_carry_the_frame_in_order);
    RUN(chunks_match_the_shared_chunk_vectors_byte_for_byte);
    RUN(reassembler_accepts_chunks_out_of_order_with_duplicates);
    RUN(reassembler_drops_an_incomplete_frame_after_its_timeout);
    RUN(reassembler_timeout_survives_a_clock_wrap);
    RUN(a_new_frame_evicts_the_oldest_incomplete_one_when_slots_are_full);
    RUN(a_frame_whose_crc_is_not_its_id_is_dropped_on_completion);
    RUN(inconsistent_chunk_headers_are_rejected);
    RUN(a_frame_larger_than_a_slot_is_rejected_for_capacity);
    RUN(a_whole_frame_passes_through_the_reassembler);
    return check_report();
}
