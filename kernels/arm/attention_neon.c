/* arm/attention_neon.c: attend for the "neon" and "neon-dotprod" tables
 * (armv8-a Advanced SIMD; dotprod brings nothing to float work), bit-exact
 * with ref/attention.c (the order is in kernels.h's header comment).
 *
 * Owns the three passes over one item, as x86/attention_avx512.c does with
 * 4-lane registers: a reference lane set of 16 is four q registers.
 *   scores  tiles of 2 keys x 2 queries: 4 dots in 16 accumulators, then
 *           one fold of the 4 dots into one register that keeps the
 *           reference's tree (att_fold4; the last level is vpaddq, a plain
 *           IEEE add of neighbours). F16 keys are widened once per key tile.
 *   softmax 16 lanes as four accumulators; exp lane by lane (att_exp4).
 *   values  tiles of up to 4 heads of one token x 16 or 32 output floats in
 *           registers across all keys (vmulq_n_f32: a plain multiply by a
 *           scalar).
 * No vfmaq here, and the file is compiled with -ffp-contract=off. head_dim
 * not a multiple of 16 or above BN_ATT_MAX_SIMD_D goes to the reference.
 */
#include <arm_neon.h>
#include <string.h>

#include "kernels/internal.h"

/* bn_att_exp_ref on 4 lanes, the same operations in the same order. */
static inline float32x4_t att_exp4(float32x4_t x) {
    const uint32x4_t live = vcgeq_f32(x, vdupq_n_f32(BN_ATT_EXP_LO));
    x = vminq_f32(x, vdupq_n_f32(BN_ATT_EXP_HI)); /* NaN lanes are dead anyway */
    const float32x4_t round = vdupq_n_f32(BN_ATT_ROUND);
    float32x4_t t = vaddq_f32(vmulq_f32(x, vdupq_n_f32(BN_ATT_LOG2E)), round);
    float32x4_t n = vsubq_f32(t, round);
    float32x4_t r = vsubq_f32(x, vmulq_f32(n, vdupq_n_f32(BN_ATT_LN2_HI)));
    r = vsubq_f32(r, vmulq_f32(n, vdupq_n_f32(BN_ATT_LN2_LO)));
    float32x4_t z = vmulq_f32(r, r);
    float32x4_t p = vdupq_n_f32(BN_ATT_P0);
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(BN_ATT_P1));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(BN_ATT_P2));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(BN_ATT_P3));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(BN_ATT_P4));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(BN_ATT_P5));
    float32x4_t y = vmulq_f32(p, z);
    y = vaddq_f32(y, r);
    y = vaddq_f32(y, vdupq_n_f32(1.0f));
    uint32x4_t two_n = vshlq_n_u32(vaddq_u32(vreinterpretq_u32_f32(t), vdupq_n_u32(127)), 23);
    float32x4_t e = vmulq_f32(y, vreinterpretq_f32_u32(two_n));
    return vreinterpretq_f32_u32(vandq_u32(live, vreinterpretq_u32_f32(e)));
}

/* The reference's fold of 16 lanes a[0] (lanes 0-3) .. a[3] (12-15). */
static inline float att_fold16(const float32x4_t a[4]) {
    float32x4_t c = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));
    float32x2_t d = vadd_f32(vget_low_f32(c), vget_high_f32(c));
    return vget_lane_f32(d, 0) + vget_lane_f32(d, 1);
}

/* Folds 4 dots x (16 lanes in a[x][0..3]) by the reference's tree at once:
 * j + 8 and j + 4 per dot; j + 2 pairs the halves of two dots put side by
 * side; j + 1 is vpaddq. Result: [dot 0, dot 1, dot 2, dot 3]. */
static inline float32x4_t att_fold4(const float32x4_t a[4][4]) {
    float32x4_t c[4];
    for (int x = 0; x < 4; x++)
        c[x] = vaddq_f32(vaddq_f32(a[x][0], a[x][2]), vaddq_f32(a[x][1], a[x][3]));
    float32x4_t d01 = vaddq_f32(vcombine_f32(vget_low_f32(c[0]), vget_low_f32(c[1])),
                                vcombine_f32(vget_high_f32(c[0]), vget_high_f32(c[1])));
    float32x4_t d23 = vaddq_f32(vcombine_f32(vget_low_f32(c[2]), vget_low_f32(c[3])),
                                vcombine_f32(vget_high_f32(c[2]), vget_high_f32(c[3])));
    return vpaddq_f32(d01, d23);
}

/* Scores of every (token, head) row against the keys it sees: key tiles of
 * 2 outside, tiles of 2 rows (row = i * n_rep + r) inside. Dots past a row's
 * last key (diagonal tile) are stored but never read. kbuf: (2, D). */
static void att_scores(const bn_att_item *it, float *kbuf) {
    const int64_t D = it->head_dim, n_rows = (int64_t)it->n_tok * it->n_rep;
    const int64_t n_keys = (int64_t)it->pos0 + it->n_tok;
    for (int64_t p0 = 0; p0 < n_keys; p0 += 2) {
        const int nk = n_keys - p0 < 2 ? 1 : 2;
        const float *kp[2];
        for (int j = 0; j < 2; j++) {
            const int jj = j < nk ? j : 0; /* a missing key repeats the first */
            if (it->k_f16) {
                const uint16_t *src = (const uint16_t *)it->k + (p0 + jj) * it->kv_stride;
                if (j < nk)
                    for (int64_t d = 0; d < D; d += 4)
                        vst1q_f32(kbuf + j * D + d,
                                  vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + d))));
                kp[j] = kbuf + jj * D;
            } else {
                kp[j] = (const float *)it->k + (p0 + jj) * it->kv_stride;
            }
        }
        const int64_t i_min = p0 > it->pos0 ? p0 - it->pos0 : 0;
        int64_t i = i_min, r = 0; /* row = i * n_rep + r, walked without divisions */
        for (int64_t row = i_min * it->n_rep; row < n_rows; row += 2) {
            const int nr = n_rows - row < 2 ? 1 : 2;
            const float *qp[2];
            float *sp[2];
            for (int j = 0; j < 2; j++) {
                if (j == 0 || j < nr) {
                    qp[j] = it->q + i * it->q_stride + r * D;
                    sp[j] = it->scores + (row + j) * it->sc_stride + p0;
                    if (++r == it->n_rep) {
                        r = 0;
                        i++;
                    }
                } else { /* a missing row repeats the first */
                    qp[j] = qp[0];
                    sp[j] = sp[0];
                }
            }
            float32x4_t a[4][4]; /* dot x = (query x >> 1, key x & 1), lanes */
            for (int c = 0; c < 4; c++) {
                float32x4_t q0 = vld1q_f32(qp[0] + 4 * c), q1 = vld1q_f32(qp[1] + 4 * c);
                float32x4_t k0 = vld1q_f32(kp[0] + 4 * c), k1 = vld1q_f32(kp[1] + 4 * c);
                a[0][c] = vmulq_f32(q0, k0);
                a[1][c] = vmulq_f32(q0, k1);
                a[2][c] = vmulq_f32(q1, k0);
                a[3][c] = vmulq_f32(q1, k1);
            }
            for (int64_t d = 16; d < D; d += 16)
                for (int c = 0; c < 4; c++) {
                    float32x4_t q0 = vld1q_f32(qp[0] + d + 4 * c);
                    float32x4_t q1 = vld1q_f32(qp[1] + d + 4 * c);
                    float32x4_t k0 = vld1q_f32(kp[0] + d + 4 * c);
                    float32x4_t k1 = vld1q_f32(kp[1] + d + 4 * c);
                    a[0][c] = vaddq_f32(a[0][c], vmulq_f32(q0, k0));
                    a[1][c] = vaddq_f32(a[1][c], vmulq_f32(q0, k1));
                    a[2][c] = vaddq_f32(a[2][c], vmulq_f32(q1, k0));
                    a[3][c] = vaddq_f32(a[3][c], vmulq_f32(q1, k1));
                }
            const float32x4_t s = vmulq_n_f32(att_fold4(a), it->kq_scale);
            if (nk == 2) {
                vst1_f32(sp[0], vget_low_f32(s));
                if (nr == 2)
                    vst1_f32(sp[1], vget_high_f32(s));
            } else {
                vst1q_lane_f32(sp[0], s, 0);
                if (nr == 2)
                    vst1q_lane_f32(sp[1], s, 2);
            }
        }
    }
}

/* In place over n >= 1 scores, as the reference's att_softmax. A tail of
 * fewer than 16 scores is padded with -inf, whose exp is 0. */
static void att_softmax(float *s, int64_t n) {
    const int64_t nfull = n & ~(int64_t)15;
    float tail[16];
    for (int j = 0; j < 16; j++)
        tail[j] = nfull + j < n ? s[nfull + j] : -__builtin_inff();
    /* vmaxnm (IEEE maxNum) returns the number when one operand is a quiet
     * NaN: NaN scores are skipped as in the reference */
    float32x4_t mx = vdupq_n_f32(-__builtin_inff());
    for (int j = 0; j < 4; j++)
        mx = vmaxnmq_f32(mx, vld1q_f32(tail + 4 * j));
    for (int64_t p = 0; p < nfull; p += 4)
        mx = vmaxnmq_f32(mx, vld1q_f32(s + p));
    /* the max of numbers is exact in any order */
    const float32x4_t m = vdupq_n_f32(vmaxnmvq_f32(mx));
    /* lane j sums e_p for p % 16 == j, p ascending, from +0 */
    float32x4_t sum[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                          vdupq_n_f32(0.0f)};
    for (int64_t p = 0; p < nfull; p += 16)
        for (int c = 0; c < 4; c++) {
            float32x4_t e = att_exp4(vsubq_f32(vld1q_f32(s + p + 4 * c), m));
            vst1q_f32(s + p + 4 * c, e);
            sum[c] = vaddq_f32(sum[c], e);
        }
    if (nfull < n) {
        for (int c = 0; c < 4; c++) {
            float32x4_t e = att_exp4(vsubq_f32(vld1q_f32(tail + 4 * c), m));
            vst1q_f32(tail + 4 * c, e);
            sum[c] = vaddq_f32(sum[c], e); /* + 0 in the padded lanes: exact */
        }
        memcpy(s + nfull, tail, (size_t)(n - nfull) * sizeof(float));
    }
    const float inv = 1.0f / att_fold16(sum);
    int64_t p = 0;
    for (; p + 4 <= n; p += 4)
        vst1q_f32(s + p, vmulq_n_f32(vld1q_f32(s + p), inv));
    for (; p < n; p++)
        s[p] = s[p] * inv;
}

/* Value vector (4 floats) at position p, element d, widened if f16. */
static inline float32x4_t att_load_v(const void *v, bool f16, int64_t stride, int64_t p,
                                     int64_t d) {
    if (f16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)v + p * stride + d)));
    return vld1q_f32((const float *)v + p * stride + d);
}

/* out_r[d0, d0 + 4C) = sum_p w_r[p] * v_p for R rows over n keys, in the
 * reference's order, R x C accumulators in registers (R, C, f16 constant at
 * every call). */
static inline __attribute__((always_inline)) void
att_pv_tile(const float *const w[4], float *const o[4], int R, int C, const void *v, bool f16,
            int64_t stride, int64_t n, int64_t d0) {
    float32x4_t acc[4][8];
    {
        float32x4_t vv[8];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, 0, d0 + 4 * c);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                acc[r][c] = vmulq_n_f32(vv[c], w[r][0]);
    }
    for (int64_t p = 1; p < n; p++) {
        float32x4_t vv[8];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, p, d0 + 4 * c);
        for (int r = 0; r < R; r++) {
            const float wr = w[r][p];
            for (int c = 0; c < C; c++)
                acc[r][c] = vaddq_f32(acc[r][c], vmulq_n_f32(vv[c], wr));
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            vst1q_f32(o[r] + d0 + 4 * c, acc[r][c]);
}

/* All D outputs (D % 16 == 0) of R rows, at most 16 accumulators a tile. */
static inline __attribute__((always_inline)) void
att_pv_rows(const float *const w[4], float *const o[4], int R, const void *v, bool f16,
            int64_t stride, int64_t n, int64_t D) {
    const int C = R <= 2 ? 8 : 4;
    int64_t d0 = 0;
    for (; d0 + 4 * C <= D; d0 += 4 * C)
        att_pv_tile(w, o, R, C, v, f16, stride, n, d0);
    for (; d0 < D; d0 += 16)
        att_pv_tile(w, o, R, 4, v, f16, stride, n, d0);
}

/* The table entry of both NEON tables (arm/neon.c, arm/neon_dotprod.c). */
void bn_attend_neon(const bn_att_item *it) {
    const int64_t D = it->head_dim;
    if (D % 16 != 0 || D > BN_ATT_MAX_SIMD_D) {
        bn_attend_ref(it);
        return;
    }
    float kbuf[2 * BN_ATT_MAX_SIMD_D] __attribute__((aligned(16))); /* (2, D) */
    att_scores(it, kbuf);
    for (int32_t i = 0; i < it->n_tok; i++)
        for (int32_t r = 0; r < it->n_rep; r++)
            att_softmax(it->scores + ((int64_t)i * it->n_rep + r) * it->sc_stride,
                        (int64_t)it->pos0 + i + 1);
    /* values: the heads of one token in groups of up to 4 (same keys) */
    for (int32_t i = 0; i < it->n_tok; i++) {
        const int64_t n = (int64_t)it->pos0 + i + 1;
        for (int32_t r0 = 0; r0 < it->n_rep; r0 += 4) {
            const int R = it->n_rep - r0 < 4 ? it->n_rep - r0 : 4;
            const float *w[4];
            float *o[4];
            for (int j = 0; j < 4; j++) {
                const int32_t r = r0 + (j < R ? j : R - 1);
                w[j] = it->scores + ((int64_t)i * it->n_rep + r) * it->sc_stride;
                o[j] = it->out + i * it->out_stride + r * D;
            }
#define BN_ATT_PV(RR)                                                               \
    case RR:                                                                        \
        if (it->v_f16)                                                              \
            att_pv_rows(w, o, RR, it->v, true, it->kv_stride, n, D);                \
        else                                                                        \
            att_pv_rows(w, o, RR, it->v, false, it->kv_stride, n, D);               \
        break;
            switch (R) {
                BN_ATT_PV(1)
                BN_ATT_PV(2)
                BN_ATT_PV(3)
                BN_ATT_PV(4)
            }
#undef BN_ATT_PV
        }
    }
}
