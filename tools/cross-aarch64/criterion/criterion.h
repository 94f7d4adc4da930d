/* criterion.h: a minimal stand-in for Criterion's test API, for the aarch64
 * cross build only (tools/cross-test-aarch64.sh).
 *
 * Why: Debian's arm64 Criterion installs beside nothing (its libnanomsg5
 * conflicts with the amd64 one the host build needs) and, unpacked aside,
 * cannot run under qemu-user: its sandbox (BoxFort) re-executes the test
 * binary and inspects the child's memory maps, which qemu-aarch64 does not
 * emulate ("Could not spawn test instance: Protocol error", or a hang).
 * So the unchanged Criterion suites are compiled against this header and
 * run by runner.c: each test in turn in one process (see runner.c),
 * skips reported as skips, a Criterion-like synthesis line at the end.
 *
 * Covers what the kernel suites use: Test, cr_assert, cr_assert_eq/neq,
 * cr_assert_null/not_null, cr_assert_str_eq, cr_assert_float_eq,
 * cr_assert_fail, cr_skip_test. Messages are optional printf formats.
 */
#ifndef BN_CROSS_CRITERION_H
#define BN_CROSS_CRITERION_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* aarch64-linux-gnu-gcc 12.2 crashes (internal compiler error in
 * vect_transform_reduction) on a loop of test_act_quant.c when the loop
 * vectorizer is on. Test code only needs to be correct, so the vectorizer is
 * off for everything after this header in a test file; the library is
 * compiled without this header and keeps its flags. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-vectorize")
#endif

typedef struct bn_crs_test {
    const char *suite;
    const char *name;
    void (*fn)(void);
    struct bn_crs_test *next;
} bn_crs_test;

void bn_crs_register(bn_crs_test *t);
/* Both end the test's process: a failure (exit 1) or a skip (exit 2). */
_Noreturn void bn_crs_fail(const char *file, int line, const char *expr, const char *fmt, ...);
_Noreturn void bn_crs_skip(const char *fmt, ...);

#define Test(suite, name, ...)                                                           \
    static void suite##_##name##_impl(void);                                             \
    static bn_crs_test suite##_##name##_reg = {#suite, #name, suite##_##name##_impl, 0}; \
    __attribute__((constructor)) static void suite##_##name##_ctor(void) {               \
        bn_crs_register(&suite##_##name##_reg);                                          \
    }                                                                                    \
    static void suite##_##name##_impl(void)

/* `"" __VA_ARGS__` turns an absent message into "" and glues a present
 * format literal onto "": the message stays optional as in Criterion. */
#define cr_assert(cond, ...)                                                     \
    do {                                                                         \
        if (!(cond))                                                             \
            bn_crs_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);              \
    } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
    cr_assert(fabs((double)(a) - (double)(b)) <= (double)(eps), __VA_ARGS__)
#define cr_assert_fail(...) bn_crs_fail(__FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_skip_test(...) bn_crs_skip("" __VA_ARGS__)

#endif /* BN_CROSS_CRITERION_H */
