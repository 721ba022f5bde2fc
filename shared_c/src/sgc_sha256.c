/* sgc_sha256.c - SHA-256 (FIPS 180-4), the hash under the frame HMAC tag.
 *
 * Streaming interface (init / update / final) over a caller-owned context so
 * HMAC can hash its padded key and the message without copying them together.
 * Constants: first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes (K) and of the square roots of the first 8 primes (H0).
 */
#include "sgc_sha256.h"

#if SGC_WITH_HMAC

static const uint32_t sha256_k[64] = {
    0x428A2F98u, 0x71374491u, 0xB5C0FBCFu, 0xE9B5DBA5u,
    0x3956C25Bu, 0x59F111F1u, 0x923F82A4u, 0xAB1C5ED5u,
    0xD807AA98u, 0x12835B01u, 0x243185BEu, 0x550C7DC3u,
    0x72BE5D74u, 0x80DEB1FEu, 0x9BDC06A7u, 0xC19BF174u,
    0xE49B69C1u, 0xEFBE4786u, 0x0FC19DC6u, 0x240CA1CCu,
    0x2DE92C6Fu, 0x4A7484AAu, 0x5CB0A9DCu, 0x76F988DAu,
    0x983E5152u, 0xA831C66Du, 0xB00327C8u, 0xBF597FC7u,
    0xC6E00BF3u, 0xD5A79147u, 0x06CA6351u, 0x14292967u,
    0x27B70A85u, 0x2E1B2138u, 0x4D2C6DFCu, 0x53380D13u,
    0x650A7354u, 0x766A0ABBu, 0x81C2C92Eu, 0x92722C85u,
    0xA2BFE8A1u, 0xA81A664Bu, 0xC24B8B70u, 0xC76C51A3u,
    0xD192E819u, 0xD6990624u, 0xF40E3585u, 0x106AA070u,
    0x19A4C116u, 0x1E376C08u, 0x2748774Cu, 0x34B0BCB5u,
    0x391C0CB3u, 0x4ED8AA4Au, 0x5B9CCA4Fu, 0x682E6FF3u,
    0x748F82EEu, 0x78A5636Fu, 0x84C87814u, 0x8CC70208u,
    0x90BEFFFAu, 0xA4506CEBu, 0xBEF9A3F7u, 0xC67178F2u,
};

static uint32_t rotr(uint32_t x, unsigned r)
{
    return (x >> r) | (x << (32u - r));
}

static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void sha256_block(uint32_t state[8], const uint8_t block[64])
{
    /* a rolling 16-word message schedule: 64 bytes of stack, not 256 */
    uint32_t w[16];
    uint32_t a, b, c, d, e, f, g, h;
    unsigned i;

    for (i = 0; i < 16u; ++i) {
        w[i] = load_be32(block + 4u * i);
    }
    a = state[0]; b = state[1]; c = state[2]; d = state[3];
    e = state[4]; f = state[5]; g = state[6]; h = state[7];
    for (i = 0; i < 64u; ++i) {
        uint32_t t1, t2, wi;
        if (i < 16u) {
            wi = w[i];
        } else {
            uint32_t w15 = w[(i + 1u) & 15u], w2 = w[(i + 14u) & 15u];
            uint32_t s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3);
            uint32_t s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10);
            wi = w[i & 15u] + s0 + w[(i + 9u) & 15u] + s1;
            w[i & 15u] = wi;
        }
        t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + wi;
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

void sgci_sha256_init(sgc_sha256_ctx *ctx)
{
    static const uint32_t h0[8] = {
        0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
        0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u
    };
    unsigned i;
    for (i = 0; i < 8u; ++i) {
        ctx->state[i] = h0[i];
    }
    ctx->total = 0;
    ctx->fill = 0;
}

void sgci_sha256_update(sgc_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; ++i) {
        ctx->block[ctx->fill++] = data[i];
        if (ctx->fill == 64u) {
            sha256_block(ctx->state, ctx->block);
            ctx->fill = 0;
        }
    }
    ctx->total += (uint64_t)len;
}

void sgci_sha256_final(sgc_sha256_ctx *ctx, uint8_t digest[SGC_SHA256_BYTES])
{
    uint64_t bits = ctx->total * 8u;
    unsigned i;

    ctx->block[ctx->fill++] = 0x80u;
    if (ctx->fill > 56u) {
        while (ctx->fill < 64u) {
            ctx->block[ctx->fill++] = 0;
        }
        sha256_block(ctx->state, ctx->block);
        ctx->fill = 0;
    }
    while (ctx->fill < 56u) {
        ctx->block[ctx->fill++] = 0;
    }
    for (i = 0; i < 8u; ++i) {
        ctx->block[56u + i] = (uint8_t)(bits >> (56u - 8u * i));
    }
    sha256_block(ctx->state, ctx->block);
    for (i = 0; i < 8u; ++i) {
        store_be32(digest + 4u * i, ctx->state[i]);
    }
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int sgc_sha256_left_out;

#endif /* SGC_WITH_HMAC */
