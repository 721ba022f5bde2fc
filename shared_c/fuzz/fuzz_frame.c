/* fuzz_frame.c - libFuzzer harness: untrusted bytes into every decoding path.
 *
 * The input is tried as a frame (without and with a key), decoded into
 * bounded outputs and into a dense buffer, and fed to a reassembler as a
 * chunk. ASan/UBSan turn any read past the input or write past an output
 * into a crash; the harness also checks the decoders' own promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sgc.h"

#define MAX_K 4096u
#define MAX_DENSE (1u << 16)

static uint32_t indices[MAX_K];
static float values[MAX_K];
static float dense[MAX_DENSE];
static uint8_t reasm_buf[1u << 15];
static uint8_t patched[1u << 16];

/* Makes the declared length and the CRC agree with the input, so mutations
 * reach the field, index and value checks instead of stopping at the CRC. */
static size_t reseal(const uint8_t *data, size_t size)
{
    size_t tag, payload_len;
    uint32_t crc;
    if (size < SGC_FRAME_HEADER_BYTES + SGC_FRAME_CRC_BYTES || size > sizeof patched) {
        return 0;
    }
    memcpy(patched, data, size);
    tag = (patched[4] & SGC_FLAG_HMAC) != 0u ? SGC_FRAME_TAG_BYTES : 0u;
    if (size < SGC_FRAME_HEADER_BYTES + SGC_FRAME_CRC_BYTES + tag) {
        return 0;
    }
    payload_len = size - SGC_FRAME_HEADER_BYTES - SGC_FRAME_CRC_BYTES - tag;
    patched[36] = (uint8_t)payload_len;
    patched[37] = (uint8_t)(payload_len >> 8);
    patched[38] = (uint8_t)(payload_len >> 16);
    patched[39] = (uint8_t)(payload_len >> 24);
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
