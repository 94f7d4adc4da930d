/* x86/avx512.c: the AVX-512 table (F/BW/VL/DQ/VNNI), compiled with only
 * those flags (kernels/CMakeLists.txt).
 *
 * Owns the fast versions of: activation quantization (plain and fused with
 * RMSNorm, bit-exact with ref), the I2 / T5 / T3 / LUT2 ternary products for
 * TENSOR and ROW scales (BLOCK256 scales, rare in real files because equal
 * block scales are folded at load, go to the reference), the output-layer
 * products and the float helpers.
 *
 * Multiply-add trick (I2, T5, T3): _mm512_dpbusd_epi32 multiplies unsigned bytes
 * by signed bytes. The weights enter as their codes c = w + 1 in {0,1,2}
 * (unsigned) and the activations as int8, so sum c*q = sum w*q + sum q and
 * the kernel subtracts the row sum of q (act->sum) once at the end. Bounds:
 * each dpbusd adds four products |c*q| <= 2*128 to an int32 lane, so a lane
 * holds at most K/16 * 1024 / 4 < 2^31 for any K below 2^24.
 *
 * The LUT2 product indexes the per-token pair tables with vpshufb: 64 rows
 * at once (one byte per row), low and high bytes of the int16 entries in two
 * lookups, interleaved back to int16 with unpack. Entries are at most
 * 2*128 in magnitude, two per step; the int16 sums are flushed to int32
 * every 32 steps (32 * 2 * 256 = 16384 < 32767).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/internal.h"
#include "kernels/x86/avx512_q6k.h"
#include "loader/half.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------ */
/* Activation quantization                                                   */

BN_INLINE float bn_hmax(__m512 v) {
    return _mm512_reduce_max_ps(v);
}

/* Quantizes y (already normalised) row of K floats with act_scale s. */
static void bn_quant_store(const float *x, int64_t K, float s, int8_t *q) {
    const __m512 vs = _mm512_set1_ps(s);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        /* cvtps_epi32 rounds half to even (default MXCSR); the saturating
         * narrow clamps to [-128, 127] and maps NaN (INT_MIN) to -128, as
         * the reference does. */
        __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), vs));
        _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtsepi32_epi8(i));
    }
    if (k < K) {
        __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vs));
        _mm_mask_storeu_epi8(q + k, m, _mm512_cvtsepi32_epi8(i));
    }
}

/* LUT2 tables of token t, two activation pairs per step: 32 int16 lanes
 * hold e[i] = (c0-1)*q0 + (c1-1)*q1 for i = c0 | c1 << 2 of both pairs
 * (weights -1/0/+1 per lane, 0 where a code is 3), then split into the low
 * and high byte tables. Same bytes as bn_act_lut_row_ref. */
static void bn_lut_row(bn_act_batch *act, int64_t t) {
    const int8_t *q = act->q + t * act->stride;
    uint8_t *lut = act->lut + t * (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    int16_t wa[32], wb[32];
    for (int i = 0; i < 32; i++) {
        int c0 = i & 3, c1 = (i >> 2) & 3;
        bool valid = c0 < 3 && c1 < 3;
        wa[i] = (int16_t)(valid ? c0 - 1 : 0);
        wb[i] = (int16_t)(valid ? c1 - 1 : 0);
    }
    const __m512i WA = _mm512_loadu_si512(wa), WB = _mm512_loadu_si512(wb);
    const __m512i i0 = _mm512_set_epi16(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(1));
    const int64_t np = act->stride / 2;
    for (int64_t p = 0; p < np; p += 2) {
        int32_t four;
        memcpy(&four, q + 2 * p, 4);
        __m512i v = _mm512_castsi128_si512(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(four)));
        __m512i e = _mm512_add_epi16(_mm512_mullo_epi16(_mm512_permutexvar_epi16(i0, v), WA),
                                     _mm512_mullo_epi16(_mm512_permutexvar_epi16(i1, v), WB));
        __m256i lo = _mm512_cvtepi16_epi8(e);
        __m256i hi = _mm512_cvtepi16_epi8(_mm512_srai_epi16(e, 8));
        _mm256_storeu_si256((__m256i *)(lut + p * BN_LUT_ENTRY_BYTES),
                            _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(lut + (p + 1) * BN_LUT_ENTRY_BYTES),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

/* Padding, row sum and 256-block sums of token t; LUT tables if any. */
static void bn_finish_row(bn_act_batch *act, int64_t t) {
    int8_t *q = act->q + t * act->stride;
    memset(q + act->K, 0, (size_t)(act->stride - act->K));
    const __m512i ones = _mm512_set1_epi8(1);
    int32_t *bs = act->block_sum + t * (act->stride / 256);
    int32_t total = 0;
    for (int64_t b = 0; b < act->stride / 256; b++) {
        __m512i acc = _mm512_setzero_si512();
        for (int i = 0; i < 4; i++)
            acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(q + b * 256 + 64 * i));
        bs[b] = _mm512_reduce_add_epi32(acc);
        total += bs[b];
    }
    act->sum[t] = total;
    if (act->lut)
        bn_lut_row(act, t);
}

static void bn_act_quant_i8_avx512(const float *x, int64_t x_stride, bn_act_batch *act,
                                   int64_t t_begin, int64_t t_end) {
    const int64_t K = act->K;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        /* max(|x|, amax): max_ps returns its second operand when the first
         * is NaN, so NaNs are skipped like the reference's `a > amax`. */
        __m512 mx = _mm512_set1_ps(1e-5f);
        int64_t k = 0;
        for (; k + 16 <= K; k += 16)
            mx = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xr + k), absmask), mx);
        if (k < K) {
            __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
            mx = _mm512_max_ps(_mm512_and_ps(_mm512_maskz_loadu_ps(m, xr + k), absmask), mx);
        }
        float s = 127.0f / bn_hmax(mx);
        act->scale[t] = s;
        bn_quant_store(xr, K, s, act->q + t * act->stride);
        bn_finish_row(act, t);
    }
}

/* The 16-lane sum of squares in kernels.h's order (mul, then add). */
static float bn_sumsq16(const float *x, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 v = _mm512_loadu_ps(x + k);
        acc = _mm512_add_ps(acc, _mm512_mul_ps(v, v));
    }
    if (k < n) {
        __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (n - k)) - 1), x + k);
        acc = _mm512_add_ps(acc, _mm512_mul_ps(v, v)); /* + 0*0 leaves a lane as is */
    }
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

static void bn_act_rmsnorm_quant_i8_avx512(const float *x, int64_t x_stride,
                                           const float *norm_w, float eps, bn_act_batch *act,
                                           int64_t t_begin, int64_t t_end) {
    const int64_t K = act->K;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t t = t_begin; t < t_end; t++) {
        const float *xr = x + t * x_stride;
        int8_t *q = act->q + t * act->stride;
        float inv = 1.0f / sqrtf(bn_sumsq16(xr, K) / (float)K + eps);
        const __m512 vinv = _mm512_set1_ps(inv);
        __m512 mx = _mm512_set1_ps(1e-5f);
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + k), vinv),
                                     _mm512_loadu_ps(norm_w + k));
            mx = _mm512_max_ps(_mm512_and_ps(y, absmask), mx);
        }
        __mmask16 tm = (__mmask16)((1u << (K - k)) - 1);
        if (k < K) {
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(tm, xr + k), vinv),
                                     _mm512_maskz_loadu_ps(tm, norm_w + k));
            mx = _mm512_max_ps(_mm512_and_ps(y, absmask), mx);
        }
        float s = 127.0f / bn_hmax(mx);
        const __m512 vs = _mm512_set1_ps(s);
        for (k = 0; k + 16 <= K; k += 16) {
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + k), vinv),
                                     _mm512_loadu_ps(norm_w + k));
            __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(y, vs));
            _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtsepi32_epi8(i));
        }
        if (k < K) {
            __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(tm, xr + k), vinv),
                                     _mm512_maskz_loadu_ps(tm, norm_w + k));
            __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(y, vs));
            _mm_mask_storeu_epi8(q + k, tm, _mm512_cvtsepi32_epi8(i));
        }
        act->scale[t] = s;
        bn_finish_row(act, t);
    }
}

/* ------------------------------------------------------------------------ */
/* I2: 128-value / 32-byte blocks, value 32g + j in byte j at bits 6 - 2g     */

/* Activations for group g of a 256-value chunk: lanes 0..31 are values
 * 32g..32g+31 of block 0, lanes 32..63 the same of block 1, matching the
 * codes (w >> (6 - 2g)) & 3 of a 64-byte load of two blocks. */
BN_INLINE __m512i bn_i2_act(const int8_t *q, int g) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(q + 128 + 32 * g));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* R rows x T tokens of int32 accumulators sum c*q (before the offset). */
BN_INLINE void bn_i2_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                          const int R, int64_t t0, const int T, int32_t out[4][4]) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m256i m3y = _mm256_set1_epi8(3);
    __m512i acc[4][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_si512();
    const int64_t n2 = w->Kp / 256;
    const uint8_t *rows[4];
    const int8_t *qs[4];
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
    for (int64_t c = 0; c < n2; c++) {
        __m512i wv[4];
        for (int i = 0; i < R; i++) {
            wv[i] = _mm512_loadu_si512(rows[i] + c * 64);
            _mm_prefetch((const char *)(rows[i] + c * 64 + ahead), _MM_HINT_T0);
        }
        for (int g = 0; g < 4; g++) {
            __m512i a[4], cd[4];
            for (int j = 0; j < T; j++)
                a[j] = bn_i2_act(qs[j] + c * 256, g);
            for (int i = 0; i < R; i++)
                cd[i] = _mm512_and_si512(_mm512_srli_epi16(wv[i], 6 - 2 * g), m3);
            for (int i = 0; i < R; i++)
                for (int j = 0; j < T; j++)
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], cd[i], a[j]);
        }
    }
    if (w->Kp % 256) { /* one trailing 128-value block: 256-bit vectors */
        const int64_t off = n2 * 256;
        for (int i = 0; i < R; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(rows[i] + n2 * 64));
            for (int j = 0; j < T; j++) {
                __m256i s = _mm256_setzero_si256();
                for (int g = 0; g < 4; g++) {
                    __m256i cd = _mm256_and_si256(_mm256_srli_epi16(wv, 6 - 2 * g), m3y);
                    __m256i a = _mm256_loadu_si256((const __m256i *)(qs[j] + off + 32 * g));
                    s = _mm256_dpbusd_epi32(s, cd, a);
                }
                acc[i][j] = _mm512_add_epi32(acc[i][j], _mm512_zextsi256_si512(s));
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            out[i][j] = _mm512_reduce_add_epi32(acc[i][j]) - act->sum[t0 + j];
}

/* Writes a tile's results: raw accumulators or scaled floats. */
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
    static void prefix##_4x4(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 4, o); }     \
    static void prefix##_4x3(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 3, o); }     \
    static void prefix##_4x2(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 2, o); }     \
    static void prefix##_4x1(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 4, t, 1, o); }     \
    static void prefix##_1x4(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 4, o); }     \
    static void prefix##_1x3(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 3, o); }     \
    static void prefix##_1x2(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 2, o); }     \
    static void prefix##_1x1(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,  \
                             int64_t t, int32_t o[4][4]) { tile(w, a, r, 1, t, 1, o); }     \
    static const bn_tile_fn prefix##_tiles[2][4] = {                                        \
        {prefix##_1x1, prefix##_1x2, prefix##_1x3, prefix##_1x4},                           \
        {prefix##_4x1, prefix##_4x2, prefix##_4x3, prefix##_4x4}};

BN_TILE_VARIANTS(bn_i2, bn_i2_tile)

/* Token tiles outer (the row range's weights stay in L2 between them), row
 * tiles inner: 4 rows x 4 tokens share each unpacked code vector and each
 * activation vector. */
static void bn_tiled_gemm(const bn_tile_fn tiles[2][4], const bn_ternary_matrix *w,
                          const bn_act_batch *act, int64_t row_begin, int64_t row_end, float *y,
                          int32_t *acc, int64_t stride) {
    /* Rows in blocks of about 256 KB of weights (L2-resident while every
     * token tile passes over them); token tiles of 4 inside; row tiles of 4
     * innermost. A matrix-vector product is one token tile: plain streaming. */
    int64_t rb = ((int64_t)256 << 10) / (int64_t)w->row_bytes / 4 * 4;
    if (rb < 4)
        rb = 4;
    for (int64_t b0 = row_begin; b0 < row_end; b0 += rb) {
        int64_t b1 = b0 + rb < row_end ? b0 + rb : row_end;
        for (int64_t t0 = 0; t0 < act->n_tokens; t0 += 4) {
            int T = act->n_tokens - t0 < 4 ? (int)(act->n_tokens - t0) : 4;
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

/* One token (generation): 8 rows per tile sharing the activation vectors,
 * the tile's contiguous rows prefetched linearly (one line per row and
 * 256 values). */
#define BN_I2_GEMV_ROWS 8

BN_INLINE void bn_i2_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, uint64_t ahead, int32_t out[BN_I2_GEMV_ROWS]) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m256i m3y = _mm256_set1_epi8(3);
    __m512i acc[BN_I2_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        acc[i] = _mm512_setzero_si512();
    const int64_t n2 = w->Kp / 256;
    const uint8_t *rows[BN_I2_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        rows[i] = w->data + (uint64_t)(r0 + i) * w->row_bytes;
    const int8_t *q = act->q;
    const uint8_t *pf = rows[0] + ahead;
    for (int64_t c = 0; c < n2; c++) {
        for (int i = 0; i < R; i++)
            BN_PREFETCH_STREAM(pf + (c * R + i) * 64);
        __m512i a[4];
        for (int g = 0; g < 4; g++)
            a[g] = bn_i2_act(q + c * 256, g);
        for (int i = 0; i < R; i++) {
            const __m512i wv = _mm512_loadu_si512(rows[i] + c * 64);
            for (int g = 0; g < 4; g++)
                acc[i] = _mm512_dpbusd_epi32(
                    acc[i], _mm512_and_si512(_mm512_srli_epi16(wv, 6 - 2 * g), m3), a[g]);
        }
    }
    if (w->Kp % 256) { /* one trailing 128-value block: 256-bit vectors */
        const int64_t off = n2 * 256;
        for (int i = 0; i < R; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(rows[i] + n2 * 64));
            __m256i s = _mm256_setzero_si256();
            for (int g = 0; g < 4; g++)
                s = _mm256_dpbusd_epi32(s, _mm256_and_si256(_mm256_srli_epi16(wv, 6 - 2 * g), m3y),
                                        _mm256_loadu_si256((const __m256i *)(q + off + 32 * g)));
            acc[i] = _mm512_add_epi32(acc[i], _mm512_zextsi256_si512(s));
        }
    }
    for (int i = 0; i < R; i++)
        out[i] = _mm512_reduce_add_epi32(acc[i]) - act->sum[0];
}

BN_GEMV_TILES(bn_i2_gemv_tiles, bn_i2_gemv_tile, BN_I2_GEMV_ROWS)

static void bn_i2_gemv(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                       int64_t row_end, float *y, int32_t *acc_out) {
    bn_ternary_gemv_rows(bn_i2_gemv_tiles_tile, bn_i2_gemv_tiles_one, BN_I2_GEMV_ROWS, w, act, row_begin, row_end, y,
                         acc_out);
}

static void bn_gemm_i2_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                 int64_t row_begin, int64_t row_end, float *y,
                                 int64_t y_stride) {
    if (w->scale_kind == BN_TERNARY_SCALE_BLOCK256) {
        bn_gemm_ternary_i8_ref(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    if (act->n_tokens == 1)
        bn_i2_gemv(w, act, row_begin, row_end, y, NULL);
    else if (bn_i2_batch_avx512_takes(w, act))
        bn_gemm_i2_batch_i8_avx512(w, act, row_begin, row_end, y, NULL, y_stride);
    else
        bn_tiled_gemm(bn_i2_tiles, w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_i2_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                     int64_t row_begin, int64_t row_end, int32_t *acc,
                                     int64_t acc_stride) {
    if (act->n_tokens == 1)
        bn_i2_gemv(w, act, row_begin, row_end, NULL, acc);
    else if (bn_i2_batch_avx512_takes(w, act))
        bn_gemm_i2_batch_i8_avx512(w, act, row_begin, row_end, NULL, acc, acc_stride);
    else
        bn_tiled_gemm(bn_i2_tiles, w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* T5: five trits per byte, 320-value / 64-byte chunks                       */

/* Trit i of byte B is ((B * 3^i) mod 256) * 3 >> 8, i.e. 0 below 86, 1 from
 * 86, 2 from 171: two unsigned compares into masks, two masked moves. The
 * next trit's byte is u * 3 mod 256 = u + u + u (byte adds wrap mod 256). */
BN_INLINE void bn_t5_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                          const int R, int64_t t0, const int T, int32_t out[4][4]) {
    const __m512i one = _mm512_set1_epi8(1), two = _mm512_set1_epi8(2);
    const __m512i b86 = _mm512_set1_epi8((char)86), b171 = _mm512_set1_epi8((char)171);
    __m512i acc[4][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_si512();
    const int64_t nc = w->Kp / BN_T5_CHUNK;
    const uint8_t *rows[4];
    const int8_t *qs[4];
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
        __m512i u[4];
        for (int i = 0; i < R; i++) {
            u[i] = _mm512_loadu_si512(rows[i] + c * 64);
            _mm_prefetch((const char *)(rows[i] + c * 64 + ahead), _MM_HINT_T0);
        }
        for (int n = 0; n < 5; n++) {
            __m512i a[4], cd[4];
            for (int j = 0; j < T; j++)
                a[j] = _mm512_loadu_si512(qs[j] + c * 320 + 64 * n);
            for (int i = 0; i < R; i++) {
                __mmask64 m1 = _mm512_cmpge_epu8_mask(u[i], b86);
                __mmask64 m2 = _mm512_cmpge_epu8_mask(u[i], b171);
                cd[i] = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(m1, one), m2, two);
                if (n < 4)
                    u[i] = _mm512_add_epi8(u[i], _mm512_add_epi8(u[i], u[i]));
            }
            for (int i = 0; i < R; i++)
                for (int j = 0; j < T; j++)
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], cd[i], a[j]);
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            out[i][j] = _mm512_reduce_add_epi32(acc[i][j]) - act->sum[t0 + j];
}

BN_TILE_VARIANTS(bn_t5, bn_t5_tile)

static void bn_gemm_t5_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                 int64_t row_begin, int64_t row_end, float *y,
                                 int64_t y_stride) {
    bn_tiled_gemm(bn_t5_tiles, w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_t5_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                     int64_t row_begin, int64_t row_end, int32_t *acc,
                                     int64_t acc_stride) {
    bn_tiled_gemm(bn_t5_tiles, w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* T3: triplets as 4-bit magnitude + sign, 192-value / 40-byte chunks        */

/* The 32 nibble bytes, loaded into both halves of a zmm and shifted by 0 in
 * the low half, 4 in the high half, give the 64 triplet magnitudes in lane
 * order; a vpshufb per weight position turns them into the codes of a
 * positive triplet, and a masked 2 - c (the 64 sign bits are the mask)
 * flips the negative ones. Three dpbusd per 192 weights. */
BN_INLINE void bn_t3_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                          const int R, int64_t t0, const int T, int32_t out[4][4]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), two = _mm512_set1_epi8(2);
    const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004ll, 0x0004000400040004ll,
                                            0x0004000400040004ll, 0x0004000400040004ll);
    __m512i tab[3];
    for (int p = 0; p < 3; p++) {
        int8_t t16[16];
        for (int m = 0; m < 16; m++)
            t16[m] = (int8_t)bn_t3_pos_code(m, p);
        tab[p] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t16));
    }
    __m512i acc[4][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_si512();
    const int64_t nc = w->Kp / BN_T3_CHUNK;
    const uint8_t *rows[4];
    const int8_t *qs[4];
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
            const uint8_t *ch = rows[i] + c * BN_T3_CHUNK_BYTES;
            _mm_prefetch((const char *)(ch + ahead), _MM_HINT_T0);
            __m512i idx = _mm512_and_si512(
                _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)ch)),
                                  shift),
                m4);
            uint64_t sbits;
            memcpy(&sbits, ch + 32, 8);
            __mmask64 neg = _cvtu64_mask64(sbits);
            for (int p = 0; p < 3; p++) {
                __m512i cd = _mm512_shuffle_epi8(tab[p], idx);
                cd = _mm512_mask_sub_epi8(cd, neg, two, cd);
                for (int j = 0; j < T; j++)
                    acc[i][j] = _mm512_dpbusd_epi32(
                        acc[i][j], cd, _mm512_loadu_si512(qs[j] + c * BN_T3_CHUNK + 64 * p));
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            out[i][j] = _mm512_reduce_add_epi32(acc[i][j]) - act->sum[t0 + j];
}

BN_TILE_VARIANTS(bn_t3, bn_t3_tile)

/* One token (generation): the same decode, 8 rows per tile sharing the
 * activation vectors, and the tile's contiguous rows prefetched linearly,
 * one prefetch per 64-byte line (the 4-row tiles above prefetch once per
 * 40-byte chunk and row). */
#define BN_T3_GEMV_ROWS 8

BN_INLINE void bn_t3_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, uint64_t ahead, int32_t out[BN_T3_GEMV_ROWS]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), two = _mm512_set1_epi8(2);
    const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004ll, 0x0004000400040004ll,
                                            0x0004000400040004ll, 0x0004000400040004ll);
    __m512i tab[3];
    for (int p = 0; p < 3; p++) {
        int8_t t16[16];
        for (int m = 0; m < 16; m++)
            t16[m] = (int8_t)bn_t3_pos_code(m, p);
        tab[p] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t16));
    }
    __m512i acc[BN_T3_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        acc[i] = _mm512_setzero_si512();
    const int64_t nc = w->Kp / BN_T3_CHUNK;
    const uint8_t *rows[BN_T3_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        rows[i] = w->data + (uint64_t)(r0 + i) * w->row_bytes;
    const int8_t *q = act->q;
    const uint8_t *pf = rows[0] + ahead;
    for (int64_t c = 0; c < nc; c++) {
        for (int l = 0; l < (R * BN_T3_CHUNK_BYTES + 63) / 64; l++)
            BN_PREFETCH_STREAM(pf + c * R * BN_T3_CHUNK_BYTES + 64 * l);
        __m512i a[3];
        for (int p = 0; p < 3; p++)
            a[p] = _mm512_loadu_si512(q + c * BN_T3_CHUNK + 64 * p);
        for (int i = 0; i < R; i++) {
            const uint8_t *ch = rows[i] + c * BN_T3_CHUNK_BYTES;
            __m512i idx = _mm512_and_si512(
                _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)ch)),
                                  shift),
                m4);
            uint64_t sbits;
            memcpy(&sbits, ch + 32, 8);
            __mmask64 neg = _cvtu64_mask64(sbits);
            for (int p = 0; p < 3; p++) {
                __m512i cd = _mm512_shuffle_epi8(tab[p], idx);
                acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_mask_sub_epi8(cd, neg, two, cd), a[p]);
            }
        }
    }
    for (int i = 0; i < R; i++)
        out[i] = _mm512_reduce_add_epi32(acc[i]) - act->sum[0];
}

BN_GEMV_TILES(bn_t3_gemv_tiles, bn_t3_gemv_tile, BN_T3_GEMV_ROWS)

static void bn_t3_gemv(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                       int64_t row_end, float *y, int32_t *acc_out) {
    bn_ternary_gemv_rows(bn_t3_gemv_tiles_tile, bn_t3_gemv_tiles_one, BN_T3_GEMV_ROWS, w, act, row_begin, row_end, y,
                         acc_out);
}

static void bn_gemm_t3_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                 int64_t row_begin, int64_t row_end, float *y,
                                 int64_t y_stride) {
    if (act->n_tokens == 1)
        bn_t3_gemv(w, act, row_begin, row_end, y, NULL);
    else
        bn_tiled_gemm(bn_t3_tiles, w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_t3_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                     int64_t row_begin, int64_t row_end, int32_t *acc,
                                     int64_t acc_stride) {
    if (act->n_tokens == 1)
        bn_t3_gemv(w, act, row_begin, row_end, NULL, acc);
    else
        bn_tiled_gemm(bn_t3_tiles, w, act, row_begin, row_end, NULL, acc, acc_stride);
}

/* ------------------------------------------------------------------------ */
/* LUT2: 64-row tiles, one index nibble per row per activation pair          */

/* acc (64 int32, in row order) for one tile and one token. The int16
 * accumulators take two entries (|e| <= 256) per step; flushing every 32
 * steps keeps them within 32 * 2 * 256 = 16384. Row order after unpack:
 * lo16 holds rows 16L+0..7 of each 128-bit lane L, hi16 rows 16L+8..15. */
static void bn_lut2_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t tile,
                         int64_t t, int32_t out[64]) {
    const uint8_t *wt = w->data + (uint64_t)tile * w->row_bytes;
    const uint8_t *lut = act->lut + t * (act->stride / 2) * BN_LUT_ENTRY_BYTES;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i a32[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                      _mm512_setzero_si512()};
    const int64_t npp = w->Kp / 4;
    for (int64_t pp0 = 0; pp0 < npp; pp0 += 32) {
        __m512i lo16 = _mm512_setzero_si512(), hi16 = _mm512_setzero_si512();
        int64_t end = pp0 + 32 < npp ? pp0 + 32 : npp;
        for (int64_t pp = pp0; pp < end; pp++) {
            __m512i b = _mm512_loadu_si512(wt + pp * 64);
            _mm_prefetch((const char *)(wt + pp * 64 + 8192), _MM_HINT_T0);
            __m512i i0 = _mm512_and_si512(b, m4);
            __m512i i1 = _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
            const uint8_t *e0 = lut + (2 * pp) * BN_LUT_ENTRY_BYTES;
            const uint8_t *e1 = e0 + BN_LUT_ENTRY_BYTES;
            __m512i t0l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)e0));
            __m512i t0h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(e0 + 16)));
            __m512i t1l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)e1));
            __m512i t1h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(e1 + 16)));
            __m512i l0 = _mm512_shuffle_epi8(t0l, i0), h0 = _mm512_shuffle_epi8(t0h, i0);
            __m512i l1 = _mm512_shuffle_epi8(t1l, i1), h1 = _mm512_shuffle_epi8(t1h, i1);
            lo16 = _mm512_add_epi16(lo16, _mm512_add_epi16(_mm512_unpacklo_epi8(l0, h0),
                                                           _mm512_unpacklo_epi8(l1, h1)));
            hi16 = _mm512_add_epi16(hi16, _mm512_add_epi16(_mm512_unpackhi_epi8(l0, h0),
                                                           _mm512_unpackhi_epi8(l1, h1)));
        }
        a32[0] = _mm512_add_epi32(a32[0], _mm512_cvtepi16_epi32(_mm512_castsi512_si256(lo16)));
        a32[1] = _mm512_add_epi32(a32[1], _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(lo16, 1)));
        a32[2] = _mm512_add_epi32(a32[2], _mm512_cvtepi16_epi32(_mm512_castsi512_si256(hi16)));
        a32[3] = _mm512_add_epi32(a32[3], _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(hi16, 1)));
    }
    int32_t v[64];
    for (int i = 0; i < 4; i++)
        _mm512_storeu_si512(v + 16 * i, a32[i]);
    /* v[0..15]: lo16 lanes 0..15 = rows 0-7, 16-23; v[16..31]: rows 32-39,
     * 48-55; v[32..47]: rows 8-15, 24-31; v[48..63]: rows 40-47, 56-63. */
    for (int L = 0; L < 4; L++)
        for (int e = 0; e < 8; e++) {
            out[16 * L + e] = v[8 * L + e];
            out[16 * L + 8 + e] = v[32 + 8 * L + e];
        }
}

/* Tokens in blocks whose tables (16 bytes per activation) fit in about
 * 512 KB of L2, tiles inside a block, tokens innermost: each tile's weights
 * are reused from L1 by the block's tokens and each token's tables from L2
 * by every tile, instead of streaming all tables once per tile. */
static int64_t bn_lut2_token_block(const bn_act_batch *act) {
    int64_t per_token = act->stride / 2 * BN_LUT_ENTRY_BYTES;
    int64_t tb = ((int64_t)512 << 10) / per_token;
    return tb < 1 ? 1 : tb;
}

static void bn_lut2_gemm(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                         int64_t row_end, float *y, int32_t *acc, int64_t stride) {
    const int64_t tb = bn_lut2_token_block(act);
    for (int64_t t0 = 0; t0 < act->n_tokens; t0 += tb)
    for (int64_t tile = row_begin / BN_LUT_TILE_ROWS; tile * BN_LUT_TILE_ROWS < row_end; tile++)
        for (int64_t t = t0; t < act->n_tokens && t < t0 + tb; t++) {
            int32_t v[64];
            bn_lut2_tile(w, act, tile, t, v);
            int64_t r0 = tile * BN_LUT_TILE_ROWS;
            for (int i = 0; i < 64; i++) {
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

static void bn_gemm_lut2_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                   int64_t row_begin, int64_t row_end, float *y,
                                   int64_t y_stride) {
    if (!act->lut || w->scale_kind == BN_TERNARY_SCALE_BLOCK256) {
        bn_gemm_ternary_i8_ref(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    bn_lut2_gemm(w, act, row_begin, row_end, y, NULL, y_stride);
}

static void bn_gemm_acc_lut2_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
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

BN_INLINE __mmask16 bn_tail16(int64_t n) {
    return (__mmask16)((1u << n) - 1);
}

static float bn_dot_f32_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
    }
    for (; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

BN_INLINE __m512 bn_load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
BN_INLINE __m512 bn_maskload_f16(__mmask16 m, const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static float bn_dot_f16_avx512(const float *a, const uint16_t *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= n; k += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), bn_load_f16(b + k), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), bn_load_f16(b + k + 16), s1);
    }
    for (; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), bn_maskload_f16(m, b + k), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void bn_axpy_f32_avx512(float a, const float *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, y + k));
        _mm512_mask_storeu_ps(y + k, m, r);
    }
}

static void bn_axpy_f16_avx512(float a, const uint16_t *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        __m512 r = _mm512_fmadd_ps(va, bn_maskload_f16(m, x + k), _mm512_maskz_loadu_ps(m, y + k));
        _mm512_mask_storeu_ps(y + k, m, r);
    }
}

static void bn_rmsnorm_f32_avx512(const float *x, const float *w, float eps, int64_t n,
                                  float *y) {
    const __m512 vinv = _mm512_set1_ps(1.0f / sqrtf(bn_sumsq16(x, n) / (float)n + eps));
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        __m512 r = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), vinv),
                                 _mm512_maskz_loadu_ps(m, w + k));
        _mm512_mask_storeu_ps(y + k, m, r);
    }
}

/* exp(x) for x <= 0 (softmax after subtracting the max): n = round(x/ln2),
 * r = x - n*ln2 in two parts (Cody-Waite, |r| <= 0.347), the degree-7 Taylor
 * polynomial of e^r (truncation 3e-9 relative), times 2^n. Below -87 the
 * result is 0 (not a float subnormal). */
BN_INLINE __m512 bn_exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static void bn_softmax_f32_avx512(float *x, int64_t n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        mx = _mm512_mask_max_ps(mx, m, _mm512_maskz_loadu_ps(m, x + k), mx);
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        __m512 e = bn_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + k), vmax));
        e = _mm512_maskz_mov_ps(m, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(x + k, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        _mm512_mask_storeu_ps(x + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv));
    }
}

static void bn_f16_to_f32_avx512(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        _mm512_mask_storeu_ps(dst + k, m, bn_maskload_f16(m, src + k));
    }
}

static void bn_f32_to_f16_avx512(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? 0xffff : bn_tail16(n - k);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + k),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(dst + k, m, h);
    }
}

/* ------------------------------------------------------------------------ */
/* Output layer                                                              */

/* One row of F32 / F16 / BF16 / Q8_0 dotted with up to 4 tokens. Rows are
 * streamed once; the tokens' x rows stay in L1/L2. */
BN_INLINE __m512 bn_dense_load(bn_tensor_type type, const uint8_t *row, int64_t k) {
    switch (type) {
    case BN_TYPE_F32:
        return _mm512_loadu_ps((const float *)row + k);
    case BN_TYPE_F16:
        return bn_load_f16((const uint16_t *)row + k);
    default: /* BF16: the top half of an f32 */
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k))),
            16));
    }
}

/* Q6_K rows: each 256-block is decoded straight from the file into 16-value
 * sub-blocks (one zmm each, never through memory), scaled by
 * d * scale[sub-block] (the reference's order: d * scale first, then * code,
 * so each weight equals the dequantized value exactly) and FMA'd with T
 * tokens.  T is a compile-time constant at each call (1..4) so the 2*T
 * accumulators stay in registers.  The accumulation order is fixed per row
 * (even sub-blocks into one accumulator, odd into the other), independent of
 * the row split and the same as dequantizing the block first. */
/* Lane i of v in every lane (one vpermps; i is a constant after inlining). */
BN_INLINE __m512 bn_lane(__m512 v, int i) {
    return _mm512_permutexvar_ps(_mm512_set1_epi32(i), v);
}

BN_INLINE void bn_q6k_sub16(__m128i q16, __m512 ds, const float *x, int64_t x_stride, int T,
                            __m512 *s /* (T) */) {
    const __m512 wv = _mm512_mul_ps(ds, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q16)));
    for (int j = 0; j < T; j++)
        s[j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + j * x_stride), s[j]);
}

BN_INLINE void bn_q6k_row_dot(const uint8_t *row, int64_t nb, uint64_t ahead, const float *x,
                              int64_t x_stride, int T, float *y, int64_t y_stride) {
    __m512 s0[4], s1[4];
    for (int j = 0; j < T; j++)
        s0[j] = s1[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * BN_Q6_K_BYTES;
        for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
            BN_PREFETCH_STREAM(blk + c + ahead);
        const __m512 ds = bn_q6k_block_scales(blk);
        for (int n = 0; n < 2; n++) {
            __m512i q[2]; /* values 0-63, 64-127 of this half, code - 32 */
            bn_q6k_half_codes(blk, n, q);
            const __m512i q01 = q[0], q23 = q[1];
            const float *xn = x + b * 256 + 128 * n;
            bn_q6k_sub16(_mm512_castsi512_si128(q01), bn_lane(ds, 8 * n + 0), xn, x_stride, T, s0);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q01, 1), bn_lane(ds, 8 * n + 1), xn + 16, x_stride, T, s1);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q01, 2), bn_lane(ds, 8 * n + 2), xn + 32, x_stride, T, s0);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q01, 3), bn_lane(ds, 8 * n + 3), xn + 48, x_stride, T, s1);
            bn_q6k_sub16(_mm512_castsi512_si128(q23), bn_lane(ds, 8 * n + 4), xn + 64, x_stride, T, s0);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q23, 1), bn_lane(ds, 8 * n + 5), xn + 80, x_stride, T, s1);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q23, 2), bn_lane(ds, 8 * n + 6), xn + 96, x_stride, T, s0);
            bn_q6k_sub16(_mm512_extracti32x4_epi32(q23, 3), bn_lane(ds, 8 * n + 7), xn + 112, x_stride, T, s1);
        }
    }
    for (int j = 0; j < T; j++)
        y[j * y_stride] = _mm512_reduce_add_ps(_mm512_add_ps(s0[j], s1[j]));
}

/* Decode (at most 4 tokens, K <= 4096): the codes are widened without any
 * shuffle.  Dword lane i of a 64-code vector holds codes 4i..4i+3, so
 * shifting pulls out codes 4i+k (k = 0..3) sign-extended, and x is permuted
 * once per call to match: xp[64g + 16k + i] = x[64g + 4i + k].  Lane i's 4
 * codes share sub-block i/4, so the 4 partial products of a 64-group are
 * summed first and scaled once: acc += (d*scale) * sum_k code_k * x_k.  The
 * order is fixed per row (independent of the row split). */
#define BN_Q6K_PX_MAX_K 4096

BN_INLINE __m512 bn_q6k_code_k(__m512i q, int k) {
    return _mm512_cvtepi32_ps(
        _mm512_srai_epi32(k == 3 ? q : _mm512_slli_epi32(q, 24 - 8 * k), 24));
}

BN_INLINE __m512 bn_q6k_group(__m512i q, const float *xp) {
    __m512 p = _mm512_mul_ps(bn_q6k_code_k(q, 0), _mm512_loadu_ps(xp));
    p = _mm512_fmadd_ps(bn_q6k_code_k(q, 1), _mm512_loadu_ps(xp + 16), p);
    p = _mm512_fmadd_ps(bn_q6k_code_k(q, 2), _mm512_loadu_ps(xp + 32), p);
    return _mm512_fmadd_ps(bn_q6k_code_k(q, 3), _mm512_loadu_ps(xp + 48), p);
}

BN_INLINE void bn_q6k_row_dot_px(const uint8_t *row, int64_t nb, uint64_t ahead, const float *xp,
                                 int64_t xp_stride, int T, float *y, int64_t y_stride) {
    /* lane i -> sub-block (4g + i/4) of the block for 64-group g. */
    const __m512i i4 = _mm512_srli_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
    __m512 s0[4], s1[4];
    for (int j = 0; j < T; j++)
        s0[j] = s1[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * BN_Q6_K_BYTES;
        for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
            BN_PREFETCH_STREAM(blk + c + ahead);
        const __m512 ds = bn_q6k_block_scales(blk);
        for (int n = 0; n < 2; n++) {
            __m512i q[2]; /* values 0-63, 64-127 of this half, code - 32 */
            bn_q6k_half_codes(blk, n, q);
            const __m512i q01 = q[0], q23 = q[1];
            const __m512 sc01 = _mm512_permutexvar_ps(_mm512_add_epi32(i4, _mm512_set1_epi32(8 * n)), ds);
            const __m512 sc23 = _mm512_permutexvar_ps(_mm512_add_epi32(i4, _mm512_set1_epi32(8 * n + 4)), ds);
            for (int j = 0; j < T; j++) {
                const float *xn = xp + j * xp_stride + b * 256 + 128 * n;
                s0[j] = _mm512_fmadd_ps(sc01, bn_q6k_group(q01, xn), s0[j]);
                s1[j] = _mm512_fmadd_ps(sc23, bn_q6k_group(q23, xn + 64), s1[j]);
            }
        }
    }
    for (int j = 0; j < T; j++)
        y[j * y_stride] = _mm512_reduce_add_ps(_mm512_add_ps(s0[j], s1[j]));
}

static void bn_dense_gemm_q6k(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                              int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                              int64_t y_stride) {
    const int64_t nb = w->K / 256;
    /* Rows stream back to back: fetch a whole number of rows, at least 8 KB,
     * ahead (the next rows), as the other dense kernels do. */
    const uint64_t ahead = w->row_bytes * ((8192 + w->row_bytes - 1) / w->row_bytes);
    /* 4 tokens and more: x86/avx512_q6k_batch.c, which converts each
     * 64-code group to f32 weights once for all the tokens (1.26x this
     * file's 4-token kernel, 1.6-1.8x its 4 + 4 for 8 tokens, measured
     * 1 thread, 2048 rows); at 2-3 tokens that conversion is shared by
     * too few tokens (0.85-0.9x), so they stay here. */
    if (n_tokens >= 4 &&
        bn_dense_gemm_q6k_batch_avx512(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride))
        return;
    if (n_tokens <= 4 && w->K <= BN_Q6K_PX_MAX_K) {
        float xp[4 * BN_Q6K_PX_MAX_K]; /* (n_tokens, K) permuted x */
        const int64_t K = w->K;
        for (int64_t t = 0; t < n_tokens; t++)
            for (int64_t g = 0; g < K; g += 64)
                for (int k = 0; k < 4; k++)
                    for (int i = 0; i < 16; i++)
                        xp[t * K + g + 16 * k + i] = x[t * x_stride + g + 4 * i + k];
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
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
            const float *xt = x + t0 * x_stride;
            float *yt = y + t0 * y_stride + r;
            switch (n_tokens - t0 < 4 ? n_tokens - t0 : 4) {
            case 1: bn_q6k_row_dot(row, nb, ahead, xt, x_stride, 1, yt, y_stride); break;
            case 2: bn_q6k_row_dot(row, nb, ahead, xt, x_stride, 2, yt, y_stride); break;
            case 3: bn_q6k_row_dot(row, nb, ahead, xt, x_stride, 3, yt, y_stride); break;
            default: bn_q6k_row_dot(row, nb, ahead, xt, x_stride, 4, yt, y_stride); break;
            }
        }
    }
}

static void bn_dense_gemm_avx512(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                                 int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                                 int64_t y_stride) {
    const int64_t K = w->K;
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
            __m512 s[4][2];
            for (int j = 0; j < 4; j++)
                s[j][0] = s[j][1] = _mm512_setzero_ps();
            if (w->type == BN_TYPE_Q8_0) {
                for (int64_t b = 0; b < K / 32; b++) {
                    const uint8_t *blk = row + b * BN_Q8_0_BYTES;
                    BN_PREFETCH_STREAM(blk + 8192);
                    uint16_t dh;
                    memcpy(&dh, blk, 2);
                    __m512 d = _mm512_set1_ps(bn_f16_to_f32(dh));
                    __m512 w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                                     _mm_loadu_si128((const __m128i *)(blk + 2)))));
                    __m512 w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                                     _mm_loadu_si128((const __m128i *)(blk + 18)))));
                    for (int j = 0; j < T; j++) {
                        const float *xt = x + (t0 + j) * x_stride + b * 32;
                        s[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), s[j][0]);
                        s[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), s[j][1]);
                    }
                }
            } else {
                int64_t k = 0;
                const int64_t esz = w->type == BN_TYPE_F32 ? 4 : 2;
                for (; k + 32 <= K; k += 32) {
                    /* Rows stream back to back: fetch 8 KB ahead (the next
                     * rows), as the ternary kernels do. */
                    BN_PREFETCH_STREAM(row + k * esz + 8192);
                    if (esz == 4)
                        BN_PREFETCH_STREAM(row + k * esz + 8192 + 64);
                    __m512 w0 = bn_dense_load(w->type, row, k), w1 = bn_dense_load(w->type, row, k + 16);
                    for (int j = 0; j < T; j++) {
                        const float *xt = x + (t0 + j) * x_stride + k;
                        s[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), s[j][0]);
                        s[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), s[j][1]);
                    }
                }
                if (k < K) {
                    __m512 w0 = bn_dense_load(w->type, row, k);
                    for (int j = 0; j < T; j++)
                        s[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + (t0 + j) * x_stride + k),
                                                  s[j][0]);
                }
            }
            for (int j = 0; j < T; j++)
                y[(t0 + j) * y_stride + r] = _mm512_reduce_add_ps(_mm512_add_ps(s[j][0], s[j][1]));
        }
    }
}

/* int8 copy: dpbusd wants unsigned x signed, so the activations enter as
 * q + 128 (xor 0x80) and 128 * sum(w) comes off: |q|,|w| <= 127 keeps every
 * lane far from overflow. */
static void bn_dense_gemm_i8_avx512(const bn_dense_matrix *w, const bn_act_batch *act,
                                    int64_t row_begin, int64_t row_end, float *y,
                                    int64_t y_stride) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int64_t nk = bn_round_up(w->K, 64) / 64; /* rows and act are zero-padded */
    for (int64_t r = row_begin; r < row_end; r++) {
        const int8_t *wr = w->q8 + r * w->q8_stride;
        for (int64_t t = 0; t < act->n_tokens; t++) {
            const int8_t *q = act->q + t * act->stride;
            __m512i acc = _mm512_setzero_si512();
            for (int64_t c = 0; c < nk; c++) {
                BN_PREFETCH_STREAM(wr + 64 * c + 8192);
                acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(q + 64 * c), flip),
                                          _mm512_loadu_si512(wr + 64 * c));
            }
            int32_t a = _mm512_reduce_add_epi32(acc) - 128 * w->q8_sum[r];
            y[t * y_stride + r] = (float)a / act->scale[t] * w->q8_scale[r];
        }
    }
}

const bn_kernels bn_kernels_avx512 = {
    .name = "avx512",
    .row_granule = BN_ROW_GRANULE,
    .act_quant = bn_act_quant_i8_avx512,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_avx512,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_i2_i8_avx512, bn_gemm_acc_i2_i8_avx512},
            [BN_LAYOUT_T5] = {bn_gemm_t5_i8_avx512, bn_gemm_acc_t5_i8_avx512},
            [BN_LAYOUT_LUT2] = {bn_gemm_lut2_i8_avx512, bn_gemm_acc_lut2_i8_avx512},
            [BN_LAYOUT_T3] = {bn_gemm_t3_i8_avx512, bn_gemm_acc_t3_i8_avx512},
        },
    .dense_gemm = bn_dense_gemm_avx512,
    .dense_gemm_i8 = bn_dense_gemm_i8_avx512,
    .dot_f32 = bn_dot_f32_avx512,
    .dot_f16 = bn_dot_f16_avx512,
    .axpy_f32 = bn_axpy_f32_avx512,
    .axpy_f16 = bn_axpy_f16_avx512,
    .rmsnorm = bn_rmsnorm_f32_avx512,
    .softmax = bn_softmax_f32_avx512,
    .f16_to_f32 = bn_f16_to_f32_avx512,
    .f32_to_f16 = bn_f32_to_f16_avx512,
    .attend = bn_attend_avx512,
};

#if defined(BN_HAVE_KERNELS_AVX512VBMI)
/* The same table on CPUs with VBMI, GFNI and BF16 as well (x86/avx512_vbmi.c):
 * every entry is the avx512 one but those of avx512_vbmi.c. Entries added to
 * the avx512 table above belong here too. */
const bn_kernels bn_kernels_avx512vbmi = {
    .name = "avx512vbmi",
    .row_granule = BN_ROW_GRANULE,
    .act_quant = bn_act_quant_i8_avx512,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_avx512,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_i2_i8_avx512vbmi, bn_gemm_acc_i2_i8_avx512vbmi},
            [BN_LAYOUT_T5] = {bn_gemm_t5_i8_avx512, bn_gemm_acc_t5_i8_avx512},
            [BN_LAYOUT_LUT2] = {bn_gemm_lut2_i8_avx512, bn_gemm_acc_lut2_i8_avx512},
            [BN_LAYOUT_T3] = {bn_gemm_t3_i8_avx512vbmi, bn_gemm_acc_t3_i8_avx512vbmi},
        },
    .dense_gemm = bn_dense_gemm_avx512vbmi,
    .dense_gemm_i8 = bn_dense_gemm_i8_avx512,
    .dot_f32 = bn_dot_f32_avx512,
    .dot_f16 = bn_dot_f16_avx512,
    .axpy_f32 = bn_axpy_f32_avx512,
    .axpy_f16 = bn_axpy_f16_avx512,
    .rmsnorm = bn_rmsnorm_f32_avx512,
    .softmax = bn_softmax_f32_avx512,
    .f16_to_f32 = bn_f16_to_f32_avx512,
    .f32_to_f16 = bn_f32_to_f16_avx512,
    .attend = bn_attend_avx512,
};
#endif
