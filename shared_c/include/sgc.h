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
/* (filled by the selection work; see docs/methods.md) */

/* ------------------------------------------------------------------------ */
/* Frames: the wire format of docs/PROTOCOL.md                               */
/* ------------------------------------------------------------------------ */
/* (filled by the frame codec work; see docs/PROTOCOL.md) */

#ifdef __cplusplus
}
#endif

#endif /* SGC_H */
