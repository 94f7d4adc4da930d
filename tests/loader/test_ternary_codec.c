/* test_ternary_codec.c: the ternary layouts, bit for bit.
 *
 * Three kinds of evidence: the worked examples of FORMATS.md section 3 (one
 * byte each), encode -> decode round trips on random trits for every layout
 * and awkward shapes, and the real layout vectors: the tiny-bitnet GGUFs
 * written by bitnet.cpp (I2_S) and llama.cpp (TQ2_0, TQ1_0) decode to the
 * ternary values stored as F32 in tiny-bitnet-f32.gguf, tensor by tensor.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "loader/half.h"
#include "loader/ternary_codec.h"
#include "tests/support/model_files.h"
#include "tests/support/tiny_model.h"

/* Deterministic trits and scales: a tiny LCG so failures reproduce. */
static uint32_t lcg_next(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

static void random_trits(int8_t *v, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++)
        v[i] = (int8_t)((int)(lcg_next(&seed) % 3u) - 1);
}

typedef struct decoded {
    int8_t *values;
    float *scales;
    bn_ternary_scale_kind kind;
} decoded;

static bn_status decode_alloc(bn_tensor_type type, const void *data, uint64_t n_bytes, int64_t K,
                              int64_t rows, decoded *d, bn_error *err) {
    size_t ns = bn_ternary_scale_count(type, K, rows);
    d->values = malloc((size_t)(K * rows));
    d->scales = malloc((ns ? ns : 1) * sizeof(float));
    cr_assert(d->values && d->scales);
    return bn_ternary_decode(type, data, n_bytes, K, rows, d->values, d->scales, &d->kind, err);
}

static void decoded_free(decoded *d) {
    free(d->values);
    free(d->scales);
}

/* A buffer of `n` bytes of the "all zero" code for a 2-bit layout. */
static uint8_t *zero_codes(size_t n) {
    uint8_t *b = malloc(n);
    cr_assert(b);
    memset(b, 0x55, n); /* code 1 in every 2-bit field: value 0 */
    return b;
}

/* ---- worked examples of FORMATS.md ------------------------------------- */

Test(ternary_codec, decodes_the_i2s_worked_example) {
    uint8_t *b = zero_codes(128 / 4 + 32);
    b[0] = 0x86;
    b[1] = 0x64;
    memset(b + 32, 0, 32);
    float s = 0.625f;
    memcpy(b + 32, &s, 4); /* test hosts are little-endian */
    decoded d;
    bn_error err = {0};
    cr_assert_eq(decode_alloc(BN_TYPE_I2_S, b, 64, 128, 1, &d, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(d.kind, BN_TERNARY_SCALE_TENSOR);
    cr_assert_eq(d.scales[0], 0.625f);
    cr_assert_eq(d.values[0], 1);
    cr_assert_eq(d.values[32], -1);
    cr_assert_eq(d.values[64], 0);
    cr_assert_eq(d.values[96], 1);
    cr_assert_eq(d.values[1], 0);
    cr_assert_eq(d.values[33], 1);
    cr_assert_eq(d.values[65], 0);
    cr_assert_eq(d.values[97], -1);
    cr_assert_eq(d.values[2], 0);
    decoded_free(&d);
    free(b);
}

Test(ternary_codec, decodes_the_tq2_0_worked_example) {
    uint8_t *b = zero_codes(66);
    b[0] = 0x86;
    uint16_t h = bn_f32_to_f16(2.0f);
    memcpy(b + 64, &h, 2);
    decoded d;
    bn_error err = {0};
    cr_assert_eq(decode_alloc(BN_TYPE_TQ2_0, b, 66, 256, 1, &d, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(d.kind, BN_TERNARY_SCALE_BLOCK256);
    cr_assert_eq(d.scales[0], 2.0f);
    cr_assert_eq(d.values[0], 1);
    cr_assert_eq(d.values[32], 0);
    cr_assert_eq(d.values[64], -1);
    cr_assert_eq(d.values[96], 1);
    cr_assert_eq(d.values[128], 0);
    decoded_free(&d);
    free(b);
}

Test(ternary_codec, encodes_the_tq1_0_worked_examples_186_and_149) {
    int8_t v[256] = {0};
    /* qs[0] holds weights 0, 32, 64, 96, 128: (+1, -1, 0, 0, +1) -> 186. */
    v[0] = 1;
    v[32] = -1;
    v[128] = 1;
    /* qh[0] holds weights 240, 244, 248, 252: (0, +1, -1, +1) -> 149. */
    v[244] = 1;
    v[248] = -1;
    v[252] = 1;
    float s = 1.5f;
    uint8_t b[54];
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ1_0, v, &s, BN_TERNARY_SCALE_TENSOR, 256, 1, b, 54,
                                   &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(b[0], 186);
    cr_assert_eq(b[48], 149);
    decoded d;
    cr_assert_eq(decode_alloc(BN_TYPE_TQ1_0, b, 54, 256, 1, &d, &err), BN_STATUS_OK);
    cr_assert_eq(memcmp(d.values, v, 256), 0);
    cr_assert_eq(d.scales[0], 1.5f);
    decoded_free(&d);
}

Test(ternary_codec, decodes_the_tq1_0_byte_186_digit_by_digit) {
    uint8_t b[54];
    memset(b, 0, sizeof b);
    b[0] = 186;
    decoded d;
    bn_error err = {0};
    cr_assert_eq(decode_alloc(BN_TYPE_TQ1_0, b, 54, 256, 1, &d, &err), BN_STATUS_OK);
    cr_assert_eq(d.values[0], 1);
    cr_assert_eq(d.values[32], -1);
    cr_assert_eq(d.values[64], 0);
    cr_assert_eq(d.values[96], 0);
    cr_assert_eq(d.values[128], 1);
    decoded_free(&d);
}

Test(ternary_codec, decodes_the_iq2_bn_worked_example) {
    uint8_t *b = zero_codes(4 + 16);
    float s = 0.25f;
    memcpy(b, &s, 4);
    b[4] = 0x86;
    decoded d;
    bn_error err = {0};
    cr_assert_eq(decode_alloc(BN_TYPE_IQ2_BN, b, 20, 64, 1, &d, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(d.kind, BN_TERNARY_SCALE_ROW);
    cr_assert_eq(d.scales[0], 0.25f);
    cr_assert_eq(d.values[0], 1);
    cr_assert_eq(d.values[16], 0);
    cr_assert_eq(d.values[32], -1);
    cr_assert_eq(d.values[48], 1);
    cr_assert_eq(d.values[1], 0);
    decoded_free(&d);
    free(b);
}

/* IQ2_BN_R4 (ik_llama.cpp's dequantize_row_iq2_bn_r4): row k of a group of
 * 4, value 16l + i + 4j of block ib sits in byte 64ib + 4k + i + 16l of the
 * group's blocks, bits 2j..2j+1. Group of 4 rows x 128 values: value 39
 * (l = 2, i = 3, j = 1) of row 2 is +1, value 64 + 0 of row 1 is -1. */
Test(ternary_codec, decodes_the_iq2_bn_r4_worked_example) {
    const size_t n = 16 + 2 * 64;
    uint8_t *b = zero_codes(n);
    const float sc[4] = {0.5f, 0.25f, 2.0f, 1.0f};
    memcpy(b, sc, 16);
    b[16 + 4 * 2 + 3 + 16 * 2] = 0x59;    /* codes 1, 2, 1, 1 (j = 0..3) */
    b[16 + 64 + 4 * 1 + 0 + 0] = 0x54;    /* codes 0, 1, 1, 1 */
    decoded d;
    bn_error err = {0};
    cr_assert_eq(decode_alloc(BN_TYPE_IQ2_BN_R4, b, n, 128, 4, &d, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(d.kind, BN_TERNARY_SCALE_ROW);
    for (int r = 0; r < 4; r++) {
        cr_assert_eq(d.scales[r], sc[r]);
        for (int k = 0; k < 128; k++) {
            int want = r == 2 && k == 39 ? 1 : r == 1 && k == 64 ? -1 : 0;
            cr_assert_eq(d.values[r * 128 + k], want, "row %d value %d", r, k);
        }
    }
    decoded_free(&d);
    free(b);
}

/* Bytes written as ik_llama.cpp's llama-quantize does (IQ2_BN, then
 * repack_iq2_bn, ported in tests/support) decode to the IQ2_BN tensor's
 * trits and scales, bit for bit, whole and by row ranges. */
Test(ternary_codec, iq2_bn_r4_written_as_ik_llama_decodes_like_its_iq2_bn_twin) {
    const struct { int64_t K, rows; } shapes[] = {{64, 4}, {256, 8}, {2560, 12}, {6912, 4}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const int64_t K = shapes[c].K, rows = shapes[c].rows;
        uint32_t seed = (uint32_t)(11 + c);
        int8_t *v = malloc((size_t)(K * rows));
        float *s = malloc(sizeof(float) * (size_t)rows);
        random_trits(v, K * rows, seed);
        for (int64_t r = 0; r < rows; r++)
            s[r] = 0.01f + (float)(lcg_next(&seed) % 1000u) * 0.001f;
        uint64_t nb = bn_ternary_encoded_bytes(BN_TYPE_IQ2_BN, K, rows);
        cr_assert_eq(bn_ternary_encoded_bytes(BN_TYPE_IQ2_BN_R4, K, rows), nb);
        uint8_t *iq2 = malloc(nb), *r4 = malloc(nb);
        cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ2_BN, v, s, BN_TERNARY_SCALE_ROW, K, rows, iq2,
                                       nb, NULL),
                     BN_STATUS_OK);
        bn_test_repack_iq2_bn_r4(iq2, K, rows, r4);
        decoded d;
        bn_error err = {0};
        cr_assert_eq(decode_alloc(BN_TYPE_IQ2_BN_R4, r4, nb, K, rows, &d, &err), BN_STATUS_OK,
                     "%s", err.message);
        cr_assert_eq(d.kind, BN_TERNARY_SCALE_ROW);
        cr_assert(memcmp(d.values, v, (size_t)(K * rows)) == 0, "K=%lld rows=%lld", (long long)K,
                  (long long)rows);
        cr_assert(memcmp(d.scales, s, sizeof(float) * (size_t)rows) == 0);
        /* Ranges that start and end inside groups of 4. */
        int8_t *w = malloc((size_t)(K * rows));
        float *ws = malloc(sizeof(float) * (size_t)rows);
        for (int64_t r0 = 0; r0 < rows; r0 += 3) {
            int64_t n = rows - r0 < 2 ? rows - r0 : 2;
            bn_ternary_scale_kind kind;
            cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_IQ2_BN_R4, r4, nb, K, rows, r0, n, w, ws,
                                                &kind, &err),
                         BN_STATUS_OK, "%s", err.message);
            cr_assert(memcmp(w, v + r0 * K, (size_t)(n * K)) == 0);
            cr_assert(memcmp(ws, s + r0, sizeof(float) * (size_t)n) == 0);
        }
        free(w);
        free(ws);
        decoded_free(&d);
        free(v);
        free(s);
        free(iq2);
        free(r4);
    }
}

Test(ternary_codec, iq2_bn_r4_refuses_row_counts_off_the_group_and_codes_of_3) {
    uint8_t *b = zero_codes(4 * (4 + 16 * 2));
    int8_t v[4 * 128];
    float s[4];
    bn_ternary_scale_kind kind;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_decode(BN_TYPE_IQ2_BN_R4, b, 3 * (4 + 32), 128, 3, v, s, &kind, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "IQ2_BN_R4"), "%s", err.message);
    cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ2_BN_R4, v, s, BN_TERNARY_SCALE_ROW, 128, 4, b,
                                   4 * 36, NULL),
                 BN_STATUS_UNSUPPORTED);
    memset(b, 0x55, 4 * 36);
    /* Row 3, block 1, l = 1, i = 2, j = 2: value 64 + 16 + 2 + 8 = 90 of row 3,
     * weight 3 * 128 + 90 = 474, at byte 16 + 64 + 12 + 2 + 16 = 110. */
    b[110] = 0x75;
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_decode(BN_TYPE_IQ2_BN_R4, b, 4 * 36, 128, 4, v, s, &kind, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "weight 474") && strstr(err.message, "byte 110"), "%s",
              err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_IQ2_BN_R4, b, 4 * 36, 128, 4, 3, 1, v, s, &kind,
                                        &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "weight 474"), "%s", err.message);
    free(b);
}

Test(ternary_codec, encodes_the_iq1_bn_worked_example_211) {
    int8_t v[64] = {0};
    v[0] = 1; /* weights 0..4: (+1, -1, 0, 0, +1), weight 0 least significant */
    v[1] = -1;
    v[4] = 1;
    float s = 0.5f;
    uint8_t b[2 + 13];
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ1_BN, v, &s, BN_TERNARY_SCALE_TENSOR, 64, 1, b,
                                   sizeof b, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(b[2], 211);
    decoded d;
    cr_assert_eq(decode_alloc(BN_TYPE_IQ1_BN, b, sizeof b, 64, 1, &d, &err), BN_STATUS_OK);
    cr_assert_eq(memcmp(d.values, v, 64), 0);
    cr_assert_eq(d.scales[0], 0.5f);
    decoded_free(&d);
}

/* ---- round trips ------------------------------------------------------- */

typedef struct shape {
    int64_t K, rows;
} shape;

/* What a layout stores a scale as: decode must give back exactly this. */
static float stored_scale(bn_tensor_type type, float s) {
    switch (type) {
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0:
    case BN_TYPE_IQ1_BN:
    case BN_TYPE_F16: return bn_f16_to_f32(bn_f32_to_f16(s));
    case BN_TYPE_BF16: return bn_bf16_to_f32(bn_f32_to_bf16(s));
    default: return s;
    }
}

static void round_trip(bn_tensor_type type, shape sh, bn_ternary_scale_kind kind, uint32_t seed) {
    int64_t n = sh.K * sh.rows;
    int8_t *v = malloc((size_t)n);
    size_t n_scales = kind == BN_TERNARY_SCALE_TENSOR ? 1
                      : kind == BN_TERNARY_SCALE_ROW  ? (size_t)sh.rows
                                                      : (size_t)(n / 256);
    float *s = malloc(n_scales * sizeof(float));
    cr_assert(v && s);
    random_trits(v, n, seed);
    for (size_t i = 0; i < n_scales; i++)
        s[i] = 0.01f + (float)(lcg_next(&seed) % 1000u) * 0.001f;
    uint64_t bytes = bn_ternary_encoded_bytes(type, sh.K, sh.rows);
    cr_assert_gt(bytes, 0, "%s K=%lld rows=%lld", bn_tensor_type_name(type), (long long)sh.K,
                 (long long)sh.rows);
    uint8_t *buf = malloc(bytes);
    uint8_t *again = malloc(bytes);
    cr_assert(buf && again);
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(type, v, s, kind, sh.K, sh.rows, buf, bytes, &err),
                 BN_STATUS_OK, "%s", err.message);
    decoded d;
    cr_assert_eq(decode_alloc(type, buf, bytes, sh.K, sh.rows, &d, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(memcmp(d.values, v, (size_t)n), 0, "%s K=%lld rows=%lld values differ",
                 bn_tensor_type_name(type), (long long)sh.K, (long long)sh.rows);
    /* Every weight's effective scale survives (rounded as the layout stores it). */
    for (int64_t r = 0; r < sh.rows; r++) {
        for (int64_t k = 0; k < sh.K; k++) {
            int64_t i = r * sh.K + k;
            float want = kind == BN_TERNARY_SCALE_TENSOR ? s[0]
                         : kind == BN_TERNARY_SCALE_ROW  ? s[r]
                                                         : s[i / 256];
            float got = d.kind == BN_TERNARY_SCALE_TENSOR ? d.scales[0]
                        : d.kind == BN_TERNARY_SCALE_ROW  ? d.scales[r]
                                                          : d.scales[i / 256];
            /* Float layouts cannot recover the scale of an all-zero row. */
            if (got == 0.0f && (type == BN_TYPE_F32 || type == BN_TYPE_F16 || type == BN_TYPE_BF16))
                continue;
            cr_assert_eq(got, stored_scale(type, want), "%s weight %lld: scale %g, want %g",
                         bn_tensor_type_name(type), (long long)i, (double)got, (double)want);
        }
    }
    /* Re-encoding what was decoded reproduces the bytes. */
    cr_assert_eq(bn_ternary_encode(type, d.values, d.scales, d.kind, sh.K, sh.rows, again, bytes,
                                   &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(memcmp(buf, again, bytes), 0, "%s re-encode differs", bn_tensor_type_name(type));
    decoded_free(&d);
    free(v);
    free(s);
    free(buf);
    free(again);
}

Test(ternary_codec, round_trips_i2_s_across_row_boundaries) {
    shape shapes[] = {{128, 1}, {64, 2}, {32, 12}, {384, 3}, {2560, 2}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        round_trip(BN_TYPE_I2_S, shapes[i], BN_TERNARY_SCALE_TENSOR, 11u + (uint32_t)i);
}

Test(ternary_codec, round_trips_tq2_0_and_tq1_0_with_every_scale_kind) {
    shape shapes[] = {{256, 1}, {512, 3}, {768, 2}};
    bn_tensor_type types[] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    bn_ternary_scale_kind kinds[] = {BN_TERNARY_SCALE_TENSOR, BN_TERNARY_SCALE_ROW,
                                     BN_TERNARY_SCALE_BLOCK256};
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < 3; i++)
            for (size_t k = 0; k < 3; k++)
                round_trip(types[t], shapes[i], kinds[k], (uint32_t)(100 * t + 10 * i + k));
}

Test(ternary_codec, round_trips_iq2_bn_and_iq1_bn) {
    shape shapes[] = {{64, 1}, {192, 5}, {256, 2}};
    bn_tensor_type types[] = {BN_TYPE_IQ2_BN, BN_TYPE_IQ1_BN};
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < 3; i++) {
            round_trip(types[t], shapes[i], BN_TERNARY_SCALE_TENSOR, (uint32_t)(7 * t + i));
            round_trip(types[t], shapes[i], BN_TERNARY_SCALE_ROW, (uint32_t)(9 * t + i));
        }
}

Test(ternary_codec, round_trips_ternary_floats_with_tensor_and_row_scales) {
    shape shapes[] = {{1, 1}, {7, 3}, {300, 4}};
    bn_tensor_type types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16};
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < 3; i++) {
            round_trip(types[t], shapes[i], BN_TERNARY_SCALE_TENSOR, (uint32_t)(3 * t + i));
            round_trip(types[t], shapes[i], BN_TERNARY_SCALE_ROW, (uint32_t)(5 * t + i));
        }
}

Test(ternary_codec, every_tq1_0_and_iq1_bn_byte_pattern_of_five_trits_survives) {
    /* All 243 combinations of five trits in the first base-3 byte: TQ1_0's
     * qs[0] holds weights 0, 32, 64, 96, 128; IQ1_BN's ql[0] weights 0..4. */
    for (int q = 0; q < 243; q++) {
        int8_t vt[256] = {0}, vi[256] = {0};
        for (int n = 0, x = q; n < 5; n++, x /= 3) {
            vt[32 * n] = (int8_t)(x % 3 - 1);
            vi[n] = (int8_t)(x % 3 - 1);
        }
        float s = 1.0f;
        uint8_t tq1[54], iq1[2 + 4 * 13];
        bn_error err = {0};
        cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ1_0, vt, &s, BN_TERNARY_SCALE_TENSOR, 256, 1, tq1,
                                       sizeof tq1, &err),
                     BN_STATUS_OK);
        cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ1_BN, vi, &s, BN_TERNARY_SCALE_TENSOR, 256, 1,
                                       iq1, sizeof iq1, &err),
                     BN_STATUS_OK);
        decoded a, b;
        cr_assert_eq(decode_alloc(BN_TYPE_TQ1_0, tq1, sizeof tq1, 256, 1, &a, &err), BN_STATUS_OK);
        cr_assert_eq(decode_alloc(BN_TYPE_IQ1_BN, iq1, sizeof iq1, 256, 1, &b, &err), BN_STATUS_OK);
        cr_assert_eq(memcmp(a.values, vt, 256), 0, "TQ1_0 pattern %d", q);
        cr_assert_eq(memcmp(b.values, vi, 256), 0, "IQ1_BN pattern %d", q);
        decoded_free(&a);
        decoded_free(&b);
    }
}

/* ---- refusals ---------------------------------------------------------- */

Test(ternary_codec, refuses_every_truncated_buffer) {
    struct {
        bn_tensor_type type;
        int64_t K, rows;
    } cases[] = {{BN_TYPE_I2_S, 256, 2},   {BN_TYPE_TQ2_0, 256, 2}, {BN_TYPE_TQ1_0, 256, 2},
                 {BN_TYPE_IQ2_BN, 128, 2}, {BN_TYPE_IQ1_BN, 128, 2}, {BN_TYPE_F32, 5, 2},
                 {BN_TYPE_F16, 5, 2},      {BN_TYPE_BF16, 5, 2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t bytes = bn_ternary_encoded_bytes(cases[c].type, cases[c].K, cases[c].rows);
        uint8_t *buf = calloc(1, bytes);
        int8_t *v = malloc((size_t)(cases[c].K * cases[c].rows));
        float *s = malloc(bn_ternary_scale_count(cases[c].type, cases[c].K, cases[c].rows) *
                          sizeof(float));
        bn_ternary_scale_kind kind;
        bn_error err = {0};
        cr_assert_eq(bn_ternary_decode(cases[c].type, buf, bytes - 1, cases[c].K, cases[c].rows,
                                       v, s, &kind, &err),
                     BN_STATUS_FORMAT, "%s", bn_tensor_type_name(cases[c].type));
        cr_assert(strstr(err.message, "truncated"), "%s", err.message);
        free(buf);
        free(v);
        free(s);
    }
}

Test(ternary_codec, refuses_a_2_bit_code_of_3_naming_the_weight) {
    uint8_t b[96 + 32];
    memset(b, 0x55, sizeof b);
    b[64 + 5] = 0x57; /* bits 1-0 = 3: group 3, lane 5 of block 2 -> weight 256 + 96 + 5 */
    int8_t v[384];
    float s;
    bn_ternary_scale_kind kind;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_decode(BN_TYPE_I2_S, b, sizeof b, 128, 3, v, &s, &kind, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "weight 357"), "%s", err.message);
}

Test(ternary_codec, refuses_float_tensors_that_are_not_ternary) {
    float w[6] = {0.5f, -0.5f, 0.0f, 0.5f, 0.25f, 0.0f};
    int8_t v[6];
    float s[2];
    bn_ternary_scale_kind kind;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_decode(BN_TYPE_F32, w, sizeof w, 6, 1, v, s, &kind, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "weight 4"), "%s", err.message);
    /* Per row it is fine when each row has one magnitude. */
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_decode(BN_TYPE_F32, w, sizeof w, 3, 2, v, s, &kind, &err),
                 BN_STATUS_FORMAT, "row 1 holds 0.5 and 0.25");
    float w2[6] = {0.5f, -0.5f, 0.0f, 0.25f, 0.0f, -0.25f};
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_decode(BN_TYPE_F32, w2, sizeof w2, 3, 2, v, s, &kind, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(kind, BN_TERNARY_SCALE_ROW);
    cr_assert_eq(s[0], 0.5f);
    cr_assert_eq(s[1], 0.25f);
    cr_assert_eq(v[5], -1);
    float nan_w[2] = {NAN, 0.0f};
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_decode(BN_TYPE_F32, nan_w, sizeof nan_w, 2, 1, v, s, &kind, &err),
                 BN_STATUS_FORMAT);
}

Test(ternary_codec, i2_s_refuses_scales_that_differ_between_rows) {
    int8_t v[256] = {0};
    float s[2] = {1.0f, 2.0f};
    uint8_t out[256 / 4 + 32];
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(BN_TYPE_I2_S, v, s, BN_TERNARY_SCALE_ROW, 128, 2, out,
                                   sizeof out, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "one scale per tensor"), "%s", err.message);
    s[1] = 1.0f;
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_encode(BN_TYPE_I2_S, v, s, BN_TERNARY_SCALE_ROW, 128, 2, out,
                                   sizeof out, &err),
                 BN_STATUS_OK, "%s", err.message);
}

Test(ternary_codec, refuses_bad_values_shapes_scales_and_short_outputs) {
    int8_t v[256] = {0};
    float s = 1.0f;
    uint8_t out[66];
    bn_error err = {0};
    v[7] = 2;
    cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ2_0, v, &s, BN_TERNARY_SCALE_TENSOR, 256, 1, out, 66,
                                   &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "weight 7"), "%s", err.message);
    v[7] = 0;
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ2_0, v, &s, BN_TERNARY_SCALE_TENSOR, 256, 1, out, 65,
                                   &err),
                 BN_STATUS_INVALID_ARG);
    bn_error_clear(&err);
    cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ2_0, v, &s, BN_TERNARY_SCALE_TENSOR, 128, 2, out, 66,
                                   &err),
                 BN_STATUS_UNSUPPORTED, "K=128 is not a TQ2_0 row");
    bn_error_clear(&err);
    s = 1e6f;
    cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ2_0, v, &s, BN_TERNARY_SCALE_TENSOR, 256, 1, out, 66,
                                   &err),
                 BN_STATUS_INVALID_ARG, "1e6 does not fit an f16 scale");
    bn_error_clear(&err);
    s = INFINITY;
    cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ2_BN, v, &s, BN_TERNARY_SCALE_TENSOR, 64, 1, out, 66,
                                   &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_ternary_encoded_bytes(BN_TYPE_I2_S, 100, 1), 0, "100 weights are not a block");
    cr_assert_eq(bn_ternary_encoded_bytes(BN_TYPE_Q8_0, 32, 1), 0, "Q8_0 is not ternary");
    cr_assert_eq(bn_ternary_scale_count(BN_TYPE_I2_S, 128, 4), 1);
    cr_assert_eq(bn_ternary_scale_count(BN_TYPE_TQ1_0, 512, 3), 6);
    cr_assert_eq(bn_ternary_scale_count(BN_TYPE_IQ1_BN, 64, 3), 3);
    cr_assert_eq(bn_ternary_scale_count(BN_TYPE_F16, 10, 3), 3);
}

/* ---- the real layout vectors ------------------------------------------- */

static bn_gguf *open_shared(const char *file) {
    char path[1024];
    if (access(bn_test_tiny_path(path, sizeof path, file), R_OK) != 0)
        return NULL;
    return bn_test_gguf_open(path);
}

static void compare_with_f32(const char *file, bn_tensor_type want_type) {
    bn_gguf *ref = open_shared("tiny-bitnet-f32.gguf");
    bn_gguf *q = ref ? open_shared(file) : NULL;
    if (!ref || !q) {
        bn_gguf_close(ref);
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    }
    int compared = 0;
    for (size_t t = 0; t < bn_gguf_tensor_count(ref); t++) {
        const bn_gguf_tensor *rt = bn_gguf_tensor_at(ref, t);
        if (!bn_test_is_projection(rt->name))
            continue;
        const bn_gguf_tensor *qt = bn_gguf_find_tensor(q, rt->name);
        cr_assert(qt, "%s: no tensor %s", file, rt->name);
        cr_assert_eq(qt->type, want_type, "%s: %s is %s", file, rt->name,
                     bn_tensor_type_name(qt->type));
        int64_t K = rt->ne[0], rows = rt->ne[1] * rt->ne[2] * rt->ne[3];
        cr_assert_eq(qt->ne[0], K);
        decoded a, b;
        bn_error err = {0};
        cr_assert_eq(decode_alloc(BN_TYPE_F32, rt->data, rt->n_bytes, K, rows, &a, &err),
                     BN_STATUS_OK, "%s: %s", rt->name, err.message);
        cr_assert_eq(a.kind, BN_TERNARY_SCALE_TENSOR, "%s has one scale per tensor", rt->name);
        cr_assert_eq(decode_alloc(qt->type, qt->data, qt->n_bytes, K, rows, &b, &err),
                     BN_STATUS_OK, "%s %s: %s", file, qt->name, err.message);
        cr_assert_eq(memcmp(a.values, b.values, (size_t)(K * rows)), 0, "%s %s: values differ",
                     file, rt->name);
        float s = a.scales[0];
        if (want_type == BN_TYPE_I2_S) {
            cr_assert_eq(b.scales[0], s, "%s: I2_S scale %g vs F32 %g", rt->name,
                         (double)b.scales[0], (double)s);
        } else {
            /* llama.cpp stores max|x| of each block as f16: s, or 0 for a block of zeros. */
            float s16 = bn_f16_to_f32(bn_f32_to_f16(s));
            for (int64_t blk = 0; blk < K * rows / 256; blk++) {
                bool any = false;
                for (int i = 0; i < 256; i++)
                    any |= a.values[blk * 256 + i] != 0;
                cr_assert(b.scales[blk] == s16 || (!any && b.scales[blk] == 0.0f),
                          "%s block %lld: scale %g, want %g", rt->name, (long long)blk,
                          (double)b.scales[blk], (double)s16);
            }
        }
        decoded_free(&a);
        decoded_free(&b);
        compared++;
    }
    cr_assert_eq(compared, 42, "%s: %d projection tensors compared", file, compared);
    bn_gguf_close(ref);
    bn_gguf_close(q);
}

Test(ternary_codec, tiny_bitnet_i2_s_decodes_to_the_f32_ternary_values) {
    compare_with_f32("tiny-bitnet-I2_S.gguf", BN_TYPE_I2_S);
}

Test(ternary_codec, tiny_bitnet_tq2_0_decodes_to_the_f32_ternary_values) {
    compare_with_f32("tiny-bitnet-TQ2_0.gguf", BN_TYPE_TQ2_0);
}

Test(ternary_codec, tiny_bitnet_tq1_0_decodes_to_the_f32_ternary_values) {
    compare_with_f32("tiny-bitnet-TQ1_0.gguf", BN_TYPE_TQ1_0);
}

/* ---- bn_ternary_decode_rows: the load path's decoder --------------------- */

/* Every row range of random stored bytes decodes to the rows and scales the
 * whole-tensor decoder gives (floats: their row magnitudes), or fails with
 * the same message. Random bytes hold every byte value, so the base-3 tables
 * are checked against trit_of for all 256. */
static void rows_match_whole(bn_tensor_type type, int64_t K, int64_t rows, bool any_code,
                             uint32_t seed) {
    uint64_t nb = bn_ternary_encoded_bytes(type, K, rows);
    cr_assert(nb > 0);
    uint8_t *b = malloc(nb);
    bool floats = type == BN_TYPE_F32 || type == BN_TYPE_F16 || type == BN_TYPE_BF16;
    if (floats) {
        int8_t *v = malloc((size_t)(K * rows));
        float *s = malloc(sizeof(float) * (size_t)rows);
        random_trits(v, K * rows, seed);
        for (int64_t r = 0; r < rows; r++)
            s[r] = 0.5f + (float)(r % 2);
        cr_assert_eq(bn_ternary_encode(type, v, s, BN_TERNARY_SCALE_ROW, K, rows, b, nb, NULL),
                     BN_STATUS_OK);
        free(v);
        free(s);
    } else {
        for (uint64_t i = 0; i < nb; i++) {
            uint8_t x = (uint8_t)lcg_next(&seed);
            b[i] = any_code ? x : (uint8_t)(x ^ (x & (x >> 1) & 0x55)); /* 3 -> 2 */
        }
    }
    decoded whole;
    bn_error ew = {0};
    bn_status sw = decode_alloc(type, b, nb, K, rows, &whole, &ew);
    size_t per_row = type == BN_TYPE_TQ2_0 || type == BN_TYPE_TQ1_0 ? (size_t)(K / 256) : 1;
    int8_t *v = malloc((size_t)(K * rows));
    float *s = malloc(sizeof(float) * per_row * (size_t)rows);
    /* Whole tensor, then uneven ranges. */
    int64_t starts[] = {0, 0, 1, rows / 2, rows - 1};
    int64_t counts[] = {rows, 1, rows - 1, rows - rows / 2, 1};
    for (int c = 0; c < 5; c++) {
        int64_t r0 = starts[c], n = counts[c];
        if (n < 1)
            continue;
        bn_ternary_scale_kind kind;
        bn_error er = {0};
        bn_status sr = bn_ternary_decode_rows(type, b, nb, K, rows, r0, n, v, s, &kind, &er);
        if (sw != BN_STATUS_OK) {
            if (c == 0) { /* the whole range finds the same first bad weight */
                cr_assert_eq(sr, sw, "%s: %s", bn_tensor_type_name(type), er.message);
                cr_assert_str_eq(er.message, ew.message);
            }
            continue;
        }
        cr_assert_eq(sr, BN_STATUS_OK, "%s rows %lld+%lld: %s", bn_tensor_type_name(type),
                     (long long)r0, (long long)n, er.message);
        cr_assert(memcmp(v, whole.values + r0 * K, (size_t)(n * K)) == 0, "%s rows %lld+%lld",
                  bn_tensor_type_name(type), (long long)r0, (long long)n);
        if (floats) {
            cr_assert_eq(kind, BN_TERNARY_SCALE_ROW);
            for (int64_t r = 0; r < n; r++)
                cr_assert_eq(s[r], 0.5f + (float)((r0 + r) % 2));
        } else {
            cr_assert_eq(kind, whole.kind);
            if (kind == BN_TERNARY_SCALE_TENSOR)
                cr_assert(memcmp(s, whole.scales, sizeof(float)) == 0);
            else
                cr_assert(memcmp(s, whole.scales + (size_t)r0 * per_row,
                                 sizeof(float) * per_row * (size_t)n) == 0);
        }
    }
    free(v);
    free(s);
    decoded_free(&whole); /* allocated either way */
    free(b);
}

Test(ternary_codec, decoding_row_ranges_matches_the_whole_tensor_for_every_type) {
    const bn_tensor_type types[] = {BN_TYPE_I2_S,   BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN,
                                    BN_TYPE_IQ1_BN, BN_TYPE_F32,   BN_TYPE_F16,   BN_TYPE_BF16};
    /* 4352 and 8192: 17 and 32 TQ1_0 blocks, past the 16 whose qh bytes
     * row_tq1 decodes together. */
    const int64_t Ks[] = {64, 256, 512, 3200, 4352, 8192, 8640};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++) {
            if (bn_ternary_encoded_bytes(types[t], Ks[i], 6) == 0)
                continue; /* the type cannot hold this K */
            for (int any = 0; any < 2; any++)
                rows_match_whole(types[t], Ks[i], 6, any, (uint32_t)(t * 100 + i * 10 + any));
        }
}

/* row_iq1bn builds each 16-value group from 8-byte words: a row decoded
 * alone writes exactly its K values (a guard after them stays), and
 * constant rows (all -1, all 0, all +1, encoded) decode back, at one block
 * and at several. */
Test(ternary_codec, iq1_bn_rows_decode_in_place_without_writing_past_the_row) {
    const int64_t Ks[] = {64, 192, 2560};
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++)
        for (int fill = -1; fill <= 1; fill++) {
            int64_t K = Ks[i], rows = 3;
            uint64_t nb = bn_ternary_encoded_bytes(BN_TYPE_IQ1_BN, K, rows);
            uint8_t *b = malloc(nb);
            int8_t *w = malloc((size_t)(K * rows));
            memset(w, fill, (size_t)(K * rows));
            float one = 1.0f;
            cr_assert_eq(bn_ternary_encode(BN_TYPE_IQ1_BN, w, &one, BN_TERNARY_SCALE_TENSOR, K,
                                           rows, b, nb, NULL),
                         BN_STATUS_OK);
            free(w);
            int8_t *v = malloc((size_t)K + 16);
            memset(v, 0x5a, (size_t)K + 16);
            float s[1];
            bn_ternary_scale_kind kind;
            cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_IQ1_BN, b, nb, K, rows, 1, 1, v, s, &kind,
                                                NULL),
                         BN_STATUS_OK);
            for (int64_t k = 0; k < K; k++)
                cr_assert_eq(v[k], fill, "K %lld fill %d value %lld", (long long)K, fill,
                             (long long)k);
            for (int k = 0; k < 16; k++)
                cr_assert_eq(v[K + k], 0x5a, "K %lld: byte %d past the row written", (long long)K,
                             k);
            free(v);
            free(b);
        }
}

Test(ternary_codec, decoding_row_ranges_refuses_ranges_outside_the_tensor) {
    uint8_t b[64 + 32] = {0};
    int8_t v[256];
    float s[4];
    bn_ternary_scale_kind kind;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_I2_S, b, sizeof b, 128, 2, 1, 2, v, s, &kind,
                                        &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_I2_S, b, sizeof b, 128, 2, -1, 1, v, s, &kind,
                                        NULL),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_ternary_decode_rows(BN_TYPE_I2_S, b, sizeof b - 1, 128, 2, 0, 1, v, s, &kind,
                                        NULL),
                 BN_STATUS_FORMAT, "truncated");
}
