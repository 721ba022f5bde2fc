/* sgc_frame_decode.c - checking and decoding untrusted frames, in the order
 * of docs/PROTOCOL.md section 9. Every read is bounded by the frame length
 * given; every write by the capacity given. */
#include "sgc_frame_internal.h"

static void read_header(const uint8_t *p, sgc_frame_header *h)
{
    h->msg_type = p[SGC_OFF_MSG_TYPE];
    h->flags = p[SGC_OFF_FLAGS];
    h->index_coding = p[SGC_OFF_INDEX_CODING];
    h->value_coding = p[SGC_OFF_VALUE_CODING];
    h->index_param = p[SGC_OFF_INDEX_PARAM];
    h->device_id = sgc_load32(p + SGC_OFF_DEVICE_ID);
    h->round = sgc_load32(p + SGC_OFF_ROUND);
    h->seq = sgc_load32(p + SGC_OFF_SEQ);
    h->segment_id = sgc_load16(p + SGC_OFF_SEGMENT_ID);
    h->segment_count = sgc_load16(p + SGC_OFF_SEGMENT_COUNT);
    h->n = sgc_load32(p + SGC_OFF_N);
    h->k = sgc_load32(p + SGC_OFF_K);
    h->scale = sgc_u2f(sgc_load32(p + SGC_OFF_SCALE));
    h->payload_len = sgc_load32(p + SGC_OFF_PAYLOAD_LEN);
}

/* The length of a compact header (section 13), from its fixed part (which
 * the caller has checked lies inside the frame). */
static size_t compact_header_bytes(const uint8_t *p)
{
    return sgci_compact_header_bytes((p[SGC_COFF_HEAD] >> 1) & 7u, p[SGC_COFF_CODING] & 3u);
}

/* Reads a compact header whose every byte lies inside the frame; fields it
 * does not carry take their implied values. */
static void read_compact_header(const uint8_t *p, sgc_frame_header *h)
{
    unsigned code = (p[SGC_COFF_HEAD] >> 1) & 7u;
    unsigned coding = p[SGC_COFF_CODING];
    h->msg_type = sgci_compact_type(code);
    h->flags = (uint8_t)((p[SGC_COFF_HEAD] & (SGC_FLAG_HMAC | SGC_FLAGS_APP)) | SGC_FLAG_COMPACT);
    h->value_coding = (uint8_t)(coding & 3u);
    h->index_param = (uint8_t)(coding >> 4);
    h->device_id = sgc_load16(p + SGC_COFF_DEVICE_ID);
    h->round = sgc_load16(p + SGC_COFF_ROUND);
    h->seq = sgc_load16(p + SGC_COFF_SEQ);
    h->segment_id = 0;
    h->segment_count = 1;
    h->n = 0;
    h->k = 0;
    h->scale = 1.0f;
    if (code >= 1u && code <= 3u) {
        h->index_coding = (uint8_t)(((coding >> 2) & 3u) + 1u);
        h->n = sgc_load16(p + SGC_COFF_N);
        h->k = sgc_load16(p + SGC_COFF_K);
        if (h->value_coding == SGC_VAL_INT8 || h->value_coding == SGC_VAL_SIGN) {
            h->scale = sgc_u2f(sgc_load32(p + SGC_COFF_SCALE));
        }
    } else {
        /* a control frame: nonzero coding bits fail the control field checks */
        h->index_coding = (uint8_t)((coding >> 2) & 3u);
    }
}

/* Checks 1-7: length, magic, version, flags, declared length, CRC (section
 * 13 for a compact header). *header_bytes gets the header's length. */
static sgc_status check_framing(const uint8_t *frame, size_t len, sgc_frame_header *h,
                                size_t *header_bytes)
{
    uint64_t expected;
    size_t body;
    if (len < SGC_FRAME_MIN_BYTES) {
        return SGC_E_TRUNCATED;
    }
    if (frame[0] != SGC_FRAME_MAGIC0 || frame[1] != SGC_FRAME_MAGIC1) {
        return SGC_E_MAGIC;
    }
    if (frame[SGC_OFF_VERSION] == SGC_FRAME_COMPACT_VERSION) {
        size_t tag = (frame[SGC_COFF_HEAD] & SGC_FLAG_HMAC) != 0u ? SGC_FRAME_TAG_BYTES : 0u;
        *header_bytes = compact_header_bytes(frame);
        if (len < *header_bytes + tag + SGC_FRAME_CRC_BYTES) {
            return SGC_E_TRUNCATED;
        }
        body = len - *header_bytes - tag - SGC_FRAME_CRC_BYTES; /* the payload */
        if (((uint64_t)body >> 16) >> 16 != 0u) {
            return SGC_E_TRAILING; /* longer than any frame (64-bit size_t only) */
        }
        read_compact_header(frame, h);
        h->payload_len = (uint32_t)body;
    } else {
        if (frame[SGC_OFF_VERSION] != SGC_FRAME_VERSION) {
            return SGC_E_VERSION;
        }
        if (len < SGC_FRAME_HEADER_BYTES + SGC_FRAME_CRC_BYTES) {
            return SGC_E_TRUNCATED;
        }
        *header_bytes = SGC_FRAME_HEADER_BYTES;
        read_header(frame, h);
        if ((h->flags & SGC_FLAGS_RESERVED) != 0u) {
            return SGC_E_FLAGS;
        }
        expected = (uint64_t)SGC_FRAME_HEADER_BYTES + h->payload_len + SGC_FRAME_CRC_BYTES +
                   ((h->flags & SGC_FLAG_HMAC) != 0u ? SGC_FRAME_TAG_BYTES : 0u);
        if ((uint64_t)len < expected) {
            return SGC_E_TRUNCATED;
        }
        if ((uint64_t)len > expected) {
            return SGC_E_TRAILING;
        }
    }
    body = len - SGC_FRAME_CRC_BYTES;
    if (sgc_crc32c_update(0, frame, body) != sgc_load32(frame + body)) {
        return SGC_E_CRC;
    }
    return SGC_OK;
}

/* Checks 8-9: the tag. */
static sgc_status check_tag(const uint8_t *frame, const sgc_frame_header *h, size_t header_bytes,
                            const uint8_t *key, size_t key_len, bool *authenticated)
{
    int tagged = (h->flags & SGC_FLAG_HMAC) != 0u;
    *authenticated = false;
#if SGC_WITH_HMAC
    if (key == NULL) {
        return SGC_OK;
    }
    if (!tagged) {
        return SGC_E_AUTH;
    }
    {
        uint8_t tag[SGC_FRAME_TAG_BYTES];
        size_t signed_len = header_bytes + (size_t)h->payload_len;
        sgc_status st = sgc_hmac_sha256(key, key_len, frame, signed_len, tag);
        if (st != SGC_OK) {
            return st;
        }
        if (!sgci_tag_equal(tag, frame + signed_len)) {
            return SGC_E_AUTH;
        }
    }
    *authenticated = true;
    return SGC_OK;
#else
    (void)frame; (void)key_len; (void)header_bytes;
    if (tagged) {
        return SGC_E_AUTH_UNSUPPORTED;
    }
    return key != NULL ? SGC_E_AUTH : SGC_OK;
#endif
}

static int is_data_type(uint8_t t)
{
    return t == SGC_MSG_SPARSE_UPDATE || t == SGC_MSG_DENSE_MODEL || t == SGC_MSG_SPARSE_MODEL_DELTA;
}

static int is_control_type(uint8_t t)
{
    return t == SGC_MSG_HELLO || t == SGC_MSG_ROUND_OPEN || t == SGC_MSG_ACK || t == SGC_MSG_RESYNC;
}

static sgc_status check_control_fields(const sgc_frame_header *h)
{
    if (h->n != 0u) {
        return SGC_E_HDR_N;
    }
    if (h->index_coding != SGC_IDX_NONE || h->index_param != 0u) {
        return SGC_E_HDR_INDEX_CODING;
    }
    if (h->k != 0u) {
        return SGC_E_HDR_K;
    }
    if (h->value_coding != SGC_VAL_FP32) {
        return SGC_E_HDR_VALUE_CODING;
    }
    if (h->scale != 1.0f) {
        return SGC_E_HDR_SCALE;
    }
    if (h->payload_len > SGC_FRAME_MAX_CONTROL_PAYLOAD) {
        return SGC_E_HDR_LENGTH;
    }
    return SGC_OK;
}

/* Checks 12-17 for a data frame, then the section boundaries. */
static sgc_status check_data_fields(sgc_frame_view *v)
{
    const sgc_frame_header *h = &v->header;
    uint8_t c = h->index_coding;
    size_t value_bytes;
    if (h->n == 0u || h->n > SGC_MAX_N) {
        return SGC_E_HDR_N;
    }
    if (c != SGC_IDX_DENSE && c != SGC_IDX_RICE && c != SGC_IDX_BITMAP && c != SGC_IDX_STRATIFIED) {
        return SGC_E_HDR_INDEX_CODING;
    }
    if (h->msg_type == SGC_MSG_DENSE_MODEL && c != SGC_IDX_DENSE) {
        return SGC_E_HDR_INDEX_CODING;
    }
    if (h->index_param > (c == SGC_IDX_RICE ? SGC_RICE_MAX_PARAM : 0u)) {
        return SGC_E_HDR_INDEX_CODING;
    }
    if (h->k > h->n || (c == SGC_IDX_DENSE && h->k != h->n) || (c == SGC_IDX_STRATIFIED && h->k == 0u)) {
        return SGC_E_HDR_K;
    }
    value_bytes = sgc_value_bytes((sgc_value_coding)h->value_coding, h->k);
    if (h->value_coding >= SGC_VAL_COUNT) {
        return SGC_E_HDR_VALUE_CODING;
    }
    if (sgci_values_check_scale(h->value_coding, h->scale) != SGC_OK) {
        return SGC_E_HDR_SCALE;
    }
    if ((uint64_t)value_bytes > h->payload_len) {
        return SGC_E_HDR_LENGTH;
    }
    v->value_bytes = (uint32_t)value_bytes;
    v->index_bytes = h->payload_len - v->value_bytes;
    v->index_section = v->payload;
    v->value_section = v->payload + v->index_bytes;
    if (c == SGC_IDX_STRATIFIED) {
        if (v->index_bytes != SGC_STRATIFIED_BYTES) {
            return SGC_E_INDICES;
        }
        v->seed = sgc_load64(v->index_section);
    }
    return SGC_OK;
}

sgc_status sgc_frame_parse(const uint8_t *frame, size_t len, const uint8_t *key, size_t key_len,
                           sgc_frame_view *view)
{
    sgc_status st;
    sgc_frame_header *h;
    size_t header_bytes = SGC_FRAME_HEADER_BYTES;
    if (frame == NULL || view == NULL || (key == NULL && key_len > 0u)) {
        return SGC_E_NULL;
    }
    h = &view->header;
    view->payload = NULL;
    view->index_section = NULL;
    view->value_section = NULL;
    view->index_bytes = 0;
    view->value_bytes = 0;
    view->seed = 0;
    view->authenticated = false;
    st = check_framing(frame, len, h, &header_bytes);
    if (st == SGC_OK) {
        st = check_tag(frame, h, header_bytes, key, key_len, &view->authenticated);
    }
    if (st != SGC_OK) {
        return st;
    }
    if (!is_data_type(h->msg_type) && !is_control_type(h->msg_type)) {
        return SGC_E_MSG_TYPE;
    }
    if (h->segment_count == 0u || h->segment_id >= h->segment_count) {
        return SGC_E_HDR_SEGMENT;
    }
    view->payload = frame + header_bytes;
    return is_control_type(h->msg_type) ? check_control_fields(h) : check_data_fields(view);
}

static sgc_status check_view(const sgc_frame_view *view)
{
    if (view == NULL || view->payload == NULL) {
        return SGC_E_NULL;
    }
    if (!is_data_type(view->header.msg_type)) {
        return SGC_E_MSG_TYPE;
    }
    return SGC_OK;
}

sgc_status sgc_frame_validate(const sgc_frame_view *view)
{
    sgc_index_iter it;
    uint32_t i, index;
    sgc_status st = check_view(view);
    if (st != SGC_OK) {
        return st;
    }
    if (view->header.index_coding == SGC_IDX_BITMAP &&
        view->index_bytes != (uint32_t)(((uint64_t)view->header.n + 7u) / 8u)) {
        return SGC_E_INDICES;
    }
    if (view->header.index_coding == SGC_IDX_DENSE && view->index_bytes != 0u) {
        return SGC_E_INDICES;
    }
    if (view->header.index_coding != SGC_IDX_DENSE) {
        /* dense positions are 0..n-1 by definition: nothing to walk */
        sgci_index_iter_init(&it, view);
        for (i = 0; i < view->header.k; ++i) {
            st = sgci_index_iter_next(&it, &index);
            if (st != SGC_OK) {
                return st;
            }
        }
        st = sgci_index_iter_finish(&it);
        if (st != SGC_OK) {
            return st;
        }
    }
    return sgci_values_validate(view->value_section, view->header.k, view->header.value_coding);
}

sgc_status sgc_frame_decode(const sgc_frame_view *view, uint32_t *indices, float *values,
                            uint32_t cap)
{
    sgc_index_iter it;
    uint32_t i;
    sgc_status st = check_view(view);
    if (st != SGC_OK) {
        return st;
    }
    if (indices == NULL || values == NULL) {
        return SGC_E_NULL;
    }
    if (view->header.k > cap) {
        return SGC_E_CAPACITY;
    }
    st = sgc_frame_validate(view);
    if (st != SGC_OK) {
        return st;
    }
    sgci_index_iter_init(&it, view);
    for (i = 0; i < view->header.k; ++i) {
        /* validated above, so this cannot fail */
        (void)sgci_index_iter_next(&it, &indices[i]);
        values[i] = sgc_value_at(view->value_section, view->header.value_coding,
                                 view->header.scale, i);
    }
    return SGC_OK;
}

static void add_dense_fp32(const uint8_t *section, uint32_t n, float *dense, float weight)
{
    uint32_t i;
    for (i = 0; i < n; ++i) {
        dense[i] += weight * sgc_u2f(sgc_load32(section + 4u * (size_t)i));
    }
}

sgc_status sgc_frame_decode_into(const sgc_frame_view *view, float *dense, uint32_t dense_len,
                                 float weight)
{
    sgc_index_iter it;
    uint32_t i, index;
    const sgc_frame_header *h;
    sgc_status st = check_view(view);
    if (st != SGC_OK) {
        return st;
    }
    h = &view->header;
    if (dense == NULL) {
        return SGC_E_NULL;
    }
    if (dense_len != h->n) {
        return SGC_E_N;
    }
    if (!sgc_isfinite(weight)) {
        return SGC_E_NONFINITE;
    }
    st = sgc_frame_validate(view);
    if (st != SGC_OK) {
        return st;
    }
    if (h->index_coding == SGC_IDX_DENSE && h->value_coding == SGC_VAL_FP32) {
        add_dense_fp32(view->value_section, h->n, dense, weight);
        return SGC_OK;
    }
    sgci_index_iter_init(&it, view);
    for (i = 0; i < h->k; ++i) {
        (void)sgci_index_iter_next(&it, &index);
        dense[index] += weight * sgc_value_at(view->value_section, h->value_coding, h->scale, i);
    }
    return SGC_OK;
}
