/* runner.c: the test runner behind tools/cross-aarch64/criterion/criterion.h
 * (see there why the aarch64 tests under qemu do not use Criterion itself).
 *
 * Runs every registered test, sorted by suite then name, in this process: a
 * failed assertion or a skip jumps back here (longjmp) and the next test
 * runs; a crash ends the whole run with a non-zero status, which fails it
 * too. (No fork per test: under qemu-user in some containers a forked child
 * never runs, so a forking runner would hang.) Prints a line per failure and
 * skip, then Criterion's synthesis line plus the skip count; exits 1 when
 * any test failed.
 * Options: --filter=PATTERN (fnmatch on "suite/name"); Criterion's other
 * options (-j1, --ascii, ...) are accepted and ignored.
 */
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "criterion/criterion.h"

static bn_crs_test *bn_crs_list;
static size_t bn_crs_count;
static bn_crs_suite *bn_crs_suites;

void bn_crs_register_suite(bn_crs_suite *s) {
    s->next = bn_crs_suites;
    bn_crs_suites = s;
}

static const bn_crs_suite *bn_crs_find_suite(const char *name) {
    for (const bn_crs_suite *s = bn_crs_suites; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

void bn_crs_register(bn_crs_test *t) {
    t->next = bn_crs_list;
    bn_crs_list = t;
    bn_crs_count++;
}

static const bn_crs_test *bn_crs_current;
static jmp_buf bn_crs_jump;   /* back to bn_crs_run_one */
static int bn_crs_outcome;     /* set before the jump: 1 failed, 2 skipped */

void bn_crs_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "[----] %s:%d: Assertion failed: %s", file, line, expr);
    if (fmt && fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    fflush(stderr);
    bn_crs_outcome = 1;
    longjmp(bn_crs_jump, 1);
}

static bool bn_crs_expect_failed; /* a cr_expect of the running test failed */

void bn_crs_expect_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    fprintf(stderr, "[----] %s:%d: Expectation failed: %s", file, line, expr);
    if (fmt && fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    bn_crs_expect_failed = true;
}

void bn_crs_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("[----] ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void bn_crs_skip(const char *fmt, ...) {
    fprintf(stderr, "[SKIP] %s::%s: ", bn_crs_current ? bn_crs_current->suite : "?",
            bn_crs_current ? bn_crs_current->name : "?");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    bn_crs_outcome = 2;
    longjmp(bn_crs_jump, 2);
}

static int bn_crs_cmp(const void *a, const void *b) {
    const bn_crs_test *x = *(const bn_crs_test *const *)a, *y = *(const bn_crs_test *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

static double bn_crs_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs fn; 0 returned, 1 failed, 2 skipped. Its own frame holds nothing
 * that a longjmp could clobber. */
static int bn_crs_call(void (*fn)(void)) {
    if (setjmp(bn_crs_jump) == 0) {
        fn();
        return 0;
    }
    return bn_crs_outcome;
}

/* 0 passed, 1 failed, 2 skipped: init (the test's, else its suite's), the
 * body, then fini whatever the body did (Criterion's order). */
static int bn_crs_run_one(const bn_crs_test *t) {
    const bn_crs_suite *s = bn_crs_find_suite(t->suite);
    void (*init)(void) = t->init ? t->init : s ? s->init : NULL;
    void (*fini)(void) = t->fini ? t->fini : s ? s->fini : NULL;
    bn_crs_current = t;
    bn_crs_expect_failed = false;
    if (t->disabled || (s && s->disabled))
        return 2;
    int outcome = init ? bn_crs_call(init) : 0;
    if (outcome == 0)
        outcome = bn_crs_call(t->fn);
    if (fini && bn_crs_call(fini) == 1)
        outcome = 1;
    return bn_crs_expect_failed ? 1 : outcome;
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--filter=", 9) == 0)
            filter = argv[i] + 9;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
    }
    bn_crs_test **tests = malloc((bn_crs_count + 1) * sizeof *tests);
    if (!tests)
        return 1;
    size_t n = 0;
    for (bn_crs_test *t = bn_crs_list; t; t = t->next)
        tests[n++] = t;
    qsort(tests, n, sizeof *tests, bn_crs_cmp);
    int tested = 0, passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", tests[i]->suite, tests[i]->name);
        if (filter && fnmatch(filter, full, 0) != 0)
            continue;
        double t0 = bn_crs_now();
        int outcome = bn_crs_run_one(tests[i]);
        double dt = bn_crs_now() - t0;
        if (outcome == 2) {
            skipped++;
            continue;
        }
        tested++;
        if (outcome == 0) {
            passed++;
            if (verbose)
                fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", tests[i]->suite, tests[i]->name, dt);
        } else {
            failed++;
            fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", tests[i]->suite, tests[i]->name, dt);
        }
    }
    fprintf(stderr,
            "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d | "
            "Skipped: %d\n",
            tested, passed, failed, 0, skipped);
    free(tests);
    return failed ? 1 : 0;
}
