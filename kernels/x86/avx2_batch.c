/* x86/avx2_batch.c: the avx2 table's I2 product for batches (n_tokens > 1,
 * prompt processing), compiled with the AVX2 flags only
 * (kernels/CMakeLists.txt). TENSOR and ROW scales; avx2.c sends BLOCK256
 * scales to the reference and one token to its own kernel.
 *
 * One row at a time against a tile of up to 4 tokens: each 128-value block
 * of the row is decoded once (one load, three shifts, four masks: the codes
 * c = w + 1 of the four 32-value runs) and multiplied into every token of
 * the tile with _mm256_maddubs_epi16 (unsigned codes x signed activations,
 * read from memory; the kernel subtracts act->sum[t] at the end). The
 * earlier 4-row x 2-token tiles decoded a block for 2 tokens and widened
 * every block's sums: 7 + 2 x 9 operations per 2 x 128 MACs, against
 * 7 + 4 x 8 per 4 x 128 here.
 *
 * int16 bound: a maddubs lane is c0*q0 + c1*q1 with c in {0,1,2}, q in
 * [-128, 127], so in [-512, 508]; a block adds 4 of them per token, and the
 * int16 sums take BN_I2_BATCH_FLUSH = 15 blocks (15 * 4 * 512 = 30720 <
 * 32767) before _mm256_madd_epi16 widens them to int32.
 *
 * Rows go in blocks of about 256 KB of weights, so that a block stays in L2
 * while every token tile passes over it; the token tile's activations (4 x
 * K bytes) stay in L1.
 */
#include <immintrin.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

#define BN_I2_BATCH_TOKENS BN_ROW_TOKENS
#define BN_I2_BATCH_FLUSH 15

BN_INLINE int32_t bn_hadd8i(__m256i v) {
    __m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4e));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xb1));
    return _mm_cvtsi128_si32(m);
}

BN_INLINE void bn_i2_batch_row(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r,
                               int64_t t0, const int T, int32_t out[BN_I2_BATCH_TOKENS]) {
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[BN_I2_BATCH_TOKENS];
    for (int j = 0; j < T; j++)
        acc[j] = _mm256_setzero_si256();
    const int64_t nb = w->Kp / BN_I2_BLOCK;
    const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
    const int8_t *q = act->q + t0 * act->stride;
    const int64_t qs = act->stride;
    for (int64_t b0 = 0; b0 < nb; b0 += BN_I2_BATCH_FLUSH) {
        const int64_t b1 = b0 + BN_I2_BATCH_FLUSH < nb ? b0 + BN_I2_BATCH_FLUSH : nb;
        __m256i s16[BN_I2_BATCH_TOKENS];
        for (int j = 0; j < T; j++)
            s16[j] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(row + b * 32));
            const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(wv, 6), m3);
            const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(wv, 4), m3);
            const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(wv, 2), m3);
            const __m256i c3 = _mm256_and_si256(wv, m3);
            for (int j = 0; j < T; j++) {
                const __m256i *a = (const __m256i *)(q + j * qs + b * 128);
                __m256i s = s16[j];
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c0, _mm256_loadu_si256(a)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c1, _mm256_loadu_si256(a + 1)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c2, _mm256_loadu_si256(a + 2)));
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c3, _mm256_loadu_si256(a + 3)));
                s16[j] = s;
            }
        }
        for (int j = 0; j < T; j++)
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s16[j], ones));
    }
    for (int j = 0; j < T; j++)
        out[j] = bn_hadd8i(acc[j]) - act->sum[t0 + j];
}

BN_ROW_TOKENS_TABLE(bn_i2_rows, bn_i2_batch_row)

void bn_gemm_i2_batch_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                              int64_t stride) {
    bn_ternary_rows_gemm(bn_i2_rows, w, act, row_begin, row_end, y, acc_out, stride);
}
