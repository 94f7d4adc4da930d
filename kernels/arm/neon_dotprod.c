/* arm/neon_dotprod.c: the "neon-dotprod" kernel table (armv8.2-a + the dot
 * product extension: SDOT, HWCAP_ASIMDDP).
 *
 * Owns the products that SDOT speeds up: the MAD ternary products (I2, T5, T3;
 * and LUT2 batches without tables) and the int8 output-layer product, each
 * a 4-way int8 dot into int32 lanes, exact like every other table. Every
 * other entry is neon.c's function (this file is built with its own flags,
 * -march=armv8.2-a+dotprod, and only runs where the CPU reports dotprod).
 */
#include "kernels/arm/neon_common.h"

/* Any int8 dot (ternary or not): SDOT sums 4 products per int32 lane, far
 * from overflow for rows of up to 2^24 values. n % 64 == 0. */
static int32_t bn_dot_i8_neon_dotprod(const int8_t *w, const int8_t *q, int64_t n) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < n; k += 64) {
        a0 = vdotq_s32(a0, vld1q_s8(w + k), vld1q_s8(q + k));
        a1 = vdotq_s32(a1, vld1q_s8(w + k + 16), vld1q_s8(q + k + 16));
        a2 = vdotq_s32(a2, vld1q_s8(w + k + 32), vld1q_s8(q + k + 32));
        a3 = vdotq_s32(a3, vld1q_s8(w + k + 48), vld1q_s8(q + k + 48));
    }
    return vaddvq_s32(vaddq_s32(vaddq_s32(a0, a1), vaddq_s32(a2, a3)));
}

static void bn_dot4_i8_neon_dotprod(const int8_t *w, const int8_t *q0, const int8_t *q1,
                                    const int8_t *q2, const int8_t *q3, int64_t n,
                                    int32_t out[4]) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t k = 0; k < n; k += 16) {
        int8x16_t wv = vld1q_s8(w + k);
        a0 = vdotq_s32(a0, wv, vld1q_s8(q0 + k));
        a1 = vdotq_s32(a1, wv, vld1q_s8(q1 + k));
        a2 = vdotq_s32(a2, wv, vld1q_s8(q2 + k));
        a3 = vdotq_s32(a3, wv, vld1q_s8(q3 + k));
    }
    out[0] = vaddvq_s32(a0);
    out[1] = vaddvq_s32(a1);
    out[2] = vaddvq_s32(a2);
    out[3] = vaddvq_s32(a3);
}

/* I2 row x one token (codes 0..2, offset removed by the caller): 8 SDOTs
 * per 128 values, the codes taken from the 32 loaded bytes. */
static int32_t bn_i2_rowdot_i8_neon_dotprod(const uint8_t *row, const int8_t *q, int64_t Kp) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int64_t k = 0; k < Kp; k += BN_I2_BLOCK, row += BN_I2_BLOCK_BYTES, q += BN_I2_BLOCK) {
        uint8x16_t b0 = vld1q_u8(row), b1 = vld1q_u8(row + 16);
        a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vshrq_n_u8(b0, 6)), vld1q_s8(q));
        a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vshrq_n_u8(b1, 6)), vld1q_s8(q + 16));
        a2 = vdotq_s32(a2, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 4), m3)), vld1q_s8(q + 32));
        a3 = vdotq_s32(a3, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 4), m3)), vld1q_s8(q + 48));
        a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 2), m3)), vld1q_s8(q + 64));
        a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 2), m3)), vld1q_s8(q + 80));
        a2 = vdotq_s32(a2, vreinterpretq_s8_u8(vandq_u8(b0, m3)), vld1q_s8(q + 96));
        a3 = vdotq_s32(a3, vreinterpretq_s8_u8(vandq_u8(b1, m3)), vld1q_s8(q + 112));
    }
    return vaddvq_s32(vaddq_s32(vaddq_s32(a0, a1), vaddq_s32(a2, a3)));
}

/* T3 row x one token: 12 SDOTs per 192 values on the decoded vectors. */
static int32_t bn_t3_rowdot_i8_neon_dotprod(const uint8_t *row, const int8_t *q, int64_t Kp) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0;
    for (int64_t k = 0; k < Kp; k += BN_T3_CHUNK, row += BN_T3_CHUNK_BYTES, q += BN_T3_CHUNK) {
        int8x16_t wv[12];
        bn_neon_t3_chunk(row, wv);
        for (int g = 0; g < 4; g++) {
            a0 = vdotq_s32(a0, wv[g], vld1q_s8(q + 16 * g));
            a1 = vdotq_s32(a1, wv[4 + g], vld1q_s8(q + 64 + 16 * g));
            a2 = vdotq_s32(a2, wv[8 + g], vld1q_s8(q + 128 + 16 * g));
        }
    }
    return vaddvq_s32(vaddq_s32(vaddq_s32(a0, a1), a2));
}

static void bn_gemm_mad_i8_neon_dotprod(const bn_ternary_matrix *w, const bn_act_batch *act,
                                        int64_t row_begin, int64_t row_end, float *y,
                                        int64_t y_stride) {
    bn_neon_mad_gemm(w, act, row_begin, row_end, y, NULL, y_stride, bn_dot_i8_neon_dotprod,
                     bn_dot4_i8_neon_dotprod, bn_i2_rowdot_i8_neon_dotprod,
                     bn_t3_rowdot_i8_neon_dotprod);
}

static void bn_gemm_acc_mad_i8_neon_dotprod(const bn_ternary_matrix *w, const bn_act_batch *act,
                                            int64_t row_begin, int64_t row_end, int32_t *acc,
                                            int64_t acc_stride) {
    bn_neon_mad_gemm(w, act, row_begin, row_end, NULL, acc, acc_stride, bn_dot_i8_neon_dotprod,
                     bn_dot4_i8_neon_dotprod, bn_i2_rowdot_i8_neon_dotprod,
                     bn_t3_rowdot_i8_neon_dotprod);
}

static void bn_dense_gemm_i8_neon_dotprod(const bn_dense_matrix *w, const bn_act_batch *act,
                                          int64_t row_begin, int64_t row_end, float *y,
                                          int64_t y_stride) {
    bn_neon_dense_i8(w, act, row_begin, row_end, y, y_stride, bn_dot_i8_neon_dotprod);
}

const bn_kernels bn_kernels_neon_dotprod = {
    .name = "neon-dotprod",
    /* MAD kernels work row by row, LUT2 in 16-row strips of a tile. */
    .row_granule = 16,
    .act_quant = bn_act_quant_i8_neon,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_neon,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_mad_i8_neon_dotprod, bn_gemm_acc_mad_i8_neon_dotprod},
            [BN_LAYOUT_T5] = {bn_gemm_mad_i8_neon_dotprod, bn_gemm_acc_mad_i8_neon_dotprod},
            [BN_LAYOUT_T3] = {bn_gemm_mad_i8_neon_dotprod, bn_gemm_acc_mad_i8_neon_dotprod},
            [BN_LAYOUT_LUT2] = {bn_gemm_lut2_i8_neon, bn_gemm_acc_lut2_i8_neon},
        },
    .dense_gemm = bn_dense_gemm_f32_neon,
    .dense_gemm_i8 = bn_dense_gemm_i8_neon_dotprod,
    .dot_f32 = bn_dot_f32_neon,
    .dot_f16 = bn_dot_f16_neon,
    .axpy_f32 = bn_axpy_f32_neon,
    .axpy_f16 = bn_axpy_f16_neon,
    .rmsnorm = bn_rmsnorm_f32_neon,
    .softmax = bn_softmax_f32_ref,
    .f16_to_f32 = bn_f16_to_f32_neon,
    .f32_to_f16 = bn_f32_to_f16_neon,
    .attend = bn_attend_neon,
};
