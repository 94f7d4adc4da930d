/* x86/avx2.c: the AVX2 table (AVX2 + FMA + F16C), compiled with only those
 * flags (kernels/CMakeLists.txt).
 *
 * Owns the AVX2 versions of: activation quantization (plain and fused with
 * RMSNorm, bit-exact with ref), the I2 / T5 / T3 / LUT2 ternary products for
 * TENSOR and ROW scales (BLOCK256 scales go to the reference), the output
 * layer and the float helpers.
 *
 * Multiply-add (I2, T5, T3): _mm256_maddubs_epi16 multiplies unsigned bytes by
 * signed bytes and adds pairs into int16. Weights enter as codes c = w + 1 in
 * {0,1,2}, activations as int8: sum c*q = sum w*q + sum q, and the kernel
 * subtracts act->sum once. Bounds: a maddubs pair is at most 2*2*128 = 512;
 * the int16 sums add at most 10 of them (5120) before _mm256_madd_epi16
 * widens them to int32.
 *
 * LUT2: vpshufb on 32 rows at a time (one index byte per row), low and high
 * bytes of the int16 entries looked up separately and interleaved back with
 * unpack; int16 sums flushed every 32 steps (32 * 2 * 256 = 16384).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/internal.h"
#include "loader/half.h"

#define BN_INLINE static inline __attribute__((always_inline))

BN_INLINE float bn_hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

BN_INLINE float bn_hadd8(__m256 v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

BN_INLINE int32_t bn_hadd8i(__m256i v) {
    __m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4e));
    m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xb1));
    return _mm_cvtsi128_si32(m);
}

/* Mask for the first n (< 8) lanes of a maskload/maskstore. */
BN_INLINE __m256i bn_mask8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ------------------------------------------------------------------------ */
/* Activation quantization                                                   */

/* As ref's bn_quant1: half-even rounding, NaN to -128. */
static inline int8_t bn_quant1(float v) {
    float r = rintf(v);
    if (r > 127.0f)
        return 127;
    if (r >= -128.0f)
        return (int8_t)r;
    return -128;
}

/* 32 values: cvtps_epi32 rounds half to even (default MXCSR) and turns NaN
 * into INT_MIN; the saturating packs clamp to [-128, 127] (INT_MIN -> -128),
 * exactly the reference's result. packs work per 128-bit lane, so a final
 * permute restores the order. */
BN_INLINE __m256i bn_quant32(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256i ab = _mm256_packs_epi32(_mm256_cvtps_epi32(a), _mm256_cvtps_epi32(b));
    __m256i cd = _mm256_packs_epi32(_mm256_cvtps_epi32(c), _mm256_cvtps_epi32(d));
    __m256i q = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void bn_finish_row(bn_act_batch *act, int64_t t) {
    int8_t *q = act->q + t * act->stride;
    memset(q + act->K, 0, (size_t)(act->stride - act->K));
    /* sad against 0 of q + 128 (xor 0x80) sums unsigned bytes exactly. */
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    int32_t *bs = act->block_sum + t * (act->stride / 256);
    int32_t total = 0;
    for (int64_t b = 0; b < act->stride / 256; b++) {
        __m256i s = _mm256_setzero_si256();
        for (int i = 0; i < 8; i++) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + b * 256 + 32 * i)), flip);
            s = _mm256_add_epi64(s, _mm256_sad_epu8(v, _mm256_setzero_si256()));
        }
        int64_t lanes[4];
        _mm256_storeu_si256((__m256i *)lanes, s);
        bs[b] = (int32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]) - 128 * 256;
        total += bs[b];
    }
    act->sum[t] = total;
    if (act->lut)
        bn_act_lut_row_ref(act, t);
}

static void bn_act_quant_i8_avx2(const float *x, int64_t x_stride, bn_act_batch *act,
                                 int64_t t_begin, int64_t t_end) {
    const int64_t K = act->K;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        int8_t *q = act->q + t * act->stride;
        /* max_ps returns its second operand when the first is NaN. */
        __m256 mx = _mm256_set1_ps(1e-5f);
        int64_t k = 0;
        for (; k + 8 <= K; k += 8)
            mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xr + k), absmask), mx);
        float amax = bn_hmax8(mx);
        for (; k < K; k++)
            if (fabsf(xr[k]) > amax)
                amax = fabsf(xr[k]);
        float s = 127.0f / amax;
        const __m256 vs = _mm256_set1_ps(s);
        for (k = 0; k + 32 <= K; k += 32) {
            __m256i v = bn_quant32(_mm256_mul_ps(_mm256_loadu_ps(xr + k), vs),
                                   _mm256_mul_ps(_mm256_loadu_ps(xr + k + 8), vs),
                                   _mm256_mul_ps(_mm256_loadu_ps(xr + k + 16), vs),
                                   _mm256_mul_ps(_mm256_loadu_ps(xr + k + 24), vs));
            _mm256_storeu_si256((__m256i *)(q + k), v);
        }
        for (; k < K; k++)
            q[k] = bn_quant1(xr[k] * s);
        act->scale[t] = s;
        bn_finish_row(act, t);
    }
}

/* The 16-lane sum of squares of kernels.h: lanes 0-7 in a, 8-15 in b. */
static float bn_sumsq16(const float *x, int64_t n) {
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m256 u = _mm256_loadu_ps(x + k), v = _mm256_loadu_ps(x + k + 8);
        a = _mm256_add_ps(a, _mm256_mul_ps(u, u));
        b = _mm256_add_ps(b, _mm256_mul_ps(v, v));
    }
    if (k < n) { /* masked lanes load 0: adding 0*0 leaves them as they are */
        int64_t r = n - k;
        __m256 u = _mm256_maskload_ps(x + k, bn_mask8(r < 8 ? r : 8));
        __m256 v = r > 8 ? _mm256_maskload_ps(x + k + 8, bn_mask8(r - 8)) : _mm256_setzero_ps();
        a = _mm256_add_ps(a, _mm256_mul_ps(u, u));
        b = _mm256_add_ps(b, _mm256_mul_ps(v, v));
    }
    __m256 s8 = _mm256_add_ps(a, b);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

static void bn_act_rmsnorm_quant_i8_avx2(const float *x, int64_t x_stride, const float *norm_w,
                                         float eps, bn_act_batch *act, int64_t t_begin,
                                         int64_t t_end) {
    const int64_t K = act->K;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        int8_t *q = act->q + t * act->stride;
        float inv = 1.0f / sqrtf(bn_sumsq16(xr, K) / (float)K + eps);
        const __m256 vinv = _mm256_set1_ps(inv);
        __m256 mx = _mm256_set1_ps(1e-5f);
        int64_t k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256 y = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + k), vinv),
                                     _mm256_loadu_ps(norm_w + k));
            mx = _mm256_max_ps(_mm256_and_ps(y, absmask), mx);
        }
        float amax = bn_hmax8(mx);
        for (; k < K; k++) {
            float a = fabsf((xr[k] * inv) * norm_w[k]);
            if (a > amax)
                amax = a;
        }
        float s = 127.0f / amax;
        const __m256 vs = _mm256_set1_ps(s);
#define BN_Y(o) _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + k + (o)), vinv), \
                                            _mm256_loadu_ps(norm_w + k + (o))),                  \
                              vs)
        for (k = 0; k + 32 <= K; k += 32)
            _mm256_storeu_si256((__m256i *)(q + k), bn_quant32(BN_Y(0), BN_Y(8), BN_Y(16), BN_Y(24)));
#undef BN_Y
        for (; k < K; k++)
            q[k] = bn_quant1(((xr[k] * inv) * norm_w[k]) * s);
        act->scale[t] = s;
        bn_finish_row(act, t);
    }
}

/* ------------------------------------------------------------------------ */
/* I2 (batches: x86/avx2_batch.c); the R x T tile driver T5 uses           */

BN_INLINE void bn_tile_store(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                             int R, int64_t t0, int T, int32_t v[4][4], float *y,
                             int32_t *acc, int64_t stride) {
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) {
            int64_t o = (t0 + j) * stride + r0 + i;
            if (acc)
                acc[o] = v[i][j];
            else
                y[o] = bn_ternary_out(w, r0 + i, v[i][j], act->scale[t0 + j]);
        }
}

typedef void (*bn_tile_fn)(const bn_ternary_matrix *, const bn_act_batch *, int64_t, int64_t,
                           int32_t[4][4]);

#define BN_TILE_VARIANTS(prefix, tile)                                                      \
    static void prefix##_4x2(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 2, o); }     \
    static void prefix##_4x1(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 1, o); }     \
    static void prefix##_1x2(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 2, o); }     \
    static void prefix##_1x1(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 1, o); }     \
    static const bn_tile_fn prefix##_tiles[2][2] = {{prefix##_1x1, prefix##_1x2},           \
                                                    {prefix##_4x1, prefix##_4x2}};

static void bn_tiled_gemm(const bn_tile_fn tiles[2][2], const bn_ternary_matrix *w,
                          const bn_act_batch *act, int64_t row_begin, int64_t row_end, float *y,
                          int32_t *acc, int64_t stride) {
    /* Rows in blocks of about 256 KB of weights (L2-resident while every
     * token tile passes over them); token tiles of 2 inside; row tiles of 4
     * innermost. A matrix-vector product is one token tile: plain streaming. */
    int64_t rb = ((int64_t)256 << 10) / (int64_t)w->row_bytes / 4 * 4;
    if (rb < 4)
        rb = 4;
    for (int64_t b0 = row_begin; b0 < row_end; b0 += rb) {
        int64_t b1 = b0 + rb < row_end ? b0 + rb : row_end;
        for (int64_t t0 = 0; t0 < act->n_tokens; t0 += 2) {
            int T = act->n_tokens - t0 < 2 ? (int)(act->n_tokens - t0) : 2;
            int64_t r = b0;
            int32_t v[4][4];
            for (; r + 4 <= b1; r += 4) {
                tiles[1][T - 1](w, act, r, t0, v);
                bn_tile_store(w, act, r, 4, t0, T, v, y, acc, stride);
            }
            for (; r < b1; r++) {
                tiles[0][T - 1](w, act, r, t0, v);
                bn_tile_store(w, act, r, 1, t0, T, v, y, acc, stride);
            }
        }
    }
}

/* One token (generation): the maddubs sums stay in int16 for up to 15
 * blocks (each maddubs lane is in [-512, 508], 4 a block: 15 * 4 * 512 =
 * 30720 < 32767) before one madd widens them, and the tile's contiguous rows
 * are prefetched linearly, one line per 64 bytes (the 4-row tiles above
 * prefetch every 32-byte block of every row). */
#define BN_I2_GEMV_FLUSH 15

BN_INLINE void bn_i2_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, uint64_t ahead, int32_t out[4]) {
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[4];
    for (int i = 0; i < R; i++)
        acc[i] = _mm256_setzero_si256();
    const int64_t nb = w->Kp / BN_I2_BLOCK;
    const uint8_t *rows[4];
    for (int i = 0; i < R; i++)
        rows[i] = w->data + (uint64_t)(r0 + i) * w->row_bytes;
    const int8_t *q = act->q;
    const uint8_t *pf = rows[0] + ahead;
    for (int64_t b0 = 0; b0 < nb; b0 += BN_I2_GEMV_FLUSH) {
        const int64_t b1 = b0 + BN_I2_GEMV_FLUSH < nb ? b0 + BN_I2_GEMV_FLUSH : nb;
        __m256i s16[4];
        for (int i = 0; i < R; i++)
            s16[i] = _mm256_setzero_si256();
        for (int64_t b = b0; b < b1; b++) {
            for (int l = 0; l < (R * 32 + 63) / 64; l++)
                BN_PREFETCH_STREAM(pf + b * R * 32 + 64 * l);
            const __m256i *a = (const __m256i *)(q + b * 128);
            const __m256i a0 = _mm256_loadu_si256(a), a1 = _mm256_loadu_si256(a + 1),
                          a2 = _mm256_loadu_si256(a + 2), a3 = _mm256_loadu_si256(a + 3);
            for (int i = 0; i < R; i++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(rows[i] + b * 32));
                __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(wv, 6), m3);
                __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(wv, 4), m3);
                __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(wv, 2), m3);
                __m256i c3 = _mm256_and_si256(wv, m3);
                s16[i] = _mm256_add_epi16(
                    s16[i], _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(c0, a0),
                                                              _mm256_maddubs_epi16(c1, a1)),
                                             _mm256_add_epi16(_mm256_maddubs_epi16(c2, a2),
                                                              _mm256_maddubs_epi16(c3, a3))));
            }
        }
        for (int i = 0; i < R; i++)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(s16[i], ones));
    }
    for (int i = 0; i < R; i++)
        out[i] = bn_hadd8i(acc[i]) - act->sum[0];
}

BN_GEMV_TILES(bn_i2_gemv_tiles, bn_i2_gemv_tile, 4)

static void bn_i2_gemv(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                       int64_t row_end, float *y, int32_t *acc_out) {
    bn_ternary_gemv_rows(bn_i2_gemv_tiles_tile, bn_i2_gemv_tiles_one, 4, w, act, row_begin, row_end, y,
                         acc_out);
}

static void bn_gemm_i2_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                               int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    if (w->scale_kind == BN_TERNARY_SCALE_BLOCK256) {
        bn_gemm_ternary_i8_ref(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    if (act->n_tokens == 1)
        bn_i2_gemv(w, act, row_begin, row_end, y, NULL);
    else
        bn_gemm_i2_batch_i8_avx2(w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_i2_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                                   int64_t row_begin, int64_t row_end, int32_t *acc,
                                   int64_t acc_stride) {
    if (act->n_tokens == 1)
        bn_i2_gemv(w, act, row_begin, row_end, NULL, acc);
    else
        bn_gemm_i2_batch_i8_avx2(w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* T5                                                                        */

/* Trit of byte u: (u >= 86) + (u >= 171), each as min(u -sat 85, 1) (AVX2
 * has no unsigned byte compare). Next trit: u*3 mod 256 by byte adds. A
 * 64-byte chunk is two 32-byte halves; half h of trit n pairs with the
 * activations 64n + 32h .. 64n + 32h + 31 of the chunk. */
BN_INLINE void bn_t5_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                          const int R, int64_t t0, const int T, int32_t out[4][4]) {
    const __m256i one = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i b85 = _mm256_set1_epi8(85), b170 = _mm256_set1_epi8((char)170);
    __m256i acc[4][2];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm256_setzero_si256();
    const int64_t nc = w->Kp / BN_T5_CHUNK;
    const uint8_t *rows[4];
    const int8_t *qs[2];
    for (int i = 0; i < R; i++)
        rows[i] = w->data + (uint64_t)(r0 + i) * w->row_bytes;
    for (int j = 0; j < T; j++)
        qs[j] = act->q + (t0 + j) * act->stride;
    /* Software prefetch a whole number of 4-row tiles (at least 16 KB) ahead:
     * rows are contiguous, so each row's stream fetches the same offset of a
     * later tile, and 16 KB in flight covers DRAM latency at full bandwidth.
     * The hardware prefetchers alone restart on every short row (measured:
     * 60-70% of streaming bandwidth without this, 80-90% with it). */
    const uint64_t tile_bytes = 4 * w->row_bytes;
    const uint64_t ahead = tile_bytes * ((16384 + tile_bytes - 1) / tile_bytes);
    for (int64_t c = 0; c < nc; c++) {
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(rows[i] + c * 64 + ahead), _MM_HINT_T0);
            __m256i s16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int h = 0; h < 2; h++) {
                __m256i u = _mm256_loadu_si256((const __m256i *)(rows[i] + c * 64 + 32 * h));
                for (int n = 0; n < 5; n++) {
                    __m256i cd = _mm256_add_epi8(_mm256_min_epu8(_mm256_subs_epu8(u, b85), one),
                                                 _mm256_min_epu8(_mm256_subs_epu8(u, b170), one));
                    for (int j = 0; j < T; j++) {
                        __m256i a = _mm256_loadu_si256(
                            (const __m256i *)(qs[j] + c * 320 + 64 * n + 32 * h));
                        s16[j] = _mm256_add_epi16(s16[j], _mm256_maddubs_epi16(cd, a));
                    }
                    if (n < 4)
                        u = _mm256_add_epi8(u, _mm256_add_epi8(u, u));
                }
            }
            for (int j = 0; j < T; j++)
                acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(s16[j], ones16));
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            out[i][j] = bn_hadd8i(acc[i][j]) - act->sum[t0 + j];
}

BN_TILE_VARIANTS(bn_t5, bn_t5_tile)

static void bn_gemm_t5_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                               int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    bn_tiled_gemm(bn_t5_tiles, w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_t5_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                                   int64_t row_begin, int64_t row_end, int32_t *acc,
                                   int64_t acc_stride) {
    bn_tiled_gemm(bn_t5_tiles, w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* T3                                                                        */

/* x86/avx2_t3.c: one token (8-row tiles, int16 sums, linear prefetch) and
 * batches (a chunk decoded once for 4 tokens). */
static void bn_gemm_t3_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                               int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    if (act->n_tokens == 1)
        bn_gemv_t3_i8_avx2(w, act, row_begin, row_end, y, NULL);
    else
        bn_gemm_t3_batch_i8_avx2(w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_t3_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                                   int64_t row_begin, int64_t row_end, int32_t *acc,
                                   int64_t acc_stride) {
    if (act->n_tokens == 1)
        bn_gemv_t3_i8_avx2(w, act, row_begin, row_end, NULL, acc);
    else
        bn_gemm_t3_batch_i8_avx2(w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* LUT2                                                                      */

/* 32 rows (half h of a 64-row tile) x one token. After unpack, lo16 holds
 * rows 0-7 and 16-23 of the half, hi16 rows 8-15 and 24-31. */
static void bn_lut2_half(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t tile,
                         int h, int64_t t, int32_t out[32]) {
    const uint8_t *wt = w->data + (uint64_t)tile * w->row_bytes + 32 * h;
    const uint8_t *lut = act->lut + t * (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i a32[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
    const int64_t npp = w->Kp / 4;
    for (int64_t pp0 = 0; pp0 < npp; pp0 += 32) {
        __m256i lo16 = _mm256_setzero_si256(), hi16 = _mm256_setzero_si256();
        int64_t end = pp0 + 32 < npp ? pp0 + 32 : npp;
        for (int64_t pp = pp0; pp < end; pp++) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(wt + pp * 64));
            _mm_prefetch((const char *)(wt + pp * 64 + 8192), _MM_HINT_T0);
            __m256i i0 = _mm256_and_si256(b, m4);
            __m256i i1 = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            const uint8_t *e0 = lut + (2 * pp) * BN_LUT_ENTRY_BYTES, *e1 = e0 + BN_LUT_ENTRY_BYTES;
            __m256i t0l = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)e0));
            __m256i t0h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(e0 + 16)));
            __m256i t1l = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)e1));
            __m256i t1h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(e1 + 16)));
            __m256i l0 = _mm256_shuffle_epi8(t0l, i0), h0 = _mm256_shuffle_epi8(t0h, i0);
            __m256i l1 = _mm256_shuffle_epi8(t1l, i1), h1 = _mm256_shuffle_epi8(t1h, i1);
            lo16 = _mm256_add_epi16(lo16, _mm256_add_epi16(_mm256_unpacklo_epi8(l0, h0),
                                                           _mm256_unpacklo_epi8(l1, h1)));
            hi16 = _mm256_add_epi16(hi16, _mm256_add_epi16(_mm256_unpackhi_epi8(l0, h0),
                                                           _mm256_unpackhi_epi8(l1, h1)));
        }
        a32[0] = _mm256_add_epi32(a32[0], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(lo16)));
        a32[1] = _mm256_add_epi32(a32[1], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(lo16, 1)));
        a32[2] = _mm256_add_epi32(a32[2], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(hi16)));
        a32[3] = _mm256_add_epi32(a32[3], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(hi16, 1)));
    }
    int32_t v[32];
    for (int i = 0; i < 4; i++)
        _mm256_storeu_si256((__m256i *)(v + 8 * i), a32[i]);
    /* v[0..7] rows 0-7, v[8..15] rows 16-23, v[16..23] rows 8-15, v[24..31] rows 24-31 */
    for (int e = 0; e < 8; e++) {
        out[e] = v[e];
        out[16 + e] = v[8 + e];
        out[8 + e] = v[16 + e];
        out[24 + e] = v[24 + e];
    }
}

/* Token blocks whose tables fit in about 512 KB of L2, tiles inside (see
 * avx512.c). */
static void bn_lut2_gemm(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                         int64_t row_end, float *y, int32_t *acc, int64_t stride) {
    int64_t tb = ((int64_t)512 << 10) / (act->stride / 2 * BN_LUT_ENTRY_BYTES);
    if (tb < 1)
        tb = 1;
    for (int64_t t0 = 0; t0 < act->n_tokens; t0 += tb)
    for (int64_t tile = row_begin / BN_LUT_TILE_ROWS; tile * BN_LUT_TILE_ROWS < row_end; tile++)
        for (int h = 0; h < 2; h++) {
            int64_t r0 = tile * BN_LUT_TILE_ROWS + 32 * h;
            if (r0 >= row_end)
                break;
            for (int64_t t = t0; t < act->n_tokens && t < t0 + tb; t++) {
                int32_t v[32];
                bn_lut2_half(w, act, tile, h, t, v);
                for (int i = 0; i < 32; i++) {
                    int64_t r = r0 + i;
                    if (r < row_begin || r >= row_end)
                        continue;
                    if (acc)
                        acc[t * stride + r] = v[i];
                    else
                        y[t * stride + r] = bn_ternary_out(w, r, v[i], act->scale[t]);
                }
            }
        }
}

static void bn_gemm_lut2_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                                 int64_t row_begin, int64_t row_end, float *y,
                                 int64_t y_stride) {
    if (!act->lut || w->scale_kind == BN_TERNARY_SCALE_BLOCK256) {
        bn_gemm_ternary_i8_ref(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    bn_lut2_gemm(w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_lut2_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                                     int64_t row_begin, int64_t row_end, int32_t *acc,
                                     int64_t acc_stride) {
    if (!act->lut) {
        bn_gemm_acc_ternary_i8_ref(w, act, row_begin, row_end, acc, acc_stride);
        return;
    }
    bn_lut2_gemm(w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* Float helpers                                                             */

BN_INLINE __m256 bn_load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static float bn_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    float s = bn_hadd8(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += a[k] * b[k];
    return s;
}

static float bn_dot_f16_avx2(const float *a, const uint16_t *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), bn_load_f16(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), bn_load_f16(b + k + 8), s1);
    }
    float s = bn_hadd8(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += a[k] * bn_f16_to_f32(b[k]);
    return s;
}

static void bn_axpy_f32_avx2(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(y + k, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
    for (; k < n; k++)
        y[k] = fmaf(a, x[k], y[k]);
}

static void bn_axpy_f16_avx2(float a, const uint16_t *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(y + k, _mm256_fmadd_ps(va, bn_load_f16(x + k), _mm256_loadu_ps(y + k)));
    for (; k < n; k++)
        y[k] = fmaf(a, bn_f16_to_f32(x[k]), y[k]);
}

static void bn_rmsnorm_f32_avx2(const float *x, const float *w, float eps, int64_t n, float *y) {
    float inv = 1.0f / sqrtf(bn_sumsq16(x, n) / (float)n + eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv),
                                              _mm256_loadu_ps(w + k)));
    for (; k < n; k++)
        y[k] = (x[k] * inv) * w[k];
}

/* exp for x <= 0, as in avx512.c: Cody-Waite reduction, degree-7 Taylor,
 * 2^n built in the exponent bits (n >= -126 after the clamp at -87). */
BN_INLINE __m256 bn_exp256(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void bn_softmax_f32_avx2(float *x, int64_t n) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        mx = _mm256_max_ps(_mm256_loadu_ps(x + k), mx);
    float m = bn_hmax8(mx);
    for (; k < n; k++)
        if (x[k] > m)
            m = x[k];
    const __m256 vmax = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (k = 0; k + 8 <= n; k += 8) {
        __m256 e = bn_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + k), vmax));
        sum = _mm256_add_ps(sum, e);
        _mm256_storeu_ps(x + k, e);
    }
    float s = bn_hadd8(sum);
    for (; k < n; k++) {
        x[k] = expf(x[k] - m);
        s += x[k];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / s);
    for (k = 0; k + 8 <= n; k += 8)
        _mm256_storeu_ps(x + k, _mm256_mul_ps(_mm256_loadu_ps(x + k), inv));
    for (; k < n; k++)
        x[k] *= 1.0f / s;
}

static void bn_f16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(dst + k, bn_load_f16(src + k));
    for (; k < n; k++)
        dst[k] = bn_f16_to_f32(src[k]);
}

static void bn_f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm_storeu_si128((__m128i *)(dst + k),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + k),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; k < n; k++)
        dst[k] = bn_f32_to_f16(src[k]);
}

/* One Q6_K block (ggml's block_q6_K) dequantized exactly into 256 floats:
 * value = d * scale[is] * (6-bit code - 32), low 4 bits in ql, high 2 in
 * qh; in each half of 128, byte l of ql/qh yields values l, l+32, l+64,
 * l+96 (FORMATS-style index math of the reference, dense_matrix.c). */
static void bn_q6k_block_f32(const uint8_t *blk, float *out /* (256) */) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3),
                  off = _mm256_set1_epi8(32);
    uint16_t dh;
    memcpy(&dh, blk + 208, 2);
    const float d = bn_f16_to_f32(dh);
    const int8_t *sc = (const int8_t *)(blk + 192);
    for (int n = 0; n < 2; n++) {
        const uint8_t *ql = blk + 64 * n, *qh = blk + 128 + 32 * n;
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i h = _mm256_loadu_si256((const __m256i *)qh);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
        for (int g = 0; g < 4; g++) {
            int8_t qb[32];
            _mm256_storeu_si256((__m256i *)qb, _mm256_sub_epi8(q[g], off));
            for (int half = 0; half < 2; half++) {
                /* d * scale first, then * code: the reference's order. */
                const __m256 s = _mm256_set1_ps(d * (float)sc[8 * n + 2 * g + half]);
                for (int e = 0; e < 16; e += 8) {
                    __m256 v = _mm256_cvtepi32_ps(
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qb + 16 * half + e))));
                    _mm256_storeu_ps(out + 128 * n + 32 * g + 16 * half + e, _mm256_mul_ps(s, v));
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Output layer                                                              */

BN_INLINE __m256 bn_dense_load(bn_tensor_type type, const uint8_t *row, int64_t k) {
    switch (type) {
    case BN_TYPE_F32:
        return _mm256_loadu_ps((const float *)row + k);
    case BN_TYPE_F16:
        return bn_load_f16((const uint16_t *)row + k);
    default: /* BF16 */
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k))), 16));
    }
}

/* Decode (at most 4 tokens, K <= 4096): the codes are widened without any
 * shuffle.  Dword lane i of a 32-code vector holds codes 4i..4i+3, so
 * shifting pulls out codes 4i+k (k = 0..3) sign-extended, and x is permuted
 * once per call to match: xp[32g + 8k + i] = x[32g + 4i + k].  Lane i's 4
 * codes share sub-block 2g + i/4, so the 4 partial products of a 32-group
 * are summed first and scaled once: acc += (d*scale) * sum_k code_k * x_k.
 * The order is fixed per row (independent of the row split). */
#define BN_Q6K_PX_MAX_K 4096

BN_INLINE __m256 bn_q6k_code_k(__m256i q, int k) {
    return _mm256_cvtepi32_ps(
        _mm256_srai_epi32(k == 3 ? q : _mm256_slli_epi32(q, 24 - 8 * k), 24));
}

BN_INLINE __m256 bn_q6k_group(__m256i q, const float *xp) {
    __m256 p = _mm256_mul_ps(bn_q6k_code_k(q, 0), _mm256_loadu_ps(xp));
    p = _mm256_fmadd_ps(bn_q6k_code_k(q, 1), _mm256_loadu_ps(xp + 8), p);
    p = _mm256_fmadd_ps(bn_q6k_code_k(q, 2), _mm256_loadu_ps(xp + 16), p);
    return _mm256_fmadd_ps(bn_q6k_code_k(q, 3), _mm256_loadu_ps(xp + 24), p);
}

BN_INLINE void bn_q6k_row_dot_px(const uint8_t *row, int64_t nb, uint64_t ahead, const float *xp,
                                 int64_t xp_stride, int T, float *y, int64_t y_stride) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3),
                  off = _mm256_set1_epi8(32);
    __m256 s0[4], s1[4];
    for (int j = 0; j < T; j++)
        s0[j] = s1[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * BN_Q6_K_BYTES;
        for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
            BN_PREFETCH_STREAM(blk + c + ahead);
        uint16_t dh;
        memcpy(&dh, blk + 208, 2);
        const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)dh));
        float dsa[16]; /* d * scale per sub-block, (16) */
        _mm256_storeu_ps(dsa, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                   _mm_loadl_epi64((const __m128i *)(blk + 192))))));
        _mm256_storeu_ps(dsa + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                       _mm_loadl_epi64((const __m128i *)(blk + 200))))));
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = blk + 64 * n, *qh = blk + 128 + 32 * n;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4]; /* values 32g .. 32g+31 of this half, code - 32 */
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
            for (int g = 0; g < 4; g++) {
                const __m256i qg = _mm256_sub_epi8(q[g], off);
                const __m256 sc = _mm256_insertf128_ps(
                    _mm256_castps128_ps256(_mm_broadcast_ss(dsa + 8 * n + 2 * g)),
                    _mm_broadcast_ss(dsa + 8 * n + 2 * g + 1), 1);
                for (int j = 0; j < T; j++) {
                    const float *xg = xp + j * xp_stride + b * 256 + 128 * n + 32 * g;
                    if (g & 1)
                        s1[j] = _mm256_fmadd_ps(sc, bn_q6k_group(qg, xg), s1[j]);
                    else
                        s0[j] = _mm256_fmadd_ps(sc, bn_q6k_group(qg, xg), s0[j]);
                }
            }
        }
    }
    for (int j = 0; j < T; j++)
        y[j * y_stride] = bn_hadd8(_mm256_add_ps(s0[j], s1[j]));
}

/* Q6_K rows: each 256-block dequantized once (exactly) into L1, then dotted
 * with up to 4 tokens. */
static void bn_dense_gemm_q6k(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                              int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                              int64_t y_stride) {
    if (n_tokens <= 4 && w->K <= BN_Q6K_PX_MAX_K) {
        const int64_t K = w->K, nb = K / 256;
        /* Rows stream back to back: fetch a whole number of rows, at least
         * 8 KB, ahead (the next rows). */
        const uint64_t ahead = w->row_bytes * ((8192 + w->row_bytes - 1) / w->row_bytes);
        float xp[4 * BN_Q6K_PX_MAX_K]; /* (n_tokens, K) permuted x */
        for (int64_t t = 0; t < n_tokens; t++)
            for (int64_t g = 0; g < K; g += 32)
                for (int k = 0; k < 4; k++)
                    for (int i = 0; i < 8; i++)
                        xp[t * K + g + 8 * k + i] = x[t * x_stride + g + 4 * i + k];
        for (int64_t r = row_begin; r < row_end; r++) {
            const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
            switch (n_tokens) {
            case 1: bn_q6k_row_dot_px(row, nb, ahead, xp, K, 1, y + r, y_stride); break;
            case 2: bn_q6k_row_dot_px(row, nb, ahead, xp, K, 2, y + r, y_stride); break;
            case 3: bn_q6k_row_dot_px(row, nb, ahead, xp, K, 3, y + r, y_stride); break;
            default: bn_q6k_row_dot_px(row, nb, ahead, xp, K, 4, y + r, y_stride); break;
            }
        }
        return;
    }
    float buf[256];
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
            int T = n_tokens - t0 < 4 ? (int)(n_tokens - t0) : 4;
            __m256 s[4][2];
            for (int j = 0; j < 4; j++)
                s[j][0] = s[j][1] = _mm256_setzero_ps();
            for (int64_t b = 0; b < w->K / 256; b++) {
                bn_q6k_block_f32(row + b * BN_Q6_K_BYTES, buf);
                for (int j = 0; j < T; j++) {
                    const float *xt = x + (t0 + j) * x_stride + b * 256;
                    for (int e = 0; e < 256; e += 16) {
                        s[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(buf + e), _mm256_loadu_ps(xt + e), s[j][0]);
                        s[j][1] = _mm256_fmadd_ps(_mm256_loadu_ps(buf + e + 8), _mm256_loadu_ps(xt + e + 8), s[j][1]);
                    }
                }
            }
            for (int j = 0; j < T; j++)
                y[(t0 + j) * y_stride + r] = bn_hadd8(_mm256_add_ps(s[j][0], s[j][1]));
        }
    }
}

static void bn_dense_gemm_avx2(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                               int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                               int64_t y_stride) {
    const int64_t K = w->K;
    /* x86/avx2_dense.c, when it has the type (token by token, so a batch
     * gives the bits of its tokens one at a time). */
    if (bn_dense_gemm_tok_avx2(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride))
        return;
    if (w->type == BN_TYPE_Q6_K) {
        bn_dense_gemm_q6k(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride);
        return;
    }
    if (w->type != BN_TYPE_Q8_0 && K % 16 != 0) {
        bn_dense_gemm_f32_ref(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride);
        return;
    }
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
            int T = n_tokens - t0 < 4 ? (int)(n_tokens - t0) : 4;
            __m256 s[4][2];
            for (int j = 0; j < 4; j++)
                s[j][0] = s[j][1] = _mm256_setzero_ps();
            if (w->type == BN_TYPE_Q8_0) {
                for (int64_t b = 0; b < K / 32; b++) {
                    const uint8_t *blk = row + b * BN_Q8_0_BYTES;
                    BN_PREFETCH_STREAM(blk + 8192);
                    uint16_t dh;
                    memcpy(&dh, blk, 2);
                    __m256 d = _mm256_set1_ps(bn_f16_to_f32(dh));
                    __m256 wv[4];
                    for (int i = 0; i < 4; i++)
                        wv[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                     _mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * i)))));
                    for (int j = 0; j < T; j++) {
                        const float *xt = x + (t0 + j) * x_stride + b * 32;
                        s[j][0] = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xt), s[j][0]);
                        s[j][1] = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xt + 8), s[j][1]);
                        s[j][0] = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xt + 16), s[j][0]);
                        s[j][1] = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xt + 24), s[j][1]);
                    }
                }
            } else {
                const int64_t esz = w->type == BN_TYPE_F32 ? 4 : 2;
                for (int64_t k = 0; k < K; k += 16) {
                    /* Rows stream back to back: fetch 8 KB ahead (the next
                     * rows), as the ternary kernels do. */
                    BN_PREFETCH_STREAM(row + k * esz + 8192);
                    __m256 w0 = bn_dense_load(w->type, row, k), w1 = bn_dense_load(w->type, row, k + 8);
                    for (int j = 0; j < T; j++) {
                        const float *xt = x + (t0 + j) * x_stride + k;
                        s[j][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), s[j][0]);
                        s[j][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), s[j][1]);
                    }
                }
            }
            for (int j = 0; j < T; j++)
                y[(t0 + j) * y_stride + r] = bn_hadd8(_mm256_add_ps(s[j][0], s[j][1]));
        }
    }
}

/* int8 copy: maddubs(|w|, sign(q, w)) = w*q per byte pair; |w|, |q| <= 127
 * bound a pair by 2*127*127 = 32258 < 32767. Rows and activations are
 * zero-padded to a multiple of 64, so whole 32-byte vectors are safe. */
static void bn_dense_gemm_i8_avx2(const bn_dense_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, float *y,
                                  int64_t y_stride) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nk = bn_round_up(w->K, 32) / 32;
    for (int64_t r = row_begin; r < row_end; r++) {
        const int8_t *wr = w->q8 + r * w->q8_stride;
        for (int64_t t = 0; t < act->n_tokens; t++) {
            const int8_t *q = act->q + t * act->stride;
            __m256i acc = _mm256_setzero_si256();
            for (int64_t c = 0; c < nk; c++) {
                BN_PREFETCH_STREAM(wr + 32 * c + 8192);
                __m256i wv = _mm256_loadu_si256((const __m256i *)(wr + 32 * c));
                __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
                __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(qv, wv));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
            }
            y[t * y_stride + r] = (float)bn_hadd8i(acc) / act->scale[t] * w->q8_scale[r];
        }
    }
}

const bn_kernels bn_kernels_avx2 = {
    .name = "avx2",
    .row_granule = BN_ROW_GRANULE,
    .act_quant = bn_act_quant_i8_avx2,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_avx2,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_i2_i8_avx2, bn_gemm_acc_i2_i8_avx2},
            [BN_LAYOUT_T5] = {bn_gemm_t5_i8_avx2, bn_gemm_acc_t5_i8_avx2},
            [BN_LAYOUT_LUT2] = {bn_gemm_lut2_i8_avx2, bn_gemm_acc_lut2_i8_avx2},
            [BN_LAYOUT_T3] = {bn_gemm_t3_i8_avx2, bn_gemm_acc_t3_i8_avx2},
        },
    .dense_gemm = bn_dense_gemm_avx2,
    .dense_gemm_i8 = bn_dense_gemm_i8_avx2,
    .dot_f32 = bn_dot_f32_avx2,
    .dot_f16 = bn_dot_f16_avx2,
    .axpy_f32 = bn_axpy_f32_avx2,
    .axpy_f16 = bn_axpy_f16_avx2,
    .rmsnorm = bn_rmsnorm_f32_avx2,
    .softmax = bn_softmax_f32_avx2,
    .f16_to_f32 = bn_f16_to_f32_avx2,
    .f32_to_f16 = bn_f32_to_f16_avx2,
    .attend = bn_attend_avx2,
};
