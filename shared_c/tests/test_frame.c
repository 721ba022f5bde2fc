/* test_frame.c - the frame codec against the shared vectors and the receiver
 * rules of docs/PROTOCOL.md section 9. Small enough for a QEMU board. */
#include <string.h>

#include "check.h"
#include "sgc.h"
#include "../../tests/vectors/frame_vectors.h"

#define BUF_BYTES 2048u
#define MAX_K 512u

static uint8_t buf[BUF_BYTES];
static uint8_t work[BUF_BYTES];
static uint32_t idx_out[MAX_K];
static float val_out[MAX_K];

/* What a vector's parse or encode gives: tagged ones need HMAC in the build. */
static sgc_status expected_status(const frame_vector *v)
{
    return (v->key != NULL && !SGC_WITH_HMAC) ? SGC_E_AUTH_UNSUPPORTED : SGC_OK;
}

static sgc_frame_header fields_of(const frame_vector *v)
{
    sgc_frame_header h;
    memset(&h, 0, sizeof h);
    h.msg_type = v->msg_type;
    h.flags = (uint8_t)(v->flags & (SGC_FLAGS_APP | SGC_FLAG_COMPACT));
    h.device_id = v->device_id;
    h.round = v->round;
    h.seq = v->seq;
    h.segment_id = v->segment_id;
    h.segment_count = v->segment_count;
    return h;
}

static sgc_status encode_vector(const frame_vector *v, size_t *len)
{
    sgc_frame_header h = fields_of(v);
    sgc_value_coding vc = (sgc_value_coding)v->value_coding;
    switch (v->index_coding) {
    case SGC_IDX_NONE:
        return sgc_frame_encode_control(&h, v->payload, v->payload_len, v->key, v->key_len, buf,
                                        sizeof buf, len);
    case SGC_IDX_DENSE:
        if (v->msg_type == SGC_MSG_DENSE_MODEL) {
            return sgc_frame_encode_dense(&h, v->n, v->values, vc, v->key, v->key_len, buf,
                                          sizeof buf, len);
        }
        break;
    case SGC_IDX_STRATIFIED:
        /* the vector's seed sits in the first 8 payload bytes */
        {
            const uint8_t *p = v->frame + v->header_bytes;
            return sgc_frame_encode_stratified(
                &h, v->n, v->k,
                (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
                    ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
                    ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56),
                v->values, vc, v->key, v->key_len, buf, sizeof buf, len);
        }
    default:
        break;
    }
    return sgc_frame_encode_sparse(&h, v->n, v->indices, v->k, v->values, vc, v->key, v->key_len,
                                   buf, sizeof buf, len);
}

static void encoder_reproduces_every_vector_byte_for_byte(void)
{
    size_t i, len = 0;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        const frame_vector *v = &frame_vectors[i];
        sgc_status st = encode_vector(v, &len);
        CHECK_EQ_INT(st, expected_status(v));
        if (st != SGC_OK) {
            continue;
        }
        CHECK_EQ_INT(len, v->len);
        CHECK(memcmp(buf, v->frame, v->len) == 0);
        if (len != v->len || memcmp(buf, v->frame, v->len) != 0) {
            printf("  vector %s differs\n", v->name);
        }
    }
}

static void decoder_reads_every_vector_field_by_field(void)
{
    size_t i;
    uint32_t j;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        const frame_vector *v = &frame_vectors[i];
        sgc_frame_view view;
        sgc_status st = sgc_frame_parse(v->frame, v->len, v->key, v->key_len, &view);
        CHECK_EQ_INT(st, expected_status(v));
        if (st != SGC_OK) {
            continue;
        }
        CHECK_EQ_INT(view.header.msg_type, v->msg_type);
        CHECK_EQ_INT(view.header.flags, v->flags);
        CHECK_EQ_INT(view.header.index_coding, v->index_coding);
        CHECK_EQ_INT(view.header.value_coding, v->value_coding);
        CHECK_EQ_INT(view.header.index_param, v->index_param);
        CHECK_EQ_INT(view.header.device_id, v->device_id);
        CHECK_EQ_INT(view.header.round, v->round);
        CHECK_EQ_INT(view.header.seq, v->seq);
        CHECK_EQ_INT(view.header.segment_id, v->segment_id);
        CHECK_EQ_INT(view.header.segment_count, v->segment_count);
        CHECK_EQ_INT(view.header.n, v->n);
        CHECK_EQ_INT(view.header.k, v->k);
        CHECK(view.header.scale == v->scale);
        CHECK_EQ_INT(view.authenticated, v->key != NULL);
        if (v->index_coding == SGC_IDX_NONE) {
            CHECK_EQ_INT(view.header.payload_len, v->payload_len);
            CHECK(memcmp(view.payload, v->payload, v->payload_len) == 0);
            continue;
        }
        CHECK_EQ_INT(sgc_frame_decode(&view, idx_out, val_out, MAX_K), SGC_OK);
        for (j = 0; j < v->k; ++j) {
            CHECK_EQ_INT(idx_out[j], v->indices[j]);
            CHECK(memcmp(&val_out[j], &v->values[j], sizeof(float)) == 0);
        }
    }
}

static int is_compact(const frame_vector *v)
{
    return v->frame[2] == SGC_FRAME_COMPACT_VERSION;
}

/* Bytes a compact frame with this head and coding byte needs at least
 * (PROTOCOL.md 13): header, tag when flagged, crc. */
static size_t compact_min_len(uint8_t head, uint8_t coding)
{
    unsigned code = (head >> 1) & 7u;
    size_t bytes = SGC_FRAME_COMPACT_HEADER_BYTES + SGC_FRAME_CRC_BYTES;
    if (code >= 1u && code <= 3u) {
        bytes += 4u + ((coding & 3u) >= SGC_VAL_INT8 ? 4u : 0u);
    }
    return bytes + ((head & SGC_FLAG_HMAC) != 0u ? SGC_FRAME_TAG_BYTES : 0u);
}

/* A full frame cut anywhere fails the length checks (1 or 5); a compact one
 * (no payload_len) fails check 1 or its length check while the header and
 * tag do not fit, and the CRC after that. */
static sgc_status expected_truncation_error(const frame_vector *v, size_t cut)
{
    if (is_compact(v) && cut >= compact_min_len(v->frame[3], v->frame[4])) {
        return SGC_E_CRC;
    }
    return SGC_E_TRUNCATED;
}

static void every_truncation_of_every_vector_is_rejected_as_predicted(void)
{
    size_t i, cut;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        const frame_vector *v = &frame_vectors[i];
        for (cut = 0; cut < v->len; ++cut) {
            sgc_frame_view view;
            CHECK_EQ_INT(sgc_frame_parse(v->frame, cut, v->key, v->key_len, &view),
                         expected_truncation_error(v, cut));
        }
    }
}

/* The check of PROTOCOL.md section 9 that flipping (byte, bit) must trip. */
static sgc_status expected_flip_error(const uint8_t *frame, size_t len, size_t byte, unsigned bit)
{
    int was_set = (frame[byte] >> bit) & 1u;
    if (byte < 2u) {
        return SGC_E_MAGIC;
    }
    if (byte == 2u) {
        return SGC_E_VERSION;
    }
    if (frame[2] == SGC_FRAME_COMPACT_VERSION) {
        /* the head and coding bytes set the header length: a longer header
         * (or a tag) that no longer fits is TRUNCATED, all else the CRC's */
        uint8_t head = frame[3], coding = frame[4];
        if (byte == 3u) {
            head = (uint8_t)(head ^ (1u << bit));
        } else if (byte == 4u) {
            coding = (uint8_t)(coding ^ (1u << bit));
        }
        return len < compact_min_len(head, coding) ? SGC_E_TRUNCATED : SGC_E_CRC;
    }
    if (byte == 4u && bit == 0u) { /* the tag flag changes the declared length */
        return was_set ? SGC_E_TRAILING : SGC_E_TRUNCATED;
    }
    if (byte == 4u && bit <= 3u) {
        return SGC_E_FLAGS;
    }
    if (byte >= 36u && byte < 40u) { /* payload_len */
        return was_set ? SGC_E_TRAILING : SGC_E_TRUNCATED;
    }
    return SGC_E_CRC;
}

static void every_single_bit_flip_is_rejected_and_the_crc_catches_the_rest(void)
{
    size_t i, byte;
    unsigned bit;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        const frame_vector *v = &frame_vectors[i];
        memcpy(work, v->frame, v->len);
        for (byte = 0; byte < v->len; ++byte) {
            for (bit = 0; bit < 8u; ++bit) {
                sgc_frame_view view;
                work[byte] = (uint8_t)(work[byte] ^ (1u << bit));
                CHECK_EQ_INT(sgc_frame_parse(work, v->len, NULL, 0, &view),
                             expected_flip_error(v->frame, v->len, byte, bit));
                work[byte] = (uint8_t)(work[byte] ^ (1u << bit));
            }
        }
    }
}

static void appended_byte_is_rejected_as_trailing(void)
{
    const frame_vector *v = &frame_vectors[0];
    sgc_frame_view view;
    memcpy(work, v->frame, v->len);
    work[v->len] = 0;
    CHECK_EQ_INT(sgc_frame_parse(work, v->len + 1u, NULL, 0, &view), SGC_E_TRAILING);
}

/* Rewrites the CRC after a deliberate header edit, so the semantic checks run. */
static void reseal(uint8_t *frame, size_t len)
{
    uint32_t crc = sgc_crc32c_update(0, frame, len - 4u);
    frame[len - 4u] = (uint8_t)crc;
    frame[len - 3u] = (uint8_t)(crc >> 8);
    frame[len - 2u] = (uint8_t)(crc >> 16);
    frame[len - 1u] = (uint8_t)(crc >> 24);
}

static sgc_status parse_edited(const frame_vector *v, size_t offset, uint8_t value)
{
    sgc_frame_view view;
    sgc_status st;
    memcpy(work, v->frame, v->len);
    work[offset] = value;
    reseal(work, v->len);
    st = sgc_frame_parse(work, v->len, NULL, 0, &view);
    if (st == SGC_OK) {
        st = sgc_frame_validate(&view);
    }
    return st;
}

static void each_bad_header_field_gets_its_own_error(void)
{
    const frame_vector *rice = &frame_vectors[0]; /* sparse_rice_fp32, n = 1000 */
    CHECK_EQ_INT(parse_edited(rice, 0, 'X'), SGC_E_MAGIC);
    CHECK_EQ_INT(parse_edited(rice, 2, 3), SGC_E_VERSION);  /* 2 is the compact header */
    CHECK_EQ_INT(parse_edited(rice, 3, 9), SGC_E_MSG_TYPE);
    CHECK_EQ_INT(parse_edited(rice, 4, 0x02), SGC_E_FLAGS);
    CHECK_EQ_INT(parse_edited(rice, 5, 7), SGC_E_HDR_INDEX_CODING);
    CHECK_EQ_INT(parse_edited(rice, 6, 9), SGC_E_HDR_VALUE_CODING);
    CHECK_EQ_INT(parse_edited(rice, 7, 32), SGC_E_HDR_INDEX_CODING);
    CHECK_EQ_INT(parse_edited(rice, 22, 0), SGC_E_HDR_SEGMENT);  /* segment_count 0 */
    CHECK_EQ_INT(parse_edited(rice, 20, 1), SGC_E_HDR_SEGMENT);  /* id 1 of 1 */
    CHECK_EQ_INT(parse_edited(rice, 27, 0x80), SGC_E_HDR_N);     /* n >= 2^31 */
    CHECK_EQ_INT(parse_edited(rice, 29, 0x04), SGC_E_HDR_K);     /* k = 1034 > n = 1000 */
    CHECK_EQ_INT(parse_edited(rice, 35, 0x40), SGC_E_HDR_SCALE); /* fp32 needs 1.0 */
    CHECK_EQ_INT(parse_edited(rice, 28, 14), SGC_E_HDR_LENGTH);  /* 14 fp32 values > payload */
    CHECK_EQ_INT(parse_edited(rice, 3, SGC_MSG_DENSE_MODEL), SGC_E_HDR_INDEX_CODING);
    CHECK_EQ_INT(parse_edited(rice, 25, 0), SGC_E_INDICES);      /* n = 232: indices overrun n */
    CHECK_EQ_INT(parse_edited(rice, 7, 5), SGC_E_INDICES);       /* wrong Rice parameter */
    CHECK_EQ_INT(parse_edited(rice, 40 + 11 + 12 + 3, 0x7F), SGC_E_VALUES); /* 7.0 -> NaN */
}

static const frame_vector *vector_named(const char *name)
{
    size_t i;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        if (strcmp(frame_vectors[i].name, name) == 0) {
            return &frame_vectors[i];
        }
    }
    return NULL;
}

static void each_bad_compact_header_field_gets_its_own_error(void)
{
    const frame_vector *watch = vector_named("compact_watch_int8"); /* n 3319, k 11, rice b 7 */
    const frame_vector *bitmap = vector_named("compact_bitmap_sign");
    const frame_vector *ack = vector_named("compact_ack");
    CHECK(watch != NULL && bitmap != NULL && ack != NULL);
    if (watch == NULL || bitmap == NULL || ack == NULL) {
        return;
    }
    CHECK_EQ_INT(parse_edited(watch, 3, 0x00), SGC_E_MSG_TYPE);          /* message code 0 */
    CHECK_EQ_INT(parse_edited(watch, 4, 0x72), SGC_E_HDR_INDEX_CODING);  /* dense with b = 7 */
    CHECK_EQ_INT(parse_edited(watch, 4, 0x7A), SGC_E_HDR_INDEX_CODING);  /* bitmap with b = 7 */
    CHECK_EQ_INT(parse_edited(watch, 4, 0x16), SGC_E_INDICES);           /* wrong Rice parameter */
    CHECK_EQ_INT(parse_edited(watch, 3, 0x04), SGC_E_HDR_INDEX_CODING);  /* dense model, rice */
    CHECK_EQ_INT(parse_edited(watch, 11, 0x00), SGC_E_INDICES);          /* n = 3072: overrun */
    CHECK_EQ_INT(parse_edited(watch, 14, 0x0D), SGC_E_HDR_K);            /* k = 3339 > n */
    CHECK_EQ_INT(parse_edited(watch, 13, 0xFF), SGC_E_HDR_LENGTH);       /* k = 255 > payload */
    CHECK_EQ_INT(parse_edited(watch, 18, 0xFF), SGC_E_HDR_SCALE);        /* scale NaN */
    CHECK_EQ_INT(parse_edited(bitmap, 18, 0xFF), SGC_E_HDR_SCALE);       /* scale NaN */
    CHECK_EQ_INT(parse_edited(bitmap, 21, 0xFF), SGC_E_INDICES);         /* bits past n */
    CHECK_EQ_INT(parse_edited(ack, 4, 0x01), SGC_E_HDR_VALUE_CODING);    /* control, fp16 */
    CHECK_EQ_INT(parse_edited(ack, 4, 0x04), SGC_E_HDR_INDEX_CODING);    /* control, index bits */
    CHECK_EQ_INT(parse_edited(ack, 4, 0x10), SGC_E_HDR_INDEX_CODING);    /* control, param */
    CHECK_EQ_INT(parse_edited(ack, 2, 3), SGC_E_VERSION);
}

static void compact_choice_is_strict_or_automatic(void)
{
    const frame_vector *watch = vector_named("compact_watch_int8");
    sgc_frame_header h;
    sgc_frame_view view;
    size_t len = 0, full_len = 0;
    if (watch == NULL) {
        CHECK(0);
        return;
    }
    h = fields_of(watch);
    h.flags = 0;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &full_len), SGC_OK);
    CHECK_EQ_INT(full_len, watch->len + SGC_FRAME_HEADER_BYTES - watch->header_bytes + 0u);
    h.flags = SGC_FLAG_COMPACT_AUTO;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_OK);
    CHECK(len == watch->len && memcmp(buf, watch->frame, len) == 0);
    CHECK_EQ_INT(sgc_frame_parse(buf, len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(view.header.flags, SGC_FLAG_COMPACT);
    /* a field that does not fit: strict fails, automatic falls back to full */
    h.round = 70000u;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_OK);
    CHECK_EQ_INT(len, full_len);
    CHECK_EQ_INT(sgc_frame_parse(buf, len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(view.header.round, 70000);
    CHECK_EQ_INT(view.header.flags, 0);
    h.flags = SGC_FLAG_COMPACT;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_E_OPTION);
    h.round = 3;
    h.segment_count = 2;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_E_OPTION);
    h.segment_count = 1;
    h.device_id = 0x10000u;
    CHECK_EQ_INT(sgc_frame_encode_control(&h, NULL, 0, NULL, 0, buf, sizeof buf, &len),
                 SGC_E_MSG_TYPE);
    h.msg_type = SGC_MSG_ACK;
    CHECK_EQ_INT(sgc_frame_encode_control(&h, NULL, 0, NULL, 0, buf, sizeof buf, &len),
                 SGC_E_OPTION);
    h.device_id = 7;
    CHECK_EQ_INT(sgc_frame_encode_control(&h, NULL, 0, NULL, 0, buf, sizeof buf, &len), SGC_OK);
    CHECK_EQ_INT(len, SGC_FRAME_MIN_BYTES);
    h.msg_type = SGC_MSG_SPARSE_UPDATE;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 70000u, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_E_OPTION);
    h.flags = SGC_FLAG_COMPACT | SGC_FLAG_COMPACT_AUTO;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_E_OPTION);
    h.flags = 0x08;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, watch->n, watch->indices, watch->k, watch->values,
                                         SGC_VAL_INT8, NULL, 0, buf, sizeof buf, &len), SGC_E_OPTION);
    /* a compact frame with bytes after its crc reads them as payload: the CRC catches it */
    memcpy(work, watch->frame, watch->len);
    work[watch->len] = 0;
    CHECK_EQ_INT(sgc_frame_parse(work, watch->len + 1u, NULL, 0, &view), SGC_E_CRC);
}

static void bad_values_of_each_coding_are_rejected(void)
{
    const frame_vector *int8v = &frame_vectors[2]; /* dense_model_int8, values at 40 */
    const frame_vector *fp16v = &frame_vectors[1]; /* sparse_bitmap_fp16, 8 index bytes */
    const frame_vector *signv = &frame_vectors[3]; /* delta_sign, 12 values */
    CHECK_EQ_INT(parse_edited(int8v, 40, 0x80), SGC_E_VALUES);
    CHECK_EQ_INT(parse_edited(fp16v, 40 + 8 + 1, 0x7C), SGC_E_VALUES);
    CHECK_EQ_INT(parse_edited(signv, signv->len - 5u, 0xFF), SGC_E_VALUES);
    CHECK_EQ_INT(parse_edited(int8v, 35, 0xFF), SGC_E_HDR_SCALE); /* scale -Inf */
}

#if SGC_WITH_HMAC
static void keyed_receiver_rejects_untagged_and_mistagged_frames(void)
{
    const frame_vector *tagged = &frame_vectors[5]; /* sparse_hmac_fp32 */
    const frame_vector *plain = &frame_vectors[0];
    uint8_t wrong[32];
    sgc_frame_view view;
    memset(wrong, 0x55, sizeof wrong);
    CHECK_EQ_INT(sgc_frame_parse(plain->frame, plain->len, tagged->key, tagged->key_len, &view),
                 SGC_E_AUTH);
    CHECK_EQ_INT(sgc_frame_parse(tagged->frame, tagged->len, wrong, sizeof wrong, &view),
                 SGC_E_AUTH);
    CHECK_EQ_INT(sgc_frame_parse(tagged->frame, tagged->len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(view.authenticated, 0);
}
#endif

static void decode_into_adds_weighted_values_at_their_positions(void)
{
    const frame_vector *v = &frame_vectors[0];
    static float dense[1000];
    sgc_frame_view view;
    uint32_t j;
    for (j = 0; j < 1000u; ++j) {
        dense[j] = 1.0f;
    }
    CHECK_EQ_INT(sgc_frame_parse(v->frame, v->len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(sgc_frame_decode_into(&view, dense, 1000u, 2.0f), SGC_OK);
    for (j = 0; j < v->k; ++j) {
        CHECK(dense[v->indices[j]] == 1.0f + 2.0f * v->values[j]);
    }
    CHECK(dense[0] == 1.0f && dense[998] == 1.0f);
    CHECK_EQ_INT(sgc_frame_decode_into(&view, dense, 999u, 1.0f), SGC_E_N);
}

static void decode_into_writes_nothing_from_a_malformed_payload(void)
{
    const frame_vector *v = &frame_vectors[0];
    static float dense[1000];
    sgc_frame_view view;
    uint32_t j;
    int untouched = 1;
    memset(dense, 0, sizeof dense);
    memcpy(work, v->frame, v->len);
    work[40 + 11 + 4 * 9 + 3] = 0x7F; /* last value becomes Inf/NaN */
    work[40 + 11 + 4 * 9 + 2] = 0x80;
    reseal(work, v->len);
    CHECK_EQ_INT(sgc_frame_parse(work, v->len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(sgc_frame_decode_into(&view, dense, 1000u, 1.0f), SGC_E_VALUES);
    for (j = 0; j < 1000u; ++j) {
        untouched = untouched && dense[j] == 0.0f;
    }
    CHECK(untouched);
}

static void dense_frame_decodes_into_a_dense_buffer(void)
{
    const frame_vector *v = &frame_vectors[2];
    float dense[16];
    sgc_frame_view view;
    uint32_t j;
    memset(dense, 0, sizeof dense);
    CHECK_EQ_INT(sgc_frame_parse(v->frame, v->len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(sgc_frame_decode_into(&view, dense, 16u, 1.0f), SGC_OK);
    for (j = 0; j < 16u; ++j) {
        CHECK(dense[j] == v->values[j]);
    }
}

static void encoder_rejects_bad_arguments_with_distinct_codes(void)
{
    sgc_frame_header h = fields_of(&frame_vectors[0]);
    uint32_t idx[3] = {1, 5, 5};
    float vals[3] = {1.0f, 2.0f, 3.0f};
    size_t len;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_INDICES);
    idx[2] = 10;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_INDICES);
    idx[2] = 9;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf, 50,
                                         &len), SGC_E_CAPACITY);
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 0, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_N);
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 2, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_K);
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, (sgc_value_coding)7, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_CODING);
    {
        uint32_t inf_bits = 0x7F800000u;
        memcpy(&vals[1], &inf_bits, sizeof inf_bits);
    }
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_NONFINITE);
    h.msg_type = SGC_MSG_ACK;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 10, idx, 3, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_E_MSG_TYPE);
}

static void size_bound_covers_every_vector(void)
{
    size_t i;
    for (i = 0; i < FRAME_VECTOR_COUNT; ++i) {
        const frame_vector *v = &frame_vectors[i];
        if (v->index_coding != SGC_IDX_NONE) {
            CHECK(sgc_frame_size_bound(v->n, v->k, (sgc_value_coding)v->value_coding) >= v->len);
        }
    }
    CHECK_EQ_INT(sgc_frame_size_bound(0, 0, SGC_VAL_FP32), 0);
    CHECK_EQ_INT(sgc_frame_size_bound(10, 11, SGC_VAL_FP32), 0);
}

static void rice_round_trips_gaps_longer_than_the_bit_buffer(void)
{
    /* one huge gap: a unary run of ~2^20 / 2^b ones must decode */
    sgc_frame_header h = fields_of(&frame_vectors[0]);
    uint32_t idx[2] = {0, 1999999};
    float vals[2] = {1.0f, -1.0f};
    sgc_frame_view view;
    size_t len;
    CHECK_EQ_INT(sgc_frame_encode_sparse(&h, 2000000u, idx, 2, vals, SGC_VAL_FP32, NULL, 0, buf,
                                         sizeof buf, &len), SGC_OK);
    CHECK_EQ_INT(sgc_frame_parse(buf, len, NULL, 0, &view), SGC_OK);
    CHECK_EQ_INT(sgc_frame_decode(&view, idx_out, val_out, MAX_K), SGC_OK);
    CHECK_EQ_INT(idx_out[1], 1999999);
}

static void stratified_indices_lie_one_per_stratum(void)
{
    uint32_t j;
    CHECK_EQ_INT(sgc_stratified_indices(42u, 1000u, 100u, idx_out), SGC_OK);
    for (j = 0; j < 100u; ++j) {
        CHECK(idx_out[j] >= j * 10u && idx_out[j] < (j + 1u) * 10u);
    }
    CHECK_EQ_INT(sgc_stratified_indices(42u, 10u, 11u, idx_out), SGC_E_K);
}

int main(void)
{
    RUN(encoder_reproduces_every_vector_byte_for_byte);
    RUN(decoder_reads_every_vector_field_by_field);
    RUN(every_truncation_of_every_vector_is_rejected_as_predicted);
    RUN(every_single_bit_flip_is_rejected_and_the_crc_catches_the_rest);
    RUN(appended_byte_is_rejected_as_trailing);
    RUN(each_bad_header_field_gets_its_own_error);
    RUN(each_bad_compact_header_field_gets_its_own_error);
    RUN(compact_choice_is_strict_or_automatic);
    RUN(bad_values_of_each_coding_are_rejected);
#if SGC_WITH_HMAC
    RUN(keyed_receiver_rejects_untagged_and_mistagged_frames);
#endif
    RUN(decode_into_adds_weighted_values_at_their_positions);
    RUN(decode_into_writes_nothing_from_a_malformed_payload);
    RUN(dense_frame_decodes_into_a_dense_buffer);
    RUN(encoder_rejects_bad_arguments_with_distinct_codes);
    RUN(size_bound_covers_every_vector);
    RUN(rice_round_trips_gaps_longer_than_the_bit_buffer);
    RUN(stratified_indices_lie_one_per_stratum);
    return check_report();
}
