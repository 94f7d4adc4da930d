/* ref/dense.c: scalar reference output-layer products.
 *
 * Owns y = W x for F32/F16/BF16/Q8_0/Q6_K rows (dequantized exactly, then
 * summed in double: the reference is the most accurate order, the SIMD
 * tables are checked against it by tolerance) and the int8-copy product
 * (exact int32, then (float)acc / act_scale * row_scale, which every table
 * reproduces bit for bit).
 */
#include "kernels/internal.h"

#define BN_DENSE_CHUNK 1280 /* values: a multiple of the Q8_0 and Q6_K blocks */
#define BN_DENSE_TOKENS 32

void bn_dense_gemm_f32_ref(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                           int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                           int64_t y_stride) {
    float wr[BN_DENSE_CHUNK]; /* one dequantized chunk of the row */
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += BN_DENSE_TOKENS) {
            int64_t tn = n_tokens - t0 < BN_DENSE_TOKENS ? n_tokens - t0 : BN_DENSE_TOKENS;
            double acc[BN_DENSE_TOKENS] = {0};
            for (int64_t c0 = 0; c0 < w->K; c0 += BN_DENSE_CHUNK) {
                int64_t n = w->K - c0 < BN_DENSE_CHUNK ? w->K - c0 : BN_DENSE_CHUNK;
                const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(w->type);
                bn_dense_row_to_f32(w->type, row + (uint64_t)(c0 / tr->block_size) * tr->block_bytes,
                                    n, wr);
                for (int64_t ti = 0; ti < tn; ti++) {
                    const float *xt = x + (t0 + ti) * x_stride + c0;
                    double a = 0.0;
                    for (int64_t k = 0; k < n; k++)
                        a += (double)wr[k] * (double)xt[k];
                    acc[ti] += a;
                }
            }
            for (int64_t ti = 0; ti < tn; ti++)
                y[(t0 + ti) * y_stride + r] = (float)acc[ti];
        }
    }
}

void bn_dense_gemm_i8_ref(const bn_dense_matrix *w, const bn_act_batch *act, int64_t row_begin,
                          int64_t row_end, float *y, int64_t y_stride) {
    for (int64_t t = 0; t < act->n_tokens; t++) {
        const int8_t *q = act->q + t * act->stride;
        for (int64_t r = row_begin; r < row_end; r++) {
            const int8_t *wq = w->q8 + r * w->q8_stride;
            int32_t acc = 0;
            for (int64_t k = 0; k < w->K; k++)
                acc += wq[k] * q[k];
            y[t * y_stride + r] = (float)acc / act->scale[t] * w->q8_scale[r];
        }
    }
}
