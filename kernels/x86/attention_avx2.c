/* x86/attention_avx2.c: attend for the AVX2 table, bit-exact with
 * ref/attention.c (the order is in kernels.h's header comment).
 *
 * Owns the three passes over one item, as x86/attention_avx512.c does with
 * half-width registers: a reference lane set of 16 is two ymm (lanes 0-7,
 * 8-15).
 *   scores  tiles of 2 keys x 2 queries: 4 dots in 8 ymm accumulators, one
 *           load of each key and query vector per 2 multiply-adds, then one
 *           fold of the 4 dots into 4 floats that keeps the reference's tree
 *           (att_fold4). F16 keys are widened once per key tile.
 *   softmax 16 lanes as two ymm accumulators; exp lane by lane (att_exp8).
 *   values  tiles of up to 4 heads of one token x 16 or 32 output floats in
 *           registers across all keys.
 * Multiplies and adds are separate instructions and the file is compiled
 * with -ffp-contract=off: no fma. head_dim not a multiple of 16 or above
 * BN_ATT_MAX_SIMD_D goes to the reference.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* bn_att_exp_ref on 8 lanes, the same operations in the same order. */
BN_INLINE __m256 att_exp8(__m256 x) {
    const __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(BN_ATT_EXP_LO), _CMP_GE_OQ);
    x = _mm256_min_ps(x, _mm256_set1_ps(BN_ATT_EXP_HI)); /* NaN lanes are dead anyway */
    const __m256 round = _mm256_set1_ps(BN_ATT_ROUND);
    __m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(BN_ATT_LOG2E)), round);
    __m256 n = _mm256_sub_ps(t, round);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(BN_ATT_LN2_HI)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(BN_ATT_LN2_LO)));
    __m256 z = _mm256_mul_ps(r, r);
    __m256 p = _mm256_set1_ps(BN_ATT_P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BN_ATT_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BN_ATT_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BN_ATT_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BN_ATT_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(BN_ATT_P5));
    __m256 y = _mm256_mul_ps(p, z);
    y = _mm256_add_ps(y, r);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    __m256i two_n = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(live, _mm256_mul_ps(y, _mm256_castsi256_ps(two_n)));
}

/* The reference's fold of 16 lanes held as lo (0-7) and hi (8-15). */
BN_INLINE float att_fold16(__m256 lo, __m256 hi) {
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_shuffle_ps(c, c, 1));
    return _mm_cvtss_f32(d);
}

/* Folds 4 dots (a[x][0] lanes 0-7, a[x][1] lanes 8-15) by the reference's
 * tree at once: j + 8 is lo + hi; j + 4 adds the 128-bit halves of two dots
 * put side by side; j + 2 and j + 1 pair elements inside 128-bit lanes. The
 * result's 128-bit lane 0 holds dots 0 and 2 in elements 0, 1; lane 1 holds
 * dots 1 and 3. */
BN_INLINE __m256 att_fold4(const __m256 a[4][2]) {
    __m256 b0 = _mm256_add_ps(a[0][0], a[0][1]), b1 = _mm256_add_ps(a[1][0], a[1][1]);
    __m256 b2 = _mm256_add_ps(a[2][0], a[2][1]), b3 = _mm256_add_ps(a[3][0], a[3][1]);
    __m256 c01 = _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20),
                               _mm256_permute2f128_ps(b0, b1, 0x31));
    __m256 c23 = _mm256_add_ps(_mm256_permute2f128_ps(b2, b3, 0x20),
                               _mm256_permute2f128_ps(b2, b3, 0x31));
    __m256 d = _mm256_add_ps(_mm256_shuffle_ps(c01, c23, 0x44), _mm256_shuffle_ps(c01, c23, 0xEE));
    return _mm256_hadd_ps(d, d);
}

/* Scores of every (token, head) row against the keys it sees: key tiles of
 * 2 outside, tiles of 2 rows (row = i * n_rep + r) inside. Dots past a row's
 * last key (diagonal tile) are stored but never read. kbuf: (2, D). */
static void att_scores(const bn_att_item *it, float *kbuf) {
    const int64_t D = it->head_dim, n_rows = (int64_t)it->n_tok * it->n_rep;
    const int64_t n_keys = (int64_t)it->pos0 + it->n_tok;
    const __m256 scale = _mm256_set1_ps(it->kq_scale);
    for (int64_t p0 = 0; p0 < n_keys; p0 += 2) {
        const int nk = n_keys - p0 < 2 ? 1 : 2;
        const float *kp[2];
        for (int j = 0; j < 2; j++) {
            const int jj = j < nk ? j : 0; /* a missing key repeats the first */
            if (it->k_f16) {
                const uint16_t *src = (const uint16_t *)it->k + (p0 + jj) * it->kv_stride;
                if (j < nk)
                    for (int64_t d = 0; d < D; d += 8)
                        _mm256_storeu_ps(kbuf + j * D + d,
                                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + d))));
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
            __m256 a[4][2]; /* dot x = (query x & 1, key x >> 1), halves */
            for (int h = 0; h < 2; h++) {
                __m256 q0 = _mm256_loadu_ps(qp[0] + 8 * h), q1 = _mm256_loadu_ps(qp[1] + 8 * h);
                __m256 k0 = _mm256_loadu_ps(kp[0] + 8 * h), k1 = _mm256_loadu_ps(kp[1] + 8 * h);
                a[0][h] = _mm256_mul_ps(q0, k0);
                a[1][h] = _mm256_mul_ps(q1, k0);
                a[2][h] = _mm256_mul_ps(q0, k1);
                a[3][h] = _mm256_mul_ps(q1, k1);
            }
            for (int64_t d = 16; d < D; d += 16)
                for (int h = 0; h < 2; h++) {
                    __m256 q0 = _mm256_loadu_ps(qp[0] + d + 8 * h);
                    __m256 q1 = _mm256_loadu_ps(qp[1] + d + 8 * h);
                    __m256 k0 = _mm256_loadu_ps(kp[0] + d + 8 * h);
                    __m256 k1 = _mm256_loadu_ps(kp[1] + d + 8 * h);
                    a[0][h] = _mm256_add_ps(a[0][h], _mm256_mul_ps(q0, k0));
                    a[1][h] = _mm256_add_ps(a[1][h], _mm256_mul_ps(q1, k0));
                    a[2][h] = _mm256_add_ps(a[2][h], _mm256_mul_ps(q0, k1));
                    a[3][h] = _mm256_add_ps(a[3][h], _mm256_mul_ps(q1, k1));
                }
            const __m256 s = _mm256_mul_ps(att_fold4(a), scale);
            const __m128 s0 = _mm256_castps256_ps128(s), s1 = _mm256_extractf128_ps(s, 1);
            if (nk == 2) {
                _mm_storel_pi((__m64 *)sp[0], s0);
                if (nr == 2)
                    _mm_storel_pi((__m64 *)sp[1], s1);
            } else {
                _mm_store_ss(sp[0], s0);
                if (nr == 2)
                    _mm_store_ss(sp[1], s1);
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
    /* max_ps returns its second operand when either is NaN: the running
     * max comes second, so NaN scores are skipped as in the reference */
    __m256 mlo = _mm256_max_ps(_mm256_loadu_ps(tail), _mm256_set1_ps(-__builtin_inff()));
    __m256 mhi = _mm256_max_ps(_mm256_loadu_ps(tail + 8), _mm256_set1_ps(-__builtin_inff()));
    for (int64_t p = 0; p < nfull; p += 16) {
        mlo = _mm256_max_ps(_mm256_loadu_ps(s + p), mlo);
        mhi = _mm256_max_ps(_mm256_loadu_ps(s + p + 8), mhi);
    }
    /* the max of numbers is exact in any order */
    __m256 mv = _mm256_max_ps(mlo, mhi);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const __m256 m = _mm256_set1_ps(_mm_cvtss_f32(m4));
    /* lane j sums e_p for p % 16 == j, p ascending, from +0 */
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int64_t p = 0; p < nfull; p += 16) {
        __m256 e0 = att_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), m));
        __m256 e1 = att_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p + 8), m));
        _mm256_storeu_ps(s + p, e0);
        _mm256_storeu_ps(s + p + 8, e1);
        lo = _mm256_add_ps(lo, e0);
        hi = _mm256_add_ps(hi, e1);
    }
    if (nfull < n) {
        __m256 e0 = att_exp8(_mm256_sub_ps(_mm256_loadu_ps(tail), m));
        __m256 e1 = att_exp8(_mm256_sub_ps(_mm256_loadu_ps(tail + 8), m));
        _mm256_storeu_ps(tail, e0);
        _mm256_storeu_ps(tail + 8, e1);
        lo = _mm256_add_ps(lo, e0); /* + 0 in the padded lanes: exact */
        hi = _mm256_add_ps(hi, e1);
        memcpy(s + nfull, tail, (size_t)(n - nfull) * sizeof(float));
    }
    const float inv = 1.0f / att_fold16(lo, hi);
    const __m256 vinv = _mm256_set1_ps(inv);
    int64_t p = 0;
    for (; p + 8 <= n; p += 8)
        _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), vinv));
    for (; p < n; p++)
        s[p] = s[p] * inv;
}

/* Value vector (8 floats) at position p, element d, widened if f16. */
BN_INLINE __m256 att_load_v(const void *v, bool f16, int64_t stride, int64_t p, int64_t d) {
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)v + p * stride + d)));
    return _mm256_loadu_ps((const float *)v + p * stride + d);
}

/* out_r[d0, d0 + 8C) = sum_p w_r[p] * v_p for R rows over n keys, in the
 * reference's order, R x C accumulators in registers (R, C, f16 constant at
 * every call). */
BN_INLINE void att_pv_tile(const float *const w[4], float *const o[4], int R, int C,
                           const void *v, bool f16, int64_t stride, int64_t n, int64_t d0) {
    __m256 acc[4][4];
    {
        __m256 vv[4];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, 0, d0 + 8 * c);
        for (int r = 0; r < R; r++) {
            const __m256 wr = _mm256_set1_ps(w[r][0]);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_mul_ps(wr, vv[c]);
        }
    }
    for (int64_t p = 1; p < n; p++) {
        __m256 vv[4];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, p, d0 + 8 * c);
        for (int r = 0; r < R; r++) {
            const __m256 wr = _mm256_set1_ps(w[r][p]);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_add_ps(acc[r][c], _mm256_mul_ps(wr, vv[c]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            _mm256_storeu_ps(o[r] + d0 + 8 * c, acc[r][c]);
}

/* All D outputs (D % 16 == 0) of R rows, at most 8 accumulators a tile. */
BN_INLINE void att_pv_rows(const float *const w[4], float *const o[4], int R, const void *v,
                           bool f16, int64_t stride, int64_t n, int64_t D) {
    const int C = R <= 2 ? 4 : 2;
    int64_t d0 = 0;
    for (; d0 + 8 * C <= D; d0 += 8 * C)
        att_pv_tile(w, o, R, C, v, f16, stride, n, d0);
    for (; d0 < D; d0 += 16)
        att_pv_tile(w, o, R, 2, v, f16, stride, n, d0);
}

/* The table entry (x86/avx2.c). */
void bn_attend_avx2(const bn_att_item *it) {
    const int64_t D = it->head_dim;
    if (D % 16 != 0 || D > BN_ATT_MAX_SIMD_D) {
        bn_attend_ref(it);
        return;
    }
    float kbuf[2 * BN_ATT_MAX_SIMD_D] __attribute__((aligned(32))); /* (2, D) */
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
