/* cobs.c - COBS encoder and streaming decoder (see cobs.h). */
#include "cobs.h"

/* Bytes of the block starting at in[0]: up to the next zero or 254 data
 * bytes, whichever comes first. */
static size_t block_len(const uint8_t *in, size_t len)
{
    size_t n = 0;

    while (n < len && n < 254u && in[n] != 0) {
        ++n;
    }
    return n;
}

void cobs_write(const uint8_t *in, size_t len, void (*put)(uint8_t byte))
{
    size_t pos = 0;

    for (;;) {
        size_t n = block_len(in + pos, len - pos);
        size_t i;
        put((uint8_t)(n + 1u));
        for (i = 0; i < n; ++i) {
            put(in[pos + i]);
        }
        pos += n;
        if (pos < len && n < 254u) {
            ++pos; /* the zero this block's code stands for */
        } else if (pos >= len) {
            break;
        }
    }
    put(0);
}

int cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t pos = 0, w = 0;

    if (cap < COBS_ENCODED_MAX(len)) {
        return -1;
    }
    for (;;) {
        size_t n = block_len(in + pos, len - pos);
        size_t i;
        out[w++] = (uint8_t)(n + 1u);
        for (i = 0; i < n; ++i) {
            out[w++] = in[pos + i];
        }
        pos += n;
        if (pos < len && n < 254u) {
            ++pos;
        } else if (pos >= len) {
            break;
        }
    }
    out[w++] = 0;
    *out_len = w;
    return 0;
}

static void restart(cobs_decoder *d)
{
    d->len = 0;
    d->left = 0;
    d->zero_next = 0;
    d->started = 0;
    d->broken = 0;
    d->done = 0;
}

void cobs_decoder_init(cobs_decoder *d, uint8_t *buf, size_t cap)
{
    d->buf = buf;
    d->cap = cap;
    restart(d);
}

static int push(cobs_decoder *d, uint8_t byte)
{
    if (d->len >= d->cap) {
        d->broken = 1;
        return -1;
    }
    d->buf[d->len++] = byte;
    return 0;
}

cobs_result cobs_decoder_feed(cobs_decoder *d, uint8_t byte)
{
    if (d->done) {
        restart(d);
    }
    if (byte == 0) {
        /* A packet ends exactly at a block boundary and is never empty;
         * repeated delimiters (idle line) are not packets. */
        int ok = !d->broken && d->started && d->left == 0 && d->len > 0;
        int any = d->started || d->broken;
        size_t len = d->len;
        restart(d);
        if (ok) {
            d->len = len;
            d->done = 1;
            return COBS_PACKET;
        }
        return any ? COBS_DROPPED : COBS_MORE;
    }
    if (d->broken) {
        return COBS_MORE;
    }
    if (!d->started) {
        d->started = 1;
        d->left = (uint8_t)(byte - 1u);
        d->zero_next = byte < 0xFFu;
        return COBS_MORE;
    }
    if (d->left == 0) {
        /* A new block: the previous one's implied zero comes first. */
        if (d->zero_next && push(d, 0) != 0) {
            return COBS_MORE;
        }
        d->left = (uint8_t)(byte - 1u);
        d->zero_next = byte < 0xFFu;
        return COBS_MORE;
    }
    --d->left;
    (void)push(d, byte);
    return COBS_MORE;
}
