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
 * Covers what the kernel (and runtime) suites use: Test and TestSuite (with
 * .init, .fini, .disabled), cr_assert and cr_expect with _eq/_neq/_lt/_leq/_gt/_geq/_null/
 * _not_null/_str_eq/_float_eq, cr_assert_fail, cr_skip_test, cr_log_info.
 * Messages are optional printf formats.
 */
#ifndef BN_CROSS_CRITERION_H
#define BN_CROSS_CRITERION_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* aarch64-linux-gnu-gcc 12.2 crashes (internal compiler error in
 * vect_transform_reduction) on a loop of test_act_quant.c when the loop
 * vectorizer is on. Test code only needs to be correct, so the vectorizer is
 * off for everything after this header in a test file; the library is
 * compiled without this header and keeps its flags. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-vectorize")
#endif

/* Criterion's test and suite options that matter here (.init, .fini,
 * .disabled); .timeout and .description are accepted and ignored. */
typedef struct bn_crs_test {
    const char *suite;
    const char *name;
    void (*fn)(void);
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
    double timeout;
    const char *description;
    struct bn_crs_test *next;
} bn_crs_test;

typedef struct bn_crs_suite {
    const char *name;
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
    double timeout;
    const char *description;
    struct bn_crs_suite *next;
} bn_crs_suite;

void bn_crs_register(bn_crs_test *t);
void bn_crs_register_suite(bn_crs_suite *s);
/* Both end the test's process: a failure (exit 1) or a skip (exit 2). */
_Noreturn void bn_crs_fail(const char *file, int line, const char *expr, const char *fmt, ...);
_Noreturn void bn_crs_skip(const char *fmt, ...);
/* A failed expectation: reported, the test goes on and fails at its end. */
void bn_crs_expect_fail(const char *file, int line, const char *expr, const char *fmt, ...);
void bn_crs_log(const char *fmt, ...);

/* The parameters are not called suite / name: those are field names. */
#define Test(bn_s, bn_n, ...)                                                   \
    static void bn_s##_##bn_n##_impl(void);                                     \
    static bn_crs_test bn_s##_##bn_n##_reg = {                                  \
        .suite = #bn_s, .name = #bn_n, .fn = bn_s##_##bn_n##_impl, __VA_ARGS__};  \
    __attribute__((constructor)) static void bn_s##_##bn_n##_ctor(void) {       \
        bn_crs_register(&bn_s##_##bn_n##_reg);                                  \
    }                                                                           \
    static void bn_s##_##bn_n##_impl(void)

/* The trailing extern declaration takes the semicolon written after it. */
#define TestSuite(bn_s, ...)                                                    \
    static bn_crs_suite bn_crs_suite_##bn_s = {.name = #bn_s, __VA_ARGS__};     \
    __attribute__((constructor)) static void bn_crs_suite_ctor_##bn_s(void) {   \
        bn_crs_register_suite(&bn_crs_suite_##bn_s);                            \
    }                                                                           \
    extern int bn_crs_suite_decl_##bn_s

/* `"" __VA_ARGS__` turns an absent message into "" and glues a present
 * format literal onto "": the message stays optional as in Criterion. */
#define cr_assert(cond, ...)                                                     \
    do {                                                                         \
        if (!(cond))                                                             \
            bn_crs_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);              \
    } while (0)
#define cr_expect(cond, ...)                                                     \
    do {                                                                         \
        if (!(cond))                                                             \
            bn_crs_expect_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);       \
    } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr_expect((a) == (b), __VA_ARGS__)
#define cr_expect_neq(a, b, ...) cr_expect((a) != (b), __VA_ARGS__)
#define cr_expect_lt(a, b, ...) cr_expect((a) < (b), __VA_ARGS__)
#define cr_expect_leq(a, b, ...) cr_expect((a) <= (b), __VA_ARGS__)
#define cr_expect_gt(a, b, ...) cr_expect((a) > (b), __VA_ARGS__)
#define cr_expect_geq(a, b, ...) cr_expect((a) >= (b), __VA_ARGS__)
#define cr_expect_null(p, ...) cr_expect((p) == NULL, __VA_ARGS__)
#define cr_expect_not_null(p, ...) cr_expect((p) != NULL, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) cr_expect(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...) \
    cr_expect(fabs((double)(a) - (double)(b)) <= (double)(eps), __VA_ARGS__)
#define cr_log_info(...) bn_crs_log(__VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
    cr_assert(fabs((double)(a) - (double)(b)) <= (double)(eps), __VA_ARGS__)
#define cr_assert_fail(...) bn_crs_fail(__FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_skip_test(...) bn_crs_skip("" __VA_ARGS__)

#endif /* BN_CROSS_CRITERION_H */
