/* sgc_frame_index.c - reading an index section, whatever its coding, one
 * position at a time and with every bound checked (PROTOCOL.md section 4). */
#include "sgc_frame_internal.h"

void sgci_index_iter_init(sgc_index_iter *it, const sgc_frame_view *view)
{
    it->p = view->index_section;
    it->len = view->index_bytes;
    it->pos = 0;
    it->bits = 0;
    it->nbits = 0;
    it->n = view->header.n;
    it->k = view->header.k;
    it->i = 0;
    it->next_min = 0;
    it->b = view->header.index_param;
    it->coding = view->header.index_coding;
    if (it->coding == SGC_IDX_STRATIFIED && it->k > 0u && it->k <= it->n) {
        sgci_strata_init(&it->strata, view->seed, it->n, it->k);
    }
}

/* Tops the bit buffer up to at least 57 bits, or to the end of the section. */
static void refill(sgc_index_iter *it)
{
    while (it->nbits <= 56u && it->pos < it->len) {
        it->bits |= (uint64_t)it->p[it->pos++] << it->nbits;
        it->nbits += 8u;
    }
}

static void consume(sgc_index_iter *it, unsigned count)
{
    it->bits = count >= 64u ? 0u : it->bits >> count;
    it->nbits -= count;
}

static sgc_status next_rice(sgc_index_iter *it, uint32_t *index)
{
    uint32_t q = 0;
    uint32_t q_max = (it->n - 1u) >> it->b;
    uint32_t gap;

    for (;;) {
        unsigned ones;
        refill(it);
        if (it->nbits == 0u) {
            return SGC_E_INDICES;
        }
        /* ones below the first zero bit; the buffer's unloaded top counts as zeros */
        ones = ~it->bits == 0u ? 64u : sgc_ctz64(~it->bits);
        if (ones < it->nbits) {
            q += ones;
            consume(it, ones + 1u);
            break;
        }
        q += it->nbits;
        consume(it, it->nbits);
        if (q > q_max) {
            return SGC_E_INDICES;
        }
    }
    if (q > q_max) {
        return SGC_E_INDICES;
    }
    gap = q << it->b;
    if (it->b > 0u) {
        refill(it);
        if (it->nbits < it->b) {
            return SGC_E_INDICES;
        }
        gap |= (uint32_t)it->bits & (0xFFFFFFFFu >> (32u - it->b));
        consume(it, it->b);
    }
    /* next_min + gap must stay below n; compare without overflow */
    if (gap >= it->n - it->next_min) {
        return SGC_E_INDICES;
    }
    *index = it->next_min + gap;
    return SGC_OK;
}

static sgc_status next_bitmap(sgc_index_iter *it, uint32_t *index)
{
    /* next_min is the next bit to look at; scan byte by byte from there */
    for (;;) {
        size_t byte = it->next_min >> 3;
        unsigned shift = it->next_min & 7u;
        unsigned rest;
        if (byte >= it->len) {
            return SGC_E_INDICES;
        }
        rest = (unsigned)it->p[byte] >> shift;
        if (rest != 0u) {
            uint32_t found = it->next_min + sgc_ctz64(rest);
            if (found >= it->n) {
                return SGC_E_INDICES;
            }
            *index = found;
            return SGC_OK;
        }
        it->next_min = (uint32_t)((byte + 1u) << 3);
    }
}

sgc_status sgci_index_iter_next(sgc_index_iter *it, uint32_t *index)
{
    sgc_status st = SGC_OK;
    if (it->i >= it->k) {
        return SGC_E_INDICES;
    }
    switch (it->coding) {
    case SGC_IDX_DENSE:
        *index = it->i;
        break;
    case SGC_IDX_RICE:
        st = next_rice(it, index);
        break;
    case SGC_IDX_BITMAP:
        st = next_bitmap(it, index);
        break;
    case SGC_IDX_STRATIFIED:
        if (it->k > it->n) { /* a view no parse produced */
            return SGC_E_INDICES;
        }
        *index = sgci_strata_next(&it->strata);
        break;
    default:
        return SGC_E_INDICES;
    }
    if (st == SGC_OK) {
        it->next_min = *index + 1u;
        ++it->i;
    }
    return st;
}

static int bytes_zero(const uint8_t *p, size_t from, size_t to)
{
    uint8_t any = 0;
    size_t j;
    for (j = from; j < to; ++j) {
        any = (uint8_t)(any | p[j]);
    }
    return any == 0u;
}

sgc_status sgci_index_iter_finish(const sgc_index_iter *it)
{
    if (it->i != it->k) {
        return SGC_E_INDICES;
    }
    switch (it->coding) {
    case SGC_IDX_RICE:
        /* only the zero padding of the last byte may be left */
        return (it->pos == it->len && it->nbits < 8u && it->bits == 0u) ? SGC_OK : SGC_E_INDICES;
    case SGC_IDX_BITMAP: {
        /* no set bit after the k-th one, padding included */
        size_t byte = it->next_min >> 3;
        unsigned shift = it->next_min & 7u;
        if (byte >= it->len) {
            return SGC_OK;
        }
        if (((unsigned)it->p[byte] >> shift) != 0u) {
            return SGC_E_INDICES;
        }
        return bytes_zero(it->p, byte + 1u, it->len) ? SGC_OK : SGC_E_INDICES;
    }
    default:
        return SGC_OK;
    }
}
