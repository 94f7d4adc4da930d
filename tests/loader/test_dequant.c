/* test_dequant.c: ggml's float and block rows, read and written.
 *
 * Q6_K and Q8_0 are checked against hand-built blocks (so the layout is
 * pinned by bytes, not by our own packer), then quantize -> dequantize error
 * bounds; ternary rows agree with the codec.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "loader/dequant.h"
#include "loader/half.h"
#include "loader/ternary_codec.h"

static float frand(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 24) * 2.0f - 1.0f; /* [-1, 1) */
}

Test(dequant, reads_a_hand_built_q6_k_block) {
    uint8_t b[210];
    memset(b, 0, sizeof b);
    b[0] = 0x21;   /* value 0 low nibble 1, value 64 low nibble 2 */
    b[32] = 0x43;  /* value 32 low nibble 3, value 96 low nibble 4 */
    b[128] = 0xE4; /* high bits: value 0 -> 0, 32 -> 1, 64 -> 2, 96 -> 3 */
    int8_t sc[16] = {0};
    sc[0] = 1;  /* values 0..15 */
    sc[2] = 2;  /* values 32..47 */
    sc[4] = -3; /* values 64..79 */
    sc[6] = 4;  /* values 96..111 */
    sc[15] = 5; /* values 240..255 */
    memcpy(b + 192, sc, 16);
    uint16_t d = bn_f32_to_f16(0.5f);
    memcpy(b + 208, &d, 2);
    float y[256];
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q6_K, b, y, 256), BN_STATUS_OK);
    cr_assert_eq(y[0], 0.5f * 1 * (1 - 32));
    cr_assert_eq(y[32], 0.5f * 2 * (19 - 32));
    cr_assert_eq(y[64], 0.5f * -3 * (34 - 32));
    cr_assert_eq(y[96], 0.5f * 4 * (52 - 32));
    cr_assert_eq(y[1], 0.5f * 1 * -32);
    cr_assert_eq(y[16], 0.0f, "sub-block 1 has scale 0");
    cr_assert_eq(y[255], 0.5f * 5 * -32);
}

Test(dequant, reads_a_hand_built_q8_0_block) {
    uint8_t b[34];
    memset(b, 0, sizeof b);
    uint16_t d = bn_f32_to_f16(0.25f);
    memcpy(b, &d, 2);
    b[2] = 4;
    b[3] = (uint8_t)(int8_t)-127;
    b[33] = 127;
    float y[32];
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q8_0, b, y, 32), BN_STATUS_OK);
    cr_assert_eq(y[0], 1.0f);
    cr_assert_eq(y[1], -31.75f);
    cr_assert_eq(y[31], 31.75f);
    cr_assert_eq(y[5], 0.0f);
}

Test(dequant, q8_0_round_trip_errs_at_most_half_a_step) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N / 32 * 34];
    uint32_t seed = 3;
    for (int i = 0; i < N; i++)
        x[i] = frand(&seed) * (1.0f + (float)(i / 32));
    cr_assert_eq(bn_quantize_row_q8_0(x, q, N), BN_STATUS_OK);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q8_0, q, y, N), BN_STATUS_OK);
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float step = amax / 127.0f;
        for (int j = 0; j < 32; j++) /* half a step, plus the f16 rounding of d */
            cr_assert_leq(fabsf(x[32 * b + j] - y[32 * b + j]), 0.5f * step + amax * 1e-3f,
                          "block %d value %d", b, j);
    }
}

Test(dequant, q6_k_round_trip_is_accurate_to_about_six_bits) {
    enum { N = 256 * 16 };
    static float x[N], y[N];
    static uint8_t q[N / 256 * 210];
    uint32_t seed = 5;
    for (int i = 0; i < N; i++) /* varied magnitudes per sub-block, like real weights */
        x[i] = frand(&seed) * (0.01f + 0.05f * (float)((i / 16) % 7));
    cr_assert_eq(bn_quantize_row_q6_k(x, q, N), BN_STATUS_OK);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q6_K, q, y, N), BN_STATUS_OK);
    double err = 0, sig = 0;
    for (int i = 0; i < N; i++) {
        err += (double)(x[i] - y[i]) * (x[i] - y[i]);
        sig += (double)x[i] * x[i];
    }
    double rel = sqrt(err / sig);
    /* Uniform data, 63 levels over each sub-block's range: step/sqrt(12)
     * over the signal's rms is about 1/(31*2) ~ 1.6%. */
    cr_assert_lt(rel, 0.02, "relative rms error %g", rel);
    /* Values on one 64-level grid (every sub-block reaching -32 steps, so all
     * sub-block scales are equal) come back up to the f16 rounding of d. */
    for (int i = 0; i < 256; i++)
        x[i] = i % 16 == 0 ? -4.0f : (float)((i * 7) % 63 - 31) * 0.125f;
    cr_assert_eq(bn_quantize_row_q6_k(x, q, 256), BN_STATUS_OK);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q6_K, q, y, 256), BN_STATUS_OK);
    for (int i = 0; i < 256; i++)
        cr_assert_leq(fabsf(y[i] - x[i]), 1e-3f * fabsf(x[i]) + 1e-6f, "value %d: %g vs %g", i,
                      (double)y[i], (double)x[i]);
}

Test(dequant, q6_k_handles_an_all_zero_block) {
    float x[256] = {0}, y[256];
    uint8_t q[210];
    cr_assert_eq(bn_quantize_row_q6_k(x, q, 256), BN_STATUS_OK);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q6_K, q, y, 256), BN_STATUS_OK);
    for (int i = 0; i < 256; i++)
        cr_assert_eq(y[i], 0.0f);
}

Test(dequant, reads_float_rows) {
    float f[3] = {1.5f, -2.0f, 65504.0f}, y[3];
    cr_assert_eq(bn_dequantize_row(BN_TYPE_F32, f, y, 3), BN_STATUS_OK);
    cr_assert_eq(memcmp(f, y, sizeof f), 0);
    uint16_t h[3], bh[3];
    for (int i = 0; i < 3; i++) {
        h[i] = bn_f32_to_f16(f[i]);
        bh[i] = bn_f32_to_bf16(f[i]);
    }
    cr_assert_eq(bn_dequantize_row(BN_TYPE_F16, h, y, 3), BN_STATUS_OK);
    cr_assert_eq(memcmp(f, y, sizeof f), 0);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_BF16, bh, y, 3), BN_STATUS_OK);
    cr_assert_eq(y[0], 1.5f);
    cr_assert_eq(y[2], 65536.0f, "bf16 rounds 65504 to 65536");
}

Test(dequant, reads_ternary_rows_like_the_codec) {
    bn_tensor_type types[] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN, BN_TYPE_IQ1_BN};
    for (int t = 0; t < 4; t++) {
        int8_t v[512];
        uint32_t seed = 9u + (uint32_t)t;
        for (int i = 0; i < 512; i++)
            v[i] = (int8_t)(frand(&seed) < -0.33f ? -1 : frand(&seed) > 0.2f ? 1 : 0);
        float s[2] = {0.375f, 0.75f}; /* per 256-block: also per row for IQ*_BN rows of 256 */
        uint8_t buf[2 * 70];
        bn_error err = {0};
        cr_assert_eq(bn_ternary_encode(types[t], v, s,
                                       t < 2 ? BN_TERNARY_SCALE_BLOCK256 : BN_TERNARY_SCALE_ROW,
                                       256, 2, buf, sizeof buf, &err),
                     BN_STATUS_OK, "%s", err.message);
        uint64_t row_bytes = bn_tensor_type_row_bytes(types[t], 256);
        for (int r = 0; r < 2; r++) {
            float y[256];
            cr_assert_eq(bn_dequantize_row(types[t], buf + r * row_bytes, y, 256), BN_STATUS_OK);
            for (int i = 0; i < 256; i++)
                cr_assert_eq(y[i], (float)v[256 * r + i] * s[r], "%s row %d value %d",
                             bn_tensor_type_name(types[t]), r, i);
        }
    }
}

Test(dequant, refuses_partial_blocks_and_i2_s) {
    float x[300] = {0}, y[300];
    uint8_t q[300 * 4];
    cr_assert_eq(bn_quantize_row_q8_0(x, q, 33), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_quantize_row_q6_k(x, q, 255), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_Q6_K, q, y, 300), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_I2_S, q, y, 128), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_dequantize_row(BN_TYPE_F32, NULL, y, 1), BN_STATUS_INVALID_ARG);
}
