/* arm/neon.c: the "neon" kernel table (armv8-a Advanced SIMD, no dotprod).
 *
 * Owns the NEON versions of activation quantization (plain and fused with
 * RMSNorm, with row / block sums and the LUT family's pair tables), the
 * ternary products of every layout (MAD through vmlal_s8 for I2, T5 and T3; the
 * LUT2 product through vqtbl1q_u8 lookups of the per-token pair tables), the
 * output-layer products and the float helpers. neon_dotprod.c reuses all of
 * it except the MAD products and the int8 output product.
 *
 * Bit-exactness (kernels.h): integer results are exact whatever the order;
 * the float code keeps the reference's operations and order (16 lanes for
 * the sum of squares, mul then add, vrndnq = round half to even, no fused
 * multiply-add: this file builds with -ffp-contract=off and uses vfmaq only
 * in the dense and dot helpers, whose results are checked by tolerance).
 */
#include <math.h>
#include <string.h>

#include "kernels/arm/neon_common.h"
#include "loader/half.h"

/* ------------------------------------------------------------------------ */
/* Activation quantization                                                  */

/* One value already multiplied by act_scale, as ref/act.c's bn_quant1:
 * NaN (from an infinite input) lands on -128. */
static inline int8_t bn_quant1_neon(float v) {
    float r = rintf(v);
    if (r > 127.0f)
        return 127;
    if (r >= -128.0f)
        return (int8_t)r;
    return -128;
}

/* Four products x*s already computed -> four int8 codes in int32 lanes. */
static inline int32x4_t bn_quant4(float32x4_t v) {
    float32x4_t r = vrndnq_f32(v);
    /* r >= -128 ? min(r, 127) : -128; the compare is false for NaN. */
    uint32x4_t ge = vcgeq_f32(r, vdupq_n_f32(-128.0f));
    r = vbslq_f32(ge, vminq_f32(r, vdupq_n_f32(127.0f)), vdupq_n_f32(-128.0f));
    return vcvtq_s32_f32(r);
}

static inline int8x16_t bn_narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    int16x8_t lo = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    int16x8_t hi = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

/* max(1e-5, max |v_k|) with the reference's comparisons: vmaxnm skips NaN
 * as `a > amax` does. */
static float bn_amax_neon(const float *x, int64_t K) {
    float32x4_t m = vdupq_n_f32(1e-5f);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + k)));
    float amax = vmaxnmvq_f32(m);
    for (; k < K; k++) {
        float a = fabsf(x[k]);
        if (a > amax)
            amax = a;
    }
    return amax;
}

/* The LUT family's tables of token t (layout in kernels.h): for pair p,
 * 16 int16 entries e[c0 | c1 << 2] = (c0-1)*q0 + (c1-1)*q1 (0 for code 3),
 * stored as 16 low bytes then 16 high bytes. */
static void bn_lut_build_i8_neon(bn_act_batch *act, int64_t t) {
    const int8_t *q = act->q + t * act->stride;
    uint8_t *lut = act->lut + t * (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    /* Coefficients of q0 and q1 for entries 0..7 (a) and 8..15 (b). */
    static const int16_t c0a[8] = {-1, 0, 1, 0, -1, 0, 1, 0};
    static const int16_t c1a[8] = {-1, -1, -1, 0, 0, 0, 0, 0};
    static const int16_t c0b[8] = {-1, 0, 1, 0, 0, 0, 0, 0};
    static const int16_t c1b[8] = {1, 1, 1, 0, 0, 0, 0, 0};
    const int16x8_t C0a = vld1q_s16(c0a), C1a = vld1q_s16(c1a);
    const int16x8_t C0b = vld1q_s16(c0b), C1b = vld1q_s16(c1b);
    for (int64_t p = 0; p < act->stride / 2; p++, lut += BN_LUT_ENTRY_BYTES) {
        int16_t q0 = q[2 * p], q1 = q[2 * p + 1];
        int16x8_t ea = vmlaq_n_s16(vmulq_n_s16(C0a, q0), C1a, q1);
        int16x8_t eb = vmlaq_n_s16(vmulq_n_s16(C0b, q0), C1b, q1);
        uint8x16_t ua = vreinterpretq_u8_s16(ea), ub = vreinterpretq_u8_s16(eb);
        vst1q_u8(lut, vuzp1q_u8(ua, ub));      /* low bytes of entries 0..15 */
        vst1q_u8(lut + 16, vuzp2q_u8(ua, ub)); /* high bytes */
    }
}

/* After q of token t is written up to K: zero padding, sums, tables. */
static void bn_act_finish_row_neon(bn_act_batch *act, int64_t t) {
    int8_t *q = act->q + t * act->stride;
    memset(q + act->K, 0, (size_t)(act->stride - act->K));
    int32_t *bs = act->block_sum + t * (act->stride / 256);
    int32_t total = 0;
    for (int64_t b = 0; b < act->stride / 256; b++) {
        /* 16 vectors of 16: each int16 lane sums 32 values, |s| <= 4096. */
        int16x8_t s = vdupq_n_s16(0);
        for (int i = 0; i < 256; i += 16)
            s = vpadalq_s8(s, vld1q_s8(q + b * 256 + i));
        bs[b] = vaddlvq_s16(s);
        total += bs[b];
    }
    act->sum[t] = total;
    if (act->lut)
        bn_lut_build_i8_neon(act, t);
}

/* q[k] = quant(x[k] * s) for k < K. */
static void bn_quant_row_neon(const float *x, int64_t K, float s, int8_t *q) {
    const float32x4_t vs = vdupq_n_f32(s);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        int32x4_t a = bn_quant4(vmulq_f32(vld1q_f32(x + k), vs));
        int32x4_t b = bn_quant4(vmulq_f32(vld1q_f32(x + k + 4), vs));
        int32x4_t c = bn_quant4(vmulq_f32(vld1q_f32(x + k + 8), vs));
        int32x4_t d = bn_quant4(vmulq_f32(vld1q_f32(x + k + 12), vs));
        vst1q_s8(q + k, bn_narrow16(a, b, c, d));
    }
    for (; k < K; k++)
        q[k] = bn_quant1_neon(x[k] * s);
}

void bn_act_quant_i8_neon(const float *x, int64_t x_stride, bn_act_batch *act, int64_t t_begin,
                          int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        float s = 127.0f / bn_amax_neon(xr, act->K);
        bn_quant_row_neon(xr, act->K, s, act->q + t * act->stride);
        act->scale[t] = s;
        bn_act_finish_row_neon(act, t);
    }
}

/* The 16-lane sum of squares of kernels.h: four vectors hold lanes 0..15;
 * a tail shorter than 16 adds exact zeros to the lanes it does not reach. */
static float bn_sumsq16_neon(const float *x, int64_t n) {
    float32x4_t l0 = vdupq_n_f32(0.0f), l1 = l0, l2 = l0, l3 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        float32x4_t a = vld1q_f32(x + k), b = vld1q_f32(x + k + 4);
        float32x4_t c = vld1q_f32(x + k + 8), d = vld1q_f32(x + k + 12);
        l0 = vaddq_f32(l0, vmulq_f32(a, a));
        l1 = vaddq_f32(l1, vmulq_f32(b, b));
        l2 = vaddq_f32(l2, vmulq_f32(c, c));
        l3 = vaddq_f32(l3, vmulq_f32(d, d));
    }
    if (k < n) {
        float tail[16] = {0};
        memcpy(tail, x + k, (size_t)(n - k) * sizeof(float));
        float32x4_t a = vld1q_f32(tail), b = vld1q_f32(tail + 4);
        float32x4_t c = vld1q_f32(tail + 8), d = vld1q_f32(tail + 12);
        l0 = vaddq_f32(l0, vmulq_f32(a, a));
        l1 = vaddq_f32(l1, vmulq_f32(b, b));
        l2 = vaddq_f32(l2, vmulq_f32(c, c));
        l3 = vaddq_f32(l3, vmulq_f32(d, d));
    }
    /* Fold 8+8, 4+4, 2+2, 1+1. */
    l0 = vaddq_f32(l0, l2);
    l1 = vaddq_f32(l1, l3);
    l0 = vaddq_f32(l0, l1);
    float32x2_t h = vadd_f32(vget_low_f32(l0), vget_high_f32(l0));
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

void bn_act_rmsnorm_quant_i8_neon(const float *x, int64_t x_stride, const float *norm_w,
                                  float eps, bn_act_batch *act, int64_t t_begin, int64_t t_end) {
    const int64_t K = act->K;
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        int8_t *q = act->q + t * act->stride;
        float inv = 1.0f / sqrtf(bn_sumsq16_neon(xr, K) / (float)K + eps);
        const float32x4_t vinv = vdupq_n_f32(inv);
        /* amax of y = (x * inv) * w, then quantize y recomputed alike. */
        float32x4_t m = vdupq_n_f32(1e-5f);
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            float32x4_t yv = vmulq_f32(vmulq_f32(vld1q_f32(xr + k), vinv), vld1q_f32(norm_w + k));
            m = vmaxnmq_f32(m, vabsq_f32(yv));
        }
        float amax = vmaxnmvq_f32(m);
        for (; k < K; k++) {
            float a = fabsf((xr[k] * inv) * norm_w[k]);
            if (a > amax)
                amax = a;
        }
        float s = 127.0f / amax;
        const float32x4_t vs = vdupq_n_f32(s);
        k = 0;
        for (; k + 16 <= K; k += 16) {
            int32x4_t v[4];
            for (int j = 0; j < 4; j++) {
                float32x4_t yv = vmulq_f32(vmulq_f32(vld1q_f32(xr + k + 4 * j), vinv),
                                           vld1q_f32(norm_w + k + 4 * j));
                v[j] = bn_quant4(vmulq_f32(yv, vs));
            }
            vst1q_s8(q + k, bn_narrow16(v[0], v[1], v[2], v[3]));
        }
        for (; k < K; k++)
            q[k] = bn_quant1_neon(((xr[k] * inv) * norm_w[k]) * s);
        act->scale[t] = s;
        bn_act_finish_row_neon(act, t);
    }
}

/* ------------------------------------------------------------------------ */
/* Ternary products: MAD (I2, T5)                                           */

/* Ternary dot: |w*q| <= 128, so int16 lanes take 16 products (256 values)
 * before they are widened. n % 64 == 0. */
static int32_t bn_tdot_i8_neon(const int8_t *w, const int8_t *q, int64_t n) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int64_t k0 = 0; k0 < n; k0 += 256) {
        int64_t e = n - k0 < 256 ? n : k0 + 256;
        int16x8_t a0 = vdupq_n_s16(0), a1 = a0;
        for (int64_t k = k0; k < e; k += 32) {
            int8x16_t w0 = vld1q_s8(w + k), w1 = vld1q_s8(w + k + 16);
            int8x16_t q0 = vld1q_s8(q + k), q1 = vld1q_s8(q + k + 16);
            a0 = vmlal_s8(a0, vget_low_s8(w0), vget_low_s8(q0));
            a1 = vmlal_high_s8(a1, w0, q0);
            a0 = vmlal_s8(a0, vget_low_s8(w1), vget_low_s8(q1));
            a1 = vmlal_high_s8(a1, w1, q1);
        }
        acc = vpadalq_s16(acc, a0);
        acc = vpadalq_s16(acc, a1);
    }
    return vaddvq_s32(acc);
}

static void bn_tdot4_i8_neon(const int8_t *w, const int8_t *q0, const int8_t *q1,
                             const int8_t *q2, const int8_t *q3, int64_t n, int32_t out[4]) {
    int32x4_t c0 = vdupq_n_s32(0), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t k0 = 0; k0 < n; k0 += 256) {
        int64_t e = n - k0 < 256 ? n : k0 + 256;
        int16x8_t a0 = vdupq_n_s16(0), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t k = k0; k < e; k += 16) {
            int8x16_t wv = vld1q_s8(w + k);
            int8x16_t x0 = vld1q_s8(q0 + k), x1 = vld1q_s8(q1 + k);
            int8x16_t x2 = vld1q_s8(q2 + k), x3 = vld1q_s8(q3 + k);
            a0 = vmlal_s8(a0, vget_low_s8(wv), vget_low_s8(x0));
            a0 = vmlal_high_s8(a0, wv, x0);
            a1 = vmlal_s8(a1, vget_low_s8(wv), vget_low_s8(x1));
            a1 = vmlal_high_s8(a1, wv, x1);
            a2 = vmlal_s8(a2, vget_low_s8(wv), vget_low_s8(x2));
            a2 = vmlal_high_s8(a2, wv, x2);
            a3 = vmlal_s8(a3, vget_low_s8(wv), vget_low_s8(x3));
            a3 = vmlal_high_s8(a3, wv, x3);
        }
        c0 = vpadalq_s16(c0, a0);
        c1 = vpadalq_s16(c1, a1);
        c2 = vpadalq_s16(c2, a2);
        c3 = vpadalq_s16(c3, a3);
    }
    out[0] = vaddvq_s32(c0);
    out[1] = vaddvq_s32(c1);
    out[2] = vaddvq_s32(c2);
    out[3] = vaddvq_s32(c3);
}

/* General int8 dot (output layer copy): products up to 127*128 do not fit
 * two to an int16 lane, so each is widened pairwise at once. */
static int32_t bn_dot_i8_neon(const int8_t *w, const int8_t *q, int64_t n) {
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = acc0;
    for (int64_t k = 0; k < n; k += 16) {
        int8x16_t wv = vld1q_s8(w + k), qv = vld1q_s8(q + k);
        acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(wv), vget_low_s8(qv)));
        acc1 = vpadalq_s16(acc1, vmull_high_s8(wv, qv));
    }
    return vaddvq_s32(vaddq_s32(acc0, acc1));
}

/* I2 row x one token (codes 0..2, offset removed by the caller): per 128
 * values, 4 groups of 32 codes from the same 32 bytes; int16 lanes take 8
 * products of |c*q| <= 256 before they are widened. */
static int32_t bn_i2_rowdot_i8_neon(const uint8_t *row, const int8_t *q, int64_t Kp) {
    int32x4_t acc = vdupq_n_s32(0);
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int64_t k = 0; k < Kp; k += BN_I2_BLOCK, row += BN_I2_BLOCK_BYTES, q += BN_I2_BLOCK) {
        uint8x16_t b0 = vld1q_u8(row), b1 = vld1q_u8(row + 16);
        int8x16_t c[8] = {
            vreinterpretq_s8_u8(vshrq_n_u8(b0, 6)), vreinterpretq_s8_u8(vshrq_n_u8(b1, 6)),
            vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 4), m3)),
            vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 4), m3)),
            vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 2), m3)),
            vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 2), m3)),
            vreinterpretq_s8_u8(vandq_u8(b0, m3)), vreinterpretq_s8_u8(vandq_u8(b1, m3))};
        int16x8_t a0 = vdupq_n_s16(0), a1 = a0;
        for (int i = 0; i < 8; i++) {
            int8x16_t x = vld1q_s8(q + 16 * i);
            a0 = vmlal_s8(a0, vget_low_s8(c[i]), vget_low_s8(x));
            a1 = vmlal_high_s8(a1, c[i], x);
        }
        acc = vpadalq_s16(acc, a0);
        acc = vpadalq_s16(acc, a1);
    }
    return vaddvq_s32(acc);
}

/* T3 row x one token: 12 weight vectors per 192 values, each lane of the
 * two int16 accumulators takes 12 products (|w*q| <= 128) per chunk. */
static int32_t bn_t3_rowdot_i8_neon(const uint8_t *row, const int8_t *q, int64_t Kp) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int64_t k = 0; k < Kp; k += BN_T3_CHUNK, row += BN_T3_CHUNK_BYTES, q += BN_T3_CHUNK) {
        int8x16_t wv[12];
        bn_neon_t3_chunk(row, wv);
        int16x8_t a0 = vdupq_n_s16(0), a1 = a0;
        for (int i = 0; i < 12; i++) {
            int8x16_t x = vld1q_s8(q + 16 * i);
            a0 = vmlal_s8(a0, vget_low_s8(wv[i]), vget_low_s8(x));
            a1 = vmlal_high_s8(a1, wv[i], x);
        }
        acc = vpadalq_s16(acc, a0);
        acc = vpadalq_s16(acc, a1);
    }
    return vaddvq_s32(acc);
}

static void bn_gemm_mad_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                                int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    bn_neon_mad_gemm(w, act, row_begin, row_end, y, NULL, y_stride, bn_tdot_i8_neon,
                     bn_tdot4_i8_neon, bn_i2_rowdot_i8_neon, bn_t3_rowdot_i8_neon);
}

static void bn_gemm_acc_mad_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                                    int64_t row_begin, int64_t row_end, int32_t *acc,
                                    int64_t acc_stride) {
    bn_neon_mad_gemm(w, act, row_begin, row_end, NULL, acc, acc_stride, bn_tdot_i8_neon,
                     bn_tdot4_i8_neon, bn_i2_rowdot_i8_neon, bn_t3_rowdot_i8_neon);
}

/* ------------------------------------------------------------------------ */
/* Ternary products: LUT2                                                   */

/* Pair-of-pairs steps summed in int16 before widening: each step adds two
 * entries of |e| <= 256, so 32 steps stay within 16384. */
#define BN_LUT_STEPS 32

/* Exact accumulators of 16 rows (a strip of a 64-row tile) for one token:
 * per step pp, the strip's 16 code bytes index the tables of pairs 2pp (low
 * nibbles) and 2pp+1 (high nibbles); the looked-up low and high bytes are
 * zipped back into int16 entries. */
static void bn_lut2_strip(const uint8_t *codes /* tile + strip*16 */, const uint8_t *lut,
                          int64_t n_pp, int32_t out[16]) {
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    const uint8x16_t low4 = vdupq_n_u8(15);
    for (int64_t p0 = 0; p0 < n_pp; p0 += BN_LUT_STEPS) {
        int64_t pe = n_pp - p0 < BN_LUT_STEPS ? n_pp : p0 + BN_LUT_STEPS;
        int16x8_t a = vdupq_n_s16(0), b = a; /* rows 0..7, 8..15 */
        for (int64_t pp = p0; pp < pe; pp++) {
            uint8x16_t c = vld1q_u8(codes + pp * BN_LUT_TILE_ROWS);
            uint8x16_t i0 = vandq_u8(c, low4), i1 = vshrq_n_u8(c, 4);
            const uint8_t *e0 = lut + 2 * pp * BN_LUT_ENTRY_BYTES;
            uint8x16_t l0 = vqtbl1q_u8(vld1q_u8(e0), i0);
            uint8x16_t h0 = vqtbl1q_u8(vld1q_u8(e0 + 16), i0);
            uint8x16_t l1 = vqtbl1q_u8(vld1q_u8(e0 + 32), i1);
            uint8x16_t h1 = vqtbl1q_u8(vld1q_u8(e0 + 48), i1);
            a = vaddq_s16(a, vreinterpretq_s16_u8(vzip1q_u8(l0, h0)));
            b = vaddq_s16(b, vreinterpretq_s16_u8(vzip2q_u8(l0, h0)));
            a = vaddq_s16(a, vreinterpretq_s16_u8(vzip1q_u8(l1, h1)));
            b = vaddq_s16(b, vreinterpretq_s16_u8(vzip2q_u8(l1, h1)));
        }
        s0 = vaddw_s16(s0, vget_low_s16(a));
        s1 = vaddw_high_s16(s1, a);
        s2 = vaddw_s16(s2, vget_low_s16(b));
        s3 = vaddw_high_s16(s3, b);
    }
    vst1q_s32(out, s0);
    vst1q_s32(out + 4, s1);
    vst1q_s32(out + 8, s2);
    vst1q_s32(out + 12, s3);
}

/* The same for a whole 64-row tile: each step's four table vectors serve
 * the four strips, so the tables are read once per tile, not per strip. */
static void bn_lut2_tile(const uint8_t *codes /* tile */, const uint8_t *lut, int64_t n_pp,
                         int32_t out[64]) {
    const uint8x16_t low4 = vdupq_n_u8(15);
    for (int i = 0; i < 64; i++)
        out[i] = 0;
    for (int64_t p0 = 0; p0 < n_pp; p0 += BN_LUT_STEPS) {
        int64_t pe = n_pp - p0 < BN_LUT_STEPS ? n_pp : p0 + BN_LUT_STEPS;
        int16x8_t a[4], b[4]; /* strip s: rows 16s..16s+7, 16s+8..16s+15 */
        for (int st = 0; st < 4; st++)
            a[st] = b[st] = vdupq_n_s16(0);
        for (int64_t pp = p0; pp < pe; pp++) {
            const uint8_t *e0 = lut + 2 * pp * BN_LUT_ENTRY_BYTES;
            uint8x16_t L0 = vld1q_u8(e0), H0 = vld1q_u8(e0 + 16);
            uint8x16_t L1 = vld1q_u8(e0 + 32), H1 = vld1q_u8(e0 + 48);
            for (int st = 0; st < 4; st++) {
                uint8x16_t c = vld1q_u8(codes + pp * BN_LUT_TILE_ROWS + 16 * st);
                uint8x16_t i0 = vandq_u8(c, low4), i1 = vshrq_n_u8(c, 4);
                uint8x16_t l0 = vqtbl1q_u8(L0, i0), h0 = vqtbl1q_u8(H0, i0);
                uint8x16_t l1 = vqtbl1q_u8(L1, i1), h1 = vqtbl1q_u8(H1, i1);
                a[st] = vaddq_s16(a[st], vreinterpretq_s16_u8(vzip1q_u8(l0, h0)));
                b[st] = vaddq_s16(b[st], vreinterpretq_s16_u8(vzip2q_u8(l0, h0)));
                a[st] = vaddq_s16(a[st], vreinterpretq_s16_u8(vzip1q_u8(l1, h1)));
                b[st] = vaddq_s16(b[st], vreinterpretq_s16_u8(vzip2q_u8(l1, h1)));
            }
        }
        for (int st = 0; st < 4; st++) {
            int32_t *o = out + 16 * st;
            vst1q_s32(o, vaddw_s16(vld1q_s32(o), vget_low_s16(a[st])));
            vst1q_s32(o + 4, vaddw_high_s16(vld1q_s32(o + 4), a[st]));
            vst1q_s32(o + 8, vaddw_s16(vld1q_s32(o + 8), vget_low_s16(b[st])));
            vst1q_s32(o + 12, vaddw_high_s16(vld1q_s32(o + 12), b[st]));
        }
    }
}

static void bn_lut2_gemm(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                         int64_t row_end, float *y, int32_t *acc_out, int64_t stride) {
    if (!act->lut) {
        /* A batch without tables: the MAD way over the same codes. */
        bn_neon_mad_gemm(w, act, row_begin, row_end, y, acc_out, stride, bn_tdot_i8_neon,
                         bn_tdot4_i8_neon, NULL, NULL);
        return;
    }
    const int64_t n_pp = w->Kp / 4; /* Kp <= act->stride: tables exist for every pair */
    const int64_t lut_stride = (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    for (int64_t r0 = row_begin; r0 < row_end;) {
        const uint8_t *codes = w->data + (uint64_t)(r0 / BN_LUT_TILE_ROWS) * w->row_bytes +
                               r0 % BN_LUT_TILE_ROWS;
        /* A whole tile when the range holds it (the last tile's padding rows
         * exist in memory and are computed, not written); else a strip. */
        bool tile = r0 % BN_LUT_TILE_ROWS == 0 &&
                    (r0 + BN_LUT_TILE_ROWS <= row_end || row_end == w->rows);
        int64_t step = tile ? BN_LUT_TILE_ROWS : 16;
        int64_t rn = row_end - r0 < step ? row_end - r0 : step;
        for (int64_t t = 0; t < act->n_tokens; t++) {
            int32_t acc[BN_LUT_TILE_ROWS];
            if (tile)
                bn_lut2_tile(codes, act->lut + t * lut_stride, n_pp, acc);
            else
                bn_lut2_strip(codes, act->lut + t * lut_stride, n_pp, acc);
            for (int64_t j = 0; j < rn; j++) {
                if (acc_out)
                    acc_out[t * stride + r0 + j] = acc[j];
                else
                    y[t * stride + r0 + j] = bn_ternary_out(w, r0 + j, acc[j], act->scale[t]);
            }
        }
        r0 += rn;
    }
}

void bn_gemm_lut2_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                          int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    bn_lut2_gemm(w, act, row_begin, row_end, y, NULL, y_stride);
}

void bn_gemm_acc_lut2_i8_neon(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, int32_t *acc,
                              int64_t acc_stride) {
    bn_lut2_gemm(w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* Output layer                                                             */

#define BN_DENSE_CHUNK_NEON 1280 /* values: a multiple of the Q8_0 and Q6_K blocks */
#define BN_DENSE_TOKENS_NEON 32

/* 16 signed codes times one scale, as four float vectors. */
static inline void bn_store16_scaled(int8x16_t q, float scale, float *out) {
    int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    float32x4_t s = vdupq_n_f32(scale);
    vst1q_f32(out, vmulq_f32(s, vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)))));
    vst1q_f32(out + 4, vmulq_f32(s, vcvtq_f32_s32(vmovl_high_s16(lo))));
    vst1q_f32(out + 8, vmulq_f32(s, vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)))));
    vst1q_f32(out + 12, vmulq_f32(s, vcvtq_f32_s32(vmovl_high_s16(hi))));
}

/* One Q6_K block (ggml's block_q6_K, see dense_matrix.c) into 256 floats:
 * value = (d * scale) * (6-bit code - 32), the dequantizer's order. */
static void bn_q6_k_block_neon(const uint8_t *blk, float *y) {
    const uint8_t *ql = blk, *qh = blk + 128;
    const int8_t *sc = (const int8_t *)(blk + 192);
    uint16_t dh;
    memcpy(&dh, blk + 208, 2);
    const float d = bn_f16_to_f32(dh);
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l += 16) {
            int is = l / 16;
            uint8x16_t a = vld1q_u8(ql + l), b = vld1q_u8(ql + l + 32), h = vld1q_u8(qh + l);
            uint8x16_t q1 = vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(h, m3), 4));
            uint8x16_t q2 = vorrq_u8(vandq_u8(b, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 2), m3), 4));
            uint8x16_t q3 = vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h, 4), m3), 4));
            uint8x16_t q4 = vorrq_u8(vshrq_n_u8(b, 4), vshlq_n_u8(vshrq_n_u8(h, 6), 4));
            bn_store16_scaled(vsubq_s8(vreinterpretq_s8_u8(q1), off), d * (float)sc[is], y + l);
            bn_store16_scaled(vsubq_s8(vreinterpretq_s8_u8(q2), off), d * (float)sc[is + 2],
                              y + l + 32);
            bn_store16_scaled(vsubq_s8(vreinterpretq_s8_u8(q3), off), d * (float)sc[is + 4],
                              y + l + 64);
            bn_store16_scaled(vsubq_s8(vreinterpretq_s8_u8(q4), off), d * (float)sc[is + 6],
                              y + l + 96);
        }
    }
}

/* Values [0, n) of a stored row as floats, exactly as bn_dense_row_to_f32;
 * F32 rows are used in place (returned pointer). */
static const float *bn_dense_chunk_neon(bn_tensor_type type, const uint8_t *row, int64_t n,
                                        float *buf) {
    switch (type) {
    case BN_TYPE_F32:
        return (const float *)(const void *)row;
    case BN_TYPE_F16:
        for (int64_t k = 0; k < n; k += 4) /* the caller makes sure n % 4 == 0 */
            vst1q_f32(buf + k, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(
                                   (const uint16_t *)(const void *)(row + 2 * k)))));
        return buf;
    case BN_TYPE_BF16:
        for (int64_t k = 0; k < n; k += 4)
            vst1q_f32(buf + k, vreinterpretq_f32_u32(vshll_n_u16(
                                   vld1_u16((const uint16_t *)(const void *)(row + 2 * k)), 16)));
        return buf;
    case BN_TYPE_Q8_0:
        for (int64_t b = 0; b < n / BN_Q8_0_BLOCK; b++) {
            const uint8_t *blk = row + b * BN_Q8_0_BYTES;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            float32x4_t d = vdupq_n_f32(bn_f16_to_f32(dh));
            for (int i = 0; i < BN_Q8_0_BLOCK; i += 8) {
                int16x8_t v = vmovl_s8(vld1_s8((const int8_t *)blk + 2 + i));
                float32x4_t lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(v)));
                float32x4_t hi = vcvtq_f32_s32(vmovl_high_s16(v));
                vst1q_f32(buf + b * BN_Q8_0_BLOCK + i, vmulq_f32(d, lo));
                vst1q_f32(buf + b * BN_Q8_0_BLOCK + i + 4, vmulq_f32(d, hi));
            }
        }
        return buf;
    case BN_TYPE_Q6_K:
        for (int64_t b = 0; b < n / BN_Q6_K_BLOCK; b++)
            bn_q6_k_block_neon(row + b * BN_Q6_K_BYTES, buf + b * BN_Q6_K_BLOCK);
        return buf;
    default:
        bn_dense_row_to_f32(type, row, n, buf);
        return buf;
    }
}

/* Float dot in 16 lanes with fused multiply-add (checked by tolerance). */
static float bn_fdot_neon(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + k), vld1q_f32(b + k));
        s1 = vfmaq_f32(s1, vld1q_f32(a + k + 4), vld1q_f32(b + k + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + k + 8), vld1q_f32(b + k + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + k + 12), vld1q_f32(b + k + 12));
    }
    for (; k + 4 <= n; k += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + k), vld1q_f32(b + k));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; k < n; k++)
        s += a[k] * b[k];
    return s;
}

/* One token against one chunk of an F16 or Q8_0 row, converting in
 * registers (no buffer): for a few tokens this beats dequantizing once. */
static float bn_fdot_f16w_neon(const uint8_t *row, const float *x, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    const uint16_t *h = (const uint16_t *)(const void *)row;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        float16x8_t a = vreinterpretq_f16_u16(vld1q_u16(h + k));
        float16x8_t b = vreinterpretq_f16_u16(vld1q_u16(h + k + 8));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(a)), vld1q_f32(x + k));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(a), vld1q_f32(x + k + 4));
        s2 = vfmaq_f32(s2, vcvt_f32_f16(vget_low_f16(b)), vld1q_f32(x + k + 8));
        s3 = vfmaq_f32(s3, vcvt_high_f32_f16(b), vld1q_f32(x + k + 12));
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; k < n; k++) {
        uint16_t v;
        memcpy(&v, row + 2 * k, 2);
        s += bn_f16_to_f32(v) * x[k];
    }
    return s;
}

static float bn_fdot_q8_0w_neon(const uint8_t *row, const float *x, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t b = 0; b < n / BN_Q8_0_BLOCK; b++, row += BN_Q8_0_BYTES, x += BN_Q8_0_BLOCK) {
        uint16_t dh;
        memcpy(&dh, row, 2);
        float32x4_t d = vdupq_n_f32(bn_f16_to_f32(dh));
        int8x16_t q0 = vld1q_s8((const int8_t *)row + 2), q1 = vld1q_s8((const int8_t *)row + 18);
        int16x8_t v[4] = {vmovl_s8(vget_low_s8(q0)), vmovl_high_s8(q0), vmovl_s8(vget_low_s8(q1)),
                          vmovl_high_s8(q1)};
        for (int i = 0; i < 4; i++) {
            /* d * q exactly as the dequantizer, then fused into the sum. */
            float32x4_t lo = vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_low_s16(v[i]))));
            float32x4_t hi = vmulq_f32(d, vcvtq_f32_s32(vmovl_high_s16(v[i])));
            if (i & 1) {
                s2 = vfmaq_f32(s2, lo, vld1q_f32(x + 8 * i));
                s3 = vfmaq_f32(s3, hi, vld1q_f32(x + 8 * i + 4));
            } else {
                s0 = vfmaq_f32(s0, lo, vld1q_f32(x + 8 * i));
                s1 = vfmaq_f32(s1, hi, vld1q_f32(x + 8 * i + 4));
            }
        }
    }
    return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

/* Below this many tokens F16 / Q8_0 rows are converted per token in
 * registers; from it on, once per chunk into a buffer shared by the tokens. */
#define BN_DENSE_FUSED_MAX_TOKENS 4

void bn_dense_gemm_f32_neon(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                            int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                            int64_t y_stride) {
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(w->type);
    const bool fused = n_tokens < BN_DENSE_FUSED_MAX_TOKENS &&
                       (w->type == BN_TYPE_F16 || w->type == BN_TYPE_Q8_0);
    float buf[BN_DENSE_CHUNK_NEON] __attribute__((aligned(16))); /* (chunk) dequantized */
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += BN_DENSE_TOKENS_NEON) {
            int64_t tn = n_tokens - t0 < BN_DENSE_TOKENS_NEON ? n_tokens - t0
                                                              : BN_DENSE_TOKENS_NEON;
            /* Chunk partial sums in float, chunks summed in double. */
            double acc[BN_DENSE_TOKENS_NEON] = {0};
            for (int64_t c0 = 0; c0 < w->K; c0 += BN_DENSE_CHUNK_NEON) {
                int64_t n = w->K - c0 < BN_DENSE_CHUNK_NEON ? w->K - c0 : BN_DENSE_CHUNK_NEON;
                const uint8_t *src = row + (uint64_t)(c0 / tr->block_size) * tr->block_bytes;
                if (fused) {
                    for (int64_t ti = 0; ti < tn; ti++) {
                        const float *xt = x + (t0 + ti) * x_stride + c0;
                        acc[ti] += (double)(w->type == BN_TYPE_F16 ? bn_fdot_f16w_neon(src, xt, n)
                                                                   : bn_fdot_q8_0w_neon(src, xt, n));
                    }
                    continue;
                }
                const float *wr;
                if ((w->type == BN_TYPE_F16 || w->type == BN_TYPE_BF16) && n % 4 != 0) {
                    bn_dense_row_to_f32(w->type, src, n, buf);
                    wr = buf;
                } else {
                    wr = bn_dense_chunk_neon(w->type, src, n, buf);
                }
                for (int64_t ti = 0; ti < tn; ti++)
                    acc[ti] += (double)bn_fdot_neon(wr, x + (t0 + ti) * x_stride + c0, n);
            }
            for (int64_t ti = 0; ti < tn; ti++)
                y[(t0 + ti) * y_stride + r] = (float)acc[ti];
        }
    }
}

static void bn_dense_gemm_i8_neon(const bn_dense_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, float *y,
                                  int64_t y_stride) {
    bn_neon_dense_i8(w, act, row_begin, row_end, y, y_stride, bn_dot_i8_neon);
}

/* ------------------------------------------------------------------------ */
/* Float helpers                                                            */

float bn_dot_f32_neon(const float *a, const float *b, int64_t n) {
    return bn_fdot_neon(a, b, n);
}

float bn_dot_f16_neon(const float *a, const uint16_t *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(b + k));
        s0 = vfmaq_f32(s0, vld1q_f32(a + k), vcvt_f32_f16(vget_low_f16(h)));
        s1 = vfmaq_f32(s1, vld1q_f32(a + k + 4), vcvt_high_f32_f16(h));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; k < n; k++)
        s += a[k] * bn_f16_to_f32(b[k]);
    return s;
}

void bn_axpy_f32_neon(float a, const float *x, float *y, int64_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        vst1q_f32(y + k, vfmaq_f32(vld1q_f32(y + k), va, vld1q_f32(x + k)));
    for (; k < n; k++)
        y[k] += a * x[k];
}

void bn_axpy_f16_neon(float a, const uint16_t *x, float *y, int64_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        float32x4_t xv = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + k)));
        vst1q_f32(y + k, vfmaq_f32(vld1q_f32(y + k), va, xv));
    }
    for (; k < n; k++)
        y[k] += a * bn_f16_to_f32(x[k]);
}

void bn_rmsnorm_f32_neon(const float *x, const float *w, float eps, int64_t n, float *y) {
    float inv = 1.0f / sqrtf(bn_sumsq16_neon(x, n) / (float)n + eps);
    const float32x4_t vinv = vdupq_n_f32(inv);
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        vst1q_f32(y + k, vmulq_f32(vmulq_f32(vld1q_f32(x + k), vinv), vld1q_f32(w + k)));
    for (; k < n; k++)
        y[k] = (x[k] * inv) * w[k];
}

/* Widening is exact for every f16 but signalling NaNs, which the hardware
 * quiets (the scalar helper keeps them); the KV cache never holds one. */
void bn_f16_to_f32_neon(const uint16_t *src, float *dst, int64_t n) {
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        vst1q_f32(dst + k, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + k))));
    for (; k < n; k++)
        dst[k] = bn_f16_to_f32(src[k]);
}

/* FCVTN rounds by FPCR: to nearest even under Linux's default. */
void bn_f32_to_f16_neon(const float *src, uint16_t *dst, int64_t n) {
    int64_t k = 0;
    for (; k + 4 <= n; k += 4)
        vst1_u16(dst + k, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + k))));
    for (; k < n; k++)
        dst[k] = bn_f32_to_f16(src[k]);
}

const bn_kernels bn_kernels_neon = {
    .name = "neon",
    /* MAD kernels work row by row, LUT2 in 16-row strips of a tile. */
    .row_granule = 16,
    .act_quant = bn_act_quant_i8_neon,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_neon,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_mad_i8_neon, bn_gemm_acc_mad_i8_neon},
            [BN_LAYOUT_T5] = {bn_gemm_mad_i8_neon, bn_gemm_acc_mad_i8_neon},
            [BN_LAYOUT_T3] = {bn_gemm_mad_i8_neon, bn_gemm_acc_mad_i8_neon},
            [BN_LAYOUT_LUT2] = {bn_gemm_lut2_i8_neon, bn_gemm_acc_lut2_i8_neon},
        },
    .dense_gemm = bn_dense_gemm_f32_neon,
    .dense_gemm_i8 = bn_dense_gemm_i8_neon,
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
