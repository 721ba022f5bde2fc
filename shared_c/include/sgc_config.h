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

/* Selector bits: bit m stands for sgc_method m (sgc.h). */
#define SGC_SELECTOR_BIT_EXACT 0x01u     /* SGC_SELECT_EXACT */
#define SGC_SELECTOR_BIT_LAPLACE 0x02u   /* SGC_SELECT_LAPLACE */
#define SGC_SELECTOR_BIT_PARTITION 0x04u /* SGC_SELECT_PARTITION */
#define SGC_SELECTOR_BIT_DGC 0x08u       /* SGC_SELECT_DGC */
#define SGC_SELECTOR_BIT_RANDOM 0x10u    /* SGC_SELECT_RANDOM */
#define SGC_SELECTORS_ALL 0x1Fu          /* every selector */
/* The bit of a method known at run time (method < SGC_METHOD_COUNT). */
#define SGC_SELECTOR_BIT(method) (1u << (unsigned)(method))

/* Selectors compiled in: an OR of SGC_SELECTOR_BIT_* (0x01 exact, 0x02
 * laplace, 0x04 partition, 0x08 dgc, 0x10 random); left-out ones answer
 * SGC_E_METHOD and their code is dropped by the linker's --gc-sections. A
 * node that only runs laplace builds with
 * -DSGC_SELECTORS=SGC_SELECTOR_BIT_LAPLACE (the same as 0x02u). */
#ifndef SGC_SELECTORS
#define SGC_SELECTORS SGC_SELECTORS_ALL
#endif

/* Most frames a chunk reassembler holds at once (the size of its slot table). */
#ifndef SGC_REASM_MAX_SLOTS
#define SGC_REASM_MAX_SLOTS 16u
#endif

/* Drop records a reassembler keeps until the caller drains them (later drops
 * are only counted). */
#ifndef SGC_REASM_DROP_LOG
#define SGC_REASM_DROP_LOG 16u
#endif

/* Defined: CRC-32C never uses the SSE4.2 crc32 instruction on x86-64 hosts
 * (the table-driven code runs everywhere; the instruction is picked at run
 * time when the CPU has it). */
/* #define SGC_NO_HW_CRC */

#endif /* SGC_CONFIG_H */
