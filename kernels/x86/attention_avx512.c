/* x86/attention_avx512.c: attend for the AVX-512 table, bit-exact with
 * ref/attention.c (the order is in kernels.h's header comment).
 *
 * Owns the three passes over one item (block of query tokens x the query
 * heads of one KV head):
 *   scores  tiles of 4 keys x 4 queries: 16 dots in 16 zmm accumulators (lane
 *           j of a dot's accumulator is the reference's lane j), one load of
 *           each key and query vector per 16 multiply-adds, then one
 *           transpose-style fold of the 16 accumulators into one zmm (below)
 *           that keeps the reference's 8+8, 4+4, 2+2, 1+1 tree per dot.
 *           F16 keys are widened once per key tile into a stack buffer.
 *   softmax 16 lanes: the lane sum of the reference is a zmm accumulator;
 *           exp is the reference's polynomial, lane by lane (att_exp16).
 *   values  tiles of up to 4 heads of one token x 64 or 128 output floats in
 *           zmm registers across all keys; each value vector is loaded (and
 *           widened from f16 with vcvtph2ps, exact) once per tile and key.
 * Multiplies and adds are separate instructions and the file is compiled
 * with -ffp-contract=off, so there is no fma (tools: objdump -d | grep fmadd
 * finds none in these functions).
 * head_dim not a multiple of 16 or above BN_ATT_MAX_SIMD_D goes to the
 * reference.
 */
#include <immintrin.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* bn_att_exp_ref on 16 lanes, the same operations in the same order. */
BN_INLINE __m512 att_exp16(__m512 x) {
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(BN_ATT_EXP_LO), _CMP_GE_OQ);
    x = _mm512_min_ps(x, _mm512_set1_ps(BN_ATT_EXP_HI)); /* NaN lanes are dead anyway */
    const __m512 round = _mm512_set1_ps(BN_ATT_ROUND);
    __m512 t = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(BN_ATT_LOG2E)), round);
    __m512 n = _mm512_sub_ps(t, round);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(BN_ATT_LN2_HI)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(BN_ATT_LN2_LO)));
    __m512 z = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(BN_ATT_P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(BN_ATT_P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(BN_ATT_P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(BN_ATT_P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(BN_ATT_P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(BN_ATT_P5));
    __m512 y = _mm512_mul_ps(p, z);
    y = _mm512_add_ps(y, r);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    __m512i two_n = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(live, y, _mm512_castsi512_ps(two_n));
}

/* The reference's fold of one 16-lane accumulator: lanes j + 8, then j + 4,
 * j + 2, j + 1. */
BN_INLINE float att_fold16(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_shuffle_ps(c, c, 1));
    return _mm_cvtss_f32(d);
}

/* Folds 16 dot accumulators a[i] at once, each by the reference's tree, into
 * one vector whose lane 4c + e is the dot of a[4e + c]. Each level pairs two
 * vectors, moves the halves to be added into place with two shuffles, and
 * adds them:
 *   1: 128-bit chunks (0,1 | 0,1) + (2,3 | 2,3) of a pair: lane j + (j + 8)
 *      of both dots, 8 lanes each;
 *   2: chunks (0 | 2) + (1 | 3) of two such: j + (j + 4), one chunk a dot;
 *   3: in every chunk, elements (0,1 | 0,1) + (2,3 | 2,3): j + (j + 2);
 *   4: in every chunk, elements (0 | 2) + (1 | 3): j + (j + 1).
 * (IEEE addition is commutative, so which operand comes first is free.) */
BN_INLINE __m512 att_fold16x16(const __m512 a[16]) {
    __m512 b[8], c[4], d[2];
    for (int m = 0; m < 8; m++)
        b[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], 0xEE));
    for (int m = 0; m < 4; m++)
        c[m] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * m], b[2 * m + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * m], b[2 * m + 1], 0xDD));
    for (int m = 0; m < 2; m++)
        d[m] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * m], c[2 * m + 1], 0x44),
                             _mm512_shuffle_ps(c[2 * m], c[2 * m + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xDD));
}

/* The 16 dots of 4 queries x 4 keys (rows of D floats, D % 16 == 0), lane
 * 4q + k of the result holding dot(query q, key k). */
BN_INLINE __m512 att_dot4x4(const float *const qp[4], const float *const kp[4], int64_t D) {
    __m512 a[16]; /* a[4k + q]: that dot's 16 lanes */
    __m512 qv[4], kv[4];
    for (int j = 0; j < 4; j++) {
        qv[j] = _mm512_loadu_ps(qp[j]);
        kv[j] = _mm512_loadu_ps(kp[j]);
    }
    for (int k = 0; k < 4; k++)
        for (int q = 0; q < 4; q++)
            a[4 * k + q] = _mm512_mul_ps(qv[q], kv[k]);
    for (int64_t d = 16; d < D; d += 16) {
        for (int j = 0; j < 4; j++) {
            qv[j] = _mm512_loadu_ps(qp[j] + d);
            kv[j] = _mm512_loadu_ps(kp[j] + d);
        }
        for (int k = 0; k < 4; k++)
            for (int q = 0; q < 4; q++)
                a[4 * k + q] = _mm512_add_ps(a[4 * k + q], _mm512_mul_ps(qv[q], kv[k]));
    }
    return att_fold16x16(a);
}

/* Scores of every (token, head) row of the item against the keys it sees.
 * Key tiles of 4 positions outside, tiles of 4 rows (flattened token-major:
 * row = i * n_rep + r) inside, starting at the first token that sees the
 * tile. Dots past a row's last key (inside the diagonal tile) are computed
 * and stored but never read. kbuf: (4, D) scratch for widened f16 keys. */
static void att_scores(const bn_att_item *it, float *kbuf) {
    const int64_t D = it->head_dim, n_rows = (int64_t)it->n_tok * it->n_rep;
    const int64_t n_keys = (int64_t)it->pos0 + it->n_tok;
    const __m512 scale = _mm512_set1_ps(it->kq_scale);
    for (int64_t p0 = 0; p0 < n_keys; p0 += 4) {
        const int nk = n_keys - p0 < 4 ? (int)(n_keys - p0) : 4;
        const float *kp[4];
        for (int j = 0; j < 4; j++) {
            const int64_t p = p0 + (j < nk ? j : nk - 1); /* a missing key repeats the last */
            if (it->k_f16) {
                const uint16_t *src = (const uint16_t *)it->k + p * it->kv_stride;
                if (j < nk)
                    for (int64_t d = 0; d < D; d += 16)
                        _mm512_storeu_ps(kbuf + j * D + d, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                               (const __m256i *)(src + d))));
                kp[j] = kbuf + (j < nk ? j : nk - 1) * D;
            } else {
                kp[j] = (const float *)it->k + p * it->kv_stride;
            }
        }
        const __mmask8 km = (__mmask8)((1u << nk) - 1);
        const int64_t i_min = p0 > it->pos0 ? p0 - it->pos0 : 0;
        int64_t i = i_min, r = 0; /* row = i * n_rep + r, walked without divisions */
        for (int64_t row = i_min * it->n_rep; row < n_rows; row += 4) {
            const int nr = n_rows - row < 4 ? (int)(n_rows - row) : 4;
            const float *qp[4];
            float *sp[4];
            for (int j = 0; j < 4; j++) {
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
            const __m512 s = _mm512_mul_ps(att_dot4x4(qp, kp, D), scale);
            _mm_mask_storeu_ps(sp[0], km, _mm512_castps512_ps128(s));
            if (nr > 1)
                _mm_mask_storeu_ps(sp[1], km, _mm512_extractf32x4_ps(s, 1));
            if (nr > 2)
                _mm_mask_storeu_ps(sp[2], km, _mm512_extractf32x4_ps(s, 2));
            if (nr > 3)
                _mm_mask_storeu_ps(sp[3], km, _mm512_extractf32x4_ps(s, 3));
        }
    }
}

/* In place over n >= 1 scores, as the reference's att_softmax. */
static void att_softmax(float *s, int64_t n) {
    const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    __m512 vmax = ninf;
    int64_t p = 0;
    /* max_ps returns its second operand when either is NaN: the running
     * max comes second, so NaN scores are skipped as in the reference */
    for (; p + 16 <= n; p += 16)
        vmax = _mm512_max_ps(_mm512_loadu_ps(s + p), vmax);
    const __mmask16 tail = (__mmask16)((1u << (n - p)) - 1);
    if (p < n)
        vmax = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tail, s + p), vmax);
    /* the max of numbers is exact in any order */
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    /* lane j sums e_p for p % 16 == j, p ascending, from +0 */
    __m512 sum = _mm512_setzero_ps();
    for (p = 0; p + 16 <= n; p += 16) {
        __m512 e = att_exp16(_mm512_sub_ps(_mm512_loadu_ps(s + p), m));
        _mm512_storeu_ps(s + p, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (p < n) {
        __m512 e = _mm512_maskz_mov_ps(tail, att_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + p), m)));
        _mm512_mask_storeu_ps(s + p, tail, e);
        sum = _mm512_add_ps(sum, e); /* + 0 in the missing lanes: exact */
    }
    const __m512 inv = _mm512_set1_ps(1.0f / att_fold16(sum));
    for (p = 0; p + 16 <= n; p += 16)
        _mm512_storeu_ps(s + p, _mm512_mul_ps(_mm512_loadu_ps(s + p), inv));
    if (p < n)
        _mm512_mask_storeu_ps(s + p, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + p), inv));
}

/* Value vector (16 floats) at position p, element d, widened if f16. */
BN_INLINE __m512 att_load_v(const void *v, bool f16, int64_t stride, int64_t p, int64_t d) {
    if (f16)
        return _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)((const uint16_t *)v + p * stride + d)));
    return _mm512_loadu_ps((const float *)v + p * stride + d);
}

/* out_r[d0, d0 + 16C) = sum_p w_r[p] * v_p for R rows of weights over n
 * keys, in the reference's order (first term, then ascending adds), with the
 * R x C output vectors held in registers across all keys. R, C, f16 are
 * constants at every call, so the arrays live in registers. */
BN_INLINE void att_pv_tile(const float *const w[4], float *const o[4], int R, int C,
                           const void *v, bool f16, int64_t stride, int64_t n, int64_t d0) {
    __m512 acc[4][8];
    {
        __m512 vv[8];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, 0, d0 + 16 * c);
        for (int r = 0; r < R; r++) {
            const __m512 wr = _mm512_set1_ps(w[r][0]);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm512_mul_ps(wr, vv[c]);
        }
    }
    for (int64_t p = 1; p < n; p++) {
        __m512 vv[8];
        for (int c = 0; c < C; c++)
            vv[c] = att_load_v(v, f16, stride, p, d0 + 16 * c);
        for (int r = 0; r < R; r++) {
            const __m512 wr = _mm512_set1_ps(w[r][p]);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm512_add_ps(acc[r][c], _mm512_mul_ps(wr, vv[c]));
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            _mm512_storeu_ps(o[r] + d0 + 16 * c, acc[r][c]);
}

/* All D outputs of R rows: chunks of C vectors (16 accumulators at most),
 * then single vectors for what is left. */
BN_INLINE void att_pv_rows(const float *const w[4], float *const o[4], int R, const void *v,
                           bool f16, int64_t stride, int64_t n, int64_t D) {
    const int C = R <= 2 ? 8 : 4;
    int64_t d0 = 0;
    for (; d0 + 16 * C <= D; d0 += 16 * C)
        att_pv_tile(w, o, R, C, v, f16, stride, n, d0);
    for (; d0 < D; d0 += 16)
        att_pv_tile(w, o, R, 1, v, f16, stride, n, d0);
}

/* The table entry (x86/avx512.c). */
void bn_attend_avx512(const bn_att_item *it) {
    const int64_t D = it->head_dim;
    if (D % 16 != 0 || D > BN_ATT_MAX_SIMD_D) {
        bn_attend_ref(it);
        return;
    }
    float kbuf[4 * BN_ATT_MAX_SIMD_D] __attribute__((aligned(64))); /* (4, D) */
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
