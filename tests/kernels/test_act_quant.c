/* test_act_quant.c: per-token int8 activation quantization and the fused
 * RMSNorm variant (kernels/ref/act.c and each table's version of it). */
#include "kernel_test.h"

static bn_act_batch kt_batch(int64_t K, int64_t nt, bool lut) {
    bn_act_batch b;
    bn_error err = {0};
    cr_assert_eq(bn_act_batch_alloc(K, nt, lut, &b, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_act_batch_reset(&b, K, nt, &err), BN_STATUS_OK, "%s", err.message);
    return b;
}

/* Everything a kernel may read from the batch is equal. */
static void kt_assert_same_batch(const bn_act_batch *a, const bn_act_batch *b, const char *what) {
    cr_assert_eq(a->stride, b->stride);
    for (int64_t t = 0; t < a->n_tokens; t++) {
        cr_assert(memcmp(a->q + t * a->stride, b->q + t * b->stride, (size_t)a->stride) == 0,
                  "%s: q of token %lld (K=%lld)", what, (long long)t, (long long)a->K);
        cr_assert(memcmp(&a->scale[t], &b->scale[t], sizeof(float)) == 0,
                  "%s: scale %.9g vs %.9g", what, (double)a->scale[t], (double)b->scale[t]);
        cr_assert_eq(a->sum[t], b->sum[t], "%s: sum", what);
        cr_assert(memcmp(a->block_sum + t * (a->stride / 256), b->block_sum + t * (b->stride / 256),
                         (size_t)(a->stride / 256) * 4) == 0,
                  "%s: block sums", what);
        if (a->lut)
            cr_assert(memcmp(a->lut + t * (a->stride / 2) * 32, b->lut + t * (b->stride / 2) * 32,
                             (size_t)(a->stride / 2) * 32) == 0,
                      "%s: lut of token %lld", what, (long long)t);
    }
}

static void ties_round_half_to_even(const bn_kernels *k) {
    /* amax = 127 makes act_scale exactly 1, so x*scale = x: exact ties. */
    float x[40];
    for (int i = 0; i < 40; i++)
        x[i] = 0.0f;
    float in[] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -126.5f, 3.49f};
    int8_t want[] = {127, 0, 2, 2, 0, -2, -2, 126, -126, 3};
    memcpy(x, in, sizeof in);
    bn_act_batch b = kt_batch(40, 1, false);
    k->act_quant(x, 40, &b, 0, 1);
    cr_assert_eq(b.scale[0], 1.0f);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(b.q[i], want[i], "x=%g: q=%d, want %d", (double)in[i], b.q[i], want[i]);
    int32_t s = 0;
    for (int i = 0; i < 10; i++)
        s += want[i];
    cr_assert_eq(b.sum[0], s);
    for (int64_t i = 40; i < b.stride; i++)
        cr_assert_eq(b.q[i], 0, "padding at %lld", (long long)i);
    bn_act_batch_free(&b);
}
KT_FOR_TABLES(act_quant, ties_round_half_to_even, ties_round_half_to_even)

static void all_zero_row_uses_the_1e5_floor(const bn_kernels *k) {
    float x[300] = {0};
    x[7] = 1e-7f;
    bn_act_batch b = kt_batch(300, 1, false);
    k->act_quant(x, 300, &b, 0, 1);
    cr_assert_eq(b.scale[0], 127.0f / 1e-5f);
    cr_assert_eq(b.q[7], 1); /* 1e-7 * 1.27e7 = 1.27 */
    cr_assert_eq(b.sum[0], 1);
    bn_act_batch_free(&b);
}
KT_FOR_TABLES(act_quant, all_zero_row_uses_the_1e5_floor, all_zero_row_uses_the_1e5_floor)

static void random_rows_match_ref_bit_for_bit(const bn_kernels *k) {
    int64_t Ks[] = {1, 5, 64, 100, 256, 320, 2560, 3200, 6912, 8640};
    kt_rng rng = {0x1234567};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
        for (int nt = 1; nt <= 7; nt += 6) {
            int64_t K = Ks[ki];
            float *x = malloc(sizeof(float) * (size_t)(K * nt));
            float *w = malloc(sizeof(float) * (size_t)K);
            for (int64_t i = 0; i < K * nt; i++)
                x[i] = kt_act(&rng);
            for (int64_t i = 0; i < K; i++)
                w[i] = 0.5f + kt_unit(&rng);
            bn_act_batch a = kt_batch(K, nt, true), b = kt_batch(K, nt, true);
            bn_kernels_find("ref")->act_quant(x, K, &a, 0, nt);
            k->act_quant(x, K, &b, 0, 2 < nt ? 2 : nt); /* split by tokens */
            k->act_quant(x, K, &b, 2 < nt ? 2 : nt, nt);
            kt_assert_same_batch(&a, &b, "act_quant");
            bn_kernels_find("ref")->act_rmsnorm_quant(x, K, w, 1e-5f, &a, 0, nt);
            k->act_rmsnorm_quant(x, K, w, 1e-5f, &b, 0, nt);
            kt_assert_same_batch(&a, &b, "act_rmsnorm_quant");
            bn_act_batch_free(&a);
            bn_act_batch_free(&b);
            free(x);
            free(w);
        }
}
KT_FOR_TABLES(act_quant, random_rows_match_ref_bit_for_bit, random_rows_match_ref_bit_for_bit)

Test(act_quant, fused_rmsnorm_quant_matches_a_double_precision_reference) {
    const int64_t K = 2560;
    kt_rng rng = {99};
    float x[2560], w[2560];
    for (int64_t i = 0; i < K; i++) {
        x[i] = kt_act(&rng);
        w[i] = 0.5f + kt_unit(&rng);
    }
    bn_act_batch b = kt_batch(K, 1, false);
    bn_kernels_find("ref")->act_rmsnorm_quant(x, K, w, 1e-5f, &b, 0, 1);
    double ss = 0;
    for (int64_t i = 0; i < K; i++)
        ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / K + 1e-5), amax = 0;
    for (int64_t i = 0; i < K; i++)
        amax = fmax(amax, fabs(x[i] * inv * w[i]));
    cr_assert_float_eq(b.scale[0], 127.0 / amax, 1e-6 * 127.0 / amax);
    int off = 0;
    for (int64_t i = 0; i < K; i++) {
        double v = x[i] * inv * w[i] * 127.0 / amax;
        cr_assert(fabs(b.q[i] - v) <= 0.5 + 1e-3, "q[%lld]=%d vs %g", (long long)i, b.q[i], v);
        off += fabs(b.q[i] - v) > 0.5;
    }
    cr_assert(off <= 3, "%d values off by more than half a step", off);
    bn_act_batch_free(&b);
}

Test(act_quant, batch_reset_refuses_more_than_the_capacity) {
    bn_act_batch b = kt_batch(100, 4, false);
    bn_error err = {0};
    cr_assert_eq(bn_act_batch_reset(&b, 101, 1, &err), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_act_batch_reset(&b, 50, 5, NULL), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_act_batch_reset(&b, 50, 4, NULL), BN_STATUS_OK);
    cr_assert_eq(b.stride, bn_act_batch_stride(50));
    bn_act_batch_free(&b);
    bn_act_batch_free(&b); /* free is idempotent */
    bn_act_batch_free(NULL);
    cr_assert_eq(bn_act_batch_alloc(0, 1, false, &b, &err), BN_STATUS_INVALID_ARG);
}

Test(act_quant, stride_fits_every_layout) {
    for (int64_t K = 1; K < 9000; K += 37) {
        int64_t s = bn_act_batch_stride(K);
        cr_assert(s >= K && s % 64 == 0);
        cr_assert(s >= (K + 255) / 256 * 256 && s >= (K + 319) / 320 * 320 &&
                      s >= (K + 191) / 192 * 192,
                  "K=%lld", (long long)K);
    }
}
