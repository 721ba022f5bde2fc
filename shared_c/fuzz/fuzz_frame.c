/* fuzz_frame.c - libFuzzer harness: untrusted bytes into every decoding path.
 *
 * The input is tried as a frame (without and with a key, and re-sealed with
 * a matching length and CRC), decoded into bounded outputs and into a dense
 * buffer, and fed to a reassembler as a chunk. It is also read as an update
 * to encode (full or compact header), which must fit sgc_frame_size_bound
 * and decode back. ASan/UBSan
 * turn any read past an input or write past an output into a crash; abort()
 * marks a broken promise of the codec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sgc.h"

#define MAX_K 4096u
#define MAX_DENSE (1u << 16)
#define ROUND_TRIP_MAX_K 512u

static uint32_t indices[MAX_K];
static float values[MAX_K];
static float dense[MAX_DENSE];
static uint32_t indices_back[MAX_K];
static float values_back[MAX_K];
static uint8_t reasm_buf[1u << 15];
static uint8_t patched[1u << 16];

/* Makes the declared length (full header) and the CRC agree with the input,
 * so mutations reach the field, index and value checks instead of stopping
 * at the CRC. A compact header declares no length: only its CRC is set. */
static size_t reseal(const uint8_t *data, size_t size)
{
    size_t tag, payload_len;
    uint32_t crc;
    if (size < SGC_FRAME_MIN_BYTES || size > sizeof patched) {
        return 0;
    }
    memcpy(patched, data, size);
    if (patched[2] != SGC_FRAME_COMPACT_VERSION) {
        tag = (patched[4] & SGC_FLAG_HMAC) != 0u ? SGC_FRAME_TAG_BYTES : 0u;
        if (size < SGC_FRAME_HEADER_BYTES + SGC_FRAME_CRC_BYTES + tag) {
            return 0;
        }
        payload_len = size - SGC_FRAME_HEADER_BYTES - SGC_FRAME_CRC_BYTES - tag;
        patched[36] = (uint8_t)payload_len;
        patched[37] = (uint8_t)(payload_len >> 8);
        patched[38] = (uint8_t)(payload_len >> 16);
        patched[39] = (uint8_t)(payload_len >> 24);
    }
    crc = sgc_crc32c_update(0, patched, size - 4u);
    patched[size - 4u] = (uint8_t)crc;
    patched[size - 3u] = (uint8_t)(crc >> 8);
    patched[size - 2u] = (uint8_t)(crc >> 16);
    patched[size - 1u] = (uint8_t)(crc >> 24);
    return size;
}

static void decode_all(const uint8_t *data, size_t size, const uint8_t *key, size_t key_len)
{
    sgc_frame_view view;
    uint32_t i;
    if (sgc_frame_parse(data, size, key, key_len, &view) != SGC_OK) {
        return;
    }
    if (sgc_frame_validate(&view) != SGC_OK) {
        return;
    }
    if (view.header.k <= MAX_K && sgc_frame_decode(&view, indices, values, MAX_K) == SGC_OK) {
        for (i = 0; i < view.header.k; ++i) {
            /* promises of a valid frame: ascending, in range */
            if (indices[i] >= view.header.n || (i > 0u && indices[i] <= indices[i - 1u])) {
                abort();
            }
        }
    }
    if (view.header.n <= MAX_DENSE) {
        if (sgc_frame_decode_into(&view, dense, view.header.n, 0.5f) != SGC_OK) {
            abort(); /* validate said yes */
        }
    }
}

/* Reads the input as (n, coding, gaps...) and checks encode -> decode. */
static void round_trip(const uint8_t *data, size_t size)
{
    static uint8_t frame[SGC_FRAME_OVERHEAD_BYTES + MAX_DENSE / 8u + 4u * MAX_K + 64u];
    sgc_frame_header fields;
    sgc_frame_view view;
    uint32_t n, k = 0, i, pos = 0;
    size_t len = 0, bound;
    sgc_value_coding coding;
    if (size < 4u) {
        return;
    }
    n = 1u + (((uint32_t)data[0] | ((uint32_t)data[1] << 8)) % MAX_DENSE);
    coding = (sgc_value_coding)(data[2] % SGC_VAL_COUNT);
    for (i = 4; i < size && k < ROUND_TRIP_MAX_K; ++i) {
        /* each byte is a gap, scaled by data[3] so sparse and dense both occur */
        pos += (uint32_t)data[i] * (1u + data[3] % 64u);
        if (pos >= n) {
            break;
        }
        indices[k] = pos;
        values[k] = (float)((int)data[i] - 128) * 0.03125f;
        ++k;
        ++pos;
    }
    memset(&fields, 0, sizeof fields);
    fields.msg_type = SGC_MSG_SPARSE_UPDATE;
    fields.segment_count = 1;
    /* the top bit of data[2] asks for the compact header where it fits */
    fields.flags = (data[2] & 0x80u) != 0u ? SGC_FLAG_COMPACT_AUTO : 0u;
    bound = sgc_frame_size_bound(n, k, coding);
    if (bound == 0u || bound > sizeof frame) {
        abort();
    }
    if (sgc_frame_encode_sparse(&fields, n, indices, k, values, coding, NULL, 0, frame, bound,
                                &len) != SGC_OK) {
        abort(); /* the bound was too small, or a valid update was refused */
    }
    if (sgc_frame_parse(frame, len, NULL, 0, &view) != SGC_OK || view.header.k != k ||
        ((view.header.flags & SGC_FLAG_COMPACT) != 0u) !=
            ((data[2] & 0x80u) != 0u && n <= SGC_COMPACT_MAX) ||
        sgc_frame_decode(&view, indices_back, values_back, MAX_K) != SGC_OK) {
        abort();
    }
    for (i = 0; i < k; ++i) {
        /* multiples of 1/32 below 4 in magnitude are exact in fp32 and fp16 */
        if (indices_back[i] != indices[i] ||
            ((coding == SGC_VAL_FP32 || coding == SGC_VAL_FP16) && values_back[i] != values[i])) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[] = "fuzz-key";
    sgc_reasm r;
    const uint8_t *frame = NULL;
    size_t frame_len = 0;

    size_t resealed;

    decode_all(data, size, NULL, 0);
    decode_all(data, size, key, sizeof key - 1u);
    resealed = reseal(data, size);
    if (resealed > 0u) {
        decode_all(patched, resealed, NULL, 0);
    }
    round_trip(data, size);

    if (sgc_reasm_init(&r, reasm_buf, sizeof reasm_buf, 2, 100) == SGC_OK) {
        /* twice: the second is a duplicate, or completes a one-chunk frame */
        if (sgc_reasm_feed(&r, data, size, 1, &frame, &frame_len) == SGC_OK && frame != NULL) {
            decode_all(frame, frame_len, NULL, 0);
        }
        if (sgc_reasm_feed(&r, data, size, 500, &frame, &frame_len) == SGC_OK && frame != NULL) {
            decode_all(frame, frame_len, NULL, 0);
        }
    }
    return 0;
}
