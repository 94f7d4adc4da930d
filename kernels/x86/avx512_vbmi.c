/* x86/avx512_vbmi.c: the kernels of the "avx512vbmi" table that need more
 * than the avx512 table's F/BW/VL/DQ/VNNI: AVX512-VBMI (vpermb), AVX512-BF16
 * (vdpbf16ps) and GFNI (gf2p8affineqb: any per-byte bit shuffle in one
 * instruction), all present on AMD Zen 4 / Zen 5 and Intel Sapphire Rapids
 * and later. Compiled with only those flags (kernels/CMakeLists.txt); the
 * table itself sits next to the avx512 one at the bottom of x86/avx512.c and
 * takes every other entry from there.
 *
 * Owns: the exact Q6_K output-layer product and the I2 and T3 matrix-vector
 * products, all for one token (generation). Everything else is the avx512
 * table's.
 *
 * Q6_K with vdpbf16ps, still an exact float product: every 6-bit code minus
 * 32 is an integer in [-32, 31], exact in bf16; each activation x is split
 * once per call into three bf16 parts, x = hi + mid + lo exactly (hi = x with
 * its low 16 bits cleared, mid the same of x - hi, lo = x - hi - mid, which
 * has at most 8 significant bits), so every product code * part is exact in
 * f32 and only the f32 additions round, as in an FMA loop. vdpbf16ps adds
 * two such products per f32 lane; it flushes bf16 subnormal inputs and f32
 * subnormal results to zero, which only touches activations below ~1e-33.
 * Codes become bf16 words with one vpermt2w on a 64-entry table (the index
 * is the low 6 bits of each word, so the code bytes need no masking):
 * per 64 codes 2 lookups and 6 vdpbf16ps, against 4 int->float conversions,
 * 4 FMAs and 7 shifts in the avx512 table's version.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/internal.h"
#include "kernels/x86/avx512_q6k.h"

#define BN_INLINE static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------ */
/* Q6_K output layer                                                         */

#define BN_Q6K_BF_MAX_K 4096
/* bf16 words of one token's activations per 64-value group: 3 parts x
 * (even, odd code vector) x 32 words. */
#define BN_Q6K_BF_GROUP 192

/* Lane i of a 64-code vector Q (byte j = value j of the group) gets the
 * codes of bytes 4i..4i+3, all in sub-block i/4: the even vector E has in
 * words 2i, 2i+1 the codes of bytes 4i, 4i+2, the odd vector O those of
 * 4i+1, 4i+3. The activations are laid out to match, per group g:
 * xb[192g + 64p + 32v + 2i + e] = part p of x[64g + 4i + 2e + v]
 * (p: 0 hi, 1 mid, 2 lo; v: 0 even, 1 odd). */
static void bn_q6k_split_x(const float *x, int64_t K, uint16_t *xb) {
    for (int64_t g = 0; g < K / 64; g++)
        for (int i = 0; i < 16; i++)
            for (int e = 0; e < 2; e++)
                for (int v = 0; v < 2; v++) {
                    float f = x[64 * g + 4 * i + 2 * e + v], hi, mid, lo;
                    uint32_t b;
                    memcpy(&b, &f, 4);
                    b &= 0xffff0000u;
                    memcpy(&hi, &b, 4);
                    float r = f - hi; /* exact: the low 16 bits of f */
                    uint32_t rb;
                    memcpy(&rb, &r, 4);
                    rb &= 0xffff0000u;
                    memcpy(&mid, &rb, 4);
                    lo = r - mid; /* exact, at most 8 significant bits */
                    uint32_t lb;
                    memcpy(&lb, &lo, 4);
                    uint16_t *w = xb + BN_Q6K_BF_GROUP * g + 32 * v + 2 * i + e;
                    w[0] = (uint16_t)(b >> 16);
                    w[64] = (uint16_t)(rb >> 16);
                    w[128] = (uint16_t)(lb >> 16);
                }
}

/* acc += two products per lane of a's and b's bf16 words. Inline asm so
 * that b stays a memory operand: gcc 12 loads it into a register first with
 * the intrinsic, an extra instruction per vdpbf16ps (measured 7.5 -> 6.9 ns
 * per 256-block). */
BN_INLINE __m512 bn_dpbf16(__m512 acc, __m512i a, const uint16_t *b) {
    __asm__("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(a), "m"(*(const __m512i *)b));
    return acc;
}

/* One row dotted with one token's split activations xb. */
BN_INLINE float bn_q6k_row_bf16(const uint8_t *row, int64_t nb, uint64_t ahead,
                                const uint16_t *xb, __m512i tlo, __m512i thi) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    /* lane i -> sub-block i/4 (+ 4 per 64-group). */
    const __m512i i4 = _mm512_srli_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
    __m512 s[2][2]; /* [half][code vector]: independent chains */
    s[0][0] = s[0][1] = s[1][0] = s[1][1] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * BN_Q6_K_BYTES;
        for (int c = 0; c < BN_Q6_K_BYTES; c += 64)
            BN_PREFETCH_STREAM(blk + c + ahead);
        const __m512 ds = bn_q6k_block_scales(blk);
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
            /* L = ql[64n ..]: low nibbles are values 0-63 of this half, high
             * nibbles 64-127; qh byte l has the top 2 bits of values l,
             * l+32, l+64, l+96 in bit pairs 0, 2, 4, 6, so H (qh, then
             * qh >> 2) has those of values j and 64 + j in bits 0-1 and
             * 4-5 of byte j. Bits 6-7 of a code byte are left over. */
            const __m512i L = _mm512_loadu_si512(blk + 64 * n);
            const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * n));
            const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
            __m512i Q[2];
            Q[0] = _mm512_ternarylogic_epi32(m4, L, _mm512_slli_epi16(H, 4), 0xca);
            Q[1] = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(L, 4), H, 0xca);
#pragma GCC unroll 2
            for (int u = 0; u < 2; u++) {
                const __m512i E = _mm512_permutex2var_epi16(tlo, Q[u], thi);
                const __m512i O = _mm512_permutex2var_epi16(tlo, _mm512_srli_epi16(Q[u], 8), thi);
                const __m512 sc =
                    _mm512_permutexvar_ps(_mm512_add_epi32(i4, _mm512_set1_epi32(8 * n + 4 * u)), ds);
                const uint16_t *xg = xb + BN_Q6K_BF_GROUP * (4 * b + 2 * n + u);
                /* the lo parts first */
                __m512 p = bn_dpbf16(_mm512_setzero_ps(), E, xg + 128);
                p = bn_dpbf16(p, O, xg + 160);
                p = bn_dpbf16(p, E, xg + 64);
                p = bn_dpbf16(p, O, xg + 96);
                p = bn_dpbf16(p, E, xg);
                p = bn_dpbf16(p, O, xg + 32);
                s[n][u] = _mm512_fmadd_ps(sc, p, s[n][u]);
            }
        }
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(s[0][0], s[0][1]), _mm512_add_ps(s[1][0], s[1][1])));
}

/* Batches (logits of several tokens at once) keep the avx512 table's kernels
 * (from 4 tokens x86/avx512_q6k_batch.c): with f32 weights shared by all the
 * tokens they need 1 FMA per 16 weights and token, against 1.5 vdpbf16ps
 * and a share of the scale FMA here. Single-token calls (generation, and the
 * last token of a prompt) take this path. */
void bn_dense_gemm_avx512vbmi(const bn_dense_matrix *w, const float *x, int64_t x_stride,
                              int64_t n_tokens, int64_t row_begin, int64_t row_end, float *y,
                              int64_t y_stride) {
    if (w->type != BN_TYPE_Q6_K || w->K > BN_Q6K_BF_MAX_K || n_tokens != 1) {
        bn_kernels_avx512.dense_gemm(w, x, x_stride, n_tokens, row_begin, row_end, y, y_stride);
        return;
    }
    const int64_t K = w->K, nb = K / 256;
    /* Rows stream back to back: fetch a whole number of rows, at least 8 KB,
     * ahead (the next rows), as the other dense kernels do. */
    const uint64_t ahead = w->row_bytes * ((8192 + w->row_bytes - 1) / w->row_bytes);
    uint16_t tab[64];
    for (int c = 0; c < 64; c++) {
        float f = (float)(c - 32);
        uint32_t b;
        memcpy(&b, &f, 4);
        tab[c] = (uint16_t)(b >> 16); /* exact: small integers */
    }
    const __m512i tlo = _mm512_loadu_si512(tab), thi = _mm512_loadu_si512(tab + 32);
    _Alignas(64) uint16_t xb[3 * BN_Q6K_BF_MAX_K]; /* (3 K) split activations, 24 KB */
    bn_q6k_split_x(x, K, xb);
    for (int64_t r = row_begin; r < row_end; r++)
        y[r] = bn_q6k_row_bf16(w->data + (uint64_t)r * w->row_bytes, nb, ahead, xb, tlo, thi);
}

/* ------------------------------------------------------------------------ */
/* T3 matrix-vector product (one token)                                      */

/* Per 40-byte chunk and row: the 32 magnitude bytes, broadcast to both
 * halves of a zmm, go through one gf2p8affineqb whose bit matrix keeps the
 * low nibble of each byte in the low half and moves the high nibble down in
 * the high half: the 64 triplet magnitudes in lane order, 4 bits each. Adding
 * 16 where the sign bit is set makes a 5-bit index, and one vpermb per weight
 * position on a table of codes (positive triplets at 0-15, 2 - code for
 * negative ones at 16-31) gives the codes. Per 192 weights and row: 1 affine,
 * 1 masked add, 3 vpermb, 3 dpbusd, against a variable shift, an and, 3
 * pshufb, 3 masked subtractions and 3 dpbusd in the avx512 table; 8 rows per
 * tile share the activation loads. The accumulators are the same exact int32
 * sums, so the results are bit-identical. Batches of more than one token go
 * to the avx512 table's tiled kernel. */
#define BN_T3_GEMV_ROWS 8 /* rows per tile */

BN_INLINE void bn_t3_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, const __m512i tab[3], uint64_t ahead,
                               int32_t out[BN_T3_GEMV_ROWS]) {
    const __m512i b16 = _mm512_set1_epi8(16);
    /* GF(2) bit matrices (row of output bit i in byte 7 - i): the low
     * nibble of each byte in the low half, the high nibble in the high
     * half, both moved to bits 0-3 with bits 4-7 cleared. */
    const long long lo = 0x0102040800000000ll, hi = 0x1020408000000000ll;
    const __m512i nib = _mm512_setr_epi64(lo, lo, lo, lo, hi, hi, hi, hi);
    __m512i acc[BN_T3_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        acc[i] = _mm512_setzero_si512();
    const int64_t nc = w->Kp / BN_T3_CHUNK;
    const uint8_t *rows[BN_T3_GEMV_ROWS];
    for (int i = 0; i < R; i++)
        rows[i] = w->data + (uint64_t)(r0 + i) * w->row_bytes;
    const int8_t *q = act->q;
    /* The tile's rows are contiguous: fetch the tile `ahead` bytes later
     * linearly, R * 40 bytes per chunk, one prefetch per 64-byte line. */
    const uint8_t *pf = rows[0] + ahead;
    for (int64_t c = 0; c < nc; c++) {
        for (int l = 0; l < (R * BN_T3_CHUNK_BYTES + 63) / 64; l++)
            BN_PREFETCH_STREAM(pf + c * R * BN_T3_CHUNK_BYTES + 64 * l);
        __m512i a[3];
        for (int p = 0; p < 3; p++)
            a[p] = _mm512_loadu_si512(q + c * BN_T3_CHUNK + 64 * p);
        for (int i = 0; i < R; i++) {
            const uint8_t *ch = rows[i] + c * BN_T3_CHUNK_BYTES;
            __m512i idx = _mm512_gf2p8affine_epi64_epi8(
                _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)ch)), nib, 0);
            uint64_t sbits;
            memcpy(&sbits, ch + 32, 8);
            idx = _mm512_mask_add_epi8(idx, _cvtu64_mask64(sbits), idx, b16);
            for (int p = 0; p < 3; p++)
                acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_permutexvar_epi8(idx, tab[p]), a[p]);
        }
    }
    for (int i = 0; i < R; i++)
        out[i] = _mm512_reduce_add_epi32(acc[i]) - act->sum[0];
}

static void bn_t3_gemv(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t row_begin,
                       int64_t row_end, float *y, int32_t *acc_out) {
    __m512i tab[3];
    for (int p = 0; p < 3; p++) {
        int8_t t64[64];
        for (int m = 0; m < 64; m++) {
            int code = bn_t3_pos_code(m & 15, p);
            t64[m] = (int8_t)(m & 16 ? 2 - code : code);
        }
        tab[p] = _mm512_loadu_si512(t64);
    }
    /* Its own row loop (not bn_ternary_gemv_rows): the tiles take the code
     * tables built above. */
    const uint64_t ahead = bn_gemv_prefetch_ahead(BN_T3_GEMV_ROWS * w->row_bytes);
    int32_t v[BN_T3_GEMV_ROWS];
    for (int64_t r = row_begin; r < row_end;) {
        const int R = row_end - r >= BN_T3_GEMV_ROWS ? BN_T3_GEMV_ROWS : 1;
        if (R == BN_T3_GEMV_ROWS)
            bn_t3_gemv_tile(w, act, r, BN_T3_GEMV_ROWS, tab, ahead, v);
        else
            bn_t3_gemv_tile(w, act, r, 1, tab, ahead, v);
        bn_ternary_store_rows(w, act, r, R, v, y, acc_out);
        r += R;
    }
}

void bn_gemm_t3_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    if (act->n_tokens != 1) {
        bn_kernels_avx512.ternary[BN_LAYOUT_T3].gemm(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    bn_t3_gemv(w, act, row_begin, row_end, y, NULL);
}

void bn_gemm_acc_t3_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, int32_t *acc,
                                  int64_t acc_stride) {
    if (act->n_tokens != 1) {
        bn_kernels_avx512.ternary[BN_LAYOUT_T3].gemm_acc(w, act, row_begin, row_end, acc,
                                                         acc_stride);
        return;
    }
    bn_t3_gemv(w, act, row_begin, row_end, NULL, acc);
}

/* ------------------------------------------------------------------------ */
/* I2 matrix-vector product (one token)                                      */

/* Per 256 weights (two 128-value blocks, 64 bytes) and row: one
 * gf2p8affineqb per 2-bit group (the bit matrix moves bits 6-2g, 7-2g of
 * each byte to bits 0-1 and clears the rest, i.e. shift and mask in one
 * instruction) and one dpbusd, 8 rows per tile sharing the activation
 * loads, and the tile's contiguous rows prefetched linearly. Same exact
 * int32 sums as every table. Batches go to the avx512 table (2..16 tokens:
 * x86/avx512_batch.c, which measured slower with this GFNI decode; more:
 * its tiled kernel), and so do BLOCK256 scales (to the reference, as there). */
#define BN_I2_GEMV_ROWS 8 /* rows per tile */

BN_INLINE void bn_i2_gemv_tile(const bn_ternary_matrix *w, const bn_act_batch *act, int64_t r0,
                               const int R, uint64_t ahead, int32_t out[BN_I2_GEMV_ROWS]) {
    /* Group g: output bit b (0, 1) = input bit 6 - 2g + b; the row of output
     * bit b is byte 7 - b of the matrix. */
    __m512i mat[4];
    for (int g = 0; g < 4; g++)
        mat[g] = _mm512_set1_epi64((long long)((1ull << (6 - 2 * g)) << 56 |
                                               (1ull << (7 - 2 * g)) << 48));
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
        for (int g = 0; g < 4; g++) /* values 32g.. of both blocks */
            a[g] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q + c * 256 + 32 * g))),
                _mm256_loadu_si256((const __m256i *)(q + c * 256 + 128 + 32 * g)), 1);
        for (int i = 0; i < R; i++) {
            const __m512i wv = _mm512_loadu_si512(rows[i] + c * 64);
            for (int g = 0; g < 4; g++)
                acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_gf2p8affine_epi64_epi8(wv, mat[g], 0),
                                             a[g]);
        }
    }
    if (w->Kp % 256) { /* one trailing 128-value block: 256-bit vectors */
        const int64_t off = n2 * 256;
        for (int i = 0; i < R; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(rows[i] + n2 * 64));
            __m256i s = _mm256_setzero_si256();
            for (int g = 0; g < 4; g++)
                s = _mm256_dpbusd_epi32(s,
                                        _mm256_gf2p8affine_epi64_epi8(
                                            wv, _mm512_castsi512_si256(mat[g]), 0),
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

void bn_gemm_i2_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                              int64_t row_begin, int64_t row_end, float *y, int64_t y_stride) {
    if (act->n_tokens != 1 || w->scale_kind == BN_TERNARY_SCALE_BLOCK256) {
        bn_kernels_avx512.ternary[BN_LAYOUT_I2].gemm(w, act, row_begin, row_end, y, y_stride);
        return;
    }
    bn_i2_gemv(w, act, row_begin, row_end, y, NULL);
}

void bn_gemm_acc_i2_i8_avx512vbmi(const bn_ternary_matrix *w, const bn_act_batch *act,
                                  int64_t row_begin, int64_t row_end, int32_t *acc,
                                  int64_t acc_stride) {
    if (act->n_tokens != 1) {
        bn_kernels_avx512.ternary[BN_LAYOUT_I2].gemm_acc(w, act, row_begin, row_end, acc,
                                                         acc_stride);
        return;
    }
    bn_i2_gemv(w, act, row_begin, row_end, NULL, acc);
}
