/* ref/attention.c: the scalar reference of causal attention (attend).
 *
 * Owns the order of operations that every table reproduces bit for bit
 * (kernels.h, header comment): 16-lane dots with a fixed fold, a softmax
 * whose exp is our own (bn_att_exp_ref: only IEEE add/mul and integer bit
 * operations, so SIMD lanes can compute the same bits) and whose sum is kept
 * in 16 lanes too, and the value sum over keys in ascending order. Written
 * for clarity, not speed: the SIMD files are the fast versions, and they
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

/* The 16-lane fold of kernels.h: lane j += lane j + w for w = 8, 4, 2, 1. */
static float att_fold16(float lane[16]) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            lane[j] += lane[j + w];
    return lane[0];
}

/* dot(q, key p) in 16 lanes, each lane starting from its first product. */
static float att_dot(const float *q, const bn_att_item *it, int64_t p) {
    const int64_t D = it->head_dim;
    float lane[16];
    for (int64_t j = 0; j < 16; j++)
        lane[j] = j < D ? q[j] * att_elem(it->k, it->k_f16, it->kv_stride, p, j) : 0.0f;
    for (int64_t d = 16; d < D; d++)
        lane[d % 16] += q[d] * att_elem(it->k, it->k_f16, it->kv_stride, p, d);
    return att_fold16(lane);
}

/* In place over n >= 1 scores: w_p = e_p / sum with the 16-lane sum. Lanes
 * start at +0: adding e >= +0 to +0 gives e exactly, so this is the same as
 * starting from the first term. */
static void att_softmax(float *s, int64_t n) {
    float m = s[0];
    for (int64_t p = 1; p < n; p++)
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

void bn_attend_ref(const bn_att_item *it) {
    const int64_t D = it->head_dim;
    for (int32_t i = 0; i < it->n_tok; i++) {
        const int64_t n = (int64_t)it->pos0 + i + 1; /* keys this token sees */
        for (int32_t r = 0; r < it->n_rep; r++) {
            const float *q = it->q + i * it->q_stride + r * D;
            float *s = it->scores + ((int64_t)i * it->n_rep + r) * it->sc_stride; /* (n) */
            float *out = it->out + i * it->out_stride + r * D;                  /* (D) */
            for (int64_t p = 0; p < n; p++)
                s[p] = att_dot(q, it, p) * it->kq_scale;
            att_softmax(s, n);
            for (int64_t d = 0; d < D; d++)
                out[d] = s[0] * att_elem(it->v, it->v_f16, it->kv_stride, 0, d);
            for (int64_t p = 1; p < n; p++)
                for (int64_t d = 0; d < D; d++)
                    out[d] = out[d] + s[p] * att_elem(it->v, it->v_f16, it->kv_stride, p, d);
        }
    }
}
