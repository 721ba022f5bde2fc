/* sgc_frame_encode.c - building frames (docs/PROTOCOL.md sections 2-8). */
#include "sgc_frame_internal.h"

/* Index section chosen for a data frame. */
typedef struct {
    uint8_t coding;
    uint8_t param;
    uint32_t bytes;
    const uint32_t *indices; /* RICE and BITMAP */
    uint64_t seed;           /* STRATIFIED */
} index_plan;

static int is_data_type(uint8_t t)
{
    return t == SGC_MSG_SPARSE_UPDATE || t == SGC_MSG_DENSE_MODEL || t == SGC_MSG_SPARSE_MODEL_DELTA;
}

static int is_control_type(uint8_t t)
{
    return t == SGC_MSG_HELLO || t == SGC_MSG_ROUND_OPEN || t == SGC_MSG_ACK || t == SGC_MSG_RESYNC;
}

/* Flag bits a caller may set: application bits and one compact choice. */
#define CALLER_FLAGS (SGC_FLAGS_APP | SGC_FLAG_COMPACT | SGC_FLAG_COMPACT_AUTO)

static sgc_status check_fields(const sgc_frame_header *f)
{
    if ((f->flags & ~CALLER_FLAGS) != 0u) {
        return SGC_E_OPTION; /* the HMAC bit follows the key, never the caller */
    }
    if ((f->flags & SGC_FLAG_COMPACT) != 0u && (f->flags & SGC_FLAG_COMPACT_AUTO) != 0u) {
        return SGC_E_OPTION;
    }
    if (f->segment_count == 0u || f->segment_id >= f->segment_count) {
        return SGC_E_OPTION;
    }
    return SGC_OK;
}

static sgc_status check_key(const uint8_t *key, size_t key_len)
{
    if (key == NULL) {
        return SGC_OK;
    }
#if SGC_WITH_HMAC
    (void)key_len;
    return SGC_OK;
#else
    (void)key_len;
    return SGC_E_AUTH_UNSUPPORTED;
#endif
}

/* Whether the compact header can hold these fields (n and index_param are
 * those of a data frame, 0 for a control frame). */
static int compact_fits(const sgc_frame_header *f, uint32_t n, uint8_t index_param)
{
    return f->device_id <= SGC_COMPACT_MAX && f->round <= SGC_COMPACT_MAX &&
           f->seq <= SGC_COMPACT_MAX && f->segment_id == 0u && f->segment_count == 1u &&
           n <= SGC_COMPACT_MAX && index_param <= SGC_COMPACT_MAX_PARAM;
}

/* The header bytes the frame gets: compact when asked for (SGC_E_OPTION
 * when a field does not fit) or allowed and fitting, else full. */
static sgc_status choose_header(const sgc_frame_header *f, uint32_t n, uint8_t index_param,
                                uint8_t value_coding, size_t *header_bytes)
{
    int fits = compact_fits(f, n, index_param);
    if ((f->flags & SGC_FLAG_COMPACT) != 0u && !fits) {
        return SGC_E_OPTION;
    }
    if ((f->flags & (SGC_FLAG_COMPACT | SGC_FLAG_COMPACT_AUTO)) != 0u && fits) {
        *header_bytes = sgci_compact_header_bytes(sgci_compact_code(f->msg_type), value_coding);
    } else {
        *header_bytes = SGC_FRAME_HEADER_BYTES;
    }
    return SGC_OK;
}

static void write_compact_header(uint8_t *out, const sgc_frame_header *h)
{
    uint8_t code = sgci_compact_code(h->msg_type);
    out[SGC_OFF_MAGIC] = SGC_FRAME_MAGIC0;
    out[SGC_OFF_MAGIC + 1] = SGC_FRAME_MAGIC1;
    out[SGC_OFF_VERSION] = (uint8_t)SGC_FRAME_COMPACT_VERSION;
    out[SGC_COFF_HEAD] = (uint8_t)((h->flags & (SGC_FLAG_HMAC | SGC_FLAGS_APP)) | (code << 1));
    sgc_store16(out + SGC_COFF_DEVICE_ID, (uint16_t)h->device_id);
    sgc_store16(out + SGC_COFF_ROUND, (uint16_t)h->round);
    sgc_store16(out + SGC_COFF_SEQ, (uint16_t)h->seq);
    if (h->index_coding == SGC_IDX_NONE) {
        out[SGC_COFF_CODING] = 0;
        return;
    }
    out[SGC_COFF_CODING] = (uint8_t)(h->value_coding | ((h->index_coding - 1u) << 2) |
                                     (h->index_param << 4));
    sgc_store16(out + SGC_COFF_N, (uint16_t)h->n);
    sgc_store16(out + SGC_COFF_K, (uint16_t)h->k);
    if (h->value_coding == SGC_VAL_INT8 || h->value_coding == SGC_VAL_SIGN) {
        sgc_store32(out + SGC_COFF_SCALE, sgc_f2u(h->scale));
    }
}

static void write_header(uint8_t *out, const sgc_frame_header *h, size_t header_bytes)
{
    if (header_bytes != SGC_FRAME_HEADER_BYTES) {
        write_compact_header(out, h);
        return;
    }
    out[SGC_OFF_MAGIC] = SGC_FRAME_MAGIC0;
    out[SGC_OFF_MAGIC + 1] = SGC_FRAME_MAGIC1;
    out[SGC_OFF_VERSION] = (uint8_t)SGC_FRAME_VERSION;
    out[SGC_OFF_MSG_TYPE] = h->msg_type;
    out[SGC_OFF_FLAGS] = h->flags;
    out[SGC_OFF_INDEX_CODING] = h->index_coding;
    out[SGC_OFF_VALUE_CODING] = h->value_coding;
    out[SGC_OFF_INDEX_PARAM] = h->index_param;
    sgc_store32(out + SGC_OFF_DEVICE_ID, h->device_id);
    sgc_store32(out + SGC_OFF_ROUND, h->round);
    sgc_store32(out + SGC_OFF_SEQ, h->seq);
    sgc_store16(out + SGC_OFF_SEGMENT_ID, h->segment_id);
    sgc_store16(out + SGC_OFF_SEGMENT_COUNT, h->segment_count);
    sgc_store32(out + SGC_OFF_N, h->n);
    sgc_store32(out + SGC_OFF_K, h->k);
    sgc_store32(out + SGC_OFF_SCALE, sgc_f2u(h->scale));
    sgc_store32(out + SGC_OFF_PAYLOAD_LEN, h->payload_len);
}

/* Total frame size for a payload, or 0 when it cannot be represented. */
static size_t frame_size(size_t header_bytes, uint64_t payload_len, int tagged)
{
    uint64_t total = header_bytes + payload_len + SGC_FRAME_CRC_BYTES +
                     (tagged ? SGC_FRAME_TAG_BYTES : 0u);
    if (payload_len > 0xFFFFFFFFu || total > (uint64_t)(size_t)-1) {
        return 0;
    }
    return (size_t)total;
}

/* Appends the tag (when keyed) and the CRC after header and payload. */
static sgc_status seal(uint8_t *out, size_t header_bytes, uint32_t payload_len,
                       const uint8_t *key, size_t key_len, size_t *out_len)
{
    size_t end = header_bytes + (size_t)payload_len;
    if (key != NULL) {
        sgc_status st = sgc_hmac_sha256(key, key_len, out, end, out + end);
        if (st != SGC_OK) {
            return st;
        }
        end += SGC_FRAME_TAG_BYTES;
    }
    sgc_store32(out + end, sgc_crc32c_update(0, out, end));
    *out_len = end + SGC_FRAME_CRC_BYTES;
    return SGC_OK;
}

static void write_bitmap(const uint32_t *indices, uint32_t k, uint32_t bytes, uint8_t *out)
{
    uint32_t i;
    for (i = 0; i < bytes; ++i) {
        out[i] = 0;
    }
    for (i = 0; i < k; ++i) {
        out[indices[i] >> 3] = (uint8_t)(out[indices[i] >> 3] | (1u << (indices[i] & 7u)));
    }
}

static sgc_status encode_data(const sgc_frame_header *fields, uint32_t n, uint32_t k,
                              const index_plan *plan, const float *values, sgc_value_coding coding,
                              const uint8_t *key, size_t key_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    sgc_frame_header h;
    size_t value_bytes, total, header_bytes, written = 0;
    uint8_t *p;
    sgc_status st;

    if (!is_data_type(fields->msg_type)) {
        return SGC_E_MSG_TYPE;
    }
    if (fields->msg_type == SGC_MSG_DENSE_MODEL && plan->coding != SGC_IDX_DENSE) {
        return SGC_E_K; /* a dense model carries every position */
    }
    st = choose_header(fields, n, plan->param, (uint8_t)coding, &header_bytes);
    if (st != SGC_OK) {
        return st;
    }
    value_bytes = sgc_value_bytes(coding, k);
    total = frame_size(header_bytes, (uint64_t)plan->bytes + value_bytes, key != NULL);
    if (total == 0u) {
        return SGC_E_N;
    }
    if (total > cap) {
        return SGC_E_CAPACITY;
    }
    p = out + header_bytes;
    st = sgc_quantize(coding, values, k, p + plan->bytes, value_bytes, &written, &h.scale);
    if (st != SGC_OK) {
        return st;
    }
    switch (plan->coding) {
    case SGC_IDX_RICE:
        sgci_rice_write(plan->indices, k, plan->param, p);
        break;
    case SGC_IDX_BITMAP:
        write_bitmap(plan->indices, k, plan->bytes, p);
        break;
    case SGC_IDX_STRATIFIED:
        sgc_store64(p, plan->seed);
        break;
    default:
        break;
    }
    h.msg_type = fields->msg_type;
    h.flags = (uint8_t)((fields->flags & SGC_FLAGS_APP) | (key != NULL ? SGC_FLAG_HMAC : 0u));
    h.index_coding = plan->coding;
    h.index_param = plan->param;
    h.value_coding = (uint8_t)coding;
    h.device_id = fields->device_id;
    h.round = fields->round;
    h.seq = fields->seq;
    h.segment_id = fields->segment_id;
    h.segment_count = fields->segment_count;
    h.n = n;
    h.k = k;
    h.payload_len = (uint32_t)(plan->bytes + value_bytes);
    write_header(out, &h, header_bytes);
    return seal(out, header_bytes, h.payload_len, key, key_len, out_len);
}

/* Argument checks shared by every data encoder. */
static sgc_status check_data_args(const sgc_frame_header *fields, uint32_t n, uint32_t k,
                                  const float *values, sgc_value_coding coding, const uint8_t *key,
                                  size_t key_len, const uint8_t *out, const size_t *out_len)
{
    sgc_status st;
    if (fields == NULL || out == NULL || out_len == NULL || (values == NULL && k > 0u) ||
        (key == NULL && key_len > 0u)) {
        return SGC_E_NULL;
    }
    if (n == 0u || n > SGC_MAX_N) {
        return SGC_E_N;
    }
    if (k > n) {
        return SGC_E_K;
    }
    if ((unsigned)coding >= SGC_VAL_COUNT) {
        return SGC_E_CODING;
    }
    st = check_fields(fields);
    return st != SGC_OK ? st : check_key(key, key_len);
}

sgc_status sgc_frame_encode_sparse(const sgc_frame_header *fields, uint32_t n,
                                   const uint32_t *indices, uint32_t k,
                                   const float *values, sgc_value_coding coding, const uint8_t *key,
                                   size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
    index_plan plan;
    uint32_t i;
    sgc_status st = check_data_args(fields, n, k, values, coding, key, key_len, out, out_len);
    if (st != SGC_OK) {
        return st;
    }
    if (indices == NULL && k > 0u) {
        return SGC_E_NULL;
    }
    for (i = 0; i < k; ++i) {
        if (indices[i] >= n || (i > 0u && indices[i] <= indices[i - 1u])) {
            return SGC_E_INDICES;
        }
    }
    plan.indices = indices;
    plan.seed = 0;
    plan.param = 0;
    if (k == n) {
        plan.coding = SGC_IDX_DENSE;
        plan.bytes = 0;
    } else {
        uint64_t rice_bits = 0;
        uint64_t rice_bytes;
        uint32_t bitmap_bytes = (uint32_t)(((uint64_t)n + 7u) / 8u);
        plan.param = k == 0u ? 0u : (uint8_t)sgci_rice_best_param(indices, k, &rice_bits);
        rice_bytes = (rice_bits + 7u) / 8u;
        if ((uint64_t)bitmap_bytes <= rice_bytes) {
            plan.coding = SGC_IDX_BITMAP;
            plan.param = 0;
            plan.bytes = bitmap_bytes;
        } else {
            plan.coding = SGC_IDX_RICE;
            plan.bytes = (uint32_t)rice_bytes;
        }
    }
    return encode_data(fields, n, k, &plan, values, coding, key, key_len, out, cap, out_len);
}

sgc_status sgc_frame_encode_dense(const sgc_frame_header *fields, uint32_t n,
                                  const float *values, sgc_value_coding coding, const uint8_t *key,
                                  size_t key_len, uint8_t *out, size_t cap, size_t *out_len)
{
    index_plan plan;
    sgc_status st = check_data_args(fields, n, n, values, coding, key, key_len, out, out_len);
    if (st != SGC_OK) {
        return st;
    }
    plan.coding = SGC_IDX_DENSE;
    plan.param = 0;
    plan.bytes = 0;
    plan.indices = NULL;
    plan.seed = 0;
    return encode_data(fields, n, n, &plan, values, coding, key, key_len, out, cap, out_len);
}

sgc_status sgc_frame_encode_stratified(const sgc_frame_header *fields, uint32_t n, uint32_t k,
                                       uint64_t seed, const float *values, sgc_value_coding coding,
                                       const uint8_t *key, size_t key_len, uint8_t *out,
                                       size_t cap, size_t *out_len)
{
    index_plan plan;
    sgc_status st = check_data_args(fields, n, k, values, coding, key, key_len, out, out_len);
    if (st != SGC_OK) {
        return st;
    }
    if (k == 0u) {
        return SGC_E_K;
    }
    plan.coding = SGC_IDX_STRATIFIED;
    plan.param = 0;
    plan.bytes = SGC_STRATIFIED_BYTES;
    plan.indices = NULL;
    plan.seed = seed;
    return encode_data(fields, n, k, &plan, values, coding, key, key_len, out, cap, out_len);
}

sgc_status sgc_frame_encode_control(const sgc_frame_header *fields, const uint8_t *payload,
                                    size_t payload_len, const uint8_t *key, size_t key_len,
                                    uint8_t *out, size_t cap, size_t *out_len)
{
    sgc_frame_header h;
    size_t total, header_bytes = SGC_FRAME_HEADER_BYTES, i;
    sgc_status st;

    if (fields == NULL || out == NULL || out_len == NULL || (payload == NULL && payload_len > 0u) ||
        (key == NULL && key_len > 0u)) {
        return SGC_E_NULL;
    }
    if (!is_control_type(fields->msg_type)) {
        return SGC_E_MSG_TYPE;
    }
    if (payload_len > SGC_FRAME_MAX_CONTROL_PAYLOAD) {
        return SGC_E_OPTION;
    }
    st = check_fields(fields);
    if (st == SGC_OK) {
        st = check_key(key, key_len);
    }
    if (st == SGC_OK) {
        st = choose_header(fields, 0, 0, SGC_VAL_FP32, &header_bytes);
    }
    if (st != SGC_OK) {
        return st;
    }
    total = frame_size(header_bytes, payload_len, key != NULL);
    if (total > cap) {
        return SGC_E_CAPACITY;
    }
    h = *fields;
    h.flags = (uint8_t)((fields->flags & SGC_FLAGS_APP) | (key != NULL ? SGC_FLAG_HMAC : 0u));
    h.index_coding = SGC_IDX_NONE;
    h.index_param = 0;
    h.value_coding = SGC_VAL_FP32;
    h.n = 0;
    h.k = 0;
    h.scale = 1.0f;
    h.payload_len = (uint32_t)payload_len;
    write_header(out, &h, header_bytes);
    for (i = 0; i < payload_len; ++i) {
        out[header_bytes + i] = payload[i];
    }
    return seal(out, header_bytes, h.payload_len, key, key_len, out_len);
}

size_t sgc_frame_size_bound(uint32_t n, uint32_t k, sgc_value_coding value_coding)
{
    uint64_t index_bytes, value_bytes;
    if (n == 0u || n > SGC_MAX_N || k > n || (unsigned)value_coding >= SGC_VAL_COUNT) {
        return 0;
    }
    if (k == n) {
        index_bytes = 0;
    } else {
        uint64_t bitmap = ((uint64_t)n + 7u) / 8u;
        uint64_t rice = (sgci_rice_bound_bits(n, k) + 7u) / 8u;
        index_bytes = rice < bitmap ? rice : bitmap;
        if (index_bytes < SGC_STRATIFIED_BYTES) {
            index_bytes = SGC_STRATIFIED_BYTES;
        }
    }
    value_bytes = sgc_value_bytes(value_coding, k);
    return frame_size(SGC_FRAME_HEADER_BYTES, index_bytes + value_bytes, 1);
}
