/* internal.h: what the kernel files share and nobody else includes.
 *
 * Owns the list of tables built into the library, the scalar reference
 * functions (SIMD tables point at them for the cases they do not speed up,
 * e.g. BLOCK256 scales), the code-access helpers of each layout and the
 * output epilogue that every ISA must reproduce bit for bit.
 * No intrinsics here: baseline files include it.
 */
#ifndef BN_KERNELS_INTERNAL_H
#define BN_KERNELS_INTERNAL_H

#include <stdint.h>

#include "kernels/kernels.h"

/* The tables (each defined in its own ISA's file when built). */
extern const bn_kernels bn_kernels_ref;
#if defined(BN_HAVE_KERNELS_X86)
extern const bn_kernels bn_kernels_avx2;
extern const bn_kernels bn_kernels_avx512;
/* The avx2 table's one-token T3 product (x86/avx2_t3.c): y[r], or the int32
 * accumulators into acc_out[r] when acc_out is set. */
void bn_gemv_t3_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                        int64_t row_end, float *y, int32_t *acc_out);
/* The avx2 table's batch products (any n_tokens) of I2 (x86/avx2_batch.c)
 * and T3 (x86/avx2_t3.c): y[t*stride + r], or acc_out likewise. */
void bn_gemm_i2_batch_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                              int64_t stride);
void bn_gemm_t3_batch_i8_avx2(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                              int64_t stride);
/* x86/avx512_q6k_batch.c: Q6_K output layer for a batch of tokens (any
 * n_tokens; the avx512 tables use it from 2 or 5 up, see x86/avx512.c);
 * false for other types or K above its limit (nothing written). */
bool bn_dense_gemm_q6k_batch_avx512(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                                    int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                                    int64_t y_stride);
/* The I2 product of small batches (2..BN_I2_BATCH_MAX_TOKENS tokens) of the
 * avx512 and avx512vbmi tables (x86/avx512_batch.c): y[t*stride + r], or the
 * int32 accumulators into acc_out likewise. Only for the calls
 * bn_i2_batch_avx512_takes accepts (token count, scales, K). */
#define BN_I2_BATCH_MAX_TOKENS 16
bool bn_i2_batch_avx512_takes(const bn_ternary_matrix *w, const bn_act_batch *act);
void bn_gemm_i2_batch_i8_avx512(const bn_ternary_matrix *w, const bn_act_batch *act,
                                int64_t row_begin, int64_t row_end, float *y, int32_t *acc_out,
                                int64_t stride);
#if defined(BN_HAVE_KERNELS_AVX512VBMI)
/* avx512 plus VBMI, GFNI and BF16: the avx512 table with the entries of
 * x86/avx512_vbmi.c (defined next to the avx512 table in x86/avx512.c). */
extern const bn_kernels bn_kernels_avx512vbmi;
void bn_dense_gemm_avx512vbmi(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                              int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                              int64_t y_stride);
void bn_gemm_i2_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int64_t y_stride);
void bn_gemm_acc_i2_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, int32_t *acc,
                                  int64_t acc_stride);
void bn_gemm_t3_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int64_t y_stride);
void bn_gemm_acc_t3_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, int32_t *acc,
                                  int64_t acc_stride);
#endif
#endif
#if defined(BN_HAVE_KERNELS_ARM)
extern const bn_kernels bn_kernels_neon;
extern const bn_kernels bn_kernels_neon_dotprod;
#endif

/* CPU features that decide which tables run (cpu.c). */
typedef struct bn_cpu_features {
    bool avx2;   /* AVX2 + FMA + F16C, and the OS saves YMM state */
    bool avx512; /* F/BW/VL/DQ/VNNI, and the OS saves ZMM/opmask state */
    bool avx512vbmi; /* avx512 plus VBMI, GFNI and BF16 (Zen 4+, Sapphire Rapids+) */
    bool neon;
    bool neon_dotprod;
} bn_cpu_features;
void bn_cpu_features_detect(bn_cpu_features *out);

/* Bytes of one activation pair's LUT: 16 int16 entries as lo/hi byte tables. */
#define BN_LUT_ENTRY_BYTES 32

/* Layout constants. */
#define BN_I2_BLOCK 128      /* values per I2 block */
#define BN_I2_BLOCK_BYTES 32
#define BN_T5_CHUNK 320      /* values per T5 chunk */
#define BN_T5_CHUNK_BYTES 64
#define BN_T3_CHUNK 192      /* values per T3 chunk (64 triplets) */
#define BN_T3_CHUNK_BYTES 40 /* 32 nibble bytes + 8 sign bytes */
#define BN_LUT_TILE_ROWS 64  /* rows per LUT2 tile */
#define BN_LUT_KBLOCK 256    /* LUT2 pads K to this */
#define BN_ROW_GRANULE 16    /* row_granule of the x86 and ref tables */

static inline int64_t bn_round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

/* 2-bit code (0..2, value + 1) of value k in an I2 row. */
static inline int bn_i2_code(const uint8_t *row, int64_t k) {
    int64_t blk = k / BN_I2_BLOCK, in = k % BN_I2_BLOCK;
    int g = (int)(in / 32), j = (int)(in % 32);
    return (row[blk * BN_I2_BLOCK_BYTES + j] >> (6 - 2 * g)) & 3;
}

/* Trit code (0..2) of value k in a T5 row: TQ1_0's base-3 fixed point. */
static inline int bn_t5_code(const uint8_t *row, int64_t k) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    int64_t chunk = k / BN_T5_CHUNK, in = k % BN_T5_CHUNK;
    int i = (int)(in / 64), j = (int)(in % 64);
    uint8_t u = (uint8_t)(row[chunk * BN_T5_CHUNK_BYTES + j] * pow3[i]);
    return (u * 3) >> 8;
}

/* Balanced-ternary digit p (0: weight 9s, 1: 3s, 2: 1s) of a T3 magnitude
 * m in 0..13, plus one: the code of a positive triplet's weight p. */
static inline int bn_t3_pos_code(int m, int p) {
    /* m = 9*d0 + 3*d1 + d2 with digits in {-1, 0, 1}. */
    static const int8_t digits[14][3] = {
        {0, 0, 0},  {0, 0, 1},  {0, 1, -1}, {0, 1, 0},  {0, 1, 1},
        {1, -1, -1}, {1, -1, 0}, {1, -1, 1}, {1, 0, -1}, {1, 0, 0},
        {1, 0, 1},  {1, 1, -1}, {1, 1, 0},  {1, 1, 1}};
    return m < 14 ? digits[m][p] + 1 : 1;
}

/* Code (0..2) of value k in a T3 row. */
static inline int bn_t3_code(const uint8_t *row, int64_t k) {
    int64_t chunk = k / BN_T3_CHUNK, in = k % BN_T3_CHUNK;
    int p = (int)(in / 64), j = (int)(in % 64);
    const uint8_t *c = row + chunk * BN_T3_CHUNK_BYTES;
    int m = (c[j % 32] >> (4 * (j / 32))) & 15;
    int neg = (c[32 + j / 8] >> (j % 8)) & 1;
    int code = bn_t3_pos_code(m, p);
    return neg ? 2 - code : code;
}

/* 4-bit LUT index (c0 | c1 << 2) of activation pair p of row r in LUT2. */
static inline int bn_lut2_index(const bn_ternary_matrix *m, int64_t r, int64_t p) {
    const uint8_t *tile = m->data + (uint64_t)(r / BN_LUT_TILE_ROWS) * m->row_bytes;
    uint8_t b = tile[(p / 2) * BN_LUT_TILE_ROWS + r % BN_LUT_TILE_ROWS];
    return (p & 1) ? b >> 4 : b & 15;
}

/* Code (0..2) of value k of row r in any layout. */
int bn_ternary_matrix_code(const bn_ternary_matrix *m, int64_t r, int64_t k);
/* Codes of values [k0, k0 + n) of row r (k0 + n <= Kp). */
void bn_ternary_matrix_codes(const bn_ternary_matrix *m, int64_t r, int64_t k0, int64_t n,
                             uint8_t *codes);

/* The epilogue for TENSOR and ROW scales, written once so that every ISA's
 * scalar tail agrees with its vector body: (float)acc / act_scale * w_scale. */
static inline float bn_ternary_out(const bn_ternary_matrix *w, int64_t r, int32_t acc,
                                   float act_scale) {
    float ws = w->scale_kind == BN_TERNARY_SCALE_ROW ? w->scales[r] : w->scale;
    return (float)acc / act_scale * ws;
}

/* Writes row r's results for tokens t0 .. t0+T-1: the raw accumulators
 * v[j] into acc_out when it is set, else the scaled floats into y; element
 * (t0 + j) * stride + r of either. */
static inline void bn_ternary_store_tokens(const bn_ternary_matrix *w, const bn_act_batch *act,
                                           int64_t r, int64_t t0, int T, const int32_t *v,
                                           float *y, int32_t *acc_out, int64_t stride) {
    for (int j = 0; j < T; j++) {
        int64_t o = (t0 + j) * stride + r;
        if (acc_out)
            acc_out[o] = v[j];
        else
            y[o] = bn_ternary_out(w, r, v[j], act->scale[t0 + j]);
    }
}

/* One-token products (matrix-vector, bandwidth-bound): how far ahead they
 * prefetch, a whole number of row tiles and at least 16 KB (enough in
 * flight to cover DRAM latency at full bandwidth; rows are contiguous, so
 * each row's stream fetches the same offset of a later tile). */
static inline uint64_t bn_gemv_prefetch_ahead(uint64_t tile_bytes) {
    return tile_bytes * ((16384 + tile_bytes - 1) / tile_bytes);
}

/* A software prefetch of weights that are read once per token: into L2
 * (prefetcht2 on x86), not L1. A prefetch into L1 holds one of L1's few
 * miss buffers for the whole DRAM latency, which capped a core's stream at
 * ~11 GB/s; into L2 many more lines are in flight. Measured on Zen 4, one
 * process alternating both hints token by token: the I2 matrix-vector
 * products 26-39% faster (avx512vbmi), 8-19% (avx2), the Q6_K output layer
 * 4-9%. */
#define BN_PREFETCH_STREAM(p) __builtin_prefetch((p), 0, 1)

/* Writes one token's results of rows r .. r+R-1: the raw accumulators v[i]
 * into acc_out[r + i] when it is set, else the scaled floats into y. */
static inline void bn_ternary_store_rows(const bn_ternary_matrix *w, const bn_act_batch *act,
                                         int64_t r, int R, const int32_t *v, float *y,
                                         int32_t *acc_out) {
    for (int i = 0; i < R; i++) {
        if (acc_out)
            acc_out[r + i] = v[i];
        else
            y[r + i] = bn_ternary_out(w, r + i, v[i], act->scale[0]);
    }
}

/* A one-token product's tile: the int32 sums (after the offset) of rows
 * r0 .. r0+R-1 into out, prefetching `ahead` bytes past them. */
#define BN_GEMV_MAX_ROWS 8
typedef void (*bn_gemv_tile_fn)(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                                uint64_t ahead, int32_t *out);

/* The SIMD tables' one-token product over rows [row_begin, row_end): tiles
 * of `rows` (<= BN_GEMV_MAX_ROWS) rows by `tile`, then a row at a time by
 * `one`. Always inlined, so that with the constant tile functions of
 * BN_GEMV_TILES the calls are direct (one call per tile of a few KB). */
static inline __attribute__((always_inline)) void
bn_ternary_gemv_rows(bn_gemv_tile_fn tile, bn_gemv_tile_fn one, int rows,
                     const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                     int64_t row_end, float *y, int32_t *acc_out) {
    const uint64_t ahead = bn_gemv_prefetch_ahead((uint64_t)rows * w->row_bytes);
    int32_t v[BN_GEMV_MAX_ROWS];
    for (int64_t r = row_begin; r < row_end;) {
        const int R = row_end - r >= rows ? rows : 1;
        if (R == rows)
            tile(w, act, r, ahead, v);
        else
            one(w, act, r, ahead, v);
        bn_ternary_store_rows(w, act, r, R, v, y, acc_out);
        r += R;
    }
}

/* Defines name_tile and name_one, the bn_ternary_gemv_rows tile functions
 * of an always-inline tile_fn(w, act, r0, R, ahead, out) with R = rows, 1. */
#define BN_GEMV_TILES(name, tile_fn, rows)                                                    \
    static void name##_tile(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r0,    \
                            uint64_t ahead, int32_t *o) { tile_fn(w, a, r0, rows, ahead, o); } \
    static void name##_one(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r0,     \
                           uint64_t ahead, int32_t *o) { tile_fn(w, a, r0, 1, ahead, o); }

/* A batch product one row at a time (ternary_rows.c): rows in blocks of
 * about 256 KB of weights, L2-resident while every token tile of up to
 * BN_ROW_TOKENS passes over them; by_tokens[T - 1] computes row r's int32
 * sums (after the offset) for tokens t0 .. t0+T-1, a function per T so that
 * each is compiled for its own count. Serves the avx2 table's T3 batch
 * kernel (its I2 one has 8-token tiles and its own loop, x86/avx2_batch.c). */
#define BN_ROW_TOKENS 4
/* Rows of one such block, at least one: about 256 KB of weights. Shared
 * by ternary_rows.c and x86/avx2_batch.c's own loop. */
static inline int64_t bn_batch_block_rows(uint64_t row_bytes) {
    const int64_t rb = ((int64_t)256 << 10) / (int64_t)row_bytes;
    return rb < 1 ? 1 : rb;
}
typedef void (*bn_row_tokens_fn)(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r,
                                 int64_t t0, int32_t out[BN_ROW_TOKENS]);
void bn_ternary_rows_gemm(const bn_row_tokens_fn by_tokens[BN_ROW_TOKENS],
                          const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                          int64_t row_end, float *y, int32_t *acc_out, int64_t stride);
/* Defines name[BN_ROW_TOKENS], the by_tokens table of an always-inline
 * row(w, act, r, t0, T, out) with a constant T per entry. */
#define BN_ROW_TOKENS_TABLE(name, row)                                                        \
    static void name##_1(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,        \
                         int64_t t0, int32_t o[BN_ROW_TOKENS]) { row(w, a, r, t0, 1, o); }    \
    static void name##_2(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,        \
                         int64_t t0, int32_t o[BN_ROW_TOKENS]) { row(w, a, r, t0, 2, o); }    \
    static void name##_3(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,        \
                         int64_t t0, int32_t o[BN_ROW_TOKENS]) { row(w, a, r, t0, 3, o); }    \
    static void name##_4(const bn_ternary_matrix *w, const bn_act_batch *a, int64_t r,        \
                         int64_t t0, int32_t o[BN_ROW_TOKENS]) { row(w, a, r, t0, 4, o); }    \
    static const bn_row_tokens_fn name[BN_ROW_TOKENS] = {name##_1, name##_2, name##_3, name##_4};

/* Reference functions (ref/). Named after what they multiply. */
void bn_act_quant_i8_ref(const float *x, int64_t x_stride, bn_act_batch *act, int64_t t_begin,
                         int64_t t_end);
void bn_act_rmsnorm_quant_i8_ref(const float *x, int64_t x_stride, const float *norm_w,
                                 float eps, bn_act_batch *act, int64_t t_begin, int64_t t_end);
/* After q of token t is written: sum, block_sum, lut (shared by all ISAs;
 * the SIMD tables replace it with their own when faster). */
void bn_act_finish_row_ref(bn_act_batch *act, int64_t t);
/* Only the LUT tables of token t (act->lut must be set). */
void bn_act_lut_row_ref(bn_act_batch *act, int64_t t);
/* The 16-lane sum of squares of the header's exact order. */
float bn_sumsq16_ref(const float *x, int64_t n);

/* The reference ternary product for every layout: it reads codes through
 * the layout's own accessor, so one function serves I2, T5, T3 and LUT2. */
void bn_gemm_ternary_i8_ref(const bn_ternary_matrix *w, const bn_act_batch *act,
                            int64_t row_begin, int64_t row_end, float *y, int64_t y_stride);
void bn_gemm_acc_ternary_i8_ref(const bn_ternary_matrix *w, const bn_act_batch *act,
                                int64_t row_begin, int64_t row_end, int32_t *acc,
                                int64_t acc_stride);

void bn_dense_gemm_f32_ref(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                           int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                           int64_t y_stride);
void bn_dense_gemm_i8_ref(const bn_dense_matrix *w, const bn_act_batch *act, int64_t row_begin,
                          int64_t row_end, float *y, int64_t y_stride);

float bn_dot_f32_ref(const float *a, const float *b, int64_t n);
float bn_dot_f16_ref(const float *a, const uint16_t *b, int64_t n);
void bn_axpy_f32_ref(float a, const float *x, float *y, int64_t n);
void bn_axpy_f16_ref(float a, const uint16_t *x, float *y, int64_t n);
void bn_rmsnorm_f32_ref(const float *x, const float *w, float eps, int64_t n, float *y);
void bn_softmax_f32_ref(float *x, int64_t n);
void bn_f16_to_f32_ref(const uint16_t *src, float *dst, int64_t n);
void bn_f32_to_f16_ref(const float *src, uint16_t *dst, int64_t n);

/* Attention (ref/attention.c): the reference of attend and its pieces, which
 * the SIMD files reuse for the shapes they leave to the reference (head_dim
 * not a multiple of 16, or above BN_ATT_MAX_SIMD_D). */
#define BN_ATT_MAX_SIMD_D 512
void bn_attend_ref(const bn_att_item *it);
float bn_att_exp_ref(float x);
/* bn_att_exp constants (kernels.h header comment): below EXP_LO exp is 0. */
#define BN_ATT_EXP_LO (-87.0f)
#define BN_ATT_EXP_HI 87.0f
#define BN_ATT_LOG2E 1.44269504088896341f
#define BN_ATT_ROUND 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer */
#define BN_ATT_LN2_HI 0.693359375f       /* 355/512: n * LN2_HI is exact */
#define BN_ATT_LN2_LO (-2.12194440e-4f)  /* ln 2 - LN2_HI */
#define BN_ATT_P0 1.9875691500e-4f
#define BN_ATT_P1 1.3981999507e-3f
#define BN_ATT_P2 8.3334519073e-3f
#define BN_ATT_P3 4.1665795894e-2f
#define BN_ATT_P4 1.6666665459e-1f
#define BN_ATT_P5 5.0000001201e-1f
/* The SIMD versions (x86/attention_*.c, arm/attention_neon.c). */
#if defined(BN_HAVE_KERNELS_X86)
void bn_attend_avx2(const bn_att_item *it);
void bn_attend_avx512(const bn_att_item *it);
/* x86/avx2_dense.c: the avx2 table's output layer (dense_gemm's contract),
 * each token through its one-token kernels; false for types or shapes (or
 * non-finite activations) it leaves to x86/avx2.c's general path, which
 * then overwrites whatever was written. */
bool bn_dense_gemm_tok_avx2(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                            int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                            int64_t y_stride);
#endif
#if defined(BN_HAVE_KERNELS_ARM)
void bn_attend_neon(const bn_att_item *it);
#endif

/* Q8_0 and Q6_K blocks (ggml's layouts). */
#define BN_Q8_0_BLOCK 32
#define BN_Q8_0_BYTES 34 /* f16 d, int8 qs[32] */
#define BN_Q6_K_BLOCK 256
#define BN_Q6_K_BYTES 210 /* ql[128], qh[64], int8 scales[16], f16 d */

/* Dequantizes values [0, K) of one stored row into out (exact). */
void bn_dense_row_to_f32(bn_tensor_type type, const uint8_t *row, int64_t K, float *out);

#endif /* BN_KERNELS_INTERNAL_H */
