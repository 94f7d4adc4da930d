/* ref/ternary.c: scalar reference ternary x int8 products, every layout.
 *
 * Owns the oracle: exact int32 accumulators sum_k w[r][k] * q[t][k] and the
 * float epilogue of each scale kind (kernels.h). Codes are read one at a time
 * through the layout helpers of internal.h, so this file states what each
 * layout means rather than how to read it fast. The LUT2 product goes
 * through the batch's pair tables when it has them (the LUT method itself),
 * else through the codes.
 */
#include "kernels/internal.h"

/* Rows are decoded a chunk at a time into a stack buffer (int8 weights, or
 * LUT indices) and dotted with up to BN_REF_TOKENS tokens, so each code is
 * decoded once per row per token group and the stack stays small. */
#define BN_REF_CHUNK 1280 /* values; a multiple of 256 so BLOCK256 blocks fit */
#define BN_REF_TOKENS 64

typedef struct bn_ref_out {
    float *y;         /* float outputs, or NULL */
    int32_t *acc;     /* raw accumulators, or NULL */
    int64_t stride;
} bn_ref_out;

static void bn_ref_gemm(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                        int64_t row_end, bn_ref_out out) {
    const int64_t K = w->K, nt = act->n_tokens;
    const bool block = w->scale_kind == BN_TERNARY_SCALE_BLOCK256 && out.y;
    const bool use_lut = w->layout == BN_LAYOUT_LUT2 && act->lut;
    int8_t wv[BN_REF_CHUNK];      /* weights -1/0/+1 of the chunk */
    uint8_t idx[BN_REF_CHUNK / 2]; /* LUT2 indices of the chunk's pairs */
    for (int64_t r = row_begin; r < row_end; r++) {
        for (int64_t t0 = 0; t0 < nt; t0 += BN_REF_TOKENS) {
            int64_t tn = nt - t0 < BN_REF_TOKENS ? nt - t0 : BN_REF_TOKENS;
            int32_t acc[BN_REF_TOKENS] = {0};
            float s[BN_REF_TOKENS] = {0};
            for (int64_t c0 = 0; c0 < K; c0 += BN_REF_CHUNK) {
                int64_t n = K - c0 < BN_REF_CHUNK ? K - c0 : BN_REF_CHUNK;
                if (use_lut) {
                    /* Pairs past K read padding codes (1, weight 0). */
                    for (int64_t p = 0; p < (n + 1) / 2; p++)
                        idx[p] = (uint8_t)bn_lut2_index(w, r, c0 / 2 + p);
                } else {
                    bn_ternary_matrix_codes(w, r, c0, n, (uint8_t *)wv);
                    for (int64_t k = 0; k < n; k++)
                        wv[k] = (int8_t)(wv[k] - 1);
                }
                for (int64_t ti = 0; ti < tn; ti++) {
                    int64_t t = t0 + ti;
                    const int8_t *q = act->q + t * act->stride + c0;
                    if (use_lut) {
                        const uint8_t *lut = act->lut +
                                             (t * (act->stride / 2) + c0 / 2) * BN_LUT_ENTRY_BYTES;
                        for (int64_t p = 0; p < (n + 1) / 2; p++) {
                            const uint8_t *e = lut + p * BN_LUT_ENTRY_BYTES;
                            acc[ti] += (int16_t)(uint16_t)(e[idx[p]] | (e[16 + idx[p]] << 8));
                        }
                    } else if (block) {
                        const float *d = w->scales + r * (K / 256) + c0 / 256;
                        for (int64_t b = 0; b < n / 256; b++) {
                            int32_t a = 0;
                            for (int64_t k = b * 256; k < (b + 1) * 256; k++)
                                a += wv[k] * q[k];
                            float prod = d[b] * (float)a;
                            s[ti] = s[ti] + prod;
                        }
                    } else {
                        int32_t a = 0;
                        for (int64_t k = 0; k < n; k++)
                            a += wv[k] * q[k];
                        acc[ti] += a;
                    }
                }
            }
            for (int64_t ti = 0; ti < tn; ti++) {
                int64_t t = t0 + ti;
                if (out.acc)
                    out.acc[t * out.stride + r] = acc[ti];
                else if (block)
                    out.y[t * out.stride + r] = s[ti] / act->scale[t];
                else
                    out.y[t * out.stride + r] = bn_ternary_out(w, r, acc[ti], act->scale[t]);
            }
        }
    }
}

void bn_gemm_ternary_i8_ref(const bn_ternary_matrix *w, const bn_act_batch *act,
                            int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    bn_ref_gemm(w, act, row_begin, row_end, (bn_ref_out){y, NULL, y_stride});
}

void bn_gemm_acc_ternary_i8_ref(const bn_ternary_matrix *w, const bn_act_batch *act,
                                int64_t row_begin, int64_t row_end, int32_t *acc,
                                int64_t acc_stride) {
    bn_ref_gemm(w, act, row_begin, row_end, (bn_ref_out){NULL, acc, acc_stride});
}
