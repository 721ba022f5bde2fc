/* sgc_status.c - messages for sgc_status codes. */
#include "sgc.h"

const char *sgc_strerror(int status)
{
    switch (status) {
    case SGC_OK: return "ok";
    case SGC_E_NULL: return "a required pointer is NULL";
    case SGC_E_N: return "n must be between 1 and SGC_MAX_N";
    case SGC_E_K: return "k must be between 1 and n";
    case SGC_E_CAPACITY: return "output buffer too small for the result";
    case SGC_E_NONFINITE: return "input holds NaN or Inf (nothing was changed)";
    case SGC_E_METHOD: return "unknown selection method";
    case SGC_E_OPTION: return "option out of range";
    case SGC_E_SCRATCH: return "scratch buffer smaller than sgc_select_scratch_bytes()";
    case SGC_E_STATE: return "call out of order or state not initialised";
    case SGC_E_CODING: return "unknown value or index coding";
    case SGC_E_TRUNCATED: return "frame truncated: shorter than its header or declared length";
    case SGC_E_MAGIC: return "bad magic: not a Sparrow frame";
    case SGC_E_VERSION: return "unsupported protocol version";
    case SGC_E_MSG_TYPE: return "unknown message type";
    case SGC_E_FLAGS: return "reserved flag bits set";
    case SGC_E_HDR_N: return "header field n out of range";
    case SGC_E_HDR_K: return "header field k out of range for n";
    case SGC_E_HDR_INDEX_CODING: return "header field index_coding unknown";
    case SGC_E_HDR_VALUE_CODING: return "header field value_coding unknown";
    case SGC_E_HDR_SCALE: return "header field scale not finite or negative";
    case SGC_E_HDR_SEGMENT: return "header field segment_id/segment_count inconsistent";
    case SGC_E_HDR_LENGTH: return "header field payload_len disagrees with frame length";
    case SGC_E_CRC: return "CRC-32C mismatch";
    case SGC_E_AUTH: return "authentication tag missing or wrong";
    case SGC_E_AUTH_UNSUPPORTED: return "frame carries an HMAC tag but this build has no HMAC";
    case SGC_E_INDICES: return "index payload malformed";
    case SGC_E_VALUES: return "value payload malformed";
    case SGC_E_TRAILING: return "trailing bytes after the payload";
    case SGC_E_CHUNK: return "chunk header inconsistent with its frame";
    default: return "unknown status";
    }
}
