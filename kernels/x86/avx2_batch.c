/* x86/avx2_batch.c: the avx2 table's I2 product for batches (n_tokens > 1,
 * prompt processing), compiled with the AVX2 flags only
 * (kernels/CMakeLists.txt). TENSOR and ROW scales; avx2.c sends BLOCK256
 * scales to the reference and one token to its own kernel.
 *
 * Tiles of one row x up to 8 tokens: each 128-value block of the row is
 * decoded once (one load, three shifts, four masks: the codes c = w + 1 of
 * the four 32-value runs) and multiplied into every token of the tile with
 * _mm256_maddubs_epi16 (unsigned codes x signed activations, read from
 * memory as the second operand; the offset act->sum[t] is subtracted in
 * the epilogue). Per block and token that is 4 maddubs + 4 int16 adds +
 * 7/8 of a decode: the maddubs pipes' 2 cycles of work against 8.9 of the
 * four vector pipes' operations (the 4-token tiles this replaced: 9.75).
 * Eight int16 sums, the four codes, the mask and a product: 14 of the 16
 * ymm registers. Measured on Zen 4 (L1-resident loop, 2026-12-03): about
 * 0.75 ns a block and token (2.6 cycles), no faster with the decode taken
 * out; 2-row x 4-token tiles (half the activation loads, twice the decode
 * per token) ran 10-25% slower, intrinsics or inline asm alike.
 *
 * int16 bound: a maddubs lane is c0*q0 + c1*q1 with c in {0,1,2}, q in
 * [-128, 127], so in [-512, 508]; a block adds 4 of them per token, and the
 * int16 sums take BN_I2_BATCH_FLUSH = 15 blocks (15 * 4 * 512 = 30720 <
 * 32767) before _mm256_madd_epi16 widens them to int32.
 *
 * Loop order, for the caches: rows in blocks of about 256 KB of weights
 * (L2-resident while every token tile passes over them); within a token
 * tile, K in chunks of at most BN_I2_BATCH_FLUSH blocks, so that the
 * tile's activations (8 x 1920 bytes at most) stay in L1 while the rows of
 * the block go by (a whole 8 x 6912-byte ffn_down row would not). Each
 * chunk's int32 sums of the block's rows wait in a stack buffer; the last
 * chunk subtracts the offsets and writes the outputs, 8 tokens per vector.
 */
#include <immintrin.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* An empty asm that holds v in a register at this point: keeps GCC from
 * reassociating a token's chain of adds into a tree that needs more
 * registers than the 16 (it then spills the int16 sums every block). */
#define BN_KEEP(v) __asm__("" : "+x"(v))

#define BN_I2_BATCH_TOKENS 8
#define BN_I2_BATCH_FLUSH 15
/* How many rows ahead the weights are prefetched (1 and 2 measured alike,
 * 3-9% faster than none; 2 for the DRAM-bound first pass). */
#define BN_I2_BATCH_PREFETCH_ROWS 2
/* Rows of one row block at most: the chunk sums take 32 bytes a row. */
#define BN_I2_BATCH_MAX_ROWS 512

/* Lane j of the result: the sum of the 8 int32 lanes of a[j] (a[j] zero
 * for j past the tile). */
BN_INLINE __m256i bn_hsum8x8(const __m256i a[BN_I2_BATCH_TOKENS]) {
    const __m256i h01 = _mm256_hadd_epi32(a[0], a[1]), h23 = _mm256_hadd_epi32(a[2], a[3]);
    const __m256i h45 = _mm256_hadd_epi32(a[4], a[5]), h67 = _mm256_hadd_epi32(a[6], a[7]);
    /* lanes: tokens 0..3 of the low 128-bit halves, then of the high ones */
    const __m256i h03 = _mm256_hadd_epi32(h01, h23), h47 = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20),
                            _mm256_permute2x128_si256(h03, h47, 0x31));
}

/* Row r's sums over blocks [b0, b1) (b1 - b0 <= BN_I2_BATCH_FLUSH) for
 * the T tokens whose activations start at q (rows qs bytes apart): lane j
 * for token j, lanes past T zero. */
BN_INLINE __m256i bn_i2_batch_chunk(const uint8_t *row, const int8_t *q, int64_t qs, int64_t b0,
                                    int64_t b1, const int T) {
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i s16[BN_I2_BATCH_TOKENS];
    for (int j = 0; j < BN_I2_BATCH_TOKENS; j++)
        s16[j] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; b++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i *)(row + b * BN_I2_BLOCK_BYTES));
        const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(wv, 6), m3);
        const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(wv, 4), m3);
        const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(wv, 2), m3);
        const __m256i c3 = _mm256_and_si256(wv, m3);
        for (int j = 0; j < T; j++) {
            const __m256i *a = (const __m256i *)(q + j * qs + b * BN_I2_BLOCK);
            __m256i s = s16[j];
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c0, _mm256_loadu_si256(a)));
            BN_KEEP(s);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c1, _mm256_loadu_si256(a + 1)));
            BN_KEEP(s);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c2, _mm256_loadu_si256(a + 2)));
            BN_KEEP(s);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c3, _mm256_loadu_si256(a + 3)));
            BN_KEEP(s);
            s16[j] = s;
        }
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int j = 0; j < T; j++)
        s16[j] = _mm256_madd_epi16(s16[j], ones);
    return bn_hsum8x8(s16);
}

/* Rows [r0, r1) (at most BN_I2_BATCH_MAX_ROWS) x tokens t0 .. t0+T-1. */
BN_INLINE void bn_i2_batch_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                                int64_t r1, int64_t t0, const int T, float *y, int32_t *acc_out,
                                int64_t stride) {
    int32_t part[BN_I2_BATCH_MAX_ROWS][BN_I2_BATCH_TOKENS] __attribute__((aligned(32)));
    const int64_t nb = w->Kp / BN_I2_BLOCK;
    /* chunks of equal size, at most BN_I2_BATCH_FLUSH blocks */
    const int64_t nc = (nb + BN_I2_BATCH_FLUSH - 1) / BN_I2_BATCH_FLUSH;
    const int64_t cb = (nb + nc - 1) / nc;
    const int8_t *q = act->q + t0 * act->stride;
    const int64_t qs = act->stride;
    for (int64_t b0 = 0; b0 < nb; b0 += cb) {
        const int64_t b1 = b0 + cb < nb ? b0 + cb : nb;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
            /* the chunk of the row 2 ahead into L1: from L2 (from DRAM on
             * the block's first token tile), which the hardware prefetcher
             * misses at these row strides; a row's chunk is 10-14 blocks x
             * 8 tokens of work, about 60-85 ns */
            if (r + BN_I2_BATCH_PREFETCH_ROWS < r1)
                for (int64_t o = b0 * BN_I2_BLOCK_BYTES; o < b1 * BN_I2_BLOCK_BYTES; o += 64)
                    _mm_prefetch((const char *)(row + BN_I2_BATCH_PREFETCH_ROWS * w->row_bytes + o),
                                 _MM_HINT_T0);
            __m256i s = bn_i2_batch_chunk(row, q, qs, b0, b1, T);
            __m256i *p = (__m256i *)part[r - r0];
            if (b0 > 0)
                s = _mm256_add_epi32(s, _mm256_load_si256(p));
            _mm256_store_si256(p, s);
        }
    }
    /* epilogue: v - sum[t], then (float)v / act_scale * w_scale, the exact
     * operations of bn_ternary_out in 8 lanes */
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32(T), lanes);
    const __m256i sum = _mm256_maskload_epi32(act->sum + t0, in);
    const __m256 scale = _mm256_maskload_ps(act->scale + t0, in);
    for (int64_t r = r0; r < r1; r++) {
        const __m256i v = _mm256_sub_epi32(_mm256_load_si256((const __m256i *)part[r - r0]), sum);
        if (acc_out) {
            int32_t o[BN_I2_BATCH_TOKENS];
            _mm256_storeu_si256((__m256i *)o, v);
            for (int j = 0; j < T; j++)
                acc_out[(t0 + j) * stride + r] = o[j];
        } else {
            const float ws = w->scale_kind == BN_TERNARY_SCALE_ROW ? w->scales[r] : w->scale;
            const __m256 f =
                _mm256_mul_ps(_mm256_div_ps(_mm256_cvtepi32_ps(v), scale), _mm256_set1_ps(ws));
            float o[BN_I2_BATCH_TOKENS];
            _mm256_storeu_ps(o, f);
            for (int j = 0; j < T; j++)
                y[(t0 + j) * stride + r] = o[j];
        }
    }
}

/* One instance per token count, so that each compiles for its own T. */
typedef void (*bn_i2_batch_tile_fn)(const bn_ternary_matrix *w, const bn_act_batch *act,
                                    int64_t r0, int64_t r1, int64_t t0, float *y,
                                    int32_t *acc_out, int64_t stride);
#define BN_I2_BATCH_TILE(T)                                                                    \
    static void bn_i2_batch_tile_##T(const bn_ternary_matrix *w, const bn_act_batch *act,      \
                                     int64_t r0, int64_t r1, int64_t t0, float *y,             \
                                     int32_t *acc_out, int64_t stride) {                       \
        bn_i2_batch_tile(w, act, r0, r1, t0, T, y, acc_out, stride);                           \
    }
BN_I2_BATCH_TILE(1)
BN_I2_BATCH_TILE(2)
BN_I2_BATCH_TILE(3)
BN_I2_BATCH_TILE(4)
BN_I2_BATCH_TILE(5)
BN_I2_BATCH_TILE(6)
BN_I2_BATCH_TILE(7)
BN_I2_BATCH_TILE(8)
static const bn_i2_batch_tile_fn bn_i2_batch_tiles[BN_I2_BATCH_TOKENS] = {
    bn_i2_batch_tile_1, bn_i2_batch_tile_2, bn_i2_batch_tile_3, bn_i2_batch_tile_4,
    bn_i2_batch_tile_5, bn_i2_batch_tile_6, bn_i2_batch_tile_7, bn_i2_batch_tile_8};

void bn_gemm_i2_batch_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                              int64_t stride) {
    int64_t rb = bn_batch_block_rows(w->row_bytes);
    rb = rb > BN_I2_BATCH_MAX_ROWS ? BN_I2_BATCH_MAX_ROWS : rb;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += rb) {
        const int64_t r1 = r0 + rb < row_end ? r0 + rb : row_end;
        for (int64_t t0 = 0; t0 < act->n_tokens; t0 += BN_I2_BATCH_TOKENS) {
            const int64_t T = act->n_tokens - t0 < BN_I2_BATCH_TOKENS ? act->n_tokens - t0
                                                                      : BN_I2_BATCH_TOKENS;
            bn_i2_batch_tiles[T - 1](w, act, r0, r1, t0, y, acc_out, stride);
        }
    }
}
