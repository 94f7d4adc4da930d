/* x86/avx2_t3.c: the avx2 table's T3 matrix-vector product (one token),
 * compiled with the AVX2 flags only (kernels/CMakeLists.txt).
 *
 * Owns bn_gemv_t3_i8_avx2: T3 rows (kernels.h: 192-value / 40-byte chunks,
 * 64 triplets as a 4-bit magnitude and a sign bit) times one int8 token, for
 * TENSOR and ROW scales, bit-exact with the reference; and
 * bn_gemm_t3_batch_i8_avx2 for batches (prompt processing, below).
 *
 * Decode, per 40-byte chunk and row (AVX2 has no byte masks, so the sign is
 * a byte vector):
 *   - magnitudes: the 32 nibble bytes, `& 15` for triplets 0..31 and
 *     `>> 4 & 15` for 32..63;
 *   - signs: the 8 sign bytes broadcast once (vpbroadcastq from memory);
 *     for half h a vpshufb puts sign byte 4h + k/8 into byte lane k, `&`
 *     with the lane's bit (1 << k % 8) leaves 0 or that bit, and adding 127
 *     sets bit 7 exactly when the bit was set (0 + 127 = 127, 2^b + 127 is
 *     128..255): the blend mask, no compare needed;
 *   - codes: per weight position p, vpshufb of the magnitude into the
 *     positive triplet's code c (0..2) and a blend with 2 - c where bit 7
 *     says the triplet is negative.
 * Then _mm256_maddubs_epi16(c, q) as in avx2.c (codes c = w + 1 against
 * signed activations; the kernel subtracts act->sum once at the end).
 *
 * Tiles of 8 rows share each activation vector (read from L1 as memory
 * operands: 8 int32 accumulators and the decode constants already fill most
 * of the 16 ymm registers); the tile's rows are contiguous, so one linear
 * prefetch per 64-byte line, a whole number of tiles (at least 16 KB) ahead,
 * covers them, as in the avx512 T3 kernel.
 *
 * int16 bound: a maddubs lane is c0*q0 + c1*q1 with c in {0,1,2} and q in
 * [-128, 127], so in [-512, 508]; a chunk adds 6 of them (3 positions x 2
 * halves) into one int16 accumulator per row, and BN_T3_GEMV_FLUSH = 10
 * chunks add at most 60 * 512 = 30720 < 32767 before _mm256_madd_epi16
 * widens them to int32.
 */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

#define BN_T3_GEMV_ROWS 8
#define BN_T3_GEMV_FLUSH 10

BN_INLINE int32_t bn_hadd8i(__m256i v) {
    __m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4e));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xb1));
    return _mm_cvtsi128_si32(m);
}

BN_INLINE void bn_t3_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, uint64_t ahead, int32_t out[BN_T3_GEMV_ROWS]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), b127 = _mm256_set1_epi8(127),
                  flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    /* Byte lane k of half h takes sign byte 4h + k/8 (vpshufb indexes within
     * each 128-bit lane, and the broadcast put all 8 sign bytes in both). */
    const __m256i rep0 = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                            0x0303030303030303ll);
    const __m256i rep1 = _mm256_add_epi8(rep0, _mm256_set1_epi8(4));
    __m256i tab[3]; /* digit p (-1, 0, 1) of a positive triplet's magnitude */
    for (int p = 0; p < 3; p++) {
        int8_t t16[16];
        for (int m = 0; m < 16; m++)
            t16[m] = (int8_t)(bn_t3_pos_code(m, p) - 1);
        tab[p] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t16));
    }
    __m256i acc[BN_T3_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        acc[i] = _mm256_setzero_si256();
    const int64_t nc = w->Kp / BN_T3_CHUNK;
    const uint8_t *row0 = w->data + (uint64_t)r0 * w->row_bytes;
    const int8_t *q = act->q;
    const uint8_t *pf = row0 + ahead;
    for (int64_t c0 = 0; c0 < nc; c0 += BN_T3_GEMV_FLUSH) {
        const int64_t c1 = c0 + BN_T3_GEMV_FLUSH < nc ? c0 + BN_T3_GEMV_FLUSH : nc;
        __m256i s16[BN_T3_GEMV_ROWS];
        for (int i = 0; i < R; i++)
            s16[i] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++) {
            /* Into L1 (prefetcht0), unlike the other one-token kernels
             * (BN_PREFETCH_STREAM): this decode is compute-bound at ~12
             * GB/s, so L1's miss buffers are not the limit, and lines that
             * wait in L2 cost it time (measured, one process alternating the
             * hints: prefetcht2 3-10% slower on ffn_gate/up and attn_q/o). */
            for (int l = 0; l < (R * BN_T3_CHUNK_BYTES + 63) / 64; l++)
                _mm_prefetch((const char *)(pf + c * R * BN_T3_CHUNK_BYTES + 64 * l), _MM_HINT_T0);
            /* q + 128 as unsigned bytes, shared by the tile's rows: vector
             * 2p + h holds values 64p + 32h .. 64p + 32h + 31 of the chunk. */
            __m256i au[6];
            for (int v = 0; v < 6; v++)
                au[v] = _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(q + c * BN_T3_CHUNK) + v), flip);
            for (int i = 0; i < R; i++) {
                const uint8_t *ch = row0 + (uint64_t)i * w->row_bytes + c * BN_T3_CHUNK_BYTES;
                const __m256i b = _mm256_loadu_si256((const __m256i *)ch);
                int64_t sbits;
                memcpy(&sbits, ch + 32, 8);
                const __m256i sb = _mm256_set1_epi64x(sbits);
                __m256i s = s16[i];
                for (int h = 0; h < 2; h++) {
                    const __m256i idx = _mm256_and_si256(h ? _mm256_srli_epi16(b, 4) : b, m4);
                    /* Never 0; negative exactly for a negative triplet. */
                    const __m256i sgn = _mm256_add_epi8(
                        _mm256_and_si256(_mm256_shuffle_epi8(sb, h ? rep1 : rep0), bit), b127);
                    for (int p = 0; p < 3; p++) {
                        const __m256i wv = _mm256_sign_epi8(_mm256_shuffle_epi8(tab[p], idx), sgn);
                        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(au[2 * p + h], wv));
                    }
                }
                s16[i] = s;
            }
        }
        for (int i = 0; i < R; i++)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(s16[i], ones));
    }
    for (int i = 0; i < R; i++)
        out[i] = bn_hadd8i(acc[i]) - 128 * w->row_sums[r0 + i];
}

BN_GEMV_TILES(bn_t3_gemv_tiles, bn_t3_gemv_tile, BN_T3_GEMV_ROWS)

/* y[r] (or acc_out[r]) for one token, rows [row_begin, row_end): 8-row tiles,
 * then single rows for a tail. */
void bn_gemv_t3_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                        int64_t row_end, float *y, int32_t *acc_out) {
    bn_ternary_gemv_rows(bn_t3_gemv_tiles_tile, bn_t3_gemv_tiles_one, BN_T3_GEMV_ROWS, w, act,
                         row_begin, row_end, y, acc_out);
}

/* Row r's codes c = w + 1 (0..2), Kp bytes in value order: per chunk the 6
 * vectors of the batch decode below (vector 2p + h holds values 64p + 32h
 * .. + 31, i.e. 32v .. 32v + 31). */
static void bn_t3_row_codes(const bn_ternary_matrix *w, int64_t r, uint8_t *codes) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), b127 = _mm256_set1_epi8(127),
                  one = _mm256_set1_epi8(1);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i rep0 = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                            0x0303030303030303ll);
    const __m256i rep1 = _mm256_add_epi8(rep0, _mm256_set1_epi8(4));
    __m256i tab[3];
    for (int p = 0; p < 3; p++) {
        int8_t t16[16];
        for (int m = 0; m < 16; m++)
            t16[m] = (int8_t)(bn_t3_pos_code(m, p) - 1);
        tab[p] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t16));
    }
    const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
    for (int64_t c = 0; c < w->Kp / BN_T3_CHUNK; c++) {
        const uint8_t *ch = row + c * BN_T3_CHUNK_BYTES;
        const __m256i b = _mm256_loadu_si256((const __m256i *)ch);
        int64_t sbits;
        memcpy(&sbits, ch + 32, 8);
        const __m256i sb = _mm256_set1_epi64x(sbits);
        __m256i *out = (__m256i *)(codes + c * BN_T3_CHUNK);
        for (int h = 0; h < 2; h++) {
            const __m256i idx = _mm256_and_si256(h ? _mm256_srli_epi16(b, 4) : b, m4);
            const __m256i sgn = _mm256_add_epi8(
                _mm256_and_si256(_mm256_shuffle_epi8(sb, h ? rep1 : rep0), bit), b127);
            for (int p = 0; p < 3; p++)
                _mm256_storeu_si256(out + 2 * p + h,
                                    _mm256_add_epi8(_mm256_sign_epi8(
                                                        _mm256_shuffle_epi8(tab[p], idx), sgn),
                                                    one));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Batches: each row's chunk decoded once into its 6 code vectors, then      */
/* multiplied into up to BN_T3_BATCH_TOKENS tokens                           */

/* Codes c = w + 1 (0..2) this time, so that the signed activations of every
 * token are the maddubs operand as they are (read from memory) and the
 * kernel subtracts act->sum[t]: per position vpshufb (digit), vpsignb (the
 * triplet's sign), +1. Same int16 bound as above: |c0*q0 + c1*q1| <= 512,
 * 6 a chunk, 10 chunks = 30720. */
#define BN_T3_BATCH_TOKENS BN_ROW_TOKENS

BN_INLINE void bn_t3_batch_row(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r,
                               int64_t t0, const int T, int32_t out[BN_T3_BATCH_TOKENS]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), b127 = _mm256_set1_epi8(127),
                  one = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i rep0 = _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll,
                                            0x0303030303030303ll);
    const __m256i rep1 = _mm256_add_epi8(rep0, _mm256_set1_epi8(4));
    __m256i tab[3];
    for (int p = 0; p < 3; p++) {
        int8_t t16[16];
        for (int m = 0; m < 16; m++)
            t16[m] = (int8_t)(bn_t3_pos_code(m, p) - 1);
        tab[p] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t16));
    }
    __m256i acc[BN_T3_BATCH_TOKENS];
    for (int j = 0; j < T; j++)
        acc[j] = _mm256_setzero_si256();
    const int64_t nc = w->Kp / BN_T3_CHUNK;
    const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
    const int8_t *q = act->q + t0 * act->stride;
    const int64_t qs = act->stride;
    for (int64_t c0 = 0; c0 < nc; c0 += BN_T3_GEMV_FLUSH) {
        const int64_t c1 = c0 + BN_T3_GEMV_FLUSH < nc ? c0 + BN_T3_GEMV_FLUSH : nc;
        __m256i s16[BN_T3_BATCH_TOKENS];
        for (int j = 0; j < T; j++)
            s16[j] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++) {
            const uint8_t *ch = row + c * BN_T3_CHUNK_BYTES;
            const __m256i b = _mm256_loadu_si256((const __m256i *)ch);
            int64_t sbits;
            memcpy(&sbits, ch + 32, 8);
            const __m256i sb = _mm256_set1_epi64x(sbits);
            __m256i cd[6]; /* vector 2p + h: values 64p + 32h .. + 31 of the chunk */
            for (int h = 0; h < 2; h++) {
                const __m256i idx = _mm256_and_si256(h ? _mm256_srli_epi16(b, 4) : b, m4);
                const __m256i sgn = _mm256_add_epi8(
                    _mm256_and_si256(_mm256_shuffle_epi8(sb, h ? rep1 : rep0), bit), b127);
                for (int p = 0; p < 3; p++)
                    cd[2 * p + h] = _mm256_add_epi8(
                        _mm256_sign_epi8(_mm256_shuffle_epi8(tab[p], idx), sgn), one);
            }
            for (int j = 0; j < T; j++) {
                const __m256i *a = (const __m256i *)(q + j * qs + c * BN_T3_CHUNK);
                __m256i s = s16[j];
                for (int v = 0; v < 6; v++)
                    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(cd[v], _mm256_loadu_si256(a + v)));
                s16[j] = s;
            }
        }
        for (int j = 0; j < T; j++)
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s16[j], ones));
    }
    for (int j = 0; j < T; j++)
        out[j] = bn_hadd8i(acc[j]) - act->sum[t0 + j];
}

/* The decoded-codes path: a block of rows is decoded once per call into a
 * stack buffer of codes (bn_t3_row_codes), then every token tile runs over
 * those rows with one load of 32 codes feeding T maddubs (activations read
 * from memory). The decode (27 operations per 192 weights) is then paid
 * once per row and call instead of once per row and token tile: batch 128,
 * 242 / 225 GOPS at K = 2560 / 6912 against 184 / 203 for the per-tile
 * decode below (1 thread, Zen 4 with BN_KERNELS=avx2, best of 4 interleaved
 * runs). BN_CODES_BYTES on the stack: 24 rows of K = 2560 (Kp 2688), 9 of
 * K = 6912; longer rows take the per-tile decode. int16 bound as above: 60
 * vectors of maddubs lanes (|lane| <= 512) = 30720 before widening. */
#define BN_CODES_BYTES (64 << 10)
#define BN_CODES_FLUSH 60

/* Adds the product of codes [32 v0, 32 v1) of one row with T tokens' same
 * activations to out (v1 - v0 <= BN_CODES_FLUSH, one int16 flush). */
BN_INLINE void bn_codes_seg_dot(const uint8_t *codes, int64_t v0, int64_t v1, const int8_t *q,
                                int64_t qs, const int T, int32_t out[BN_T3_BATCH_TOKENS]) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s16[BN_T3_BATCH_TOKENS];
    for (int j = 0; j < T; j++)
        s16[j] = _mm256_setzero_si256();
    for (int64_t v = v0; v < v1; v++) {
        const __m256i c = _mm256_load_si256((const __m256i *)(codes + 32 * v));
        for (int j = 0; j < T; j++)
            s16[j] = _mm256_add_epi16(
                s16[j], _mm256_maddubs_epi16(
                            c, _mm256_loadu_si256((const __m256i *)(q + j * qs + 32 * v))));
    }
    for (int j = 0; j < T; j++)
        out[j] += bn_hadd8i(_mm256_madd_epi16(s16[j], ones));
}

/* Returns false (nothing done) when a row's codes do not fit the buffer.
 * Per token tile, the K axis is walked in segments of BN_CODES_FLUSH
 * vectors (1920 values) with the block's rows inside: the tile's
 * activations for a segment (4 x 1920 bytes) stay in L1 while the rows'
 * codes stream from L2. Rows outside (a whole row per token tile, as
 * before) read 4 rows of K activations per row from L2 next to the 64 KB
 * of codes: 5 L2 loads per 4 maddubs, which was the limit. Partial sums
 * per segment are int32 (the int16 bound holds within one segment). */
static bool bn_t3_codes_gemm(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                             int64_t row_end, float *y, int32_t *acc_out, int64_t stride) {
    _Alignas(32) uint8_t codes[BN_CODES_BYTES]; /* (rb, Kp) */
    int32_t part[BN_CODES_BYTES / BN_T3_CHUNK][BN_T3_BATCH_TOKENS]; /* (rb, T) */
    const int64_t Kp = w->Kp, rb = BN_CODES_BYTES / Kp, nv = Kp / 32;
    if (rb < 1)
        return false;
    for (int64_t b0 = row_begin; b0 < row_end; b0 += rb) {
        const int64_t n = row_end - b0 < rb ? row_end - b0 : rb;
        for (int64_t i = 0; i < n; i++) {
            bn_t3_row_codes(w, b0 + i, codes + i * Kp);
        }
        /* The next block's rows (contiguous, rb * row_bytes <= ~14 KB) asked
         * for into L2 now, so that DRAM streams them while the products
         * below run instead of stalling its decode. */
        if (b0 + n < row_end) {
            const int64_t n2 = row_end - (b0 + n) < rb ? row_end - (b0 + n) : rb;
            const char *nx = (const char *)(w->data + (uint64_t)(b0 + n) * w->row_bytes);
            for (uint64_t o = 0; o < (uint64_t)n2 * w->row_bytes; o += 64)
                _mm_prefetch(nx + o, _MM_HINT_T1);
        }
        for (int64_t t0 = 0; t0 < act->n_tokens; t0 += BN_T3_BATCH_TOKENS) {
            const int T = act->n_tokens - t0 < BN_T3_BATCH_TOKENS ? (int)(act->n_tokens - t0)
                                                                 : BN_T3_BATCH_TOKENS;
            const int8_t *q = act->q + t0 * act->stride;
            const int64_t qs = act->stride;
            for (int64_t i = 0; i < n; i++)
                for (int j = 0; j < T; j++)
                    part[i][j] = -act->sum[t0 + j];
            for (int64_t v0 = 0; v0 < nv; v0 += BN_CODES_FLUSH) {
                const int64_t v1 = v0 + BN_CODES_FLUSH < nv ? v0 + BN_CODES_FLUSH : nv;
                for (int64_t i = 0; i < n; i++) {
                    const uint8_t *c = codes + i * Kp;
                    switch (T) {
                    case 1: bn_codes_seg_dot(c, v0, v1, q, qs, 1, part[i]); break;
                    case 2: bn_codes_seg_dot(c, v0, v1, q, qs, 2, part[i]); break;
                    case 3: bn_codes_seg_dot(c, v0, v1, q, qs, 3, part[i]); break;
                    default:
                        bn_codes_seg_dot(c, v0, v1, q, qs, BN_T3_BATCH_TOKENS, part[i]);
                        break;
                    }
                }
            }
            for (int64_t i = 0; i < n; i++)
                bn_ternary_store_tokens(w, act, b0 + i, t0, T, part[i], y, acc_out, stride);
        }
    }
    return true;
}

BN_ROW_TOKENS_TABLE(bn_t3_rows, bn_t3_batch_row)

/* Rows' codes decoded once into a buffer when they fit, else one row at a
 * time (bn_ternary_rows_gemm). */
void bn_gemm_t3_batch_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                              int64_t stride) {
    if (bn_t3_codes_gemm(w, act, row_begin, row_end, y, acc_out, stride))
        return;
    bn_ternary_rows_gemm(bn_t3_rows, w, act, row_begin, row_end, y, acc_out, stride);
}
