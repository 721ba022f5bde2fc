/* sgc_kselect.h - introselect on magnitude keys. Internal. */
#ifndef SGC_KSELECT_H
#define SGC_KSELECT_H

#include <stdint.h>

/* Reorders a[0..m) so that a[j] is the j-th largest key (0-based), every key
 * before it is >= a[j] and every key after it is <= a[j], and returns a[j].
 * Quickselect with median-of-three pivots and three-way partitions (runs of
 * equal keys, such as zeros, cost one partition); past 2 log2(m) rounds it
 * switches to heap selection, so the worst case is O(m log m). Requires
 * j < m. */
uint32_t sgci_kselect(uint32_t *a, uint32_t m, uint32_t j);

#endif /* SGC_KSELECT_H */
