/* sgc_config.h - compile-time options of the Sparrow gradient compression core.
 *
 * Every option may be overridden with -D on the compiler command line; each
 * configuration offered here is built and tested by shared_c/Makefile.
 */
#ifndef SGC_CONFIG_H
#define SGC_CONFIG_H

/* Largest gradient length (elements) any call accepts. Indices are uint32_t
 * and the frame header carries n in 32 bits; 2^31 keeps signed arithmetic on
 * counts safe on every target. */
#ifndef SGC_MAX_N
#define SGC_MAX_N 0x7FFFFFFFu
#endif

/* Default relative tolerance on the selected count: laplace, partition and dgc
 * return between k(1-tol) and k(1+tol) entries. */
#ifndef SGC_DEFAULT_TOL
#define SGC_DEFAULT_TOL 0.05f
#endif

/* Default cap on bisection/refinement iterations before a selector finishes
 * exactly among its remaining candidates. */
#ifndef SGC_DEFAULT_MAX_ITER
#define SGC_DEFAULT_MAX_ITER 24u
#endif

/* Number of magnitude histogram bins the partition selector keeps per region
 * for its entropy-chosen thresholds. Smaller saves RAM on microcontrollers. */
#ifndef SGC_PARTITION_BINS
#define SGC_PARTITION_BINS 32u
#endif

/* 1: the frame codec can append and verify an HMAC-SHA256 tag.
 * 0: leaves SHA-256 out of the build (saves about 2 KB of flash); frames that
 * carry a tag are then rejected with SGC_E_AUTH_UNSUPPORTED. */
#ifndef SGC_WITH_HMAC
#define SGC_WITH_HMAC 1
#endif

#endif /* SGC_CONFIG_H */
