/* x86/avx512_batch.c: the I2 product of small batches (2..16 tokens, the
 * server's decode steps) for the avx512 and avx512vbmi tables, compiled
 * with the avx512 table's flags only (F/BW/VL/DQ/VNNI).
 *
 * Owns: bn_gemm_i2_batch_i8_avx512 and the test of which calls it takes.
 * Does not own: one token (the 8-row matrix-vector kernels of avx512.c and
 * avx512_vbmi.c), prompts (the L2-blocked 4 x 4 tiles of avx512.c), BLOCK256
 * scales (the reference), any other layout.
 *
 * Why a kernel of its own: with a few tokens the product is bound by
 * vpdpbusd (one zmm a cycle on Zen 4, 64 int8 MACs), not by the weights'
 * bandwidth (8 tokens need 2 bytes of weights a cycle). So everything that
 * is not a vpdpbusd is overhead to squeeze:
 *   - the activations are repacked once per token tile into the order the
 *     codes come out of a 64-byte load of two 128-value blocks (lanes 0..31:
 *     values 32g.. of block 0, lanes 32..63: the same of block 1), so each
 *     activation vector is one aligned 64-byte load instead of two 256-bit
 *     loads and an insert;
 *   - tiles of BN_I2B_ROWS rows x up to BN_I2B_TOKENS tokens: each unpacked
 *     code vector (a shift and an and) feeds up to BN_I2B_TOKENS vpdpbusd,
 *     each activation vector BN_I2B_ROWS;
 *   - the R x T accumulators are reduced together (a transposing tree of
 *     unpacks and adds, 16 sums per 45 operations, against about 9 per sum
 *     one by one), which matters at K = 2560 where a tile has only 40
 *     vpdpbusd per accumulator.
 * Not gf2p8affineqb for the codes in the avx512vbmi table (one instruction
 * instead of a shift and an and, as its matrix-vector kernel does): 3 x 8
 * tiles with it were 12-17% slower on Zen 4 (best call, 8 tokens, 2B4T
 * shapes; presumably it shares vpdpbusd's pipes, no counters here to tell),
 * so that table calls this kernel as it is.
 * The epilogue (offset, int -> float, / act_scale, * w_scale) runs in 16
 * lanes on the reduced sums: the steps of bn_ternary_out, each correctly
 * rounded, so the same bits.
 * The tiles read their rows once per token tile; at these batch sizes that
 * is a few GB/s, so there is no L2 blocking, only the linear prefetch of the
 * matrix-vector kernels.
 *
 * Exactness: the same int32 sums sum c*q - sum q as every table (codes
 * c = w + 1 in {0,1,2} as vpdpbusd's unsigned operand, see avx512.c); the
 * sums are exact in any order, so the results are bit-identical. A lane of
 * an accumulator adds 16 products |c*q| <= 256 per 256 values of K (4
 * groups x 4 bytes): below 2^31 for any K under 2^27. The trailing 128-value block of a row whose
 * Kp % 256 == 128 is read with a 32-byte masked load (the upper half zero:
 * codes 0 contribute nothing, and the repacked activations there are the
 * row's zero padding anyway).
 */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/internal.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* Tiles of 3 rows x 8 tokens: 24 accumulators, 3 code vectors, an
 * activation vector and the mask fill the 32 zmm registers. Measured on
 * Zen 4 (best call, 1 thread, 8 tokens, 2B4T shapes): 3 x 8 beat 2 x 8,
 * 4 x 6 and 4 x 4 (the same repacking), most at K = 6912, where a tile's
 * 8 activation rows (55 KB) come from L2 and 3 rows share each load. */
#define BN_I2B_ROWS 3   /* rows per tile */
#define BN_I2B_TOKENS 8 /* most tokens per tile */
/* The repacked activations of one token tile live on the stack:
 * BN_I2B_TOKENS x Kp bytes, at most 64 KB (the avx2 T3 batch kernel's
 * bound too), so K up to 8192 with 8-token tiles. */
#define BN_I2B_ACT_BYTES 65536

/* Values a repacked token row covers: Kp rounded up to whole 256-value
 * chunks (the act rows are zero up to their stride, a multiple of 256). */
static int64_t bn_i2b_chunks(const bn_ternary_matrix *w) {
    return (w->Kp + 255) / 256;
}

bool bn_i2_batch_avx512_takes(const bn_ternary_matrix *w, const bn_act_batch *act) {
    return act->n_tokens >= 2 && act->n_tokens <= BN_I2_BATCH_MAX_TOKENS &&
           w->scale_kind != BN_TERNARY_SCALE_BLOCK256 &&
           bn_i2b_chunks(w) * 256 * BN_I2B_TOKENS <= BN_I2B_ACT_BYTES;
}

/* Activations of tokens t0 .. t0+T-1 in tile order:
 * buf[((4c + g) T + j) 64 + l] = q_j[256c + 32g + l] for l < 32,
 *                                q_j[256c + 128 + 32g + l - 32] for l >= 32
 * (buf: (n2, 4, T, 64) bytes). */
static void bn_i2b_repack(const bn_act_batch *act, int64_t t0, int T, int64_t n2, int8_t *buf) {
    for (int j = 0; j < T; j++) {
        const int8_t *q = act->q + (t0 + j) * act->stride;
        for (int64_t c = 0; c < n2; c++)
            for (int g = 0; g < 4; g++) {
                __m256i lo = _mm256_loadu_si256((const __m256i *)(q + 256 * c + 32 * g));
                __m256i hi = _mm256_loadu_si256((const __m256i *)(q + 256 * c + 128 + 32 * g));
                _mm512_store_si512(buf + ((4 * c + g) * T + j) * 64,
                                   _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
            }
    }
}

/* Per 128-bit lane, the partial sums of a, b, c, d in int32 lanes 0..3. */
BN_INLINE __m512i bn_sum4_lanes(__m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

/* Lane n of the result: the sum of the 16 lanes of v[n] (16 vectors). */
BN_INLINE __m512i bn_sum16(const __m512i v[16]) {
    __m512i x = bn_sum4_lanes(v[0], v[1], v[2], v[3]);
    __m512i y = bn_sum4_lanes(v[4], v[5], v[6], v[7]);
    __m512i z = bn_sum4_lanes(v[8], v[9], v[10], v[11]);
    __m512i u = bn_sum4_lanes(v[12], v[13], v[14], v[15]);
    /* 128-bit lanes: [x0 + x2, x1 + x3, y0 + y2, y1 + y3], the same of z, u */
    __m512i xy = _mm512_add_epi32(_mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512i zu = _mm512_add_epi32(_mm512_shuffle_i32x4(z, u, _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_i32x4(z, u, _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(xy, zu, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(xy, zu, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* acc += c * q as inline asm: with the intrinsic, gcc 12 folds the
 * activation load into every vpdpbusd that uses it (one 64-byte load per
 * vpdpbusd instead of one per R) and shuffles the accumulators between
 * registers on every chunk. */
BN_INLINE __m512i bn_dpbusd(__m512i acc, __m512i c, __m512i q) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(q));
    return acc;
}

/* One 256-value chunk of R rows (their 64-byte code vectors wv) against the
 * T repacked activation vectors of each group at a: acc[i][j] += c * q.
 * The R code vectors of a group are unpacked first, then each activation
 * vector is loaded once and used by the R rows. */
BN_INLINE void bn_i2b_chunk(const __m512i wv[BN_I2B_ROWS], const int8_t *a, const int R,
                            const int T, __m512i acc[BN_I2B_ROWS][BN_I2B_TOKENS]) {
    const __m512i m3 = _mm512_set1_epi8(3);
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        __m512i cd[BN_I2B_ROWS];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
            cd[i] = _mm512_and_si512(_mm512_srli_epi16(wv[i], 6 - 2 * g), m3);
#pragma GCC unroll 16
        for (int j = 0; j < T; j++) {
            const __m512i av = _mm512_load_si512(a + (g * T + j) * 64);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                acc[i][j] = bn_dpbusd(acc[i][j], cd[i], av);
        }
    }
}

/* R rows from r0 x T tokens: lane n of sums[n / 16] is sum c*q of row
 * r0 + n / T and token n % T (the offset sum q not yet taken off; lanes past
 * R * T are 0). The tile's rows are contiguous: the tile `ahead` bytes later
 * is prefetched linearly, one 64-byte line per row and chunk. */
BN_INLINE void bn_i2b_tile(const bn_ternary_matrix *w, int64_t r0, const int R, const int T,
                           const int8_t *buf, uint64_t ahead, __m512i sums[2]) {
    __m512i acc[BN_I2B_ROWS][BN_I2B_TOKENS];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm512_setzero_si512();
    const int64_t n2 = w->Kp / 256; /* whole chunks */
    const uint8_t *row0 = w->data + (uint64_t)r0 * w->row_bytes;
    const uint8_t *pf = row0 + ahead;
    __m512i wv[BN_I2B_ROWS];
    for (int64_t c = 0; c < n2; c++) {
        for (int i = 0; i < R; i++) {
            _mm_prefetch((const char *)(pf + (c * R + i) * 64), _MM_HINT_T0);
            wv[i] = _mm512_loadu_si512(row0 + i * w->row_bytes + c * 64);
        }
        bn_i2b_chunk(wv, buf + c * 4 * T * 64, R, T, acc);
    }
    if (w->Kp % 256) { /* the trailing 128-value block: 32 bytes a row */
        for (int i = 0; i < R; i++)
            wv[i] = _mm512_maskz_loadu_epi8((__mmask64)0xffffffffu,
                                            row0 + i * w->row_bytes + n2 * 64);
        bn_i2b_chunk(wv, buf + n2 * 4 * T * 64, R, T, acc);
    }
    __m512i v[32];
    const int n = R * T, nv = (n + 15) / 16 * 16;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++)
            v[i * T + j] = acc[i][j];
    for (int k = n; k < nv; k++)
        v[k] = _mm512_setzero_si512();
    for (int k = 0; k < nv; k += 16)
        sums[k / 16] = bn_sum16(v + k);
}

/* What the epilogue needs per lane n of a tile's sums, fixed for a token
 * tile: the token's offset sum q and act_scale, and the row n / T. */
typedef struct bn_i2b_lanes {
    __m512i offset[2], row[2];
    __m512 act_scale[2];
} bn_i2b_lanes;

static void bn_i2b_lanes_init(const bn_act_batch *act, int64_t t0, int R, int T,
                              bn_i2b_lanes *ln) {
    for (int k = 0; k < 2; k++) {
        int32_t off[16], row[16];
        float sc[16];
        for (int l = 0; l < 16; l++) {
            int n = 16 * k + l;
            bool used = n < R * T;
            off[l] = used ? act->sum[t0 + n % T] : 0;
            sc[l] = used ? act->scale[t0 + n % T] : 1.0f;
            row[l] = used ? n / T : 0;
        }
        ln->offset[k] = _mm512_loadu_si512(off);
        ln->row[k] = _mm512_loadu_si512(row);
        ln->act_scale[k] = _mm512_loadu_ps(sc);
    }
}

/* Writes a tile's results, offset taken off: raw accumulators, or floats
 * (float)acc / act_scale * w_scale, the epilogue of bn_ternary_out in 16
 * lanes (the same correctly rounded conversion, division and product, so
 * the same bits). */
BN_INLINE void bn_i2b_store(const bn_ternary_matrix *w, int64_t r0, const int R, int64_t t0,
                            const int T, const __m512i sums[2], const bn_i2b_lanes *ln,
                            float *y, int32_t *acc, int64_t stride) {
    const int n = R * T;
    for (int k = 0; k < (n + 15) / 16; k++) {
        const __m512i v = _mm512_sub_epi32(sums[k], ln->offset[k]);
        union {
            int32_t i[16];
            float f[16];
        } out;
        if (acc) {
            _mm512_storeu_si512(out.i, v);
        } else {
            __m512 ws = w->scale_kind == BN_TERNARY_SCALE_ROW
                            ? _mm512_permutexvar_ps(ln->row[k],
                                                    _mm512_maskz_loadu_ps((__mmask16)((1u << R) - 1),
                                                                          w->scales + r0))
                            : _mm512_set1_ps(w->scale);
            _mm512_storeu_ps(out.f, _mm512_mul_ps(_mm512_div_ps(_mm512_cvtepi32_ps(v),
                                                                ln->act_scale[k]),
                                                  ws));
        }
        for (int l = 0; l < 16 && 16 * k + l < n; l++) {
            const int m = 16 * k + l;
            const int64_t o = (t0 + m % T) * stride + r0 + m / T;
            if (acc)
                acc[o] = out.i[l];
            else
                y[o] = out.f[l];
        }
    }
}

/* Every row of [row_begin, row_end) against one token tile of T tokens. */
BN_INLINE void bn_i2b_rows(const bn_ternary_matrix *w, const bn_act_batch *act,
                           int64_t row_begin, int64_t row_end, int64_t t0, const int T,
                           const int8_t *buf, float *y, int32_t *acc, int64_t stride) {
    const uint64_t tile_bytes = BN_I2B_ROWS * w->row_bytes;
    const uint64_t ahead = tile_bytes * ((16384 + tile_bytes - 1) / tile_bytes);
    bn_i2b_lanes ln;
    __m512i sums[2];
    int64_t r = row_begin;
    bn_i2b_lanes_init(act, t0, BN_I2B_ROWS, T, &ln);
    for (; r + BN_I2B_ROWS <= row_end; r += BN_I2B_ROWS) {
        bn_i2b_tile(w, r, BN_I2B_ROWS, T, buf, ahead, sums);
        bn_i2b_store(w, r, BN_I2B_ROWS, t0, T, sums, &ln, y, acc, stride);
    }
    bn_i2b_lanes_init(act, t0, 1, T, &ln);
    for (; r < row_end; r++) {
        bn_i2b_tile(w, r, 1, T, buf, ahead, sums);
        bn_i2b_store(w, r, 1, t0, T, sums, &ln, y, acc, stride);
    }
}

/* One specialisation per tile width, so that every loop above unrolls into
 * registers. */
#define BN_I2B_ROWS_T(n)                                                                    \
    static void bn_i2b_rows_##n(const bn_ternary_matrix *w, const bn_act_batch *act,        \
                                int64_t rb, int64_t re, int64_t t0, const int8_t *buf,      \
                                float *y, int32_t *acc, int64_t stride) {                   \
        bn_i2b_rows(w, act, rb, re, t0, n, buf, y, acc, stride);                            \
    }
BN_I2B_ROWS_T(1)
BN_I2B_ROWS_T(2)
BN_I2B_ROWS_T(3)
BN_I2B_ROWS_T(4)
BN_I2B_ROWS_T(5)
BN_I2B_ROWS_T(6)
BN_I2B_ROWS_T(7)
BN_I2B_ROWS_T(8)

typedef void (*bn_i2b_rows_fn)(const bn_ternary_matrix *, const bn_act_batch *, int64_t,
                               int64_t, int64_t, const int8_t *, float *, int32_t *, int64_t);
static const bn_i2b_rows_fn bn_i2b_rows_by_width[BN_I2B_TOKENS] = {
    bn_i2b_rows_1, bn_i2b_rows_2, bn_i2b_rows_3, bn_i2b_rows_4,
    bn_i2b_rows_5, bn_i2b_rows_6, bn_i2b_rows_7, bn_i2b_rows_8,
};

void bn_gemm_i2_batch_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                int64_t row_begin, int64_t row_end, float *y, int32_t *acc,
                                int64_t stride) {
    _Alignas(64) int8_t buf[BN_I2B_ACT_BYTES]; /* (n2, 4, T, 64) repacked activations */
    const int64_t n2 = bn_i2b_chunks(w);
    /* Token tiles as even as possible (12 tokens: 6 + 6, not 8 + 4), so
     * every tile keeps most of the registers busy. */
    const int64_t nt = act->n_tokens;
    const int64_t n_tiles = (nt + BN_I2B_TOKENS - 1) / BN_I2B_TOKENS;
    int64_t t0 = 0;
    for (int64_t k = 0; k < n_tiles; k++) {
        const int T = (int)((nt - t0) / (n_tiles - k) + ((nt - t0) % (n_tiles - k) != 0));
        bn_i2b_repack(act, t0, T, n2, buf);
        bn_i2b_rows_by_width[T - 1](w, act, row_begin, row_end, t0, buf, y, acc, stride);
        t0 += T;
    }
}
