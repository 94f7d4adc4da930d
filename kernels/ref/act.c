/* ref/act.c: scalar reference activation quantization (FORMATS.md 4.3).
 *
 * Owns per-token int8 quantization, the fused RMSNorm + quantization, and
 * the per-row extras every kernel family needs (row sum, 256-block sums, the
 * LUT family's pair tables). The SIMD tables reproduce these bit for bit.
 */
#include <math.h>
#include <string.h>

#include "kernels/internal.h"

/* Quantizes one value already multiplied by act_scale. rintf rounds half to
 * even (the default rounding mode), like bitnet.cpp's magic-number trick and
 * torch.round. The bounds are checked on the float so that NaN (from a NaN
 * or infinite input) lands on -128 exactly as the SIMD conversions do. */
static inline int8_t bn_quant1(float v) {
    float r = rintf(v);
    if (r > 127.0f)
        return 127;
    if (r >= -128.0f)
        return (int8_t)r;
    return -128;
}

void bn_act_finish_row_ref(bn_act_batch *act, int64_t t) {
    int8_t *q = act->q + t * act->stride;
    /* Zero the padding: kernels read whole blocks past K. */
    memset(q + act->K, 0, (size_t)(act->stride - act->K));
    int32_t total = 0;
    int32_t *bs = act->block_sum + t * (act->stride / 256);
    for (int64_t b = 0; b < act->stride / 256; b++) {
        int32_t s = 0;
        for (int64_t k = 0; k < 256; k++)
            s += q[b * 256 + k];
        bs[b] = s;
        total += s;
    }
    act->sum[t] = total;
    if (act->lut)
        bn_act_lut_row_ref(act, t);
}

void bn_act_lut_row_ref(bn_act_batch *act, int64_t t) {
    const int8_t *q = act->q + t * act->stride;
    /* e[c0 | c1 << 2] = (c0-1)*q0 + (c1-1)*q1, |e| <= 2*128: int16, stored
     * as a low-byte table then a high-byte table (16 entries each). */
    uint8_t *lut = act->lut + t * (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    for (int64_t p = 0; p < act->stride / 2; p++) {
        int q0 = q[2 * p], q1 = q[2 * p + 1];
        uint8_t *e = lut + p * BN_LUT_ENTRY_BYTES;
        for (int i = 0; i < 16; i++) {
            int c0 = i & 3, c1 = i >> 2;
            int v = (c0 < 3 && c1 < 3) ? (c0 - 1) * q0 + (c1 - 1) * q1 : 0;
            uint16_t u = (uint16_t)(int16_t)v;
            e[i] = (uint8_t)(u & 0xff);
            e[16 + i] = (uint8_t)(u >> 8);
        }
    }
}

/* Quantizes one row of K floats (already normalised if need be). */
static void bn_quant_row(const float *x, int64_t K, int8_t *q, float *scale_out) {
    float amax = 1e-5f;
    for (int64_t k = 0; k < K; k++) {
        float a = fabsf(x[k]);
        if (a > amax)
            amax = a;
    }
    /* float, as HF: 127 and amax are exact floats, so this is the correctly
     * rounded quotient, the same value bitnet.cpp gets via double. */
    float s = 127.0f / amax;
    for (int64_t k = 0; k < K; k++)
        q[k] = bn_quant1(x[k] * s);
    *scale_out = s;
}

void bn_act_quant_i8_ref(const float *x, int64_t x_stride, bn_act_batch *act, int64_t t_begin,
                         int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; t++) {
        bn_quant_row(x + t * x_stride, act->K, act->q + t * act->stride, &act->scale[t]);
        bn_act_finish_row_ref(act, t);
    }
}

float bn_sumsq16_ref(const float *x, int64_t n) {
    float lane[16] = {0};
    for (int64_t k = 0; k < n; k++) {
        float sq = x[k] * x[k];
        lane[k % 16] = lane[k % 16] + sq;
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            lane[i] = lane[i] + lane[i + w];
    return lane[0];
}

void bn_act_rmsnorm_quant_i8_ref(const float *x, int64_t x_stride, const float *norm_w,
                                 float eps, bn_act_batch *act, int64_t t_begin, int64_t t_end) {
    const int64_t K = act->K;
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        int8_t *q = act->q + t * act->stride;
        float inv = 1.0f / sqrtf(bn_sumsq16_ref(xr, K) / (float)K + eps);
        /* Pass 2 finds amax of y, pass 3 recomputes y (two multiplies) and
         * quantizes it: cheaper than a scratch row, and nothing to allocate. */
        float amax = 1e-5f;
        for (int64_t k = 0; k < K; k++) {
            float a = fabsf((xr[k] * inv) * norm_w[k]);
            if (a > amax)
                amax = a;
        }
        float s = 127.0f / amax;
        for (int64_t k = 0; k < K; k++)
            q[k] = bn_quant1(((xr[k] * inv) * norm_w[k]) * s);
        act->scale[t] = s;
        bn_act_finish_row_ref(act, t);
    }
}
