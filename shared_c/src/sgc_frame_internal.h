/* sgc_frame_internal.h - internal pieces shared by the frame codec files:
 * little-endian access, LSB-first bit streams, the index iterator that every
 * index coding decodes through, and the value section accessors. */
#ifndef SGC_FRAME_INTERNAL_H
#define SGC_FRAME_INTERNAL_H

#include "sgc.h"
#include "sgc_half.h"
#include "sgc_math.h"
#include "sgc_rng.h"

/* Offsets of the header fields (docs/PROTOCOL.md section 2). */
enum {
    SGC_OFF_MAGIC = 0,
    SGC_OFF_VERSION = 2,
    SGC_OFF_MSG_TYPE = 3,
    SGC_OFF_FLAGS = 4,
    SGC_OFF_INDEX_CODING = 5,
    SGC_OFF_VALUE_CODING = 6,
    SGC_OFF_INDEX_PARAM = 7,
    SGC_OFF_DEVICE_ID = 8,
    SGC_OFF_ROUND = 12,
    SGC_OFF_SEQ = 16,
    SGC_OFF_SEGMENT_ID = 20,
    SGC_OFF_SEGMENT_COUNT = 22,
    SGC_OFF_N = 24,
    SGC_OFF_K = 28,
    SGC_OFF_SCALE = 32,
    SGC_OFF_PAYLOAD_LEN = 36
};

/* Offsets of the compact header fields (docs/PROTOCOL.md section 13). */
enum {
    SGC_COFF_HEAD = 3,     /* bit 0 HMAC, bits 1-3 message code, bits 4-7 application flags */
    SGC_COFF_CODING = 4,   /* bits 0-1 value coding, 2-3 index coding - 1, 4-7 index_param */
    SGC_COFF_DEVICE_ID = 5,
    SGC_COFF_ROUND = 7,
    SGC_COFF_SEQ = 9,
    SGC_COFF_N = 11,       /* data frames only, as is k */
    SGC_COFF_K = 13,
    SGC_COFF_SCALE = 15    /* data frames with INT8 or SIGN values only */
};
#define SGC_COMPACT_MAX_PARAM 15u

/* The 3-bit message code of a compact header: 1-3 are message types 1-3,
 * 4-7 are message types 16-19; 0 names no type. */
static inline uint8_t sgci_compact_code(uint8_t msg_type)
{
    if (msg_type >= 1u && msg_type <= 3u) {
        return msg_type;
    }
    if (msg_type >= 16u && msg_type <= 19u) {
        return (uint8_t)(msg_type - 12u);
    }
    return 0;
}

static inline uint8_t sgci_compact_type(unsigned code)
{
    return (uint8_t)(code >= 4u ? code + 12u : code);
}

/* Header bytes of a compact frame: its fixed part, n and k for a data frame,
 * the scale when its values need one. */
static inline size_t sgci_compact_header_bytes(unsigned code, unsigned value_coding)
{
    size_t bytes = SGC_FRAME_COMPACT_HEADER_BYTES;
    if (code >= 1u && code <= 3u) {
        bytes += 4u;
        if (value_coding == SGC_VAL_INT8 || value_coding == SGC_VAL_SIGN) {
            bytes += 4u;
        }
    }
    return bytes;
}

/* Compile-time checks (C99 has no _Static_assert): the offsets tile the
 * header exactly, and float is IEEE binary32 in size. */
typedef char sgc_check_header_size[(SGC_OFF_PAYLOAD_LEN + 4 == SGC_FRAME_HEADER_BYTES) ? 1 : -1];
typedef char sgc_check_compact_size[(SGC_COFF_SCALE + 4 == SGC_FRAME_COMPACT_MAX_HEADER_BYTES) ? 1 : -1];
typedef char sgc_check_float_size[(sizeof(float) == 4u) ? 1 : -1];

#define SGC_FRAME_MAGIC0 0x53u /* 'S' */
#define SGC_FRAME_MAGIC1 0x50u /* 'P' */
#define SGC_CHUNK_MAGIC1 0x43u /* 'C' */
#define SGC_STRATIFIED_BYTES 8u
#define SGC_RICE_MAX_PARAM 31u

static inline uint16_t sgc_load16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t sgc_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t sgc_load64(const uint8_t *p)
{
    return (uint64_t)sgc_load32(p) | ((uint64_t)sgc_load32(p + 4) << 32);
}

static inline void sgc_store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void sgc_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void sgc_store64(uint8_t *p, uint64_t v)
{
    sgc_store32(p, (uint32_t)v);
    sgc_store32(p + 4, (uint32_t)(v >> 32));
}

/* Trailing zero bits of a nonzero x. */
static inline unsigned sgc_ctz64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctzll(x);
#else
    unsigned n = 0;
    while ((x & 1u) == 0) {
        x >>= 1;
        ++n;
    }
    return n;
#endif
}

/* LSB-first bit writer. The caller has sized the output exactly, so no
 * capacity check happens per bit. */
typedef struct {
    uint8_t *p;
    size_t pos;
    uint64_t acc;
    unsigned nbits;
} sgc_bitw;

static inline void sgc_bitw_put(sgc_bitw *w, uint32_t value, unsigned nbits)
{
    w->acc |= (uint64_t)value << w->nbits;
    w->nbits += nbits;
    while (w->nbits >= 8u) {
        w->p[w->pos++] = (uint8_t)w->acc;
        w->acc >>= 8;
        w->nbits -= 8u;
    }
}

static inline void sgc_bitw_flush(sgc_bitw *w)
{
    if (w->nbits > 0u) {
        w->p[w->pos++] = (uint8_t)w->acc;
        w->acc = 0;
        w->nbits = 0;
    }
}

/* Walks the positions of a data frame's index section, whatever its coding.
 * Every call checks its own bounds: a hostile section ends in an error, never
 * in a read outside it. */
typedef struct {
    const uint8_t *p;
    size_t len;
    size_t pos;        /* next byte of p to load into bits */
    uint64_t bits;     /* loaded, unread bits, LSB first */
    unsigned nbits;
    uint32_t n;
    uint32_t k;
    uint32_t i;        /* positions returned so far */
    uint32_t next_min; /* smallest valid next position */
    unsigned b;        /* Rice parameter */
    uint8_t coding;
    sgci_strata strata; /* STRATIFIED positions */
} sgc_index_iter;

void sgci_index_iter_init(sgc_index_iter *it, const sgc_frame_view *view);
/* Next position into *index; SGC_E_INDICES when the section is malformed. */
sgc_status sgci_index_iter_next(sgc_index_iter *it, uint32_t *index);
/* After k positions: SGC_E_INDICES unless the section is used up exactly. */
sgc_status sgci_index_iter_finish(const sgc_index_iter *it);

/* Rice coding (sgc_golomb.c). */
unsigned sgci_rice_best_param(const uint32_t *indices, uint32_t k, uint64_t *bits);
void sgci_rice_write(const uint32_t *indices, uint32_t k, unsigned b, uint8_t *out);
/* Upper bound on the bits of the best Rice code of any k of n positions. */
uint64_t sgci_rice_bound_bits(uint32_t n, uint32_t k);

/* Value sections (sgc_frame_values.c). */
sgc_status sgci_values_check_scale(int coding, float scale);
sgc_status sgci_values_validate(const uint8_t *section, uint32_t k, int coding);

/* Constant-time comparison of two tags (sgc_hmac.c). */
int sgci_tag_equal(const uint8_t *a, const uint8_t *b);

/* The k-th value of a validated value section, as f32. */
static inline float sgc_value_at(const uint8_t *section, int coding, float scale, uint32_t i)
{
    switch (coding) {
    case SGC_VAL_FP16:
        return sgci_half_to_float(sgc_load16(section + 2u * (size_t)i));
    case SGC_VAL_INT8:
        return (float)(int8_t)section[i] * scale;
    case SGC_VAL_SIGN:
        return ((section[i >> 3] >> (i & 7u)) & 1u) ? -scale : scale;
    default: /* SGC_VAL_FP32 */
        return sgc_u2f(sgc_load32(section + 4u * (size_t)i));
    }
}

#endif /* SGC_FRAME_INTERNAL_H */
