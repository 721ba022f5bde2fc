/* sgc_hmac.c - HMAC-SHA256 (RFC 2104), the optional frame authentication tag. */
#include "sgc_frame_internal.h"
#include "sgc_sha256.h"

#if SGC_WITH_HMAC

sgc_status sgc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                           uint8_t tag[SGC_FRAME_TAG_BYTES])
{
    uint8_t pad[SGC_SHA256_BLOCK];
    uint8_t inner[SGC_SHA256_BYTES];
    sgc_sha256_ctx ctx;
    size_t i;

    if ((key == NULL && key_len > 0u) || (msg == NULL && msg_len > 0u) || tag == NULL) {
        return SGC_E_NULL;
    }
    /* A key longer than a block is replaced by its hash (RFC 2104, 2). */
    for (i = 0; i < SGC_SHA256_BLOCK; ++i) {
        pad[i] = 0;
    }
    if (key_len > SGC_SHA256_BLOCK) {
        sgci_sha256_init(&ctx);
        sgci_sha256_update(&ctx, key, key_len);
        sgci_sha256_final(&ctx, pad);
    } else {
        for (i = 0; i < key_len; ++i) {
            pad[i] = key[i];
        }
    }

    for (i = 0; i < SGC_SHA256_BLOCK; ++i) {
        pad[i] ^= 0x36u;
    }
    sgci_sha256_init(&ctx);
    sgci_sha256_update(&ctx, pad, sizeof pad);
    sgci_sha256_update(&ctx, msg, msg_len);
    sgci_sha256_final(&ctx, inner);

    for (i = 0; i < SGC_SHA256_BLOCK; ++i) {
        pad[i] ^= (uint8_t)(0x36u ^ 0x5Cu);
    }
    sgci_sha256_init(&ctx);
    sgci_sha256_update(&ctx, pad, sizeof pad);
    sgci_sha256_update(&ctx, inner, sizeof inner);
    sgci_sha256_final(&ctx, tag);
    return SGC_OK;
}

#else

sgc_status sgc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                           uint8_t tag[SGC_FRAME_TAG_BYTES])
{
    (void)key; (void)key_len; (void)msg; (void)msg_len; (void)tag;
    return SGC_E_AUTH_UNSUPPORTED;
}

#endif /* SGC_WITH_HMAC */

int sgci_tag_equal(const uint8_t *a, const uint8_t *b)
{
    /* Constant time: the time taken does not tell an attacker which byte differed. */
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < SGC_FRAME_TAG_BYTES; ++i) {
        diff = (uint8_t)(diff | (a[i] ^ b[i]));
    }
    return diff == 0;
}
