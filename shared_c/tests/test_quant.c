/* test_quant.c - value codings against the numpy golden vectors, the
 * exactness that residual memory relies on (v - decoded(v) representable in
 * float32), binary16 conversions, and malformed payloads. */
#include <string.h>

#include "check.h"
#include "sel_testutil.h"
#include "sgc.h"
#include "sgc_half.h"
#include "../../tests/vectors/select_vectors.h"

#define MAXK 512u

static float vals[MAXK];
static float dec[MAXK];
static uint8_t out[MAXK * 4u];

static void quantize_matches_the_reference_vectors(void)
{
    uint32_t i, j;
    for (i = 0u; i < QUANT_VECTOR_COUNT; ++i) {
        const quant_vector *v = &quant_vectors[i];
        size_t len = 0u;
        float scale = -1.0f;
        for (j = 0u; j < v->k; ++j) {
            vals[j] = tu_from_bits(v->values[j]);
        }
        CHECK_EQ_INT(sgc_quantize((sgc_value_coding)v->code, vals, v->k, out, sizeof out, &len,
                                  &scale), SGC_OK);
        CHECK_EQ_INT(len, v->payload_len);
        CHECK(memcmp(out, v->payload, v->payload_len) == 0);
        CHECK_EQ_INT(sgc_f2u(scale), v->scale);
        CHECK_EQ_INT(sgc_dequantize((sgc_value_coding)v->code, v->payload, v->payload_len, v->k,
                                    tu_from_bits(v->scale), dec), SGC_OK);
        for (j = 0u; j < v->k; ++j) {
            CHECK_EQ_INT(sgc_f2u(dec[j]), v->decoded[j]);
        }
    }
}

/* For every coding and values spread over many binades, v - d is exact:
 * (v - d) + d gives v back bit for bit. */
static void every_coding_leaves_an_exactly_representable_error(void)
{
    uint32_t trial, code, j;
    for (trial = 0u; trial < 200u; ++trial) {
        uint32_t k = 1u + tu_next() % 64u;
        for (j = 0u; j < k; ++j) {
            float mag = sgci_exp((float)(int32_t)(tu_next() % 60u) - 30.0f) * tu_uniform();
            vals[j] = (tu_next() & 1u) != 0u ? -mag : mag;
        }
        for (code = 0u; code < SGC_VAL_COUNT; ++code) {
            size_t len;
            float scale;
            CHECK_EQ_INT(sgc_quantize((sgc_value_coding)code, vals, k, out, sizeof out, &len,
                                      &scale), SGC_OK);
            CHECK_EQ_INT(sgc_dequantize((sgc_value_coding)code, out, len, k, scale, dec), SGC_OK);
            for (j = 0u; j < k; ++j) {
                float err = vals[j] - dec[j];
                CHECK(sgc_f2u(err + dec[j]) == sgc_f2u(vals[j]) || err + dec[j] == vals[j]);
            }
        }
    }
}

static void int8_and_sign_scales_follow_their_definitions(void)
{
    const float v[4] = {0.5f, -2.0f, 1.0f, -1.5f};
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_INT8, v, 4u, out, sizeof out, &len, &scale), SGC_OK);
    CHECK(scale == 2.0f / 127.0f);
    CHECK_EQ_INT((int8_t)out[1], -127);
    CHECK_EQ_INT(len, 4u);
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_SIGN, v, 4u, out, sizeof out, &len, &scale), SGC_OK);
    CHECK(scale == 1.0f); /* min(mean 1.25, 2 * min 1.0) = 1.0, on the grid of ulp(2) */
    CHECK_EQ_INT(out[0], 0x0Au); /* values 1 and 3 are negative */
    CHECK_EQ_INT(len, 1u);
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_FP32, v, 0u, NULL, 0u, &len, &scale), SGC_OK);
    CHECK_EQ_INT(len, 0u);
}

static void half_round_trips_every_finite_pattern(void)
{
    uint32_t h, bad = 0u;
    for (h = 0u; h < 0x10000u; ++h) {
        if ((h & 0x7C00u) == 0x7C00u) {
            continue; /* Inf and NaN are never produced */
        }
        bad += (uint32_t)(sgci_half_from_float(sgci_half_to_float((uint16_t)h)) != h);
    }
    CHECK_EQ_INT(bad, 0u);
}

static void half_rounds_to_nearest_even_and_saturates(void)
{
    CHECK_EQ_INT(sgci_half_from_float(1.0f + 1.0f / 2048.0f), 0x3C00u);  /* tie -> even */
    CHECK_EQ_INT(sgci_half_from_float(1.0f + 3.0f / 2048.0f), 0x3C02u);  /* tie -> even */
    CHECK_EQ_INT(sgci_half_from_float(65519.0f), 0x7BFFu);
    CHECK_EQ_INT(sgci_half_from_float(1.0e9f), 0x7BFFu);
    CHECK_EQ_INT(sgci_half_from_float(-1.0e9f), 0xFBFFu);
    CHECK_EQ_INT(sgci_half_from_float(2.9802322e-8f), 0x0000u); /* 2^-25: tie -> 0 */
    CHECK_EQ_INT(sgci_half_from_float(5.9604645e-8f), 0x0001u); /* 2^-24 */
    CHECK_EQ_INT(sgci_half_from_float(-0.0f), 0x8000u);
}

static void bad_codings_and_payloads_are_rejected(void)
{
    const float v[3] = {1.0f, -2.0f, 3.0f};
    const float nan_v[2] = {1.0f, sgc_u2f(0x7FC00000u)};
    const uint8_t int8_min[2] = {0x80u, 0x01u};
    const uint8_t sign_pad[1] = {0x08u};
    const uint8_t fp32_inf[4] = {0x00u, 0x00u, 0x80u, 0x7Fu};
    const uint8_t fp16_nan[2] = {0x01u, 0x7Eu};
    size_t len;
    float scale;
    CHECK_EQ_INT(sgc_quantize((sgc_value_coding)4, v, 3u, out, sizeof out, &len, &scale),
                 SGC_E_CODING);
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_FP32, v, 3u, out, 11u, &len, &scale), SGC_E_CAPACITY);
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_FP16, nan_v, 2u, out, sizeof out, &len, &scale),
                 SGC_E_NONFINITE);
    CHECK_EQ_INT(sgc_quantize(SGC_VAL_FP16, v, 3u, NULL, 6u, &len, &scale), SGC_E_NULL);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_INT8, int8_min, 2u, 2u, 1.0f, dec), SGC_E_VALUES);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_INT8, int8_min + 1, 1u, 2u, 1.0f, dec), SGC_E_VALUES);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_SIGN, sign_pad, 1u, 3u, 1.0f, dec), SGC_E_VALUES);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_SIGN, sign_pad, 1u, 4u, 1.0f, dec), SGC_OK);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_FP32, fp32_inf, 4u, 1u, 1.0f, dec), SGC_E_VALUES);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_FP16, fp16_nan, 2u, 1u, 1.0f, dec), SGC_E_VALUES);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_INT8, int8_min + 1, 1u, 1u, -1.0f, dec), SGC_E_OPTION);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_INT8, int8_min + 1, 1u, 1u, sgc_u2f(0x7F800000u), dec),
                 SGC_E_OPTION);
    CHECK_EQ_INT(sgc_dequantize(SGC_VAL_INT8, int8_min + 1, 1u, 1u, 3.0e38f, dec), SGC_OK);
    CHECK_EQ_INT(sgc_dequantize((sgc_value_coding)9, int8_min, 2u, 2u, 1.0f, dec), SGC_E_CODING);
}

static void value_bytes_match_each_coding(void)
{
    CHECK_EQ_INT(sgc_value_bytes(SGC_VAL_FP32, 5u), 20u);
    CHECK_EQ_INT(sgc_value_bytes(SGC_VAL_FP16, 5u), 10u);
    CHECK_EQ_INT(sgc_value_bytes(SGC_VAL_INT8, 5u), 5u);
    CHECK_EQ_INT(sgc_value_bytes(SGC_VAL_SIGN, 9u), 2u);
    CHECK_EQ_INT(sgc_value_bytes((sgc_value_coding)4, 9u), 0u);
}

int main(void)
{
    RUN(quantize_matches_the_reference_vectors);
    RUN(every_coding_leaves_an_exactly_representable_error);
    RUN(int8_and_sign_scales_follow_their_definitions);
    RUN(half_round_trips_every_finite_pattern);
    RUN(half_rounds_to_nearest_even_and_saturates);
    RUN(bad_codings_and_payloads_are_rejected);
    RUN(value_bytes_match_each_coding);
    return check_report();
}
