/* x86/avx512_q6k_batch.c: the Q6_K output layer for a batch of tokens
 * (a serving step's logits, one row per sequence), AVX-512 F/BW/VL/DQ only,
 * so both the avx512 and the avx512vbmi tables call it (from the Q6_K
 * branch of x86/avx512.c's dense_gemm, for the batch sizes where it wins).
 *
 * Owns: y[t][r] = W[r] . x[t] for Q6_K rows, any number of tokens: up to
 * BN_Q6KB_MAX_T (8) a pass, two passes over each row tile (so up to 16
 * tokens stream the weights once; more: the rows again per 16). The tables
 * call it from 4 tokens: for one token they keep their own kernels, whose
 * results it does not change, and at 2-3 the per-group conversion is shared
 * by too few tokens (0.85-0.9x avx512.c's kernel, also with 2 accumulators
 * per token).
 *
 * Each 64-code group of a row is decoded once per pass and turned into four
 * f32 weight vectors, shared by all the pass's tokens: per 64 codes, 7
 * shifts, 4 conversions, 4 multiplies and one scale permute for the row,
 * then 4 FMAs per token. Lane i of the k-th vector (k = 0..3) holds the
 * code of value 4i + k of the group (shifting the dword left by 24 - 8k and
 * back arithmetically sign-extends byte k without any shuffle); x is
 * permuted once per call to match, xp[64g + 16k + i] = x[64g + 4i + k], as
 * the avx512 table's one-token kernel does (stored per group as the pass's
 * tokens' 64 values one after the other). Each weight is (d * scale) *
 * (code - 32) rounded once after the reference's d * scale: exactly the
 * dequantized weight (kernels/dense_matrix.c), so the float product is the
 * reference's up to the order of the additions.
 *
 * Order: one f32 accumulator per (row, token), the 4 products of a group in
 * k order, groups in K order, then one fixed 16-lane reduction. It depends
 * on nothing but the row and the token's x: not on the row range (thread
 * split, vocabulary chunk), the tile, nor on how many tokens share a pass.
 *
 * Memory: rows go in tiles of BN_Q6KB_TILE; a tile is swept one 256-block
 * at a time over its rows, so only one block of the pass's x (8 tokens x
 * 1 KB) is hot in L1 instead of all of x (80 KB at K = 2560: L2). The
 * accumulators live in a small stack array between blocks (T loads and
 * stores per 256 x T FMAs). Each block prefetches the same block one tile
 * ahead (about 17 KB), as the one-token kernels fetch 8 KB ahead.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/internal.h"
#include "kernels/x86/avx512_q6k.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* Tokens per pass: one accumulator each, plus 4 weight vectors, the scale
 * and the decode's constants, within 32 zmm registers. 16 would fit, but
 * measured slower per token than two passes of 8 over each row tile (the
 * tile's weights come from L1/L2 the second time): 70-74 against 63-66 ns
 * per row and token, 1 thread. */
#define BN_Q6KB_MAX_T 8
/* Passes per row tile: tokens per call up to 16 stream the weights once. */
#define BN_Q6KB_PASSES 2
/* x rows up to this (the 2B4T output layer has K = 2560); longer rows go
 * to the caller's general kernel. */
#define BN_Q6KB_MAX_K 4096
/* Rows swept block by block together: T x 8 accumulators (4 KB at T = 8). */
#define BN_Q6KB_TILE 8

/* Values 64g .. 64g + 63 of x, permuted into xp: xp[16k + i] = x[4i + k].
 * Output vector k takes lane 4i + k of the 64 (i < 8 from v0|v1, i >= 8
 * from v2|v3, index mod 32). */
BN_INLINE void bn_q6kb_permute64(const float *x, float *xp) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16),
                 v2 = _mm512_loadu_ps(x + 32), v3 = _mm512_loadu_ps(x + 48);
    const __m512i i4 = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0);
    for (int k = 0; k < 4; k++) {
        const __m512i idx = _mm512_add_epi32(i4, _mm512_set1_epi32(k));
        const __m512 lo = _mm512_permutex2var_ps(v0, idx, v1);
        const __m512 hi = _mm512_permutex2var_ps(v2, idx, v3);
        _mm512_storeu_ps(xp + 16 * k, _mm512_mask_mov_ps(lo, 0xff00, hi));
    }
}

/* Signed code k (0..3) of each dword lane of q, as f32. */
BN_INLINE __m512 bn_q6kb_code(__m512i q, int k) {
    return _mm512_cvtepi32_ps(
        _mm512_srai_epi32(k == 3 ? q : _mm512_slli_epi32(q, 24 - 8 * k), 24));
}

/* One 256-block of one row against T tokens: acc[j] += W[blk] . x[j][blk].
 * xp points at the block's permuted x: (4 groups, T tokens, 64). */
BN_INLINE void bn_q6kb_block(const uint8_t *blk, uint64_t ahead, const float *xp, int T,
                             __m512 *acc /* (T) */) {
    /* lane i -> sub-block i/4 of a 64-group (+ 4 per group). */
    const __m512i i4 = _mm512_srli_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
    for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
        _mm_prefetch((const char *)(blk + c + ahead), _MM_HINT_T0);
    __m512 a[BN_Q6KB_MAX_T];
    for (int j = 0; j < T; j++)
        a[j] = acc[j];
    const __m512 ds = bn_q6k_block_scales(blk);
    for (int n = 0; n < 2; n++) {
        __m512i Q[2]; /* values 0-63, 64-127 of this half, code - 32 */
        bn_q6k_half_codes(blk, n, Q);
        for (int u = 0; u < 2; u++) {
            const __m512 sc =
                _mm512_permutexvar_ps(_mm512_add_epi32(i4, _mm512_set1_epi32(8 * n + 4 * u)), ds);
            const __m512 w0 = _mm512_mul_ps(sc, bn_q6kb_code(Q[u], 0));
            const __m512 w1 = _mm512_mul_ps(sc, bn_q6kb_code(Q[u], 1));
            const __m512 w2 = _mm512_mul_ps(sc, bn_q6kb_code(Q[u], 2));
            const __m512 w3 = _mm512_mul_ps(sc, bn_q6kb_code(Q[u], 3));
            const float *xg = xp + 64 * T * (2 * n + u);
            for (int j = 0; j < T; j++) {
                const float *xj = xg + 64 * j;
                a[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xj), a[j]);
                a[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xj + 16), a[j]);
                a[j] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xj + 32), a[j]);
                a[j] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xj + 48), a[j]);
            }
        }
    }
    for (int j = 0; j < T; j++)
        acc[j] = a[j];
}

/* Rows r0 .. r0 + nr (nr <= BN_Q6KB_TILE) against T tokens of permuted x
 * (xp: per 64-group of K, the T tokens' 64 values, so that every x load of
 * a block is a constant offset from one pointer). */
BN_INLINE void bn_q6kb_tile(const bn_dense_matrix *w, const float *xp, int T, int64_t r0, int nr,
                            float *y, int64_t y_stride) {
    const int64_t nb = w->K / BN_Q6_K_BLOCK;
    /* The same block one tile of rows later. */
    const uint64_t ahead = BN_Q6KB_TILE * w->row_bytes;
    __m512 acc[BN_Q6KB_TILE * BN_Q6KB_MAX_T]; /* (rows of the tile, T) */
    for (int i = 0; i < nr * T; i++)
        acc[i] = _mm512_setzero_ps();
    const uint8_t *tile = w->data + (uint64_t)r0 * w->row_bytes;
    for (int64_t b = 0; b < nb; b++)
        for (int i = 0; i < nr; i++)
            bn_q6kb_block(tile + (uint64_t)i * w->row_bytes + b * BN_Q6_K_BYTES, ahead,
                          xp + b * BN_Q6_K_BLOCK * T, T, acc + i * T);
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < T; j++)
            y[j * y_stride + r0 + i] = _mm512_reduce_add_ps(acc[i * T + j]);
}

static void bn_q6kb_tile_any(const bn_dense_matrix *w, const float *xp, int T, int64_t r0, int nr,
                             float *y, int64_t y_stride) {
    switch (T) {
#define BN_Q6KB_CASE(t)                                                                            \
    case t:                                                                                        \
        bn_q6kb_tile(w, xp, t, r0, nr, y, y_stride);                                               \
        break;
        BN_Q6KB_CASE(1) BN_Q6KB_CASE(2) BN_Q6KB_CASE(3) BN_Q6KB_CASE(4)
        BN_Q6KB_CASE(5) BN_Q6KB_CASE(6) BN_Q6KB_CASE(7)
#undef BN_Q6KB_CASE
    default:
        bn_q6kb_tile(w, xp, BN_Q6KB_MAX_T, r0, nr, y, y_stride);
        break;
    }
}

bool bn_dense_gemm_q6k_batch_avx512(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                                    int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                                    int64_t y_stride) {
    const int64_t K = w->K;
    if (w->type != BN_TYPE_Q6_K || K > BN_Q6KB_MAX_K || n_tokens < 1)
        return false;
    /* Per pass, (K / 64, pass tokens, 64) permuted x: 256 KB at most, on
     * the stack as the one-token kernels keep theirs. */
    _Alignas(64) float xp[BN_Q6KB_PASSES][BN_Q6KB_MAX_T * BN_Q6KB_MAX_K];
    const int64_t per_call = BN_Q6KB_PASSES * BN_Q6KB_MAX_T;
    /* Groups of up to 16 tokens, each split into passes of equal size (13
     * tokens: 7 + 6, not 8 + 5); the weights are streamed once per group. */
    for (int64_t g0 = 0; g0 < n_tokens;) {
        const int64_t left = n_tokens - g0, n_groups = (left + per_call - 1) / per_call;
        const int64_t G = (left + n_groups - 1) / n_groups;
        const int n_pass = (int)((G + BN_Q6KB_MAX_T - 1) / BN_Q6KB_MAX_T);
        int pt0[BN_Q6KB_PASSES], pT[BN_Q6KB_PASSES];
        for (int p = 0, t = 0; p < n_pass; p++) {
            pt0[p] = t;
            pT[p] = (int)((G - t + (n_pass - p) - 1) / (n_pass - p));
            t += pT[p];
            for (int j = 0; j < pT[p]; j++)
                for (int64_t g = 0; g < K; g += 64)
                    bn_q6kb_permute64(x + (g0 + pt0[p] + j) * x_stride + g,
                                      xp[p] + (g / 64 * pT[p] + j) * 64);
        }
        for (int64_t r0 = row_begin; r0 < row_end; r0 += BN_Q6KB_TILE) {
            const int nr = row_end - r0 < BN_Q6KB_TILE ? (int)(row_end - r0) : BN_Q6KB_TILE;
            for (int p = 0; p < n_pass; p++)
                bn_q6kb_tile_any(w, xp[p], pT[p], r0, nr, y + (g0 + pt0[p]) * y_stride,
                                 y_stride);
        }
        g0 += G;
    }
    return true;
}
