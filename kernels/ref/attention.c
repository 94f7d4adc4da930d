/* ref/attention.c: the scalar reference of causal attention (attend).
 *
 * Owns the order of operations that every table reproduces bit for bit
 * (kernels.h, header comment): 16-lane dots with a fixed fold, a softmax
 * whose exp is our own (bn_att_exp_ref: only IEEE add/mul and integer bit
 * operations, so SIMD lanes can compute the same bits) and whose sum is kept
 * in 16 lanes too, and the value sum over keys in ascending order. Written
 * for clarity first (keys outside, so each cached row is widened once and
 * the inner loops vectorize at the baseline ISA, about the speed of the
 * portable code this replaced): the SIMD files are the fast versions; they
 * call bn_attend_ref for shapes they leave alone (head_dim not a multiple
 * of 16, or above BN_ATT_MAX_SIMD_D).
 *
 * Needs float arithmetic evaluated in float (FLT_EVAL_METHOD 0: x86-64 SSE,
 * aarch64) and no contraction into fma (-ffp-contract=off,
 * kernels/CMakeLists.txt).
 */
#include "kernels/internal.h"
#include "loader/half.h"

/* exp(x) for softmax arguments x = s - max <= 0 (kernels.h header comment). */
float bn_att_exp_ref(float x) {
    if (!(x >= BN_ATT_EXP_LO)) /* underflows past FLT_MIN; NaN lands here too */
        return 0.0f;
    if (x > BN_ATT_EXP_HI) /* keeps 2^n a normal float; never hit by softmax */
        x = BN_ATT_EXP_HI;
    /* |x / ln2| <= 126 < 2^22, so t keeps n = round(x / ln2) (half-even) in
     * its low mantissa bits and t - ROUND is exact. */
    float t = x * BN_ATT_LOG2E + BN_ATT_ROUND;
    float n = t - BN_ATT_ROUND;
    /* n * LN2_HI is exact (8 + 9 significant bits); r in [-0.35, 0.35] */
    float r = x - n * BN_ATT_LN2_HI;
    r = r - n * BN_ATT_LN2_LO;
    float z = r * r;
    float p = BN_ATT_P0;
    p = p * r + BN_ATT_P1;
    p = p * r + BN_ATT_P2;
    p = p * r + BN_ATT_P3;
    p = p * r + BN_ATT_P4;
    p = p * r + BN_ATT_P5;
    float y = p * z;
    y = y + r;
    y = y + 1.0f;
    /* bits(t) = bits(ROUND) + n, and bits(ROUND) has zeros in its low 9
     * bits, so (bits(t) + 127) << 23 is the float 2^n (n in [-126, 126]). */
    float two_n = bn_f32_from_bits((bn_f32_to_bits(t) + 127u) << 23);
    return y * two_n;
}

/* Element d of the cached row at position p. */
static inline float att_elem(const void *base, bool f16, int64_t stride, int64_t p, int64_t d) {
    if (f16)
        return bn_f16_to_f32(((const uint16_t *)base)[p * stride + d]);
    return ((const float *)base)[p * stride + d];
}

/* The row at position p as floats: in place for f32, else widened into buf
 * (exact); NULL when an f16 row does not fit buf (head_dim above
 * BN_ATT_MAX_SIMD_D: read element by element then). */
static const float *att_row(const void *base, bool f16, int64_t stride, int64_t p, int64_t D,
                            float *buf) {
    if (!f16)
        return (const float *)base + p * stride;
    if (D > BN_ATT_MAX_SIMD_D)
        return NULL;
    for (int64_t d = 0; d < D; d++)
        buf[d] = att_elem(base, true, stride, p, d);
    return buf;
}

/* The 16-lane fold of kernels.h: lane j += lane j + w for w = 8, 4, 2, 1. */
static inline float att_fold16(float lane[16]) {
    for (int j = 0; j < 8; j++)
        lane[j] += lane[j + 8];
    for (int j = 0; j < 4; j++)
        lane[j] += lane[j + 4];
    for (int j = 0; j < 2; j++)
        lane[j] += lane[j + 2];
    return lane[0] + lane[1];
}

/* dot(q, k) in 16 lanes, each lane starting from its first product (+0 if
 * it has none). k: the key row, or NULL to widen key p 16 values at a time. */
static float att_dot(const float *q, const float *k, const bn_att_item *it, int64_t p) {
    const int64_t D = it->head_dim;
    float lane[16] = {0}, kc[16];
    int64_t d0 = 0;
    if (k && D >= 16) { /* the common case, in a shape that vectorizes */
        for (int j = 0; j < 16; j++)
            lane[j] = q[j] * k[j];
        for (d0 = 16; d0 + 16 <= D; d0 += 16)
            for (int j = 0; j < 16; j++)
                lane[j] += q[d0 + j] * k[d0 + j];
    }
    for (; d0 < D; d0 += 16) {
        const int64_t n = D - d0 < 16 ? D - d0 : 16;
        for (int64_t j = 0; j < n; j++)
            kc[j] = k ? k[d0 + j] : att_elem(it->k, true, it->kv_stride, p, d0 + j);
        for (int64_t j = 0; j < n; j++)
            lane[j] = d0 == 0 ? q[j] * kc[j] : lane[j] + q[d0 + j] * kc[j];
    }
    return att_fold16(lane);
}

/* In place over n >= 1 scores: w_p = e_p / sum with the 16-lane sum. Lanes
 * start at +0: adding e >= +0 to +0 gives e exactly, so this is the same as
 * starting from the first term. */
static void att_softmax(float *s, int64_t n) {
    /* NaN scores (a NaN in the cache) never win; their exp is 0 below */
    float m = -__builtin_inff();
    for (int64_t p = 0; p < n; p++)
        m = s[p] > m ? s[p] : m;
    float lane[16] = {0};
    for (int64_t p = 0; p < n; p++) {
        s[p] = bn_att_exp_ref(s[p] - m);
        lane[p % 16] += s[p];
    }
    float inv = 1.0f / att_fold16(lane);
    for (int64_t p = 0; p < n; p++)
        s[p] = s[p] * inv;
}

/* Rows are (token i, head r), row = i * n_rep + r; token i sees keys
 * 0 .. pos0 + i. Keys outside, rows inside, so that each cached row is
 * widened once per item (the arithmetic of a row does not depend on it). */
void bn_attend_ref(const bn_att_item *it) {
    const int64_t D = it->head_dim, n_keys = (int64_t)it->pos0 + it->n_tok;
    float buf[BN_ATT_MAX_SIMD_D]; /* (D) a widened f16 row */
#define ATT_Q(i, r) (it->q + (i) * it->q_stride + (r) * D)
#define ATT_S(i, r) (it->scores + ((int64_t)(i) * it->n_rep + (r)) * it->sc_stride)
#define ATT_OUT(i, r) (it->out + (i) * it->out_stride + (r) * D)
    /* scores */
    for (int64_t p = 0; p < n_keys; p++) {
        const float *k = att_row(it->k, it->k_f16, it->kv_stride, p, D, buf);
        for (int64_t i = p > it->pos0 ? p - it->pos0 : 0; i < it->n_tok; i++)
            for (int32_t r = 0; r < it->n_rep; r++)
                ATT_S(i, r)[p] = att_dot(ATT_Q(i, r), k, it, p) * it->kq_scale;
    }
    for (int32_t i = 0; i < it->n_tok; i++)
        for (int32_t r = 0; r < it->n_rep; r++)
            att_softmax(ATT_S(i, r), (int64_t)it->pos0 + i + 1);
    /* out = w_0 v_0, then + w_p v_p for p ascending, element by element */
    for (int64_t p = 0; p < n_keys; p++) {
        const float *v = att_row(it->v, it->v_f16, it->kv_stride, p, D, buf);
        for (int64_t i = p > it->pos0 ? p - it->pos0 : 0; i < it->n_tok; i++)
            for (int32_t r = 0; r < it->n_rep; r++) {
                const float w = ATT_S(i, r)[p];
                float *out = ATT_OUT(i, r);
                if (!v)
                    for (int64_t d = 0; d < D; d++) {
                        const float vd = att_elem(it->v, true, it->kv_stride, p, d);
                        out[d] = p == 0 ? w * vd : out[d] + w * vd;
                    }
                else if (p == 0)
                    for (int64_t d = 0; d < D; d++)
                        out[d] = w * v[d];
                else
                    for (int64_t d = 0; d < D; d++)
                        out[d] = out[d] + w * v[d];
            }
    }
#undef ATT_Q
#undef ATT_S
#undef ATT_OUT
}
