/* sgc_quant.c - value codings of the selected values (fp32, fp16, int8 with a
 * per-message scale, sign with one magnitude).
 *
 * Every coding is built so that, for each value v and its decoded form d,
 * v - d is exactly representable in float32 (docs/methods.md): the residual
 * memory subtracts d and keeps the whole rounding error, so nothing is lost
 * and the invariant residual_after + sent == residual_before + added holds
 * bit for bit. fp16 and int8 get it from rounding to nearest (Sterbenz), fp16
 * beyond 2^29 from a saturation value on v's grid; the sign coding picks its
 * magnitude for it. */
#include "sgc.h"

#include "sgc_half.h"
#include "sgc_math.h"

#define SGC_INT8_MAX 127
#define SGC_F16_MAX 65504.0f
#define SGC_F16_EXACT_LIMIT 0x4E000000u /* key of 2^29 */

size_t sgc_value_bytes(sgc_value_coding coding, uint32_t k)
{
    switch (coding) {
    case SGC_VAL_FP32:
        return sgc_size_mul(k, 4u);
    case SGC_VAL_FP16:
        return sgc_size_mul(k, 2u);
    case SGC_VAL_INT8:
        return (size_t)k;
    case SGC_VAL_SIGN:
        return ((size_t)k + 7u) / 8u;
    default:
        return 0u;
    }
}

static void put_le(uint8_t *out, uint32_t u, uint32_t bytes)
{
    uint32_t j;
    for (j = 0u; j < bytes; ++j) {
        out[j] = (uint8_t)(u >> (8u * j));
    }
}

static uint32_t get_le(const uint8_t *in, uint32_t bytes)
{
    uint32_t j, u = 0u;
    for (j = 0u; j < bytes; ++j) {
        u |= (uint32_t)in[j] << (8u * j);
    }
    return u;
}

/* One unit in the last place of a finite x != 0, as a float (never 0). */
static float ulp_of(float x)
{
    uint32_t e = sgc_key(x) >> 23;
    if (e > 23u) {
        return sgc_u2f((e - 23u) << 23);
    }
    return sgc_u2f(e > 0u ? 1u << (e - 1u) : 1u);
}

/* binary16 code of v. Above 2^29 the plain saturation value 65504 would
 * leave v - 65504 inexact, so such values send the largest half that is a
 * multiple of ulp(v) (0 once ulp(v) exceeds 65504). */
static uint16_t fp16_code(float v)
{
    if (sgc_key(v) >= SGC_F16_EXACT_LIMIT) {
        float u = ulp_of(v), m = sgci_floor(SGC_F16_MAX / u) * u;
        return sgci_half_from_float(v < 0.0f ? -m : m);
    }
    return sgci_half_from_float(v);
}

static float max_abs(const float *vals, uint32_t k)
{
    uint32_t i, mx = 0u;
    for (i = 0u; i < k; ++i) {
        uint32_t u = sgc_key(vals[i]);
        mx = u > mx ? u : mx;
    }
    return sgc_u2f(mx);
}

static int8_t int8_code(float v, float scale)
{
    float r = v / scale;
    int32_t q = (int32_t)(r + (r >= 0.0f ? 0.5f : -0.5f));
    q = q > SGC_INT8_MAX ? SGC_INT8_MAX : (q < -SGC_INT8_MAX ? -SGC_INT8_MAX : q);
    /* +/-1 must stand for |v| >= scale/2, or v - q*scale is not exact */
    if ((q == 1 || q == -1) && 2.0f * (v < 0.0f ? -v : v) < scale) {
        q = 0;
    }
    return (int8_t)q;
}

/* Magnitude of the sign coding: near mean|v|, at most 2 min|v| and a
 * multiple of ulp(max|v|); then v - (+/-m) is exact for every v (Sterbenz
 * for |v| <= 2m, a common grid above). */
static float sign_magnitude(const float *vals, uint32_t k)
{
    uint32_t i, mn = UINT32_MAX;
    float sum = 0.0f, mx = max_abs(vals, k), m0, u;
    for (i = 0u; i < k; ++i) {
        uint32_t key = sgc_key(vals[i]);
        sum += sgc_u2f(key);
        mn = key < mn ? key : mn;
    }
    if (mx == 0.0f) {
        return 0.0f;
    }
    m0 = sum / (float)k;
    if (m0 > 2.0f * sgc_u2f(mn)) {
        m0 = 2.0f * sgc_u2f(mn);
    }
    if (m0 > mx) {
        m0 = mx;
    }
    u = ulp_of(mx);
    return sgci_floor(m0 / u) * u;
}

sgc_status sgc_quantize(sgc_value_coding coding, const float *vals, uint32_t k,
                        uint8_t *out, size_t cap, size_t *len, float *scale)
{
    uint32_t i;
    size_t need;
    float s = 1.0f;
    if (len == NULL || scale == NULL || (k > 0u && (vals == NULL || out == NULL))) {
        return SGC_E_NULL;
    }
    if ((uint32_t)coding >= SGC_VAL_COUNT) {
        return SGC_E_CODING;
    }
    need = sgc_value_bytes(coding, k);
    if (need > cap || (need == 0u && k > 0u)) {
        return SGC_E_CAPACITY;
    }
    for (i = 0u; i < k; ++i) {
        if (!sgc_isfinite(vals[i])) {
            return SGC_E_NONFINITE;
        }
    }
    switch (coding) {
    case SGC_VAL_FP32:
        for (i = 0u; i < k; ++i) {
            put_le(out + 4u * (size_t)i, sgc_f2u(vals[i]), 4u);
        }
        break;
    case SGC_VAL_FP16:
        for (i = 0u; i < k; ++i) {
            put_le(out + 2u * (size_t)i, fp16_code(vals[i]), 2u);
        }
        break;
    case SGC_VAL_INT8:
        s = max_abs(vals, k) / (float)SGC_INT8_MAX;
        for (i = 0u; i < k; ++i) {
            out[i] = (uint8_t)(s > 0.0f ? int8_code(vals[i], s) : 0);
        }
        break;
    default: /* SGC_VAL_SIGN */
        s = sign_magnitude(vals, k);
        for (i = 0u; i < need; ++i) {
            out[i] = 0u;
        }
        for (i = 0u; i < k; ++i) {
            if (vals[i] < 0.0f) {
                out[i / 8u] = (uint8_t)(out[i / 8u] | (1u << (i % 8u)));
            }
        }
        break;
    }
    if (coding == SGC_VAL_INT8 || coding == SGC_VAL_SIGN) {
        s = k > 0u ? s : 0.0f;
    }
    *len = need;
    *scale = s;
    return SGC_OK;
}

static sgc_status decode(sgc_value_coding coding, const uint8_t *in, uint32_t k,
                         float scale, float *vals)
{
    uint32_t i;
    for (i = 0u; i < k; ++i) {
        float v;
        switch (coding) {
        case SGC_VAL_FP32:
            v = sgc_u2f(get_le(in + 4u * (size_t)i, 4u));
            break;
        case SGC_VAL_FP16:
            v = sgci_half_to_float((uint16_t)get_le(in + 2u * (size_t)i, 2u));
            break;
        case SGC_VAL_INT8:
            if (in[i] == 0x80u) {
                return SGC_E_VALUES; /* -128 is outside the coding */
            }
            v = (float)(int8_t)in[i] * scale;
            break;
        default: /* SGC_VAL_SIGN */
            v = (in[i / 8u] >> (i % 8u)) & 1u ? -scale : scale;
            break;
        }
        if (!sgc_isfinite(v)) {
            return SGC_E_VALUES;
        }
        vals[i] = v;
    }
    return SGC_OK;
}

sgc_status sgc_dequantize(sgc_value_coding coding, const uint8_t *in, size_t len,
                          uint32_t k, float scale, float *vals)
{
    if (k > 0u && (in == NULL || vals == NULL)) {
        return SGC_E_NULL;
    }
    if ((uint32_t)coding >= SGC_VAL_COUNT) {
        return SGC_E_CODING;
    }
    if (!sgc_isfinite(scale) || scale < 0.0f) {
        return SGC_E_OPTION;
    }
    if (len != sgc_value_bytes(coding, k) || (len == 0u && k > 0u)) {
        return SGC_E_VALUES;
    }
    if (coding == SGC_VAL_SIGN && k % 8u != 0u && (in[len - 1u] >> (k % 8u)) != 0u) {
        return SGC_E_VALUES; /* padding bits of the last byte must be zero */
    }
    return decode(coding, in, k, scale, vals);
}
