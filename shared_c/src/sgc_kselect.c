/* sgc_kselect.c - introselect (quickselect with a heap fallback), descending. */
#include "sgc_kselect.h"

static void swap_keys(uint32_t *a, uint32_t i, uint32_t j)
{
    uint32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static uint32_t median3(uint32_t x, uint32_t y, uint32_t z)
{
    if (x < y) {
        if (y < z) return y;
        return x < z ? z : x;
    }
    if (x < z) return x;
    return y < z ? z : y;
}

/* Min-heap over a[lo..lo+m) rooted at position i (relative). */
static void sift_down_min(uint32_t *a, uint32_t lo, uint32_t m, uint32_t i)
{
    for (;;) {
        uint32_t c = 2u * i + 1u, best = i;
        if (c < m && a[lo + c] < a[lo + best]) best = c;
        if (c + 1u < m && a[lo + c + 1u] < a[lo + best]) best = c + 1u;
        if (best == i) return;
        swap_keys(a, lo + i, lo + best);
        i = best;
    }
}

/* Heap selection on a[lo..hi): keeps the (j - lo + 1) largest in a min-heap
 * at the front, so its root is the answer; then places it at j. */
static uint32_t heap_select(uint32_t *a, uint32_t lo, uint32_t hi, uint32_t j)
{
    uint32_t m = j - lo + 1u, i, root;
    for (i = m / 2u; i-- > 0u;) {
        sift_down_min(a, lo, m, i);
    }
    for (i = lo + m; i < hi; ++i) {
        if (a[i] > a[lo]) {
            swap_keys(a, i, lo);
            sift_down_min(a, lo, m, 0u);
        }
    }
    root = a[lo];
    /* the heap holds keys >= root, the tail keys <= root: move root to j */
    swap_keys(a, lo, j);
    return root;
}

uint32_t sgci_kselect(uint32_t *a, uint32_t m, uint32_t j)
{
    uint32_t lo = 0u, hi = m, depth = 0u, limit = 2u, mm = m;
    while (mm > 1u) {
        mm >>= 1;
        limit += 2u;
    }
    while (hi - lo > 1u) {
        uint32_t p, gt, lt, i;
        if (++depth > limit) {
            return heap_select(a, lo, hi, j);
        }
        p = median3(a[lo], a[lo + (hi - lo) / 2u], a[hi - 1u]);
        /* three-way partition, descending: [lo,gt) > p, [gt,i) == p, [lt,hi) < p */
        gt = lo;
        lt = hi;
        i = lo;
        while (i < lt) {
            uint32_t x = a[i];
            if (x > p) {
                a[i++] = a[gt];
                a[gt++] = x;
            } else if (x < p) {
                a[i] = a[--lt];
                a[lt] = x;
            } else {
                ++i;
            }
        }
        if (j < gt) {
            hi = gt;
        } else if (j >= lt) {
            lo = lt;
        } else {
            return p;
        }
    }
    return a[j];
}
