/* sgc_golomb.c - Golomb-Rice coding of index gaps (docs/PROTOCOL.md 4.1).
 *
 * Gaps between sorted positions of a random k-subset of n are close to
 * geometric, for which a Rice code with the best power-of-two parameter
 * stays within a few percent of log2(C(n,k)) (bench/codec.py measures it).
 * The parameter is chosen exactly, from the actual gaps, not estimated. */
#include "sgc_frame_internal.h"

static unsigned bit_length(uint32_t x)
{
    unsigned len = 0;
    while (x != 0u) {
        ++len;
        x >>= 1;
    }
    return len;
}

unsigned sgci_rice_best_param(const uint32_t *indices, uint32_t k, uint64_t *bits)
{
    /* cost(b) = k (b + 1) + sum(gap >> b); for b past the longest gap the sum
     * is 0 and the cost only grows, so b stops there. */
    uint64_t sums[SGC_RICE_MAX_PARAM + 1u];
    uint32_t max_gap = 0;
    uint32_t i;
    unsigned b, last, best = 0;
    uint64_t best_bits = 0;

    for (i = 0; i < k; ++i) {
        uint32_t gap = i == 0u ? indices[0] : indices[i] - indices[i - 1u] - 1u;
        max_gap |= gap;
    }
    last = bit_length(max_gap);
    if (last > SGC_RICE_MAX_PARAM) {
        last = SGC_RICE_MAX_PARAM;
    }
    for (b = 0; b <= last; ++b) {
        sums[b] = 0;
    }
    for (i = 0; i < k; ++i) {
        uint32_t gap = i == 0u ? indices[0] : indices[i] - indices[i - 1u] - 1u;
        for (b = 0; b <= last && (gap >> b) != 0u; ++b) {
            sums[b] += gap >> b;
        }
    }
    for (b = 0; b <= last; ++b) {
        uint64_t cost = (uint64_t)k * (b + 1u) + sums[b];
        if (b == 0u || cost < best_bits) {
            best_bits = cost;
            best = b;
        }
    }
    *bits = best_bits;
    return best;
}

void sgci_rice_write(const uint32_t *indices, uint32_t k, unsigned b, uint8_t *out)
{
    sgc_bitw w;
    uint32_t i;
    uint32_t low_mask = b == 0u ? 0u : (uint32_t)(0xFFFFFFFFu >> (32u - b));

    w.p = out;
    w.pos = 0;
    w.acc = 0;
    w.nbits = 0;
    for (i = 0; i < k; ++i) {
        uint32_t gap = i == 0u ? indices[0] : indices[i] - indices[i - 1u] - 1u;
        uint32_t q = gap >> b;
        while (q >= 24u) {
            sgc_bitw_put(&w, 0xFFFFFFu, 24u);
            q -= 24u;
        }
        /* q ones, then the terminating zero */
        sgc_bitw_put(&w, (1u << q) - 1u, q + 1u);
        if (b > 0u) {
            sgc_bitw_put(&w, gap & low_mask, b);
        }
    }
    sgc_bitw_flush(&w);
}

uint64_t sgci_rice_bound_bits(uint32_t n, uint32_t k)
{
    /* With parameter b, sum(gap >> b) <= sum(gap) / 2^b <= (n - k) / 2^b. */
    uint64_t best = 0;
    unsigned b;
    if (k == 0u) {
        return 0;
    }
    for (b = 0; b <= SGC_RICE_MAX_PARAM; ++b) {
        uint64_t cost = (uint64_t)k * (b + 1u) + ((uint64_t)(n - k) >> b);
        if (b == 0u || cost < best) {
            best = cost;
        }
    }
    return best;
}
