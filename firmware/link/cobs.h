/* cobs.h - Consistent Overhead Byte Stuffing for the UART link.
 *
 * A packet on the wire is COBS(frame) followed by one 0x00: COBS removes every
 * zero from the frame, so 0x00 always marks a packet boundary and a receiver
 * that joins mid-stream, or loses bytes to line noise, resynchronises at the
 * next zero. Overhead: one byte per 254, plus the delimiter. What the
 * delimiter cannot catch (flipped bits inside a packet) the Sparrow frame's
 * own CRC-32C does.
 */
#ifndef SPARROW_COBS_H
#define SPARROW_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Largest encoded size of len bytes, delimiter included. */
#define COBS_ENCODED_MAX(len) ((len) + (len) / 254u + 2u)

/* Writes COBS(in) and the 0x00 delimiter through put(), byte by byte, with no
 * output buffer. */
void cobs_write(const uint8_t *in, size_t len, void (*put)(uint8_t byte));

/* Buffer version of cobs_write (delimiter included): 0, or -1 when cap is
 * too small (nothing useful is written then). */
int cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

typedef enum {
    COBS_MORE = 0,      /* byte taken, no packet complete yet */
    COBS_PACKET = 1,    /* a packet is complete: buf[0..len) */
    COBS_DROPPED = -1   /* a malformed or oversized packet was discarded */
} cobs_result;

/* Streaming decoder into a caller buffer of cap bytes. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;        /* decoded bytes of the packet in progress */
    uint8_t left;      /* data bytes left in the current block */
    uint8_t zero_next; /* the current block ends with an implied zero */
    uint8_t started;   /* the packet's first code byte has arrived */
    uint8_t broken;    /* the packet in progress is discarded up to the next 0x00 */
    uint8_t done;      /* buf holds a packet returned by the last feed */
} cobs_decoder;

void cobs_decoder_init(cobs_decoder *d, uint8_t *buf, size_t cap);

/* Feed one received byte. After COBS_PACKET the packet stays in buf until
 * the next call. */
cobs_result cobs_decoder_feed(cobs_decoder *d, uint8_t byte);

#endif /* SPARROW_COBS_H */
