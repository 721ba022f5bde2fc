/* sgc_frame_values.c - value sections of untrusted frames: scale rules,
 * validation and per-value reading (docs/PROTOCOL.md section 5). Encoding
 * uses the core's quantiser (sgc_quantize), which writes the same codes. */
#include "sgc_frame_internal.h"

#define INT8_CODE_MAX 127.0f

sgc_status sgci_values_check_scale(int coding, float scale)
{
    /* NaN fails every comparison, so !(scale >= 0) also rejects it. */
    if (coding == SGC_VAL_FP32 || coding == SGC_VAL_FP16) {
        return scale == 1.0f ? SGC_OK : SGC_E_HDR_SCALE;
    }
    if (!sgc_isfinite(scale) || !(scale >= 0.0f)) {
        return SGC_E_HDR_SCALE;
    }
    /* the largest code times scale must stay finite */
    if (coding == SGC_VAL_INT8 && !sgc_isfinite(INT8_CODE_MAX * scale)) {
        return SGC_E_HDR_SCALE;
    }
    return SGC_OK;
}

sgc_status sgci_values_validate(const uint8_t *section, uint32_t k, int coding)
{
    uint32_t i;
    switch (coding) {
    case SGC_VAL_FP32:
        for (i = 0; i < k; ++i) {
            if ((sgc_load32(section + 4u * (size_t)i) & 0x7F800000u) == 0x7F800000u) {
                return SGC_E_VALUES;
            }
        }
        return SGC_OK;
    case SGC_VAL_FP16:
        for (i = 0; i < k; ++i) {
            if ((sgc_load16(section + 2u * (size_t)i) & 0x7C00u) == 0x7C00u) {
                return SGC_E_VALUES;
            }
        }
        return SGC_OK;
    case SGC_VAL_INT8:
        for (i = 0; i < k; ++i) {
            if (section[i] == 0x80u) {
                return SGC_E_VALUES;
            }
        }
        return SGC_OK;
    case SGC_VAL_SIGN:
        /* padding bits of the last byte must be zero */
        if ((k & 7u) != 0u && (section[k >> 3] >> (k & 7u)) != 0u) {
            return SGC_E_VALUES;
        }
        return SGC_OK;
    default:
        return SGC_E_HDR_VALUE_CODING;
    }
}
