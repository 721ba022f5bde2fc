/* check.h - the smallest test harness that runs the same way on the host,
 * under sanitizers and on a QEMU board (output via printf, verdict via the
 * return value of main, which the board's startup code turns into a
 * semihosting exit status).
 *
 * Usage: one test function per behaviour, named as a sentence, e.g.
 *   static void laplace_returns_within_tolerance(void) { CHECK(x == y); }
 *   int main(void) { RUN(laplace_returns_within_tolerance); return check_report(); }
 */
#ifndef SGC_CHECK_H
#define SGC_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                              \
    do {                                                                         \
        ++check_count;                                                           \
        if (!(cond)) {                                                           \
            ++check_failures;                                                    \
            printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);          \
        ++check_count;                                                           \
        if (check_a_ != check_b_) {                                              \
            ++check_failures;                                                    \
            printf("  FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
                   #a, #b, check_a_, check_b_);                                  \
        }                                                                        \
    } while (0)

#define RUN(test_fn)                                                             \
    do {                                                                         \
        int check_before_ = check_failures;                                      \
        test_fn();                                                               \
        printf("%s %s\n", check_failures == check_before_ ? "ok  " : "FAIL",     \
               #test_fn);                                                        \
    } while (0)

static int check_report(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

#endif /* SGC_CHECK_H */
