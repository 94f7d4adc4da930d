/* ref/float.c: scalar reference float helpers (attention, norms, f16 rows).
 *
 * Owns dot/axpy over f32 and f16 (the KV cache), RMSNorm with the exact
 * 16-lane order of kernels.h, softmax and f16 row conversion. Dots keep 16
 * lanes like the SIMD tables so that all tables round alike on long rows.
 */
#include <math.h>

#include "kernels/internal.h"
#include "loader/half.h"

float bn_dot_f32_ref(const float *a, const float *b, int64_t n) {
    float lane[16] = {0};
    for (int64_t k = 0; k < n; k++)
        lane[k % 16] += a[k] * b[k];
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            lane[i] += lane[i + w];
    return lane[0];
}

float bn_dot_f16_ref(const float *a, const uint16_t *b, int64_t n) {
    float lane[16] = {0};
    for (int64_t k = 0; k < n; k++)
        lane[k % 16] += a[k] * bn_f16_to_f32(b[k]);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            lane[i] += lane[i + w];
    return lane[0];
}

void bn_axpy_f32_ref(float a, const float *x, float *y, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        y[k] += a * x[k];
}

void bn_axpy_f16_ref(float a, const uint16_t *x, float *y, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        y[k] += a * bn_f16_to_f32(x[k]);
}

void bn_rmsnorm_f32_ref(const float *x, const float *w, float eps, int64_t n, float *y) {
    float inv = 1.0f / sqrtf(bn_sumsq16_ref(x, n) / (float)n + eps);
    for (int64_t k = 0; k < n; k++)
        y[k] = (x[k] * inv) * w[k];
}

void bn_softmax_f32_ref(float *x, int64_t n) {
    float mx = x[0];
    for (int64_t k = 1; k < n; k++)
        if (x[k] > mx)
            mx = x[k];
    /* The sum in double: one probability near 1 plus many tiny ones would
     * lose their low bits in a float sum. */
    double sum = 0.0;
    for (int64_t k = 0; k < n; k++) {
        x[k] = expf(x[k] - mx);
        sum += x[k];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t k = 0; k < n; k++)
        x[k] *= inv;
}

void bn_f16_to_f32_ref(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        dst[k] = bn_f16_to_f32(src[k]);
}

void bn_f32_to_f16_ref(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        dst[k] = bn_f32_to_f16(src[k]);
}
