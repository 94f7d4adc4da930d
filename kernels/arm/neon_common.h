/* arm/neon_common.h: what the two ARM kernel files share (neon.c, built for
 * armv8-a, and neon_dotprod.c, built for armv8.2-a+dotprod). Only they
 * include it: it pulls in <arm_neon.h>.
 *
 * Owns the multiply-add (MAD) driver of the ternary products and the
 * decoders it uses (I2, T5, T3, and LUT2 for batches without tables): a row chunk of any layout is unpacked once into signed
 * int8 weights (-1/0/+1) in a stack buffer, then dotted with every token of
 * the batch by the file's own int8 dot (vmlal in neon.c, sdot in
 * neon_dotprod.c). The int32 accumulators are exact, so they equal the
 * reference's; the float epilogue is the reference's own (bn_ternary_out,
 * and the BLOCK256 order of kernels.h), hence bit-exact outputs.
 * Also declares the functions neon.c exports for the dotprod table.
 */
#ifndef BN_KERNELS_ARM_NEON_COMMON_H
#define BN_KERNELS_ARM_NEON_COMMON_H

#include <arm_neon.h>

#include "kernels/internal.h"

/* Values decoded per step: a multiple of 128 (I2), 320 (T5), 192 (T3) and
 * 256 (LUT2, BLOCK256), small enough for L1 next to the activation rows. */
#define BN_NEON_CHUNK 3840
/* Tokens whose accumulators one row keeps at a time. */
#define BN_NEON_TOKENS 64

/* sum_k w[k] * q[k] over n values (n % 64 == 0); |w| <= 1 for the ternary
 * dot, any int8 for the general one. */
typedef int32_t (*bn_neon_dot_fn)(const int8_t *w, const int8_t *q, int64_t n);
/* The same for four activation rows at once (weights loaded once). */
typedef void (*bn_neon_dot4_fn)(const int8_t *w, const int8_t *q0, const int8_t *q1,
                                const int8_t *q2, const int8_t *q3, int64_t n,
                                int32_t out[4]);

/* One token against one whole row, straight from the packed bytes, over Kp
 * values. I2: sum_k c_k * q[k] with the codes c = w + 1 in 0..2 (the caller
 * subtracts the token's sum of q: the offset trick). T3: sum_k w_k * q[k]. */
typedef int32_t (*bn_neon_rowdot_fn)(const uint8_t *row, const int8_t *q, int64_t Kp);

/* Decodes values [k0, k0 + n) of row r (k0 % BN_NEON_CHUNK == 0, n a multiple
 * of the layout's block) into int8 weights. */
static inline void bn_neon_decode_i2(const bn_ternary_matrix *m, int64_t r, int64_t k0,
                                     int64_t n, int8_t *w) {
    const uint8_t *src = m->data + (uint64_t)r * m->row_bytes + k0 / 4;
    const uint8x16_t three = vdupq_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    for (int64_t b = 0; b < n / BN_I2_BLOCK; b++, src += 32, w += 128) {
        /* Byte j holds values 32g + j at bits 6 - 2g. */
        for (int h = 0; h < 2; h++) {
            uint8x16_t v = vld1q_u8(src + 16 * h);
            vst1q_s8(w + 16 * h, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 6)), one));
            vst1q_s8(w + 32 + 16 * h,
                     vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 4), three)), one));
            vst1q_s8(w + 64 + 16 * h,
                     vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 2), three)), one));
            vst1q_s8(w + 96 + 16 * h, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, three)), one));
        }
    }
}

static inline void bn_neon_decode_t5(const bn_ternary_matrix *m, int64_t r, int64_t k0,
                                     int64_t n, int8_t *w) {
    /* k0 is a multiple of 320, so the chunk starts at byte k0 / 5. */
    const uint8_t *src = m->data + (uint64_t)r * m->row_bytes + k0 / BN_T5_CHUNK * BN_T5_CHUNK_BYTES;
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    const uint8x8_t three = vdup_n_u8(3);
    const int8x16_t one = vdupq_n_s8(1);
    for (int64_t c = 0; c < n / BN_T5_CHUNK; c++, src += 64, w += 320) {
        for (int h = 0; h < 4; h++) {
            uint8x16_t v = vld1q_u8(src + 16 * h);
            for (int i = 0; i < 5; i++) {
                /* trit i of byte j = ((B * 3^i) mod 256) * 3 >> 8 */
                uint8x16_t u = vmulq_u8(v, vdupq_n_u8(pow3[i]));
                uint8x8_t lo = vshrn_n_u16(vmull_u8(vget_low_u8(u), three), 8);
                uint8x8_t hi = vshrn_n_u16(vmull_u8(vget_high_u8(u), three), 8);
                int8x16_t t = vreinterpretq_s8_u8(vcombine_u8(lo, hi));
                vst1q_s8(w + 64 * i + 16 * h, vsubq_s8(t, one));
            }
        }
    }
}

/* One T3 chunk (40 bytes) as 12 vectors of int8 weights: w[4p + g] holds
 * values 64p + 16g .. 64p + 16g + 15 of the chunk's 192. */
static inline void bn_neon_t3_chunk(const uint8_t *src, int8x16_t w[12]) {
    /* Digit p (value 64p + j) of a positive triplet of magnitude 0..13 as a
     * weight: m = 9*d0 + 3*d1 + d2 (bn_t3_pos_code minus one); 14, 15 -> 0. */
    static const int8_t digit[3][16] = {
        {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
        {0, 0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 1, 1, 1, 0, 0},
        {0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, 0, 0}};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const int8x16_t d0 = vld1q_s8(digit[0]), d1 = vld1q_s8(digit[1]), d2 = vld1q_s8(digit[2]);
    const uint8x16_t bits = vld1q_u8(bit), low4 = vdupq_n_u8(15);
    uint8x16_t b0 = vld1q_u8(src), b1 = vld1q_u8(src + 16);
    /* Magnitudes of triplets 16g .. 16g + 15. */
    uint8x16_t mag[4] = {vandq_u8(b0, low4), vandq_u8(b1, low4), vshrq_n_u8(b0, 4),
                         vshrq_n_u8(b1, 4)};
    for (int g = 0; g < 4; g++) {
        /* Sign bits of those triplets, one byte each: 0xff if negative. */
        uint8x16_t sb = vcombine_u8(vdup_n_u8(src[32 + 2 * g]), vdup_n_u8(src[33 + 2 * g]));
        int8x16_t neg = vreinterpretq_s8_u8(vtstq_u8(sb, bits));
        /* (v ^ neg) - neg: v, or -v where neg is -1. */
        w[g] = vsubq_s8(veorq_s8(vqtbl1q_s8(d0, mag[g]), neg), neg);
        w[4 + g] = vsubq_s8(veorq_s8(vqtbl1q_s8(d1, mag[g]), neg), neg);
        w[8 + g] = vsubq_s8(veorq_s8(vqtbl1q_s8(d2, mag[g]), neg), neg);
    }
}

static inline void bn_neon_decode_t3(const bn_ternary_matrix *m, int64_t r, int64_t k0,
                                     int64_t n, int8_t *w) {
    const uint8_t *src = m->data + (uint64_t)r * m->row_bytes + k0 / BN_T3_CHUNK * BN_T3_CHUNK_BYTES;
    for (int64_t c = 0; c < n / BN_T3_CHUNK; c++, src += BN_T3_CHUNK_BYTES, w += BN_T3_CHUNK) {
        int8x16_t v[12];
        bn_neon_t3_chunk(src, v);
        for (int i = 0; i < 12; i++)
            vst1q_s8(w + 16 * i, v[i]);
    }
}

static inline void bn_neon_decode_lut2(const bn_ternary_matrix *m, int64_t r, int64_t k0,
                                       int64_t n, int8_t *w) {
    /* Only for batches without tables: one byte per 4 values, 64 bytes apart. */
    const uint8_t *tile = m->data + (uint64_t)(r / BN_LUT_TILE_ROWS) * m->row_bytes +
                          r % BN_LUT_TILE_ROWS;
    for (int64_t pp = k0 / 4; pp < (k0 + n) / 4; pp++, w += 4) {
        uint8_t b = tile[pp * BN_LUT_TILE_ROWS];
        w[0] = (int8_t)((b & 3) - 1);
        w[1] = (int8_t)(((b >> 2) & 3) - 1);
        w[2] = (int8_t)(((b >> 4) & 3) - 1);
        w[3] = (int8_t)((b >> 6) - 1);
    }
}

static inline void bn_neon_decode(const bn_ternary_matrix *m, int64_t r, int64_t k0, int64_t n,
                                  int8_t *w) {
    switch (m->layout) {
    case BN_LAYOUT_I2:
        bn_neon_decode_i2(m, r, k0, n, w);
        break;
    case BN_LAYOUT_T5:
        bn_neon_decode_t5(m, r, k0, n, w);
        break;
    case BN_LAYOUT_T3:
        bn_neon_decode_t3(m, r, k0, n, w);
        break;
    default:
        bn_neon_decode_lut2(m, r, k0, n, w);
        break;
    }
}

/* The MAD product of rows [row_begin, row_end): float outputs into y, or (y
 * NULL) the raw accumulators into acc_out; `stride` between tokens. */
static inline void bn_neon_mad_gemm(const bn_ternary_matrix *w, const bn_act_batch *act,
                                    int64_t row_begin, int64_t row_end, float *y,
                                    int32_t *acc_out, int64_t stride, bn_neon_dot_fn dot,
                                    bn_neon_dot4_fn dot4, bn_neon_rowdot_fn i2_rowdot,
                                    bn_neon_rowdot_fn t3_rowdot) {
    const int64_t Kp = w->Kp, nt = act->n_tokens;
    const bool block = w->scale_kind == BN_TERNARY_SCALE_BLOCK256 && y;
    bn_neon_rowdot_fn rowdot = w->layout == BN_LAYOUT_I2   ? i2_rowdot
                               : w->layout == BN_LAYOUT_T3 ? t3_rowdot
                                                           : NULL;
    if (nt == 1 && !block && rowdot) {
        /* Decode (one token): the weights go from the loaded bytes straight
         * into the dot, no buffer; for I2 the row sum of q removes the +1
         * offset of the codes. */
        const int32_t offset = w->layout == BN_LAYOUT_I2 ? act->sum[0] : 0;
        for (int64_t r = row_begin; r < row_end; r++) {
            int32_t acc = rowdot(w->data + (uint64_t)r * w->row_bytes, act->q, Kp) - offset;
            if (!y)
                acc_out[r] = acc;
            else
                y[r] = bn_ternary_out(w, r, acc, act->scale[0]);
        }
        return;
    }
    int8_t wv[BN_NEON_CHUNK] __attribute__((aligned(16))); /* (BN_NEON_CHUNK) weights */
    for (int64_t r = row_begin; r < row_end; r++) {
        for (int64_t t0 = 0; t0 < nt; t0 += BN_NEON_TOKENS) {
            int64_t tn = nt - t0 < BN_NEON_TOKENS ? nt - t0 : BN_NEON_TOKENS;
            int32_t acc[BN_NEON_TOKENS] = {0};
            float s[BN_NEON_TOKENS] = {0};
            for (int64_t c0 = 0; c0 < Kp; c0 += BN_NEON_CHUNK) {
                /* Kp - c0 is a multiple of the layout's block (>= 64 values);
                 * activations are zero from K to the stride, codes past K
                 * are weight 0: the padded tail adds nothing. */
                int64_t n = Kp - c0 < BN_NEON_CHUNK ? Kp - c0 : BN_NEON_CHUNK;
                bn_neon_decode(w, r, c0, n, wv);
                const int8_t *q = act->q + t0 * act->stride + c0;
                if (block) {
                    /* BLOCK256 (I2 only, K % 256 == 0, so Kp == K): one
                     * exact accumulator per block, summed in float in block
                     * order as kernels.h says. */
                    const float *d = w->scales + r * (w->K / 256) + c0 / 256;
                    for (int64_t ti = 0; ti < tn; ti++, q += act->stride)
                        for (int64_t b = 0; b < n / 256; b++) {
                            float prod = d[b] * (float)dot(wv + 256 * b, q + 256 * b, 256);
                            s[ti] = s[ti] + prod;
                        }
                    continue;
                }
                int64_t ti = 0;
                for (; ti + 4 <= tn; ti += 4, q += 4 * act->stride) {
                    int32_t a4[4];
                    dot4(wv, q, q + act->stride, q + 2 * act->stride, q + 3 * act->stride, n, a4);
                    for (int j = 0; j < 4; j++)
                        acc[ti + j] += a4[j];
                }
                for (; ti < tn; ti++, q += act->stride)
                    acc[ti] += dot(wv, q, n);
            }
            for (int64_t ti = 0; ti < tn; ti++) {
                int64_t t = t0 + ti;
                if (!y)
                    acc_out[t * stride + r] = acc[ti];
                else if (block)
                    y[t * stride + r] = s[ti] / act->scale[t];
                else
                    y[t * stride + r] = bn_ternary_out(w, r, acc[ti], act->scale[t]);
            }
        }
    }
}

/* The int8-copy output product (dense_gemm_i8) with a general int8 dot:
 * exact int32, then the reference's epilogue. */
static inline void bn_neon_dense_i8(const bn_dense_matrix *w, const bn_act_batch *act,
                                    int64_t row_begin, int64_t row_end, float *y,
                                    int64_t y_stride, bn_neon_dot_fn dot) {
    /* Both rows are zero from K to the common stride (bn_act_batch_stride). */
    const int64_t n = bn_round_up(w->K, 64);
    for (int64_t t = 0; t < act->n_tokens; t++) {
        const int8_t *q = act->q + t * act->stride;
        for (int64_t r = row_begin; r < row_end; r++) {
            int32_t acc = dot(w->q8 + r * w->q8_stride, q, n);
            y[t * y_stride + r] = (float)acc / act->scale[t] * w->q8_scale[r];
        }
    }
}

/* neon.c's functions that the dotprod table uses as they are. */
void bn_act_quant_i8_neon(const float *x, int64_t x_stride, bn_act_batch *act, int64_t t_begin,
                          int64_t t_end);
void bn_act_rmsnorm_quant_i8_neon(const float *x, int64_t x_stride, const float *norm_w,
                                  float eps, bn_act_batch *act, int64_t t_begin, int64_t t_end);
void bn_gemm_lut2_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                          int64_t row_begin, int64_t row_end, float *y, int64_t y_stride);
void bn_gemm_acc_lut2_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, int32_t *acc,
                              int64_t acc_stride);
void bn_dense_gemm_f32_neon(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                            int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                            int64_t y_stride);
float bn_dot_f32_neon(const float *a, const float *b, int64_t n);
float bn_dot_f16_neon(const float *a, const uint16_t *b, int64_t n);
void bn_axpy_f32_neon(float a, const float *x, float *y, int64_t n);
void bn_axpy_f16_neon(float a, const uint16_t *x, float *y, int64_t n);
void bn_rmsnorm_f32_neon(const float *x, const float *w, float eps, int64_t n, float *y);
void bn_f16_to_f32_neon(const uint16_t *src, float *dst, int64_t n);
void bn_f32_to_f16_neon(const float *src, uint16_t *dst, int64_t n);

#endif /* BN_KERNELS_ARM_NEON_COMMON_H */
