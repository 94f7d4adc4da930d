/* kernels.h: the numeric kernels of bitnet, one table of functions per ISA.
 *
 * Owns: activation quantization (per token, FORMATS.md 4.3), the ternary x
 * int8 matrix products in two families (multiply-add and lookup-table) with
 * the in-memory weight layouts they read, the output-layer products for
 * F32/F16/BF16/Q8_0/Q6_K weights, causal attention over the KV cache (in
 * a fixed order, bit-exact across tables), the float helpers, CPU feature
 * detection and the choice of a table.
 * Knows nothing of files or models: callers hand in byte ranges and shapes.
 *
 * Tables: `bn_kernels` is const data (one per ISA built into the library);
 * bn_kernels_select returns a pointer the runtime keeps in its model. There
 * are no mutable globals, so any number of tables can be used side by side
 * (tests run every table the CPU supports against "ref").
 *
 * Threads: kernels never spawn threads. Every function is pure over its
 * arguments and writes only the output range it is given, so the runtime can
 * split rows (or tokens) across OpenMP threads inside one parallel region.
 * Each output element is computed by exactly one call with a fixed reduction
 * order, so results do not depend on how the rows were split.
 *
 * Numbers (what "bit-exact with ref" means):
 *   - act_scale = 127 / amax, amax = max(max_i |x_i|, 1e-5), computed in
 *     float (as HF does; bitnet.cpp computes 127/amax in double and rounds to
 *     float, which is the same value: 127 and amax are exact floats, so both
 *     are the correctly rounded quotient). q = clamp(rint(x*act_scale),
 *     -128, 127) with rint in round-half-even mode (the default).
 *   - ternary: acc[t][r] = sum_k w[r][k] * q[t][k] as exact int32; then
 *       TENSOR  y = (float)acc / act_scale[t] * w_scale
 *       ROW     y = (float)acc / act_scale[t] * w_scale[r]
 *       BLOCK256 s = 0; for b in order: s = s + d[r][b] * (float)acc_b;
 *               y = s / act_scale[t]        (no fused multiply-add anywhere)
 *     Every ISA reproduces these bit for bit.
 *   - fused RMSNorm: the sum of squares is kept in 16 float lanes (lane i
 *     takes elements k with k % 16 == i, k ascending, mul then add), folded
 *     8+8, 4+4, 2+2, 1+1; inv = 1 / sqrtf(ss / n + eps); y_k = (x_k * inv) *
 *     w_k. Every ISA reproduces this bit for bit, so act_rmsnorm_quant is
 *     bit-exact too.
 *     The float rmsnorm helper uses the same order and is bit-exact too.
 *   - attention (attend): bit-exact on every table, because one flipped ulp
 *     of an attention output can flip an int8 activation of the next
 *     BitLinear. The order, which every ISA reproduces (no fma anywhere):
 *       score: dot(q, k) in 16 lanes (lane j: the products q_d * k_d for
 *         d % 16 == j, d ascending, each product rounded, then added to the
 *         lane, which starts from its first product, +0 if it has none),
 *         folded 8+8, 4+4, 2+2, 1+1; then s = dot * kq_scale. F16 keys and
 *         values are widened exactly.
 *       softmax of a row of n scores: m = the largest s_p that is not NaN
 *         (-inf if none), so NaN scores weigh 0; e_p = bn_att_exp(s_p - m)
 *         (see below); sum in 16 lanes (lane j: e_p for p % 16 == j, p
 *         ascending, from its first term) folded as above; inv = 1 / sum;
 *         w_p = e_p * inv.
 *       output: out_d = w_0 * v_0d, then out_d = out_d + w_p * v_pd for p
 *         ascending.
 *     bn_att_exp(x) is 0 for x < -87 (and NaN), else, with x clamped to at
 *     most 87: t = x * log2(e) + 1.5*2^23 (so n = t - 1.5*2^23 is x/ln2
 *     rounded half-even and the low bits of t hold it), r = (x - n*C1) -
 *     n*C2 (Cody-Waite ln2 = C1 + C2), y = ((p(r) * r^2) + r) + 1 with the
 *     degree-5 Horner polynomial p of ref/attention.c, and exp = y * 2^n,
 *     2^n built from the bits of t. Within 2 ulp of exp() on [-87, 0]
 *     (tests/kernels/test_attention.c measures it).
 *   - the other float helpers and the dense (output layer) products use a
 *     summation order of each ISA's choosing (fma allowed): they agree with
 *     ref within a tolerance, not bit for bit (tests: dots 1e-6 and dense
 *     rows 2e-6 of sum |a_i*b_i|; softmax 2e-6 absolute). The int8 output
 *     path (dense_gemm_i8) is exact integer work and bit-exact.
 */
#ifndef BN_KERNELS_H
#define BN_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/tensor_type.h"
#include "loader/ternary_codec.h"
#include "runtime/bitnet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bn_kernels bn_kernels; /* the table, defined below */

/* ------------------------------------------------------------------------ */
/* Quantized activations                                                     */

/* A batch of int8 activation rows, one per token, for one BitLinear input.
 * Allocated once (bn_act_batch_alloc) for the largest K and token count the
 * session will see; each step sets K and n_tokens with bn_act_batch_reset and
 * then fills rows with act_quant / act_rmsnorm_quant.
 *
 * Row t of q holds K int8 values followed by zeros up to `stride` (the
 * kernels read whole padded blocks; zeros contribute nothing). */
typedef struct bn_act_batch {
    int64_t K;          /* values per row in use */
    int64_t stride;     /* bytes between rows of q: bn_act_batch_stride(K) */
    int64_t n_tokens;   /* rows in use */
    int64_t max_K;      /* capacity */
    int64_t max_tokens; /* capacity */
    int8_t *q;          /* (max_tokens, stride) int8, zero past K */
    float *scale;       /* (max_tokens) act_scale = 127 / amax */
    int32_t *sum;       /* (max_tokens) sum of q over the row */
    int32_t *block_sum; /* (max_tokens, stride / 256) sum of q over each 256 block */
    /* Lookup tables for the LUT family, present when the batch was allocated
     * with_lut (else NULL): per token, per pair of activations p (K/2 pairs,
     * padded to stride/2), 32 bytes: the low bytes then the high bytes of 16
     * int16 entries e[i], i = c0 | c1 << 2 for 2-bit codes c0, c1 in {0,1,2}:
     * e[i] = (c0-1)*q[2p] + (c1-1)*q[2p+1]; entries with a code 3 are 0. */
    uint8_t *lut;       /* (max_tokens, stride / 2, 32) */
    void *mem;          /* the one allocation behind the arrays */
} bn_act_batch;

/* Row stride (bytes) of q for rows of K values: K rounded up so that every
 * layout's padded row fits (multiples of 256, 320, 192 and 64). */
int64_t bn_act_batch_stride(int64_t K);

/* Bytes bn_act_batch_alloc allocates for this capacity (for memory reports). */
size_t bn_act_batch_bytes(int64_t max_K, int64_t max_tokens, bool with_lut);

/* Allocates a batch able to hold max_tokens rows of up to max_K values.
 * with_lut: also room for the LUT family's tables (16*stride bytes a token). */
bn_status bn_act_batch_alloc(int64_t max_K, int64_t max_tokens, bool with_lut,
                             bn_act_batch *out, bn_error *err);
void bn_act_batch_free(bn_act_batch *batch);

/* Sets K and n_tokens for the next fill; INVALID_ARG past the capacity. */
bn_status bn_act_batch_reset(bn_act_batch *batch, int64_t K, int64_t n_tokens, bn_error *err);

/* ------------------------------------------------------------------------ */
/* Ternary weight matrices                                                   */

/* Which kernel family a matrix is laid out for. A preference: formats that
 * a family cannot hold exactly fall back to a MAD layout (see layouts). */
typedef enum bn_kernel_family {
    BN_FAMILY_MAD = 0, /* unpack 2-bit codes, maddubs / dpbusd / sdot */
    BN_FAMILY_LUT,     /* index per-token tables of activation-pair sums */
    BN_FAMILY_COUNT
} bn_kernel_family;

/* In-memory layouts. Rows = output features (GGUF ne1), K = ne0. */
typedef enum bn_ternary_layout {
    /* 2-bit codes c = w + 1, rows of Kp = round_up(K, 128) values, each row
     * cut into 128-value / 32-byte blocks exactly like I2_S: value 32g + j of
     * a block is in byte j at bits 6 - 2g. Row r starts at data + r*row_bytes.
     * I2_S files with K % 128 == 0 are used in place (zero-copy). Any scale
     * kind (the only layout that holds BLOCK256 scales). */
    BN_LAYOUT_I2 = 0,
    /* 1.6-bit: five trits per byte (TQ1_0's base-3 fixed point: byte
     * B = ceil(n * 256 / 243) for n = sum_i c_i * 3^(4-i); trit i decodes as
     * ((B * 3^i) mod 256) * 3 >> 8). Rows of Kp = round_up(K, 320) values in
     * 320-value / 64-byte chunks: value 64i + j of a chunk is trit i of byte j.
     * TENSOR and ROW scales. */
    BN_LAYOUT_T5,
    /* LUT family: rows in tiles of 64 (the last tile zero-padded); a tile
     * holds, for each pair of activation pairs (p, p+1), 64 bytes: byte j has
     * the 4-bit index c0 | c1 << 2 of pair p of row j in its low nibble and
     * that of pair p+1 in its high nibble. Kp = round_up(K, 256); a tile is
     * 64 * Kp / 4 bytes. TENSOR and ROW scales. Its kernels read the
     * batch's pair tables (allocate the batch with_lut); with a batch
     * without tables they still compute, through the codes, slowly. */
    BN_LAYOUT_LUT2,
    /* 1.67-bit, built for decode speed: weights in triplets (value j, 64 + j,
     * 128 + j of a 192-value chunk, j < 64), each triplet as the magnitude
     * |v| (4 bits) and sign of v = 9*w0 + 3*w1 + w2 (w_p the weight at
     * 64p + j). Chunk = 40 bytes: byte j < 32 holds triplet j in its low
     * nibble and triplet 32 + j in its high nibble; bytes 32..39 hold the 64
     * sign bits (bit j of the little-endian 64-bit word: triplet j < 0).
     * Rows of Kp = round_up(K, 192). A 16-entry table lookup per position
     * decodes it (vpshufb / tbl). TENSOR and ROW scales. */
    BN_LAYOUT_T3,
    BN_LAYOUT_COUNT
} bn_ternary_layout;

/* A ternary matrix in a kernel layout, built once at load. Read-only after
 * init; shareable between threads. */
typedef struct bn_ternary_matrix {
    bn_ternary_layout layout;
    int64_t K;                  /* values per row (ne0) */
    int64_t rows;               /* output features (ne1) */
    int64_t Kp;                 /* K padded to the layout's block */
    uint64_t row_bytes;         /* bytes between rows (I2, T5) or between
                                 * 64-row tiles (LUT2) */
    const uint8_t *data;        /* the packed codes (mmap or owned) */
    uint64_t data_bytes;        /* bytes of `data` a full product streams */
    bn_ternary_scale_kind scale_kind;
    float scale;                /* TENSOR: the scale */
    const float *scales;        /* ROW: (rows); BLOCK256: (rows, K/256); else NULL */
    /* T3 only (NULL otherwise): (rows) the sum of each row's trits, so that
     * a kernel may multiply unsigned activations (q + 128) by signed weights
     * and take 128 * row_sums[r] off afterwards (x86/avx2_t3.c). Lives in
     * the `owned` allocation, after the packed rows. */
    const int32_t *row_sums;
    bool zero_copy;             /* data points into the caller's bytes */
    void *owned;                /* allocations freed by bn_ternary_matrix_free */
    void *owned_scales;
} bn_ternary_matrix;

/* Builds `out` from a tensor's stored bytes: I2_S, TQ2_0, TQ1_0, IQ2_BN,
 * IQ1_BN, or ternary values stored as F32/F16/BF16 (n_bytes: at least the
 * stored size). The layout follows from family and type:
 *   MAD: 1.6-bit types (TQ1_0, IQ1_BN) -> T3 (I2 when the table sets
 *        mad_1p6_in_i2); everything else -> I2
 *        (zero-copy for I2_S with K % 128 == 0: `data` must outlive `out`).
 *   LUT: -> LUT2.
 * Block scales (TQ types) that are equal over every block holding a nonzero
 * weight become one TENSOR scale (or ROW scales when equal along each row):
 * ternarised checkpoints always store them so. Layouts that cannot hold the
 * remaining BLOCK256 scales fall back to I2. `k` (may be NULL): a layout
 * whose entry in that table is NULL is replaced (T3 by T5, else by I2), so a
 * table under construction never meets a layout it cannot run. */
bn_status bn_ternary_matrix_init(const bn_kernels *k, bn_kernel_family family,
                                 bn_tensor_type type, const void *data, uint64_t n_bytes,
                                 int64_t K, int64_t rows, bn_ternary_matrix *out,
                                 bn_error *err);

/* Builds `out` from plain trits (rows*K int8 in {-1,0,1}) and scales indexed
 * by kind (as loader/ternary_codec.h). Used by init and by tests. */
bn_status bn_ternary_matrix_init_values(bn_ternary_layout layout, const int8_t *values,
                                        const float *scales, bn_ternary_scale_kind kind,
                                        int64_t K, int64_t rows, bn_ternary_matrix *out,
                                        bn_error *err);

/* Decodes the matrix back to trits: values (rows*K) and its scales
 * (scales: room for bn_ternary_scale_count-like rows*max(1,K/256) floats;
 * *kind says which). For round-trip tests and inspection. */
bn_status bn_ternary_matrix_decode(const bn_ternary_matrix *m, int8_t *values, float *scales,
                                   bn_ternary_scale_kind *kind, bn_error *err);

void bn_ternary_matrix_free(bn_ternary_matrix *m);

/* ------------------------------------------------------------------------ */
/* Dense matrices: the output layer / embedding                              */

/* A non-ternary matrix (rows of K values): F32, F16, BF16, Q8_0 or Q6_K
 * in place (zero-copy), optionally with an int8 copy (one int8 row + one f32
 * scale per row, scale = max|row| / 127, round half even) made at load for
 * the --lm-head-i8 speed trade: half the bytes of F16 (a quarter of F32)
 * streamed per token, at the cost of int8 rounding of both weights and
 * activations (logits move by about 1e-2 of their range). */
typedef struct bn_dense_matrix {
    bn_tensor_type type;
    int64_t K;
    int64_t rows;
    uint64_t row_bytes;  /* bytes between rows of data */
    const uint8_t *data; /* (rows, row_bytes), the file's bytes */
    int8_t *q8;          /* (rows, q8_stride) int8 copy, or NULL */
    int64_t q8_stride;   /* bn_act_batch_stride(K) */
    float *q8_scale;     /* (rows) weight scale of each int8 row */
    int32_t *q8_sum;     /* (rows) sum of each int8 row (offset trick of the
                          * unsigned x signed dot instructions) */
    void *owned;         /* the int8 copy's one allocation */
} bn_dense_matrix;

/* Wraps the bytes (F32/F16/BF16/Q8_0/Q6_K; K % block size == 0; n_bytes at
 * least rows*row_bytes). with_i8: also build the int8 copy (allocates). */
bn_status bn_dense_matrix_init(bn_tensor_type type, const void *data, uint64_t n_bytes,
                               int64_t K, int64_t rows, bool with_i8, bn_dense_matrix *out,
                               bn_error *err);
void bn_dense_matrix_free(bn_dense_matrix *m);

/* Row r as K floats (embedding lookup): exact dequantization. */
void bn_dense_matrix_get_row(const bn_dense_matrix *m, int64_t r, float *out /* (K) */);

/* ------------------------------------------------------------------------ */
/* Attention                                                                 */

/* One attention item: the n_tok query tokens of a block, at consecutive
 * positions pos0 .. pos0 + n_tok - 1, times the n_rep query heads that share
 * one KV head, against that head's cached keys and values. Causal: token i
 * sees positions 0 .. pos0 + i. The order of operations is the one written
 * in the header comment, so every table gives the same bits, and the result
 * of one (token, head) does not depend on the rest of the item. */
typedef struct bn_att_item {
    int64_t head_dim;   /* D */
    int32_t n_rep;      /* query heads per KV head, >= 1 */
    int32_t n_tok;      /* query tokens, >= 1 */
    int32_t pos0;       /* position of the first query token, >= 0 */
    float kq_scale;     /* usually 1 / sqrt(D) */
    const float *q;     /* head r of token i: q + i*q_stride + r*D, (D) */
    int64_t q_stride;
    const void *k;      /* key at position p: k + p*kv_stride elements, (D) */
    const void *v;      /* value at position p: v + p*kv_stride elements, (D) */
    int64_t kv_stride;  /* elements between consecutive positions */
    bool k_f16, v_f16;  /* elements are IEEE binary16 bits (else float) */
    float *out;         /* head r of token i: out + i*out_stride + r*D, (D),
                         * overwritten */
    int64_t out_stride;
    float *scores;      /* scratch (n_tok * n_rep, sc_stride), sc_stride >=
                         * pos0 + n_tok; holds the weights w_p afterwards
                         * (row i*n_rep + r, first pos0 + i + 1 entries) */
    int64_t sc_stride;
} bn_att_item;

/* ------------------------------------------------------------------------ */
/* The table                                                                 */

/* y[t * y_stride + r] for t < act->n_tokens, row_begin <= r < row_end.
 * row_begin must be a multiple of the table's row_granule; row_end a
 * multiple too, or w->rows. */
typedef void (*bn_ternary_gemm_fn)(const bn_ternary_matrix *w, const bn_act_batch *act,
                                   int64_t row_begin, int64_t row_end, float *y,
                                   int64_t y_stride);
/* The exact int32 accumulators sum_k w[r][k] * q[t][k] (weights as -1/0/+1,
 * before any scale), same indexing: for tests and debugging. */
typedef void (*bn_ternary_gemm_acc_fn)(const bn_ternary_matrix *w, const bn_act_batch *act,
                                       int64_t row_begin, int64_t row_end, int32_t *acc,
                                       int64_t acc_stride);

typedef struct bn_ternary_kernel {
    bn_ternary_gemm_fn gemm;
    bn_ternary_gemm_acc_fn gemm_acc;
} bn_ternary_kernel;

struct bn_kernels {
    const char *name; /* "ref", "avx2", "avx512", "avx512vbmi", "neon",
                       * "neon-dotprod" */
    /* Ternary row ranges handed to the kernels start at multiples of this
     * (and end at one, or at the matrix's last row). 16 for every x86 table:
     * a multiple of the 4-row MAD tiles, and fine enough that 2 threads split
     * a 640-row matrix evenly. LUT2 kernels accept ranges inside a 64-row
     * tile (they compute the tile and keep the rows asked for), but ranges
     * at multiples of 64 avoid that duplicate work. */
    int64_t row_granule;
    /* The MAD layout of the 1.6-bit types (TQ1_0, IQ1_BN): false (the
     * default) T3, 1.67 bits a weight; true I2, 2 bits, for a table whose T3
     * decoder would be far slower than its I2 kernel streams, so that 20%
     * more bytes still decode faster. No table sets it today: avx2 did
     * until x86/avx2_t3.c (kernels/README.md has the trade-off). */
    bool mad_1p6_in_i2;

    /* Quantizes tokens [t_begin, t_end) of x (rows of act->K floats, x_stride
     * floats apart) into act: q, scale, sum, block_sum, and lut when the
     * batch has one. act->K and n_tokens are set by bn_act_batch_reset. */
    void (*act_quant)(const float *x, int64_t x_stride, bn_act_batch *act, int64_t t_begin,
                      int64_t t_end);
    /* Same after y = RMSNorm(x; w, eps) (see the header comment for the exact
     * order), without writing y anywhere. */
    void (*act_rmsnorm_quant)(const float *x, int64_t x_stride, const float *norm_w,
                              float eps, bn_act_batch *act, int64_t t_begin, int64_t t_end);

    /* Ternary products, indexed by the matrix's layout. */
    bn_ternary_kernel ternary[BN_LAYOUT_COUNT];

    /* Output layer: y[t * y_stride + r] = sum_k W[r][k] * x[t * x_stride + k]
     * for t < n_tokens and rows [row_begin, row_end) (any range). */
    void (*dense_gemm)(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                       int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                       int64_t y_stride);
    /* Through the int8 copy (w->q8 must be set): act quantized by act_quant
     * with K = w->K; y = (float)acc / act_scale[t] * q8_scale[r]. */
    void (*dense_gemm_i8)(const bn_dense_matrix *w, const bn_act_batch *act,
                          int64_t row_begin, int64_t row_end, float *y, int64_t y_stride);

    /* Float helpers (n >= 0; pointers need no alignment). f16 is IEEE binary16
     * bits in a uint16_t (the KV cache's storage). */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const float *a, const uint16_t *b, int64_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int64_t n);    /* y += a*x */
    void (*axpy_f16)(float a, const uint16_t *x, float *y, int64_t n); /* y += a*x */
    /* y = w_k * x_k / sqrt(mean(x^2) + eps); y may equal x. */
    void (*rmsnorm)(const float *x, const float *w, float eps, int64_t n, float *y);
    /* In place: x = exp(x - max) / sum. n >= 1. */
    void (*softmax)(float *x, int64_t n);
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
    void (*f32_to_f16)(const float *src, uint16_t *dst, int64_t n); /* half-even */

    /* Causal attention of one item (see bn_att_item), bit-exact on every
     * table. */
    void (*attend)(const bn_att_item *it);
};

/* Picks a table. override NULL (or ""): the best table this CPU runs
 * (avx512vbmi > avx512 > avx2 > ref; neon-dotprod > neon > ref). Otherwise
 * one of "ref", "avx2", "avx512", "avx512vbmi", "neon", "neon-dotprod":
 * BN_STATUS_UNSUPPORTED when the CPU (or OS: AVX state saving) lacks it or
 * this build does not contain it;
 * BN_STATUS_INVALID_ARG for any other name. */
bn_status bn_kernels_select(const char *override, const bn_kernels **out, bn_error *err);

/* Every table built into this library that this CPU runs, best last
 * ("ref" first). Writes up to cap pointers; returns how many exist. */
size_t bn_kernels_available(const bn_kernels **out, size_t cap);

/* The table named `name` if built, whether or not the CPU runs it (NULL if
 * not built). For reports; call bn_kernels_select to get a runnable one. */
const bn_kernels *bn_kernels_find(const char *name);

/* Static row split for thread `ith` of `n_threads`: [*begin, *end) with
 * boundaries at multiples of `granule` (the last range ends at rows). */
void bn_kernels_split_rows(int64_t rows, int64_t granule, int ith, int n_threads,
                           int64_t *begin, int64_t *end);

/* Convenience: the product for a matrix in whatever layout it has. */
static inline void bn_ternary_gemm(const bn_kernels *k, const bn_ternary_matrix *w,
                                   const bn_act_batch *act, int64_t row_begin, int64_t row_end,
                                   float *y, int64_t y_stride) {
    k->ternary[w->layout].gemm(w, act, row_begin, row_end, y, y_stride);
}

#ifdef __cplusplus
}
#endif

#endif /* BN_KERNELS_H */
