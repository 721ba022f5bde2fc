/* link.c - stop-and-wait reliability for Sparrow frames over the UART. */
#include <string.h>

#include "board.h"
#include "link.h"

void link_init(link_state *l, uint32_t device_id)
{
    memset(l, 0, sizeof *l);
    l->device_id = device_id;
    l->next_seq = 1;
    cobs_decoder_init(&l->decoder, l->rx, sizeof l->rx);
}

uint32_t link_next_seq(link_state *l)
{
    return l->next_seq;
}

int link_busy(const link_state *l)
{
    return l->tx_pending;
}

uint8_t *link_tx_buffer(link_state *l)
{
    return l->tx;
}

static void transmit(const uint8_t *frame, size_t len)
{
    cobs_write(frame, len, board_uart_write);
}

sgc_status link_send(link_state *l, size_t len, uint32_t now_ms)
{
    sgc_frame_view view;
    sgc_status st;

    if (l->tx_pending) {
        return SGC_E_STATE;
    }
    if (len > sizeof l->tx) {
        return SGC_E_CAPACITY;
    }
    st = sgc_frame_parse(l->tx, len, NULL, 0, &view);
    if (st != SGC_OK) {
        return st;
    }
    l->tx_len = len;
    l->tx_seq = view.header.seq;
    l->tx_round = view.header.round;
    l->tx_pending = 1;
    l->tx_sent_ms = now_ms;
    l->next_seq = view.header.seq + 1u;
    ++l->count.tx_frames;
    transmit(l->tx, len);
    return SGC_OK;
}

void link_cancel(link_state *l)
{
    l->tx_pending = 0;
}

static void send_ack(const link_state *l, const sgc_frame_header *acked)
{
    uint8_t frame[SGC_FRAME_HEADER_BYTES + SGC_FRAME_CRC_BYTES];
    sgc_frame_header h;
    size_t len;

    memset(&h, 0, sizeof h);
    h.msg_type = SGC_MSG_ACK;
    h.device_id = l->device_id;
    h.round = acked->round;
    h.seq = acked->seq;
    h.segment_count = 1;
    if (sgc_frame_encode_control(&h, NULL, 0, NULL, 0, frame, sizeof frame, &len) == SGC_OK) {
        transmit(frame, len);
    }
}

/* A complete packet: 1 when it is a new frame for the caller. */
static int handle_packet(link_state *l, sgc_frame_view *view)
{
    const sgc_frame_header *h = &view->header;

    if (sgc_frame_parse(l->rx, l->decoder.len, NULL, 0, view) != SGC_OK) {
        ++l->count.rx_dropped;
        return 0;
    }
    ++l->count.rx_frames;
    if (h->msg_type == SGC_MSG_ACK) {
        if (l->tx_pending && h->seq == l->tx_seq && h->round == l->tx_round) {
            l->tx_pending = 0;
        }
        return 0;
    }
    send_ack(l, h);
    if (h->msg_type == SGC_MSG_HELLO) {
        l->have_rx_seq = 0;
    }
    if (l->have_rx_seq && h->seq == l->last_rx_seq) {
        ++l->count.rx_dup;
        return 0;
    }
    l->have_rx_seq = 1;
    l->last_rx_seq = h->seq;
    return 1;
}

int link_poll(link_state *l, uint32_t now_ms, sgc_frame_view *view)
{
    int byte;

    if (l->tx_pending && now_ms - l->tx_sent_ms >= LINK_RETRY_MS) {
        l->tx_sent_ms = now_ms;
        ++l->count.tx_retries;
        transmit(l->tx, l->tx_len);
    }
    while ((byte = board_uart_read()) >= 0) {
        cobs_result r = cobs_decoder_feed(&l->decoder, (uint8_t)byte);
        if (r == COBS_DROPPED) {
            ++l->count.rx_dropped;
        } else if (r == COBS_PACKET && handle_packet(l, view)) {
            return 1;
        }
    }
    return 0;
}
