/* link.h - reliable Sparrow frames over a board's UART.
 *
 * Every packet on the wire is COBS(one Sparrow frame) + 0x00 (cobs.h); the
 * frame's CRC-32C rejects corrupted packets, so line noise costs a
 * retransmission, never a wrong value. Reliability is stop-and-wait: a data
 * or control frame (anything but ACK) is acknowledged by an ACK control frame
 * carrying the same seq and round; the sender keeps the one outstanding frame
 * and sends it again every LINK_RETRY_MS until it is acknowledged. The
 * receiver acknowledges every valid frame, duplicates included (the ACK may
 * have been lost), but delivers a seq only once. A HELLO clears the
 * receiver's duplicate memory, because a peer that has just reset counts its
 * seq from 1 again.
 *
 * All memory is inside link_state (static in the firmware), sized by
 * LINK_MTU: the largest frame either way.
 */
#ifndef SPARROW_LINK_H
#define SPARROW_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "cobs.h"
#include "sgc.h"

/* Largest Sparrow frame on the UART (either direction), bytes. */
#ifndef LINK_MTU
#define LINK_MTU 1024u
#endif
/* Time without an ACK after which the outstanding frame is sent again. */
#ifndef LINK_RETRY_MS
#define LINK_RETRY_MS 200u
#endif

typedef struct {
    uint32_t rx_frames;   /* valid frames received (duplicates included) */
    uint32_t rx_dropped;  /* packets dropped: COBS errors, oversize, bad frames */
    uint32_t rx_dup;      /* duplicates acknowledged but not delivered */
    uint32_t tx_frames;   /* frames handed to link_send */
    uint32_t tx_retries;  /* retransmissions */
} link_counters;

typedef struct {
    uint32_t device_id;
    uint32_t next_seq;
    /* outgoing: the one frame awaiting its ACK */
    uint8_t tx[LINK_MTU];
    size_t tx_len;
    uint32_t tx_seq, tx_round;
    uint32_t tx_sent_ms;
    uint8_t tx_pending;
    /* incoming */
    uint8_t rx[LINK_MTU];
    cobs_decoder decoder;
    uint32_t last_rx_seq;
    uint8_t have_rx_seq;
    link_counters count;
} link_state;

void link_init(link_state *l, uint32_t device_id);

/* The seq to put in the next frame handed to link_send(). */
uint32_t link_next_seq(link_state *l);

/* 1 while a sent frame awaits its ACK (link_send() refuses then). */
int link_busy(const link_state *l);

/* Where to encode the next outgoing frame: LINK_MTU bytes. */
uint8_t *link_tx_buffer(link_state *l);

/* Send the frame of len bytes encoded in link_tx_buffer() (its seq from
 * link_next_seq()) and keep it for retransmission until acknowledged.
 * SGC_E_STATE while busy, SGC_E_CAPACITY when len exceeds LINK_MTU, or the
 * status of parsing the frame (it must be a valid Sparrow frame). */
sgc_status link_send(link_state *l, size_t len, uint32_t now_ms);

/* Drop the outstanding frame (after a reset of the peer, for instance). */
void link_cancel(link_state *l);

/* Read what the UART holds, answer ACKs, retransmit when due. Returns 1 and
 * fills *view when a new (non-duplicate, non-ACK) frame arrived: it stays
 * valid until the next call. Returns 0 otherwise. */
int link_poll(link_state *l, uint32_t now_ms, sgc_frame_view *view);

#endif /* SPARROW_LINK_H */
