/* sgc_chunk.c - splitting a frame into numbered chunks and checking a chunk's
 * header (docs/PROTOCOL.md section 10). */
#include "sgc_chunk.h"

uint32_t sgc_chunk_count(size_t frame_len, size_t max_size)
{
    size_t body = max_size - SGC_CHUNK_HEADER_BYTES;
    size_t count;
    if (max_size < SGC_CHUNK_MIN_SIZE || frame_len == 0u) {
        return 0;
    }
    if (frame_len <= max_size) {
        return 1;
    }
    count = frame_len / body + (frame_len % body != 0u ? 1u : 0u);
    return count > SGC_CHUNK_MAX_COUNT ? 0u : (uint32_t)count;
}

/* Bytes every chunk but the last carries. */
static size_t chunk_body(size_t total_len, uint32_t count)
{
    return total_len / count + (total_len % count != 0u ? 1u : 0u);
}

sgc_status sgc_chunk_make(const uint8_t *frame, size_t frame_len, size_t max_size,
                          uint32_t index, uint8_t *out, size_t cap, size_t *out_len)
{
    uint32_t count;
    size_t body, start, len, i;
    if (frame == NULL || out == NULL || out_len == NULL) {
        return SGC_E_NULL;
    }
    if (frame_len < SGC_FRAME_MIN_BYTES || frame_len > 0xFFFFFFFFu) {
        return SGC_E_TRUNCATED;
    }
    count = sgc_chunk_count(frame_len, max_size);
    if (count == 0u) {
        return SGC_E_OPTION;
    }
    if (index >= count) {
        return SGC_E_OPTION;
    }
    body = chunk_body(frame_len, count);
    start = (size_t)index * body;
    len = frame_len - start < body ? frame_len - start : body;
    if (SGC_CHUNK_HEADER_BYTES + len > cap) {
        return SGC_E_CAPACITY;
    }
    out[0] = SGC_FRAME_MAGIC0;
    out[1] = SGC_CHUNK_MAGIC1;
    out[2] = (uint8_t)SGC_FRAME_VERSION;
    out[3] = 0;
    /* the frame's own CRC names it: chunks of two frames rarely share it */
    sgc_store32(out + 4, sgc_load32(frame + frame_len - SGC_FRAME_CRC_BYTES));
    sgc_store32(out + 8, (uint32_t)frame_len);
    sgc_store16(out + 12, (uint16_t)index);
    sgc_store16(out + 14, (uint16_t)count);
    for (i = 0; i < len; ++i) {
        out[SGC_CHUNK_HEADER_BYTES + i] = frame[start + i];
    }
    *out_len = SGC_CHUNK_HEADER_BYTES + len;
    return SGC_OK;
}

sgc_status sgci_chunk_parse(const uint8_t *msg, size_t len, sgc_chunk_info *info)
{
    size_t body, expected;
    if (len < SGC_CHUNK_HEADER_BYTES) {
        return SGC_E_TRUNCATED;
    }
    if (msg[0] != SGC_FRAME_MAGIC0 || msg[1] != SGC_CHUNK_MAGIC1) {
        return SGC_E_MAGIC;
    }
    info->frame_id = sgc_load32(msg + 4);
    info->total_len = sgc_load32(msg + 8);
    info->index = sgc_load16(msg + 12);
    info->count = sgc_load16(msg + 14);
    if (msg[2] != SGC_FRAME_VERSION || msg[3] != 0u || info->count == 0u || info->index >= info->count ||
        info->total_len < SGC_FRAME_MIN_BYTES) {
        return SGC_E_CHUNK;
    }
    body = chunk_body(info->total_len, info->count);
    if ((uint64_t)(info->count - 1u) * body >= info->total_len) {
        return SGC_E_CHUNK; /* some chunk would be empty */
    }
    info->offset = (uint32_t)((size_t)info->index * body);
    expected = info->total_len - info->offset < body ? info->total_len - info->offset : body;
    if (len - SGC_CHUNK_HEADER_BYTES != expected) {
        return SGC_E_CHUNK;
    }
    info->body = msg + SGC_CHUNK_HEADER_BYTES;
    info->body_len = (uint32_t)expected;
    return SGC_OK;
}
