/* sgc_sha256.h - internal: SHA-256 context used by the frame HMAC tag. */
#ifndef SGC_SHA256_H
#define SGC_SHA256_H

#include "sgc.h"

#define SGC_SHA256_BYTES 32u
#define SGC_SHA256_BLOCK 64u

typedef struct {
    uint32_t state[8];
    uint64_t total;  /* bytes hashed so far */
    uint8_t block[SGC_SHA256_BLOCK];
    size_t fill;     /* bytes waiting in block */
} sgc_sha256_ctx;

void sgci_sha256_init(sgc_sha256_ctx *ctx);
void sgci_sha256_update(sgc_sha256_ctx *ctx, const uint8_t *data, size_t len);
void sgci_sha256_final(sgc_sha256_ctx *ctx, uint8_t digest[SGC_SHA256_BYTES]);

#endif /* SGC_SHA256_H */
