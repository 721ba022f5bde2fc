/* sgc.h - the whole public API of Sparrow's gradient compression core.
 *
 * Portable C99. Pure computation: no I/O, no malloc, no globals. The caller
 * owns every buffer and passes its capacity; counts and lengths come back
 * through out-parameters. Every function that can fail returns an sgc_status
 * (0 on success, a distinct negative code otherwise) and never reads past an
 * input length nor writes past an output capacity, whatever the input.
 *
 * Sections:
 *   status codes ........ shared by everything below
 *   selection ........... top-k selectors, residual memory, quantisation
 *   frames .............. the wire format of docs/PROTOCOL.md, chunking
 */
#ifndef SGC_H
#define SGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sgc_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SGC_NODISCARD __attribute__((warn_unused_result))
#else
#define SGC_NODISCARD
#endif

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    SGC_OK = 0,
    /* --- arguments and usage (-1 .. -19) --- */
    SGC_E_NULL = -1,          /* a required pointer was NULL */
    SGC_E_N = -2,             /* n is 0 or above SGC_MAX_N */
    SGC_E_K = -3,             /* k is 0 or greater than n */
    SGC_E_CAPACITY = -4,      /* an output buffer is too small for the result */
    SGC_E_NONFINITE = -5,     /* the input holds NaN or Inf; nothing was changed */
    SGC_E_METHOD = -6,        /* unknown selector method */
    SGC_E_OPTION = -7,        /* an option is out of range (tol, momentum, density...) */
    SGC_E_SCRATCH = -8,       /* scratch buffer smaller than sgc_select_scratch_bytes() */
    SGC_E_STATE = -9,         /* call out of order, or state not initialised */
    SGC_E_CODING = -10,       /* unknown value or index coding */
    /* --- frames: malformed input (-20 .. -49) --- */
    SGC_E_TRUNCATED = -20,    /* frame shorter than its header or declared length */
    SGC_E_MAGIC = -21,        /* magic bytes are not "SP" */
    SGC_E_VERSION = -22,      /* unsupported protocol version */
    SGC_E_MSG_TYPE = -23,     /* unknown message type */
    SGC_E_FLAGS = -24,        /* reserved flag bits set */
    SGC_E_HDR_N = -25,        /* header field n out of range */
    SGC_E_HDR_K = -26,        /* header field k out of range for n */
    SGC_E_HDR_INDEX_CODING = -27, /* header field index_coding unknown */
    SGC_E_HDR_VALUE_CODING = -28, /* header field value_coding unknown */
    SGC_E_HDR_SCALE = -29,    /* header field scale is not finite or not >= 0 */
    SGC_E_HDR_SEGMENT = -30,  /* segment_id >= segment_count, or segment_count 0 */
    SGC_E_HDR_LENGTH = -31,   /* payload_len disagrees with the frame length */
    SGC_E_CRC = -32,          /* CRC-32C mismatch */
    SGC_E_AUTH = -33,         /* HMAC tag missing, wrong or not expected */
    SGC_E_AUTH_UNSUPPORTED = -34, /* frame carries a tag but the build has no HMAC */
    SGC_E_INDICES = -35,      /* index payload malformed (overrun, not ascending, >= n) */
    SGC_E_VALUES = -36,       /* value payload malformed (wrong size, NaN/Inf value) */
    SGC_E_TRAILING = -37,     /* bytes left over after the payload */
    SGC_E_CHUNK = -38         /* chunk header inconsistent with its frame */
} sgc_status;

/* One line of English for any status, never NULL. */
const char *sgc_strerror(int status);

/* ------------------------------------------------------------------------ */
/* Selection: top-k selectors, residual memory, quantisation                */
/* ------------------------------------------------------------------------ */
/* Design and pass counts of every selector: docs/methods.md.
 *
 * Common contract of the selectors: g holds n finite float32 values; the
 * result is at most `cap` (index, value) pairs written to idx/vals with the
 * indices strictly ascending and *count set to how many were written; cap
 * must be at least k. exact and random return exactly k; laplace, partition
 * and dgc return between k and min(cap, k + floor(k tol)) entries, all those
 * at or above a magnitude threshold, so they always hold the exact top-k
 * (docs/methods.md). Scratch memory comes from the caller, at least
 * sgc_select_scratch_bytes(method, n, k) bytes, 4-byte aligned. A NaN or Inf
 * in g gives SGC_E_NONFINITE and writes no output and no state. */

/* Value codings of the selected values. Each value is its wire code. */
typedef enum {
    SGC_VAL_FP32 = 0, /* IEEE binary32 little-endian, 4 bytes a value; scale 1 */
    SGC_VAL_FP16 = 1, /* IEEE binary16 little-endian, nearest-even, saturating at
                         +/-65504 (beyond 2^29: the largest half on v's own
                         grid), 2 bytes a value; scale 1 */
    SGC_VAL_INT8 = 2, /* int8 q in [-127, 127], value = q * scale, 1 byte a value */
    SGC_VAL_SIGN = 3  /* 1 bit a value, LSB first, bit set = negative;
                         value = +/- scale */
} sgc_value_coding;

/* Number of value codings; codings are 0 .. SGC_VAL_COUNT - 1. */
#define SGC_VAL_COUNT 4u

/* Worst-case payload bytes for k values in any coding, for static arrays. */
#define SGC_VALUE_BYTES_MAX(k) ((size_t)(k) * 4u)

/* Exact payload bytes for k values in `coding`; 0 for an unknown coding. */
size_t sgc_value_bytes(sgc_value_coding coding, uint32_t k);

/* Encode k values into out (capacity cap bytes); *len gets the byte count and
 * *scale the per-message scale (1 for FP32/FP16; max|v|/127 for INT8; for SIGN
 * a magnitude near mean|v| chosen so that v - dequantised(v) is exact in
 * float32, see docs/methods.md). Values must be finite. k may be 0. */
SGC_NODISCARD sgc_status sgc_quantize(sgc_value_coding coding, const float *vals,
                                      uint32_t k, uint8_t *out, size_t cap,
                                      size_t *len, float *scale);

/* Decode k values of `coding` from in[0..len) into vals. len must equal
 * sgc_value_bytes(coding, k) (else SGC_E_VALUES); scale must be finite and
 * >= 0 (else SGC_E_OPTION); a decoded NaN/Inf gives SGC_E_VALUES. */
SGC_NODISCARD sgc_status sgc_dequantize(sgc_value_coding coding, const uint8_t *in,
                                        size_t len, uint32_t k, float scale,
                                        float *vals);

/* Selector methods. */
typedef enum {
    SGC_SELECT_EXACT = 0,     /* true top-k by magnitude (introselect) */
    SGC_SELECT_LAPLACE = 1,   /* Laplace-estimated threshold + bisection */
    SGC_SELECT_PARTITION = 2, /* predicted two-region entropy thresholds */
    SGC_SELECT_DGC = 3,       /* DGC sampled threshold + hierarchical refine */
    SGC_SELECT_RANDOM = 4     /* seeded random-k, receiver regenerates indices */
} sgc_method;

/* Number of selector methods; methods are 0 .. SGC_METHOD_COUNT - 1. */
#define SGC_METHOD_COUNT 5u

/* Options shared by the selectors. */
typedef struct {
    float tol;         /* relative count tolerance, 0 <= tol < 1 */
    uint32_t max_iter; /* cap on threshold refinements before an exact finish */
    uint64_t seed;     /* random-k indices and dgc sampling (SplitMix64 seed) */
} sgc_select_options;

/* What a selection cost and chose (optional output, may be NULL). */
typedef struct {
    uint32_t passes;     /* full read passes over g */
    uint32_t iterations; /* threshold refinements (counting passes or in-buffer) */
    bool exact;          /* the result was finished by exact selection */
    float threshold;     /* smallest |value| selected (0 for random) */
} sgc_select_info;

/* Defaults: tol SGC_DEFAULT_TOL, max_iter SGC_DEFAULT_MAX_ITER, seed 0. */
void sgc_select_options_init(sgc_select_options *opt);

/* Scratch bytes `method` needs for (n, k); 0 when it needs none, the
 * arguments are invalid or the method is left out of the build
 * (SGC_SELECTORS; the call itself then reports why). */
size_t sgc_select_scratch_bytes(sgc_method method, uint32_t n, uint32_t k);

/* Top-k selection by `method` (partition runs from a cold predictor here; use
 * sgc_select_partition to keep its state across steps). opt may be NULL for
 * defaults, info may be NULL. */
SGC_NODISCARD sgc_status sgc_select(sgc_method method, const float *g, uint32_t n,
                                    uint32_t k, const sgc_select_options *opt,
                                    void *scratch, size_t scratch_bytes,
                                    uint32_t *idx, float *vals, uint32_t cap,
                                    uint32_t *count, sgc_select_info *info);

/* The k ascending indices random-k picks for (seed, n, k): what a receiver
 * calls to restore the positions of values sent without indices. The same
 * positions as sgc_stratified_indices(seed, n, k), so a random-k selection
 * can travel as a STRATIFIED frame with its seed. */
SGC_NODISCARD sgc_status sgc_random_indices(uint64_t seed, uint32_t n, uint32_t k,
                                            uint32_t *idx, uint32_t cap);

/* Positional blocks the partition predictor tracks per layer. */
#define SGC_PARTITION_BLOCKS 16u

/* Per-layer predictor of the partition selector (docs/methods.md). */
typedef struct {
    uint32_t magic;        /* set by sgc_partition_init */
    uint32_t n;            /* layer length of the prediction; 0 = cold */
    uint32_t key_mask;     /* bit b set: block b belongs to the key region */
    float threshold[2];    /* predicted thresholds: [0] key, [1] sparse region */
    float scale[2];        /* entropy scale exp(H - 1) of each region */
    float block_scale[SGC_PARTITION_BLOCKS]; /* running mean |g| per block */
    uint32_t steps;        /* selections made */
    uint32_t reestimates;  /* selections that needed a re-estimation pass */
} sgc_partition_state;

/* Start a predictor cold. */
void sgc_partition_init(sgc_partition_state *st);

/* Partition selection with a persistent per-layer predictor: in steady state a
 * single streaming pass over g. State is only updated on success. */
SGC_NODISCARD sgc_status sgc_select_partition(sgc_partition_state *st, const float *g,
                                              uint32_t n, uint32_t k,
                                              const sgc_select_options *opt,
                                              void *scratch, size_t scratch_bytes,
                                              uint32_t *idx, float *vals, uint32_t cap,
                                              uint32_t *count, sgc_select_info *info);

/* Configuration of a residual (error-feedback) memory. */
typedef struct {
    sgc_method method;        /* selector used each step */
    sgc_value_coding coding;  /* how the selected values are sent */
    float density;            /* final k/n, 0 < density <= 1 */
    uint32_t warmup_steps;    /* steps per warm-up stage (density 4^-(s+1) until it
                                 reaches `density`); 0 = no warm-up */
    float momentum;           /* DGC momentum correction, 0 <= m < 1; 0 = off */
    bool momentum_masking;    /* clear the velocity where values were sent */
    sgc_select_options select;
} sgc_residual_config;

/* Defaults: laplace, fp32, density 0.01, no warm-up, no momentum, masking on. */
void sgc_residual_config_init(sgc_residual_config *cfg);

/* Residual memory over n values (a layer or a whole model). The residual and
 * (when momentum > 0) velocity arrays of n floats belong to the caller. */
typedef struct {
    uint32_t magic;
    uint32_t n;
    uint32_t step;            /* steps taken since init/reset */
    float *residual;
    float *velocity;          /* NULL when momentum == 0 */
    sgc_residual_config cfg;
    sgc_partition_state partition;
} sgc_residual;

/* Check cfg, bind the arrays and zero them. */
SGC_NODISCARD sgc_status sgc_residual_init(sgc_residual *r, uint32_t n,
                                           const sgc_residual_config *cfg,
                                           float *residual, float *velocity);

/* Zero residual, velocity, step counter and predictor. */
SGC_NODISCARD sgc_status sgc_residual_reset(sgc_residual *r);

/* k of the next step (warm-up aware); 0 when r is not initialised. */
uint32_t sgc_residual_k(const sgc_residual *r);

/* Scratch bytes any step of this configuration needs (the warm-up's largest k). */
size_t sgc_residual_scratch_bytes(const sgc_residual_config *cfg, uint32_t n);

/* One error-feedback step: v = m*v + g (if momentum); residual += v or g;
 * select from the residual; quantise; subtract exactly what the receiver will
 * decode. g may be NULL when the caller has already added the gradient into
 * r->residual (in place: a board's backward pass accumulating into it needs
 * no second n-float buffer); then a NaN/Inf in the residual gives
 * SGC_E_NONFINITE and nothing is selected or subtracted (momentum > 0 needs
 * g: SGC_E_NULL). idx/vals (capacity cap >= sgc_residual_k) receive the indices and
 * the decoded values; payload (may be NULL) receives the encoded values and
 * *scale the message scale. Invariant, exact in float32:
 * residual_after[i] + vals_sent[i] == residual_before[i] + added[i].
 * A non-finite g gives SGC_E_NONFINITE and leaves r untouched. */
SGC_NODISCARD sgc_status sgc_residual_step(sgc_residual *r, const float *g,
                                           void *scratch, size_t scratch_bytes,
                                           uint32_t *idx, float *vals, uint32_t cap,
                                           uint32_t *count, uint8_t *payload,
                                           size_t payload_cap, size_t *payload_len,
                                           float *scale);

/* ------------------------------------------------------------------------ */
/* Frames: the wire format of docs/PROTOCOL.md                               */
/* ------------------------------------------------------------------------ */
/* Guarantees on untrusted input: the parse and decode functions below never
 * read outside [frame, frame + len) and never write outside the output
 * buffers and capacities they are given, whatever the bytes. decode_into
 * validates the whole payload before it adds anything to the dense buffer. */

#define SGC_FRAME_VERSION 1u
#define SGC_FRAME_HEADER_BYTES 40u
#define SGC_FRAME_TAG_BYTES 32u
#define SGC_FRAME_CRC_BYTES 4u
/* Largest opaque payload of a control frame (hello, round open, ack, resync). */
#define SGC_FRAME_MAX_CONTROL_PAYLOAD 1024u
/* Frame bytes around the payload when a tag is present (the worst case). */
#define SGC_FRAME_OVERHEAD_BYTES (SGC_FRAME_HEADER_BYTES + SGC_FRAME_TAG_BYTES + SGC_FRAME_CRC_BYTES)

#define SGC_FLAG_HMAC 0x01u      /* a 32-byte HMAC-SHA256 tag follows the payload */
#define SGC_FLAGS_RESERVED 0x0Eu /* must be zero in a full header on the wire */
#define SGC_FLAGS_APP 0xF0u      /* application bits, carried unchanged */

/* Compact header (docs/PROTOCOL.md section 13): version 2, 11 bytes, + 4
 * (n, k) for data frames, + 4 (scale) for INT8 and SIGN values; no segment
 * fields, device_id, round, seq and n at most SGC_COMPACT_MAX, the payload
 * length implied by the frame length. */
#define SGC_FRAME_COMPACT_VERSION 2u
#define SGC_FRAME_COMPACT_HEADER_BYTES 11u
#define SGC_FRAME_COMPACT_MAX_HEADER_BYTES 19u
#define SGC_COMPACT_MAX 0xFFFFu
/* The smallest frame of either form: a compact control frame, no payload. */
#define SGC_FRAME_MIN_BYTES (SGC_FRAME_COMPACT_HEADER_BYTES + SGC_FRAME_CRC_BYTES)
/* Header flags that live only in sgc_frame_header, never as such on the wire
 * (they reuse two of the reserved bits). SGC_FLAG_COMPACT: an encoder writes
 * the compact header, or fails with SGC_E_OPTION when a field does not fit;
 * sgc_frame_parse sets it when the frame has a compact header.
 * SGC_FLAG_COMPACT_AUTO (encoders only): compact when every field fits, else
 * the full header. */
#define SGC_FLAG_COMPACT 0x02u
#define SGC_FLAG_COMPACT_AUTO 0x04u

typedef enum {
    SGC_MSG_SPARSE_UPDATE = 1,      /* node -> host: sparse gradient or model delta */
    SGC_MSG_DENSE_MODEL = 2,        /* host -> node: every parameter */
    SGC_MSG_SPARSE_MODEL_DELTA = 3, /* host -> node: sparse change since a model version */
    SGC_MSG_HELLO = 16,             /* control: hello / join */
    SGC_MSG_ROUND_OPEN = 17,        /* control: a round opens */
    SGC_MSG_ACK = 18,               /* control: acknowledgement */
    SGC_MSG_RESYNC = 19             /* control: resync request */
} sgc_msg_type;

typedef enum {
    SGC_IDX_NONE = 0,       /* no indices: control frames */
    SGC_IDX_DENSE = 1,      /* k == n, positions 0..n-1 */
    SGC_IDX_RICE = 2,       /* Golomb-Rice coded gaps, parameter index_param */
    SGC_IDX_BITMAP = 3,     /* n-bit presence bitmap */
    SGC_IDX_STRATIFIED = 4  /* random-k from a shared 64-bit seed, one per stratum */
} sgc_index_coding;

/* A header (40-byte full or compact), decoded. Encoders read msg_type, flags
 * (application bits and the compact choice), device_id, round, seq,
 * segment_id and segment_count from the caller and fill in the rest. A
 * compact frame decodes to segment_id 0, segment_count 1, scale 1.0 when its
 * coding carries none, payload_len from the frame length, and flags with
 * SGC_FLAG_COMPACT set. */
typedef struct {
    uint8_t msg_type;      /* sgc_msg_type */
    uint8_t flags;         /* SGC_FLAG_* */
    uint8_t index_coding;  /* sgc_index_coding */
    uint8_t value_coding;  /* sgc_value_coding */
    uint8_t index_param;   /* Rice parameter b (0..31), else 0 */
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

/* A parsed frame: the header plus where its sections lie inside the caller's
 * frame bytes (no copy). Valid while those bytes are. */
typedef struct {
    sgc_frame_header header;
    const uint8_t *payload;       /* payload_len bytes */
    const uint8_t *index_section; /* index_bytes bytes (data frames) */
    const uint8_t *value_section; /* value_bytes bytes (data frames) */
    uint32_t index_bytes;
    uint32_t value_bytes;
    uint64_t seed;                /* STRATIFIED frames: the shared seed */
    bool authenticated;           /* a key was given and the tag verified */
} sgc_frame_view;

/* CRC-32C (Castagnoli) of data, continuing from crc (start with 0). */
uint32_t sgc_crc32c_update(uint32_t crc, const uint8_t *data, size_t len);

/* HMAC-SHA256 of msg under key into tag. SGC_E_AUTH_UNSUPPORTED when the
 * build has SGC_WITH_HMAC=0. */
SGC_NODISCARD sgc_status sgc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg,
                                         size_t msg_len, uint8_t tag[SGC_FRAME_TAG_BYTES]);

/* Worst-case frame size (tag included, full header, so compact frames fit
 * too) of a data frame with n positions,
 * k values and that value coding, as the encoders below choose codings; 0
 * when the arguments are out of range. Size static buffers with it. */
size_t sgc_frame_size_bound(uint32_t n, uint32_t k, sgc_value_coding value_coding);

/* The k positions of a STRATIFIED frame (docs/PROTOCOL.md 4.3), ascending. */
SGC_NODISCARD sgc_status sgc_stratified_indices(uint64_t seed, uint32_t n, uint32_t k,
                                                uint32_t *indices);

/* Encoders. fields supplies msg_type, application flags (plus
 * SGC_FLAG_COMPACT or SGC_FLAG_COMPACT_AUTO to ask for the compact header),
 * device_id, round, seq, segment_id and segment_count. values (float32) are quantised with
 * sgc_quantize(value_coding) straight into the frame. key may be NULL (no
 * tag). The frame is written to out (capacity cap, see
 * sgc_frame_size_bound) and its length to *out_len.
 * Errors: SGC_E_NULL, SGC_E_N, SGC_E_K, SGC_E_CODING, SGC_E_INDICES (not
 * strictly ascending or >= n), SGC_E_NONFINITE (a value), SGC_E_MSG_TYPE
 * (wrong kind of message for the encoder), SGC_E_OPTION (reserved or HMAC
 * flag bits set by the caller, segment_id >= segment_count, control payload
 * too long, SGC_FLAG_COMPACT with a field the compact header cannot hold), SGC_E_CAPACITY, SGC_E_AUTH_UNSUPPORTED (key without HMAC). */

/* Sparse data frame: k strictly ascending indices < n; the index coding
 * (RICE, BITMAP, or DENSE when k == n) is chosen as PROTOCOL.md 4.4 says. */
SGC_NODISCARD sgc_status sgc_frame_encode_sparse(const sgc_frame_header *fields, uint32_t n,
                                                 const uint32_t *indices, uint32_t k,
                                                 const float *values,
                                                 sgc_value_coding value_coding,
                                                 const uint8_t *key, size_t key_len,
                                                 uint8_t *out, size_t cap, size_t *out_len);

/* Dense data frame: n values, index coding DENSE. */
SGC_NODISCARD sgc_status sgc_frame_encode_dense(const sgc_frame_header *fields, uint32_t n,
                                                const float *values,
                                                sgc_value_coding value_coding,
                                                const uint8_t *key, size_t key_len,
                                                uint8_t *out, size_t cap, size_t *out_len);

/* Random-k data frame: values belong to sgc_stratified_indices(seed, n, k). */
SGC_NODISCARD sgc_status sgc_frame_encode_stratified(const sgc_frame_header *fields, uint32_t n,
                                                     uint32_t k, uint64_t seed,
                                                     const float *values,
                                                     sgc_value_coding value_coding,
                                                     const uint8_t *key, size_t key_len,
                                                     uint8_t *out, size_t cap, size_t *out_len);

/* Control frame with an opaque payload of at most SGC_FRAME_MAX_CONTROL_PAYLOAD. */
SGC_NODISCARD sgc_status sgc_frame_encode_control(const sgc_frame_header *fields,
                                                  const uint8_t *payload, size_t payload_len,
                                                  const uint8_t *key, size_t key_len,
                                                  uint8_t *out, size_t cap, size_t *out_len);

/* Checks 1-17 of PROTOCOL.md section 9 (framing, CRC, tag, header fields;
 * section 13 for a compact header) and locates the sections. With key !=
 * NULL a valid tag is required. */
SGC_NODISCARD sgc_status sgc_frame_parse(const uint8_t *frame, size_t len, const uint8_t *key,
                                         size_t key_len, sgc_frame_view *view);

/* Checks 18-19 (index and value sections) without writing anything. */
SGC_NODISCARD sgc_status sgc_frame_validate(const sgc_frame_view *view);

/* Decodes a parsed data frame into k indices and k float values (cap is the
 * capacity of both arrays, in elements). */
SGC_NODISCARD sgc_status sgc_frame_decode(const sgc_frame_view *view, uint32_t *indices,
                                          float *values, uint32_t cap);

/* Adds weight * value into dense[index] for every value of a parsed data
 * frame (dense frames too). dense_len must equal the frame's n. Nothing is
 * written unless the whole payload is valid. */
SGC_NODISCARD sgc_status sgc_frame_decode_into(const sgc_frame_view *view, float *dense,
                                               uint32_t dense_len, float weight);

/* Chunks: a frame longer than max_size bytes travels as numbered chunks
 * (PROTOCOL.md section 10). */
#define SGC_CHUNK_HEADER_BYTES 16u
#define SGC_CHUNK_MIN_SIZE 64u        /* smallest max_size accepted */
#define SGC_CHUNK_DEFAULT_SIZE 1024u  /* fits MCU MQTT clients */
#define SGC_CHUNK_MAX_COUNT 65535u

/* Number of chunks frame_len bytes need at max_size (1 when it fits whole,
 * in which case the frame is sent as it is); 0 when it cannot be chunked. */
uint32_t sgc_chunk_count(size_t frame_len, size_t max_size);

/* Writes chunk number index of frame into out (capacity cap). */
SGC_NODISCARD sgc_status sgc_chunk_make(const uint8_t *frame, size_t frame_len, size_t max_size,
                                        uint32_t index, uint8_t *out, size_t cap, size_t *out_len);

typedef enum {
    SGC_DROP_TIMEOUT = 1,   /* incomplete when its timeout passed */
    SGC_DROP_EVICTED = 2,   /* incomplete when every slot was needed */
    SGC_DROP_MISMATCH = 3   /* complete, but its last 4 bytes are not frame_id */
} sgc_drop_reason;

typedef struct {
    uint32_t frame_id;
    uint32_t total_len;
    uint16_t received;  /* chunks that had arrived */
    uint16_t count;     /* chunks the frame had */
    uint8_t reason;     /* sgc_drop_reason */
} sgc_drop_record;

typedef struct {
    uint32_t frame_id;
    uint32_t total_len;
    uint32_t first_ms;  /* caller's clock at the first chunk */
    uint16_t count;
    uint16_t received;
    uint8_t state;      /* free, filling, complete (kept to ignore late duplicates) */
} sgc_reasm_slot;

/* Reassembler state. Memory: the caller's buffer, split into equal slots;
 * a slot holds one frame and its chunk bitmap. */
typedef struct {
    uint8_t *buf;
    size_t slot_bytes;
    uint32_t slots;
    uint32_t timeout_ms;
    uint32_t dropped;          /* frames dropped since init */
    uint32_t rejected;         /* chunks rejected with an error since init */
    uint32_t log_len;          /* records in log (<= SGC_REASM_DROP_LOG) */
    sgc_drop_record log[SGC_REASM_DROP_LOG];
    sgc_reasm_slot slot[SGC_REASM_MAX_SLOTS];
} sgc_reasm;

/* buf (cap bytes) is split among max_frames slots (1..SGC_REASM_MAX_SLOTS). */
SGC_NODISCARD sgc_status sgc_reasm_init(sgc_reasm *r, uint8_t *buf, size_t cap,
                                        uint32_t max_frames, uint32_t timeout_ms);

/* Feeds one message (a chunk, or a whole frame that starts with "SP") at
 * time now_ms (the caller's clock, ms, may wrap). When it completes a frame,
 * *frame points at it (inside buf, valid until the next feed; for a whole
 * frame, at msg itself) and *frame_len is its length; else *frame is NULL.
 * Incomplete frames older than timeout_ms are dropped first. A late
 * duplicate of a delivered frame is ignored. */
SGC_NODISCARD sgc_status sgc_reasm_feed(sgc_reasm *r, const uint8_t *msg, size_t len,
                                        uint32_t now_ms, const uint8_t **frame, size_t *frame_len);

/* Copies up to cap drop records into out, oldest first, and forgets them;
 * returns how many were copied. */
uint32_t sgc_reasm_drain(sgc_reasm *r, sgc_drop_record *out, uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif /* SGC_H */
