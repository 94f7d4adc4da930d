/* test_float_helpers.c: dot, axpy, RMSNorm, softmax and f16 rows of every
 * table against the reference.
 * Tolerances: dots within 1e-6 * sum |a_i b_i|; axpy within 1 ulp-ish
 * (2e-7 relative: fma vs mul+add); RMSNorm bit-exact (its order is fixed by
 * kernels.h); softmax within 1e-6 absolute (expf approximations); f16
 * conversions bit-exact. */
#include "kernel_test.h"
#include "loader/half.h"

static void helpers_match_ref(const bn_kernels *k) {
    const bn_kernels *ref = bn_kernels_find("ref");
    int64_t ns[] = {1, 3, 15, 16, 17, 100, 128, 1000, 2560};
    kt_rng rng = {4242};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        int64_t n = ns[i];
        float *a = malloc(4 * (size_t)n), *b = malloc(4 * (size_t)n), *w = malloc(4 * (size_t)n);
        float *y1 = malloc(4 * (size_t)n), *y2 = malloc(4 * (size_t)n);
        uint16_t *h = malloc(2 * (size_t)n), *h2 = malloc(2 * (size_t)n);
        double mag = 0, magh = 0;
        for (int64_t j = 0; j < n; j++) {
            a[j] = kt_act(&rng);
            b[j] = kt_act(&rng);
            w[j] = 0.5f + kt_unit(&rng);
            h[j] = bn_f32_to_f16(kt_act(&rng));
            mag += fabs((double)a[j] * b[j]);
            magh += fabs((double)a[j] * bn_f16_to_f32(h[j]));
        }
        cr_assert(fabs(k->dot_f32(a, b, n) - ref->dot_f32(a, b, n)) <= 1e-6 * mag + 1e-30,
                  "%s dot_f32 n=%lld", k->name, (long long)n);
        cr_assert(fabs(k->dot_f16(a, h, n) - ref->dot_f16(a, h, n)) <= 1e-6 * magh + 1e-30,
                  "%s dot_f16 n=%lld", k->name, (long long)n);
        memcpy(y1, b, 4 * (size_t)n);
        memcpy(y2, b, 4 * (size_t)n);
        ref->axpy_f32(0.37f, a, y1, n);
        k->axpy_f32(0.37f, a, y2, n);
        for (int64_t j = 0; j < n; j++)
            cr_assert(fabsf(y1[j] - y2[j]) <= 2e-7f * (fabsf(b[j]) + fabsf(0.37f * a[j])),
                      "%s axpy_f32", k->name);
        memcpy(y1, b, 4 * (size_t)n);
        memcpy(y2, b, 4 * (size_t)n);
        ref->axpy_f16(-1.5f, h, y1, n);
        k->axpy_f16(-1.5f, h, y2, n);
        for (int64_t j = 0; j < n; j++)
            cr_assert(fabsf(y1[j] - y2[j]) <= 2e-7f * (fabsf(b[j]) + fabsf(1.5f * bn_f16_to_f32(h[j]))),
                      "%s axpy_f16", k->name);
        ref->rmsnorm(a, w, 1e-5f, n, y1);
        k->rmsnorm(a, w, 1e-5f, n, y2);
        cr_assert(memcmp(y1, y2, 4 * (size_t)n) == 0, "%s rmsnorm n=%lld", k->name, (long long)n);
        memcpy(y1, a, 4 * (size_t)n);
        memcpy(y2, a, 4 * (size_t)n);
        ref->softmax(y1, n);
        k->softmax(y2, n);
        double total = 0;
        for (int64_t j = 0; j < n; j++) {
            cr_assert(fabsf(y1[j] - y2[j]) <= 2e-6f, "%s softmax n=%lld: %g vs %g", k->name,
                      (long long)n, (double)y1[j], (double)y2[j]);
            total += y2[j];
        }
        cr_assert(fabs(total - 1.0) < 1e-5);
        ref->f16_to_f32(h, y1, n);
        k->f16_to_f32(h, y2, n);
        cr_assert(memcmp(y1, y2, 4 * (size_t)n) == 0, "%s f16_to_f32", k->name);
        ref->f32_to_f16(a, h, n);
        k->f32_to_f16(a, h2, n);
        cr_assert(memcmp(h, h2, 2 * (size_t)n) == 0, "%s f32_to_f16", k->name);
        free(a);
        free(b);
        free(w);
        free(y1);
        free(y2);
        free(h);
        free(h2);
    }
}
KT_FOR_TABLES(float_helpers, helpers_match_ref, helpers_match_ref)

Test(float_helpers, softmax_is_stable_for_large_inputs) {
    float x[4] = {1000.0f, 1000.0f, -1000.0f, 999.0f};
    bn_kernels_find("ref")->softmax(x, 4);
    cr_assert(isfinite(x[0]) && x[2] == 0.0f);
    cr_assert_float_eq(x[0], x[1], 1e-7);
}

Test(float_helpers, rmsnorm_matches_the_formula) {
    float x[3] = {1.0f, 2.0f, 2.0f}, w[3] = {1.0f, 1.0f, 2.0f}, y[3];
    bn_kernels_find("ref")->rmsnorm(x, w, 0.0f, 3, y);
    cr_assert_float_eq(y[0], 1.0f / sqrtf(3.0f), 1e-6);
    cr_assert_float_eq(y[2], 4.0f / sqrtf(3.0f), 1e-6);
}
