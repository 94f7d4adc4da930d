/* x86/avx2_dense.c: the avx2 table's output-layer products, compiled with
 * only the avx2 table's flags (AVX2 + FMA + F16C, kernels/CMakeLists.txt).
 * x86/avx2.c's dense_gemm calls bn_dense_gemm_tok_avx2 first and keeps its
 * own path for what this file declines.
 *
 * Owns: Q6_K as an integer product against a fixed-point split of the
 * activations, F32 / F16 / BF16 and Q8_0 as float products with enough
 * independent accumulators to stream at memory speed, all one token at a
 * time: a batch (all-logits prompts) runs its tokens through the same
 * per-token kernels, in groups of 4 over tiles of 16 rows so the weights
 * come from memory once per group, and gives the same bits as the tokens
 * one by one (tests/runtime/test_forward.c checks that). Does not own the
 * int8 copy (dense_gemm_i8).
 *
 * Q6_K, integer (vpmaddubsw + vpmaddwd, as ggml's Q6_K x Q8_K but without
 * rounding the activations to 8 bits): per 256-block b of the token, with
 * m = max |x_k| = f 2^E (f in [0.5, 1)), every x_k becomes the integer
 * v_k = rint(x_k 2^(bits-E)), |v_k| <= 2^bits, split into balanced signed
 * base-256 digits v = sum_p 256^p d_p (|d_p| <= 128, the top one <= 64):
 * three digits and bits = 22 for most blocks, four and bits = 30 for blocks
 * whose largest |x| exceeds 32 times their mean |x| (outliers would
 * otherwise cost the other values their precision). So x_k = v_k 2^(E-bits)
 * up to half a unit, at most 2^-23 (2^-31) of the block's largest |x|: a
 * relative 1.2e-7 of m at 3 digits, where the f32 FMA kernels round every
 * partial sum by a relative 6e-8; test_dense's tolerance is 2e-6 of
 * sum |w x|, also over blocks spanning 1e-20 to 1e4 with 1000x outliers.
 * Everything after that is exact integer arithmetic until one float
 * combination per block:
 *   sum_k (c_k - 32) sc_k v_k = sum_p 256^p sum_k c_k sc_k d_pk - 32 sum_s sc_s V_s
 * with c_k the unsigned 6-bit code in [0, 63] (vpmaddubsw's unsigned
 * operand, no offset needed in the loop), sc_s the int8 scale of sub-block s
 * and V_s = sum of v_k over it (per token, once per call).
 * Bounds: a vpmaddubsw pair is at most 2 * 63 * 128 = 16128 (no int16
 * saturation); vpmaddwd by sc (|sc| <= 128) at most 2 * 16128 * 128 = 4.1M
 * per int32 lane, 8 of them per lane and block: 33M < 2^31.
 * Cost per 32 weights and digit: one vpmaddubsw, one vpmaddwd, one add;
 * the 6-bit decode (4 ops) and the scale broadcast (1) are shared by the
 * digits. y = sum_b (d_b 2^(E_b-bits)) * (the f32 combination), with FMA,
 * in an order fixed per row whatever the row split.
 * Non-finite activations (no scale exists) go to avx2.c's float path.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

BN_INLINE float bn_hadd8_d(__m256 v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* Rows stream back to back: fetch a whole number of rows, at least 8 KB,
 * ahead (the next rows), as the other dense kernels do. */
static uint64_t bn_dense_ahead(uint64_t row_bytes) {
    return row_bytes * ((8192 + row_bytes - 1) / row_bytes);
}

/* ------------------------------------------------------------------------ */
/* Q6_K                                                                      */

#define BN_Q6K_I8_MAX_K 4096 /* 2B4T 2560, Llama-3-8B 4096: 17.5 KB a token */
/* A block whose largest |x| exceeds this many times its mean |x| gets a
 * fourth digit (see the top comment). */
#define BN_Q6K_WIDE_RATIO 32.0f

/* One token split for the Q6_K product (see the top comment). */
typedef struct bn_q6k_x {
    int8_t d[4][BN_Q6K_I8_MAX_K];        /* digits d0..d3 of v, value order */
    float corr[BN_Q6K_I8_MAX_K / 16];    /* 32 * V_s per sub-block s */
    float scale[BN_Q6K_I8_MAX_K / 256];  /* 2^(E_b - 22) or 2^(E_b - 30) */
    uint8_t n_digits[BN_Q6K_I8_MAX_K / 256]; /* 3 or 4 per block */
} bn_q6k_x;

/* Splits x (K values, K % 256 == 0); false if some value is not finite. */
static bool bn_q6k_split(const float *x, int64_t K, bn_q6k_x *s) {
    for (int64_t b = 0; b < K / 256; b++) {
        const float *xb = x + 256 * b;
        float m = 0.0f, sum = 0.0f;
        for (int k = 0; k < 256; k++) {
            float a = fabsf(xb[k]);
            if (!(a <= 3.4028235e38f)) /* inf or NaN */
                return false;
            m = a > m ? a : m;
            sum += a;
        }
        int E = 0;
        if (m > 0.0f)
            frexpf(m, &E);
        const int nd = m * 256.0f > BN_Q6K_WIDE_RATIO * sum ? 4 : 3;
        const int bits = 8 * nd - 2; /* |v| <= 2^22 or 2^30 */
        s->n_digits[b] = (uint8_t)nd;
        s->scale[b] = ldexpf(1.0f, E - bits);
        for (int sb = 0; sb < 16; sb++) {
            int64_t V = 0;
            for (int k = 16 * sb; k < 16 * sb + 16; k++) {
                /* ldexpf: exact scaling by a power of two (no overflow of
                 * 2^(bits-E) for tiny blocks); |v| <= 2^bits since m < 2^E. */
                int32_t v = (int32_t)rintf(ldexpf(xb[k], bits - E));
                V += v;
                for (int p = 0; p < 4; p++) { /* balanced base-256 digits */
                    int32_t d = p + 1 < nd ? ((v + 128) & 255) - 128 : v;
                    s->d[p][256 * b + k] = (int8_t)(p < nd ? d : 0);
                    v = (v - d) / 256; /* exact */
                }
            }
            s->corr[16 * b + sb] = 32.0f * (float)V;
        }
    }
    return true;
}

/* vpshufb controls: the low 128 bits take int16 word 2g, the high 128 bits
 * word 2g + 1 of a half's 8 scales (the sub-blocks of bytes 0-15 and 16-31
 * of a 32-code group). */
static const int8_t bn_q6k_ctrl[4][32] = {
    {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
    {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
    {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
    {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
};

/* The exact integer dot of one block with ND digits, combined in f32:
 * sum_p 256^p A_p - sum_s sc_s 32 V_s (8 lanes, to be scaled by d and the
 * block's 2^(E-bits)). */
BN_INLINE __m256 bn_q6k_block_i8(const uint8_t *blk, const bn_q6k_x *s, int64_t b, const int ND) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    __m256i a[4];
    for (int p = 0; p < ND; p++)
        a[p] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int n = 0; n < 2; n++) {
        const __m256i scn = n ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                              : _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i L0 = _mm256_loadu_si256((const __m256i *)(blk + 64 * n));
        const __m256i L1 = _mm256_loadu_si256((const __m256i *)(blk + 64 * n + 32));
        const __m256i H = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * n));
        /* codes of values 32g + j of this half: low nibble from L0 (g 0) or
         * L1 (g 1), high nibble of L0 (g 2) or L1 (g 3); the top two bits
         * from bit pair g of H. 16-bit shifts, then byte masks. */
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(L0, m4),
                               _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
        q[1] = _mm256_or_si256(_mm256_and_si256(L1, m4),
                               _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4),
                               _mm256_and_si256(H, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            const __m256i scv =
                _mm256_shuffle_epi8(scn, _mm256_loadu_si256((const __m256i *)bn_q6k_ctrl[g]));
            const int64_t o = 256 * b + 128 * n + 32 * g;
            for (int p = 0; p < ND; p++)
                a[p] = _mm256_add_epi32(
                    a[p], _mm256_madd_epi16(_mm256_maddubs_epi16(
                                                q[g], _mm256_loadu_si256((const __m256i *)(s->d[p] + o))),
                                            scv));
        }
    }
    __m256 f = _mm256_cvtepi32_ps(a[ND - 1]);
    for (int p = ND - 2; p >= 0; p--)
        f = _mm256_fmadd_ps(f, _mm256_set1_ps(256.0f), _mm256_cvtepi32_ps(a[p]));
    f = _mm256_fnmadd_ps(
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 192)))),
        _mm256_loadu_ps(s->corr + 16 * b), f);
    return _mm256_fnmadd_ps(
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 200)))),
        _mm256_loadu_ps(s->corr + 16 * b + 8), f);
}

/* One row: sum over blocks of d * 2^(E-bits) * (the exact integer dot). */
BN_INLINE float bn_q6k_row_i8(const uint8_t *row, int64_t nb, uint64_t ahead, const bn_q6k_x *s) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * BN_Q6_K_BYTES;
        for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
            BN_PREFETCH_STREAM(blk + c + ahead);
        /* the same digit count for every row: a perfectly predicted branch */
        const __m256 f = s->n_digits[b] == 3 ? bn_q6k_block_i8(blk, s, b, 3)
                                             : bn_q6k_block_i8(blk, s, b, 4);
        uint16_t dh;
        memcpy(&dh, blk + 208, 2);
        const __m256 ds = _mm256_set1_ps(_cvtsh_ss(dh) * s->scale[b]);
        acc = _mm256_fmadd_ps(f, ds, acc); /* one FMA a block: no chain to hide */
    }
    return bn_hadd8_d(acc);
}

static void bn_q6k_rows(const bn_dense_matrix *w, const bn_q6k_x *s, int64_t row_begin,
                        int64_t row_end, float *y) {
    const int64_t nb = w->K / 256;
    const uint64_t ahead = bn_dense_ahead(w->row_bytes);
    for (int64_t r = row_begin; r < row_end; r++)
        y[r] = bn_q6k_row_i8(w->data + (uint64_t)r * w->row_bytes, nb, ahead, s);
}

/* ------------------------------------------------------------------------ */
/* F32 / F16 / BF16                                                          */

/* Two rows at a time share the activation loads; each row keeps 4
 * accumulators (8 FMA chains in flight: FMA latency 4, 2 a cycle). Every
 * row's order is the same whether it runs in a pair or alone: lane sums of
 * acc[j] over k = 32i + 8j, then (a0 + a1) + (a2 + a3). */
BN_INLINE __m256 bn_dense_load8(bn_tensor_type type, const uint8_t *row, int64_t k) {
    switch (type) {
    case BN_TYPE_F32:
        return _mm256_loadu_ps((const float *)row + k);
    case BN_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    default: /* BF16: the high half of an f32 */
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k))), 16));
    }
}

BN_INLINE void bn_dense_rows_float(bn_tensor_type type, const uint8_t *row0, uint64_t row_bytes,
                                   const int R, int64_t K, uint64_t ahead, const float *x,
                                   float *y) {
    __m256 acc[2][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = _mm256_setzero_ps();
    const int64_t esz = type == BN_TYPE_F32 ? 4 : 2;
    for (int64_t k = 0; k < K; k += 32) {
        for (int i = 0; i < R; i++)
            for (int64_t c = 0; c < 32 * esz; c += 64)
                BN_PREFETCH_STREAM(row0 + i * row_bytes + k * esz + c + ahead);
        for (int j = 0; j < 4; j++) {
            const __m256 xv = _mm256_loadu_ps(x + k + 8 * j);
            for (int i = 0; i < R; i++)
                acc[i][j] = _mm256_fmadd_ps(bn_dense_load8(type, row0 + i * row_bytes, k + 8 * j),
                                            xv, acc[i][j]);
        }
    }
    for (int i = 0; i < R; i++)
        y[i] = bn_hadd8_d(_mm256_add_ps(_mm256_add_ps(acc[i][0], acc[i][1]),
                                        _mm256_add_ps(acc[i][2], acc[i][3])));
}

static bool bn_dense_gemv_float_avx2(const bn_dense_matrix *w, const float *x, int64_t row_begin,
                                     int64_t row_end, float *y) {
    if (w->K % 32 != 0)
        return false;
    const uint64_t ahead = bn_dense_ahead(2 * w->row_bytes);
    int64_t r = row_begin;
    for (; r + 2 <= row_end; r += 2) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        switch (w->type) {
        case BN_TYPE_F32: bn_dense_rows_float(BN_TYPE_F32, row, w->row_bytes, 2, w->K, ahead, x, y + r); break;
        case BN_TYPE_F16: bn_dense_rows_float(BN_TYPE_F16, row, w->row_bytes, 2, w->K, ahead, x, y + r); break;
        default: bn_dense_rows_float(BN_TYPE_BF16, row, w->row_bytes, 2, w->K, ahead, x, y + r); break;
        }
    }
    if (r < row_end)
        bn_dense_rows_float(w->type, w->data + (uint64_t)r * w->row_bytes, w->row_bytes, 1, w->K,
                            ahead, x, y + r);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Q8_0                                                                      */

/* Per 32-block: the int8 weights widened to f32 (exact), dotted with x in
 * two chains (values 0-7 + 16-23 and 8-15 + 24-31), then each chain scaled
 * by d into an accumulator of its own, even and odd blocks apart (4 chains,
 * so the FMA latency of one block's accumulation is hidden behind the
 * next): y = (a0 + a1) + (a2 + a3), f32 with FMA, the same order for every
 * row split. */
BN_INLINE __m256 bn_q8_w8(const uint8_t *q) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

BN_INLINE void bn_q8_block(const uint8_t *blk, const float *xb, uint64_t ahead, __m256 *a0,
                           __m256 *a1) {
    BN_PREFETCH_STREAM(blk + ahead); /* ~2 a line */
    __m256 p0 = _mm256_mul_ps(bn_q8_w8(blk + 2), _mm256_loadu_ps(xb));
    __m256 p1 = _mm256_mul_ps(bn_q8_w8(blk + 10), _mm256_loadu_ps(xb + 8));
    p0 = _mm256_fmadd_ps(bn_q8_w8(blk + 18), _mm256_loadu_ps(xb + 16), p0);
    p1 = _mm256_fmadd_ps(bn_q8_w8(blk + 26), _mm256_loadu_ps(xb + 24), p1);
    int16_t dh;
    memcpy(&dh, blk, 2);
    /* vpbroadcastw + vcvtph2ps: 2 instructions, no scalar round trip */
    const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16(dh));
    *a0 = _mm256_fmadd_ps(d, p0, *a0);
    *a1 = _mm256_fmadd_ps(d, p1, *a1);
}

static bool bn_dense_gemv_q8_0_avx2(const bn_dense_matrix *w, const float *x, int64_t row_begin,
                                    int64_t row_end, float *y) {
    const int64_t nb = w->K / BN_Q8_0_BLOCK;
    const uint64_t ahead = bn_dense_ahead(w->row_bytes);
    for (int64_t r = row_begin; r < row_end; r++) {
        const uint8_t *row = w->data + (uint64_t)r * w->row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            bn_q8_block(row + b * BN_Q8_0_BYTES, x + b * BN_Q8_0_BLOCK, ahead, &a0, &a1);
            bn_q8_block(row + (b + 1) * BN_Q8_0_BYTES, x + (b + 1) * BN_Q8_0_BLOCK, ahead, &a2,
                        &a3);
        }
        if (b < nb)
            bn_q8_block(row + b * BN_Q8_0_BYTES, x + b * BN_Q8_0_BLOCK, ahead, &a0, &a1);
        y[r] = bn_hadd8_d(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* The hook                                                                  */

/* Tokens in groups of up to 4 (Q6_K: their splits on the stack, 70 KB),
 * rows in tiles of 16 within a group, so a batch streams the weights from
 * memory once per group; every (token, row) result is the one-token
 * kernel's, so a batch gives the same bits as its tokens one at a time. */
#define BN_DENSE_TOK_GROUP 4
#define BN_DENSE_ROW_TILE 16

bool bn_dense_gemm_tok_avx2(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                            int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                            int64_t y_stride) {
    const bool q6k = w->type == BN_TYPE_Q6_K;
    if (!(q6k && w->K <= BN_Q6K_I8_MAX_K) && w->type != BN_TYPE_Q8_0 &&
        !((w->type == BN_TYPE_F32 || w->type == BN_TYPE_F16 || w->type == BN_TYPE_BF16) &&
          w->K % 32 == 0))
        return false;
    _Alignas(32) bn_q6k_x split[BN_DENSE_TOK_GROUP];
    for (int64_t t0 = 0; t0 < n_tokens; t0 += BN_DENSE_TOK_GROUP) {
        const int64_t T = n_tokens - t0 < BN_DENSE_TOK_GROUP ? n_tokens - t0 : BN_DENSE_TOK_GROUP;
        if (q6k)
            for (int64_t t = 0; t < T; t++)
                if (!bn_q6k_split(x + (t0 + t) * x_stride, w->K, &split[t]))
                    return false; /* non-finite x: the caller's float path redoes it all */
        for (int64_t r0 = row_begin; r0 < row_end; r0 += BN_DENSE_ROW_TILE) {
            const int64_t r1 = row_end - r0 < BN_DENSE_ROW_TILE ? row_end : r0 + BN_DENSE_ROW_TILE;
            for (int64_t t = 0; t < T; t++) {
                const float *xt = x + (t0 + t) * x_stride;
                float *yt = y + (t0 + t) * y_stride;
                switch (w->type) {
                case BN_TYPE_Q6_K: bn_q6k_rows(w, &split[t], r0, r1, yt); break;
                case BN_TYPE_Q8_0: bn_dense_gemv_q8_0_avx2(w, xt, r0, r1, yt); break;
                default: bn_dense_gemv_float_avx2(w, xt, r0, r1, yt); break;
                }
            }
        }
    }
    return true;
}
