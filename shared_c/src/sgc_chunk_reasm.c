/* sgc_chunk_reasm.c - bounded-memory reassembly of chunked frames
 * (docs/PROTOCOL.md section 10). The caller's buffer is cut into equal
 * slots; a slot holds one frame's chunk bitmap followed by its bytes. */
#include "sgc_chunk.h"

enum { SLOT_FREE = 0, SLOT_FILLING = 1, SLOT_COMPLETE = 2 };

sgc_status sgc_reasm_init(sgc_reasm *r, uint8_t *buf, size_t cap, uint32_t max_frames,
                          uint32_t timeout_ms)
{
    uint32_t j;
    if (r == NULL || buf == NULL) {
        return SGC_E_NULL;
    }
    if (max_frames == 0u || max_frames > SGC_REASM_MAX_SLOTS || cap / max_frames == 0u) {
        return SGC_E_OPTION;
    }
    r->buf = buf;
    r->slot_bytes = cap / max_frames;
    r->slots = max_frames;
    r->timeout_ms = timeout_ms;
    r->dropped = 0;
    r->rejected = 0;
    r->log_len = 0;
    for (j = 0; j < SGC_REASM_MAX_SLOTS; ++j) {
        r->slot[j].state = SLOT_FREE;
    }
    return SGC_OK;
}

static uint8_t *slot_bitmap(const sgc_reasm *r, uint32_t j)
{
    return r->buf + (size_t)j * r->slot_bytes;
}

static uint8_t *slot_frame(const sgc_reasm *r, uint32_t j)
{
    return slot_bitmap(r, j) + ((size_t)r->slot[j].count + 7u) / 8u;
}

static void drop(sgc_reasm *r, uint32_t j, uint8_t reason)
{
    sgc_reasm_slot *s = &r->slot[j];
    ++r->dropped;
    if (r->log_len < SGC_REASM_DROP_LOG) {
        sgc_drop_record *rec = &r->log[r->log_len++];
        rec->frame_id = s->frame_id;
        rec->total_len = s->total_len;
        rec->received = s->received;
        rec->count = s->count;
        rec->reason = reason;
    }
    s->state = SLOT_FREE;
}

static void expire(sgc_reasm *r, uint32_t now_ms)
{
    uint32_t j;
    for (j = 0; j < r->slots; ++j) {
        sgc_reasm_slot *s = &r->slot[j];
        /* unsigned difference: correct across a wrap of the caller's clock */
        if (s->state != SLOT_FREE && (uint32_t)(now_ms - s->first_ms) > r->timeout_ms) {
            if (s->state == SLOT_FILLING) {
                drop(r, j, SGC_DROP_TIMEOUT);
            } else {
                s->state = SLOT_FREE;
            }
        }
    }
}

static int find_slot(const sgc_reasm *r, const sgc_chunk_info *c)
{
    uint32_t j;
    for (j = 0; j < r->slots; ++j) {
        const sgc_reasm_slot *s = &r->slot[j];
        if (s->state != SLOT_FREE && s->frame_id == c->frame_id && s->total_len == c->total_len &&
            s->count == c->count) {
            return (int)j;
        }
    }
    return -1;
}

/* A free slot, else a completed one, else the oldest filling one (dropped). */
static uint32_t take_slot(sgc_reasm *r, uint32_t now_ms)
{
    uint32_t j, oldest = 0, oldest_age = 0;
    for (j = 0; j < r->slots; ++j) {
        if (r->slot[j].state == SLOT_FREE) {
            return j;
        }
    }
    for (j = 0; j < r->slots; ++j) {
        if (r->slot[j].state == SLOT_COMPLETE) {
            return j;
        }
    }
    for (j = 0; j < r->slots; ++j) {
        uint32_t age = (uint32_t)(now_ms - r->slot[j].first_ms);
        if (j == 0u || age > oldest_age) {
            oldest = j;
            oldest_age = age;
        }
    }
    drop(r, oldest, SGC_DROP_EVICTED);
    return oldest;
}

static sgc_status place(sgc_reasm *r, const sgc_chunk_info *c, uint32_t now_ms,
                        const uint8_t **frame, size_t *frame_len)
{
    int found = find_slot(r, c);
    uint32_t j, i;
    uint8_t *bitmap;
    uint8_t *dst;

    if (found >= 0 && r->slot[found].state == SLOT_COMPLETE) {
        return SGC_OK; /* a late duplicate of a frame already delivered */
    }
    if (found < 0) {
        if (((size_t)c->count + 7u) / 8u + c->total_len > r->slot_bytes) {
            ++r->rejected;
            return SGC_E_CAPACITY;
        }
        j = take_slot(r, now_ms);
        r->slot[j].frame_id = c->frame_id;
        r->slot[j].total_len = c->total_len;
        r->slot[j].count = c->count;
        r->slot[j].received = 0;
        r->slot[j].first_ms = now_ms;
        r->slot[j].state = SLOT_FILLING;
        bitmap = slot_bitmap(r, j);
        for (i = 0; i < ((uint32_t)c->count + 7u) / 8u; ++i) {
            bitmap[i] = 0;
        }
    } else {
        j = (uint32_t)found;
    }
    bitmap = slot_bitmap(r, j);
    if ((bitmap[c->index >> 3] >> (c->index & 7u)) & 1u) {
        return SGC_OK; /* duplicate */
    }
    bitmap[c->index >> 3] = (uint8_t)(bitmap[c->index >> 3] | (1u << (c->index & 7u)));
    dst = slot_frame(r, j) + c->offset;
    for (i = 0; i < c->body_len; ++i) {
        dst[i] = c->body[i];
    }
    if (++r->slot[j].received < c->count) {
        return SGC_OK;
    }
    dst = slot_frame(r, j);
    if (sgc_load32(dst + c->total_len - SGC_FRAME_CRC_BYTES) != c->frame_id) {
        drop(r, j, SGC_DROP_MISMATCH);
        return SGC_E_CHUNK;
    }
    r->slot[j].state = SLOT_COMPLETE;
    *frame = dst;
    *frame_len = c->total_len;
    return SGC_OK;
}

sgc_status sgc_reasm_feed(sgc_reasm *r, const uint8_t *msg, size_t len, uint32_t now_ms,
                          const uint8_t **frame, size_t *frame_len)
{
    sgc_chunk_info c;
    sgc_status st;
    if (r == NULL || msg == NULL || frame == NULL || frame_len == NULL) {
        return SGC_E_NULL;
    }
    if (r->buf == NULL) {
        return SGC_E_STATE;
    }
    *frame = NULL;
    *frame_len = 0;
    expire(r, now_ms);
    if (len >= 2u && msg[0] == SGC_FRAME_MAGIC0 && msg[1] == SGC_FRAME_MAGIC1) {
        *frame = msg; /* a whole frame passes through */
        *frame_len = len;
        return SGC_OK;
    }
    st = sgci_chunk_parse(msg, len, &c);
    if (st != SGC_OK) {
        ++r->rejected;
        return st;
    }
    return place(r, &c, now_ms, frame, frame_len);
}

uint32_t sgc_reasm_drain(sgc_reasm *r, sgc_drop_record *out, uint32_t cap)
{
    uint32_t taken, j;
    if (r == NULL || out == NULL) {
        return 0;
    }
    taken = cap < r->log_len ? cap : r->log_len;
    for (j = 0; j < taken; ++j) {
        out[j] = r->log[j];
    }
    for (j = taken; j < r->log_len; ++j) {
        r->log[j - taken] = r->log[j];
    }
    r->log_len -= taken;
    return taken;
}
