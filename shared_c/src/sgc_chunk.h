/* sgc_chunk.h - internal: a chunk header, checked (docs/PROTOCOL.md 10). */
#ifndef SGC_CHUNK_H
#define SGC_CHUNK_H

#include "sgc_frame_internal.h"

typedef struct {
    uint32_t frame_id;
    uint32_t total_len;
    uint32_t offset;     /* where the body goes in the frame */
    uint32_t body_len;
    uint16_t index;
    uint16_t count;
    const uint8_t *body;
} sgc_chunk_info;

/* SGC_E_MAGIC when msg is not a chunk (it may be a whole frame); SGC_E_CHUNK
 * when its header is inconsistent. */
sgc_status sgci_chunk_parse(const uint8_t *msg, size_t len, sgc_chunk_info *info);

#endif /* SGC_CHUNK_H */
