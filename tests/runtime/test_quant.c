/* test_quant.c: the public quantization API's numbers (runtime/quant.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/bitnet_quant.h"

static float frand(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

Test(quant, type_names_round_trip) {
    for (int t = 0; t < BN_QTYPE_COUNT; t++) {
        bn_qtype back;
        cr_assert_eq(bn_qtype_from_name(bn_qtype_name((bn_qtype)t), &back, NULL), BN_STATUS_OK);
        cr_assert_eq(back, t);
    }
    bn_qtype x;
    bn_error err = {0};
    cr_assert_eq(bn_qtype_from_name("q4_k", &x, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "unknown type 'q4_k'"), "%s", err.message);
    cr_assert_eq(bn_qtype_from_name("tq1_0", &x, NULL), BN_STATUS_OK);
    cr_assert_eq(x, BN_QTYPE_TQ1_0);
    cr_assert_float_eq(bn_qtype_bits_per_weight(BN_QTYPE_TQ2_0), 2.0625, 1e-12);
}

Test(quant, ternary_per_tensor_is_absmean_with_half_even_codes) {
    float w[8] = {0.5f, 1.5f, 1.0f, 1.0f, -0.5f, -1.5f, 1.0f, 1.0f}; /* mean |w| = 1 */
    int8_t c[8];
    float s;
    cr_assert_eq(bn_quant_weights_ternary(w, 2, 4, 0, c, &s, NULL), BN_STATUS_OK);
    cr_assert_eq(s, 1.0f);
    int8_t want[8] = {0, 1, 1, 1, 0, -1, 1, 1};
    cr_assert_arr_eq(c, want, 8);
    float d[8];
    cr_assert_eq(bn_quant_weights_dequant(c, &s, 2, 4, 0, d, NULL), BN_STATUS_OK);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(d[i], (float)want[i]);
}

Test(quant, ternary_per_group_has_a_scale_per_group_of_a_row) {
    enum { R = 3, K = 256, G = 64 };
    static float w[R * K], d[R * K];
    static int8_t c[R * K];
    unsigned seed = 1;
    for (int i = 0; i < R * K; i++)
        w[i] = frand(&seed) * (float)(1 + i / G);
    size_t ns;
    cr_assert_eq(bn_quant_weights_scale_count(R, K, G, &ns, NULL), BN_STATUS_OK);
    cr_assert_eq(ns, (size_t)(R * K / G));
    float s[R * K / G];
    cr_assert_eq(bn_quant_weights_ternary(w, R, K, G, c, s, NULL), BN_STATUS_OK);
    for (int g = 0; g < R * K / G; g++) {
        double sum = 0;
        for (int i = 0; i < G; i++)
            sum += fabs(w[g * G + i]);
        cr_assert_float_eq(s[g], sum / G, 1e-5 * sum / G, "group %d", g);
    }
    cr_assert_eq(bn_quant_weights_dequant(c, s, R, K, G, d, NULL), BN_STATUS_OK);
    for (int i = 0; i < R * K; i++)
        cr_assert_eq(d[i], (float)c[i] * s[i / G]);
}

Test(quant, ternary_refuses_bad_groups_nan_and_overflow) {
    float w[4 * 8];
    for (int i = 0; i < 32; i++)
        w[i] = 1.0f;
    int8_t c[32];
    float s[32];
    bn_error err = {0};
    cr_assert_eq(bn_quant_weights_ternary(w, 4, 8, 3, c, s, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "group size 3 does not divide"), "%s", err.message);
    w[13] = NAN;
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_weights_ternary(w, 4, 8, 0, c, s, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "w[1, 5] is NaN"), "%s", err.message);
    for (int i = 0; i < 32; i++)
        w[i] = 3e38f;
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_weights_ternary(w, 4, 8, 0, c, s, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "overflows float32"), "%s", err.message);
    /* Per single value the same values fit. */
    cr_assert_eq(bn_quant_weights_ternary(w, 4, 8, 1, c, s, NULL), BN_STATUS_OK);
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_weights_ternary(w, INT64_MAX / 2, 16, 0, c, s, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "too many elements"), "%s", err.message);
    c[3] = 2;
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_weights_dequant(c, s, 4, 8, 0, w, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "codes[0, 3] = 2"), "%s", err.message);
}

Test(quant, per_token_activations_are_the_kernels_absmax_rule) {
    enum { T = 5, K = 300 };
    static float x[T * K];
    static int8_t q[T * K];
    unsigned seed = 7;
    for (int i = 0; i < T * K; i++)
        x[i] = frand(&seed) * 4.0f;
    float s[T];
    cr_assert_eq(bn_quant_act_i8(x, T, K, NULL, q, s, NULL, NULL), BN_STATUS_OK);
    for (int t = 0; t < T; t++) {
        float amax = 1e-5f;
        for (int k = 0; k < K; k++)
            amax = fabsf(x[t * K + k]) > amax ? fabsf(x[t * K + k]) : amax;
        cr_assert_eq(s[t], 127.0f / amax);
        for (int k = 0; k < K; k++) {
            float r = rintf(x[t * K + k] * s[t]);
            cr_assert_eq(q[t * K + k], (int8_t)(r > 127 ? 127 : r < -128 ? -128 : r));
        }
    }
    /* The generic path (clip larger than every value) gives the same bytes. */
    static int8_t q2[T * K];
    float s2[T];
    bn_quant_act_options o;
    bn_quant_act_options_default(&o);
    o.clip = 1000.0f;
    cr_assert_eq(bn_quant_act_i8(x, T, K, &o, q2, s2, NULL, NULL), BN_STATUS_OK);
    cr_assert_arr_eq(q, q2, T * K);
    cr_assert_arr_eq(s, s2, sizeof s);
}

Test(quant, asymmetric_activations_keep_zero_exact) {
    float x[6] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.1f}, d[6];
    int8_t q[6];
    float s;
    int32_t z;
    bn_quant_act_options o;
    bn_quant_act_options_default(&o);
    o.per_tensor = true;
    o.symmetric = false;
    cr_assert_eq(bn_quant_act_i8(x, 1, 6, &o, q, &s, &z, NULL), BN_STATUS_OK);
    cr_assert_eq(z, -128);
    cr_assert_eq(q[0], -128);
    cr_assert_eq(q[5], 127);
    cr_assert_eq(bn_quant_act_dequant(q, &s, &z, 1, 6, true, d, NULL), BN_STATUS_OK);
    cr_assert_eq(d[0], 0.0f);
    for (int i = 0; i < 6; i++)
        cr_assert(fabsf(d[i] - x[i]) <= 0.5f / s + 1e-6f, "x[%d]", i);
    float big[2] = {-3e38f, 3e38f};
    bn_error err = {0};
    cr_assert_eq(bn_quant_act_i8(big, 1, 2, &o, q, &s, &z, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "overflows float32"), "%s", err.message);
    o.clip = 1e30f;
    cr_assert_eq(bn_quant_act_i8(big, 1, 2, &o, q, &s, &z, NULL), BN_STATUS_OK);
}

Test(quant, error_statistics) {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 2};
    bn_quant_error_stats st;
    cr_assert_eq(bn_quant_error(a, b, 4, &st, NULL), BN_STATUS_OK);
    cr_assert_float_eq(st.mse, 1.0, 1e-15);
    cr_assert_float_eq(st.max_abs, 2.0, 1e-15);
    cr_assert_float_eq(st.snr_db, 10.0 * log10(30.0 / 4.0), 1e-12);
    cr_assert_eq(bn_quant_error(a, a, 4, &st, NULL), BN_STATUS_OK);
    cr_assert(isinf(st.snr_db));
}

Test(quant, model_size_estimate) {
    uint64_t b;
    cr_assert_eq(bn_quant_estimate_bytes(2400000000ull, BN_QTYPE_I2_S, &b, NULL), BN_STATUS_OK);
    cr_assert_eq(b, 600000032ull);
    cr_assert_eq(bn_quant_estimate_bytes(257, BN_QTYPE_TQ2_0, &b, NULL), BN_STATUS_OK);
    cr_assert_eq(b, 132u);
    bn_error err = {0};
    cr_assert_eq(bn_quant_estimate_bytes(UINT64_MAX, BN_QTYPE_F32, &b, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "2^64"), "%s", err.message);
}
