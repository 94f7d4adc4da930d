/* ternary_rows.c: the row-at-a-time batch driver of internal.h
 * (bn_ternary_rows_gemm), shared by the SIMD batch kernels that work one
 * row at a time; no intrinsics, so it builds with the baseline flags. */
#include "kernels/internal.h"

void bn_ternary_rows_gemm(const bn_row_tokens_fn by_tokens[BN_ROW_TOKENS],
                          const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                          int64_t row_end, float *y, int32_t *acc_out, int64_t stride) {
    const int64_t rb = bn_batch_block_rows(w->row_bytes);
    int32_t v[BN_ROW_TOKENS];
    for (int64_t b0 = row_begin; b0 < row_end; b0 += rb) {
        const int64_t b1 = b0 + rb < row_end ? b0 + rb : row_end;
        for (int64_t t0 = 0; t0 < act->n_tokens; t0 += BN_ROW_TOKENS) {
            const int T = act->n_tokens - t0 < BN_ROW_TOKENS ? (int)(act->n_tokens - t0)
                                                             : BN_ROW_TOKENS;
            for (int64_t r = b0; r < b1; r++) {
                by_tokens[T - 1](w, act, r, t0, v);
                bn_ternary_store_tokens(w, act, r, t0, T, v, y, acc_out, stride);
            }
        }
    }
}
