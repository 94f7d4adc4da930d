/* kernel_test.h: helpers shared by the kernel suites (random data, table
 * lookup with skips). Header-only so each suite stays one executable. */
#ifndef BN_KERNEL_TEST_H
#define BN_KERNEL_TEST_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* xorshift64*: deterministic, seeds per test. */
typedef struct kt_rng {
    uint64_t s;
} kt_rng;

static inline uint64_t kt_next(kt_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

/* Uniform in [0, 1). */
static inline float kt_unit(kt_rng *r) {
    return (float)(kt_next(r) >> 40) / (float)(1u << 24);
}

/* Roughly normal (sum of 4 uniforms), with a rare outlier as real
 * activations have. */
static inline float kt_act(kt_rng *r) {
    float v = kt_unit(r) + kt_unit(r) + kt_unit(r) + kt_unit(r) - 2.0f;
    if ((kt_next(r) & 255) == 0)
        v *= 20.0f;
    return v;
}

static inline void kt_fill_trits(kt_rng *r, int8_t *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        v[i] = (int8_t)(kt_next(r) % 3) - 1;
}

/* The table named `name`, or a skip (never a pass) when this CPU or build
 * cannot run it. */
static inline const bn_kernels *kt_table(const char *name) {
    const bn_kernels *k = NULL;
    bn_error err = {0};
    bn_status st = bn_kernels_select(name, &k, &err);
    if (st == BN_STATUS_UNSUPPORTED)
        cr_skip_test("table %s cannot run here: %s", name, err.message);
    cr_assert_eq(st, BN_STATUS_OK, "%s", err.message);
    return k;
}

/* One Test per table: body(const bn_kernels *k). */
#define KT_FOR_TABLES(suite, test, body)                                                  \
    Test(suite, test##_with_ref) { body(kt_table("ref")); }                              \
    Test(suite, test##_with_avx2) { body(kt_table("avx2")); }                            \
    Test(suite, test##_with_avx512) { body(kt_table("avx512")); }                        \
    Test(suite, test##_with_avx512vbmi) { body(kt_table("avx512vbmi")); }                \
    Test(suite, test##_with_neon) { body(kt_table("neon")); }                            \
    Test(suite, test##_with_neon_dotprod) { body(kt_table("neon-dotprod")); }

#endif /* BN_KERNEL_TEST_H */
