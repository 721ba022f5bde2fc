/* cffi declarations: the frame codec and chunking (sgc.h, section Frames).
 * Values come from sgc.h at build time. Value codings are passed as int:
 * the sgc_value_coding enum is declared with the selection section. */
#define SGC_FRAME_VERSION ...
#define SGC_FRAME_HEADER_BYTES ...
#define SGC_FRAME_TAG_BYTES ...
#define SGC_FRAME_CRC_BYTES ...
#define SGC_FRAME_MAX_CONTROL_PAYLOAD ...
#define SGC_FRAME_OVERHEAD_BYTES ...
#define SGC_FLAG_HMAC ...
#define SGC_FLAGS_RESERVED ...
#define SGC_FLAGS_APP ...
#define SGC_FRAME_COMPACT_VERSION ...
#define SGC_FRAME_COMPACT_HEADER_BYTES ...
#define SGC_FRAME_COMPACT_MAX_HEADER_BYTES ...
#define SGC_FRAME_MIN_BYTES ...
#define SGC_COMPACT_MAX ...
#define SGC_FLAG_COMPACT ...
#define SGC_FLAG_COMPACT_AUTO ...
#define SGC_CHUNK_HEADER_BYTES ...
#define SGC_CHUNK_MIN_SIZE ...
#define SGC_CHUNK_DEFAULT_SIZE ...
#define SGC_CHUNK_MAX_COUNT ...
#define SGC_REASM_MAX_SLOTS ...
#define SGC_REASM_DROP_LOG ...

typedef enum {
    SGC_MSG_SPARSE_UPDATE = ...,
    SGC_MSG_DENSE_MODEL = ...,
    SGC_MSG_SPARSE_MODEL_DELTA = ...,
    SGC_MSG_HELLO = ...,
    SGC_MSG_ROUND_OPEN = ...,
    SGC_MSG_ACK = ...,
    SGC_MSG_RESYNC = ...
} sgc_msg_type;

typedef enum {
    SGC_IDX_NONE = ...,
    SGC_IDX_DENSE = ...,
    SGC_IDX_RICE = ...,
    SGC_IDX_BITMAP = ...,
    SGC_IDX_STRATIFIED = ...
} sgc_index_coding;

typedef struct {
    uint8_t msg_type;
    uint8_t flags;
    uint8_t index_coding;
    uint8_t value_coding;
    uint8_t index_param;
    uint16_t segment_id;
    uint16_t segment_count;
    uint32_t device_id;
    uint32_t round;
    uint32_t seq;
    uint32_t n;
    uint32_t k;
    float scale;
    uint32_t payload_len;
} sgc_frame_header;

typedef struct {
    sgc_frame_header header;
    const uint8_t *payload;
    uint32_t index_bytes;
    uint32_t value_bytes;
    uint64_t seed;
    bool authenticated;
    ...;
} sgc_frame_view;

uint32_t sgc_crc32c_update(uint32_t crc, const uint8_t *data, size_t len);
sgc_status sgc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg,
                           size_t msg_len, uint8_t tag[32]);
size_t sgc_frame_size_bound(uint32_t n, uint32_t k, int value_coding);
sgc_status sgc_stratified_indices(uint64_t seed, uint32_t n, uint32_t k, uint32_t *indices);
sgc_status sgc_frame_encode_sparse(const sgc_frame_header *fields, uint32_t n,
                                   const uint32_t *indices, uint32_t k, const float *values,
                                   int value_coding, const uint8_t *key, size_t key_len,
                                   uint8_t *out, size_t cap, size_t *out_len);
sgc_status sgc_frame_encode_dense(const sgc_frame_header *fields, uint32_t n,
                                  const float *values, int value_coding, const uint8_t *key,
                                  size_t key_len, uint8_t *out, size_t cap, size_t *out_len);
sgc_status sgc_frame_encode_stratified(const sgc_frame_header *fields, uint32_t n, uint32_t k,
                                       uint64_t seed, const float *values, int value_coding,
                                       const uint8_t *key, size_t key_len, uint8_t *out,
                                       size_t cap, size_t *out_len);
sgc_status sgc_frame_encode_control(const sgc_frame_header *fields, const uint8_t *payload,
                                    size_t payload_len, const uint8_t *key, size_t key_len,
                                    uint8_t *out, size_t cap, size_t *out_len);
sgc_status sgc_frame_parse(const uint8_t *frame, size_t len, const uint8_t *key,
                           size_t key_len, sgc_frame_view *view);
sgc_status sgc_frame_validate(const sgc_frame_view *view);
sgc_status sgc_frame_decode(const sgc_frame_view *view, uint32_t *indices, float *values,
                            uint32_t cap);
sgc_status sgc_frame_decode_into(const sgc_frame_view *view, float *dense, uint32_t dense_len,
                                 float weight);

uint32_t sgc_chunk_count(size_t frame_len, size_t max_size);
sgc_status sgc_chunk_make(const uint8_t *frame, size_t frame_len, size_t max_size,
                          uint32_t index, uint8_t *out, size_t cap, size_t *out_len);

typedef enum {
    SGC_DROP_TIMEOUT = ...,
    SGC_DROP_EVICTED = ...,
    SGC_DROP_MISMATCH = ...
} sgc_drop_reason;

typedef struct {
    uint32_t frame_id;
    uint32_t total_len;
    uint16_t received;
    uint16_t count;
    uint8_t reason;
} sgc_drop_record;

typedef struct {
    uint32_t dropped;
    uint32_t rejected;
    uint32_t log_len;
    ...;
} sgc_reasm;

sgc_status sgc_reasm_init(sgc_reasm *r, uint8_t *buf, size_t cap, uint32_t max_frames,
                          uint32_t timeout_ms);
sgc_status sgc_reasm_feed(sgc_reasm *r, const uint8_t *msg, size_t len, uint32_t now_ms,
                          const uint8_t **frame, size_t *frame_len);
uint32_t sgc_reasm_drain(sgc_reasm *r, sgc_drop_record *out, uint32_t cap);
