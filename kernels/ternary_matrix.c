/* ternary_matrix.c: building ternary weight matrices in the kernel layouts.
 *
 * Owns the choice of layout for a (family, stored type) pair, the zero-copy
 * path for I2_S, the packing of plain trits into I2 / T5 / T3 / LUT2
 * (kernels.h describes each layout), the scale canonicalisation (equal block
 * scales become one tensor or row scale) and the way back to trits for tests.
 * Stored formats other than the zero-copy one are decoded a row at a time
 * with the ternary codec (bn_ternary_decode_rows) and packed while the row
 * is in L1: no rows*K trit buffer. bn_pack / init_values are the plain
 * definition of each layout; the row packers must give the same bytes.
 * Runs once at load; allocates; never touches activations.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/internal.h"
#include "loader/half.h"
#include "loader/page_advice.h"
#include "runtime/error.h"

int bn_ternary_matrix_code(const bn_ternary_matrix *m, int64_t r, int64_t k) {
    switch (m->layout) {
    case BN_LAYOUT_I2:
        return bn_i2_code(m->data + (uint64_t)r * m->row_bytes, k);
    case BN_LAYOUT_T5:
        return bn_t5_code(m->data + (uint64_t)r * m->row_bytes, k);
    case BN_LAYOUT_LUT2: {
        int i = bn_lut2_index(m, r, k / 2);
        return (k & 1) ? i >> 2 : i & 3;
    }
    case BN_LAYOUT_T3:
        return bn_t3_code(m->data + (uint64_t)r * m->row_bytes, k);
    default:
        return 1;
    }
}

void bn_ternary_matrix_codes(const bn_ternary_matrix *m, int64_t r, int64_t k0, int64_t n,
                             uint8_t *codes) {
    const uint8_t *row = m->data + (uint64_t)r * m->row_bytes;
    if (m->layout == BN_LAYOUT_I2 && k0 % BN_I2_BLOCK == 0) {
        /* Whole blocks: byte j of a block holds values j, 32+j, 64+j, 96+j. */
        for (int64_t k = 0; k < n; k += BN_I2_BLOCK) {
            const uint8_t *blk = row + (k0 + k) / BN_I2_BLOCK * BN_I2_BLOCK_BYTES;
            int64_t len = n - k < BN_I2_BLOCK ? n - k : BN_I2_BLOCK;
            for (int64_t i = 0; i < len; i++)
                codes[k + i] = (blk[i % 32] >> (6 - 2 * (i / 32))) & 3;
        }
        return;
    }
    if (m->layout == BN_LAYOUT_T5 && k0 % BN_T5_CHUNK == 0) {
        static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
        for (int64_t k = 0; k < n; k += BN_T5_CHUNK) {
            const uint8_t *ch = row + (k0 + k) / BN_T5_CHUNK * BN_T5_CHUNK_BYTES;
            int64_t len = n - k < BN_T5_CHUNK ? n - k : BN_T5_CHUNK;
            for (int64_t i = 0; i < len; i++) {
                uint8_t u = (uint8_t)(ch[i % 64] * pow3[i / 64]);
                codes[k + i] = (uint8_t)((u * 3) >> 8);
            }
        }
        return;
    }
    if (m->layout == BN_LAYOUT_T3 && k0 % BN_T3_CHUNK == 0) {
        for (int64_t k = 0; k < n; k += BN_T3_CHUNK) {
            const uint8_t *ch = row + (k0 + k) / BN_T3_CHUNK * BN_T3_CHUNK_BYTES;
            int64_t len = n - k < BN_T3_CHUNK ? n - k : BN_T3_CHUNK;
            for (int64_t i = 0; i < len; i++) {
                int p = (int)(i / 64), j = (int)(i % 64);
                int mag = (ch[j % 32] >> (4 * (j / 32))) & 15;
                int code = bn_t3_pos_code(mag, p);
                codes[k + i] = (uint8_t)(((ch[32 + j / 8] >> (j % 8)) & 1) ? 2 - code : code);
            }
        }
        return;
    }
    for (int64_t k = 0; k < n; k++)
        codes[k] = (uint8_t)bn_ternary_matrix_code(m, r, k0 + k);
}

/* Does any value of this run differ from zero? (An OR over the run, no
 * early exit: it vectorizes, and the load path calls it on every block.) */
static bool bn_any_nonzero(const int8_t *v, int64_t n) {
    uint8_t acc = 0;
    for (int64_t i = 0; i < n; i++)
        acc |= (uint8_t)v[i];
    return acc != 0;
}

/* Replaces BLOCK256 scales by ROW ones (and ROW by TENSOR) when they are
 * equal wherever a weight is nonzero; blocks or rows of zeros take any scale.
 * The float results then follow the simpler epilogue (one multiply by the
 * summed accumulator), which is also the more accurate one. `scales` is
 * rewritten in place; returns the new kind. */
static bn_ternary_scale_kind bn_scales_canonical(const int8_t *values, float *scales,
                                                 bn_ternary_scale_kind kind, int64_t K,
                                                 int64_t rows) {
    if (kind == BN_TERNARY_SCALE_BLOCK256) {
        int64_t nb = K / 256;
        /* Check every row first: a failure must leave the scales untouched. */
        for (int pass = 0; pass < 2; pass++)
            for (int64_t r = 0; r < rows; r++) {
                bool have = false;
                float s = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    if (!bn_any_nonzero(values + r * K + b * 256, 256))
                        continue;
                    float d = scales[r * nb + b];
                    if (have && memcmp(&d, &s, sizeof d) != 0)
                        return kind;
                    have = true;
                    s = d;
                }
                if (pass == 1)
                    scales[r] = s; /* r <= r * nb: no unread block is overwritten */
            }
        kind = BN_TERNARY_SCALE_ROW;
    }
    if (kind == BN_TERNARY_SCALE_ROW) {
        bool have = false;
        float s = 0.0f;
        for (int64_t r = 0; r < rows; r++) {
            if (!bn_any_nonzero(values + r * K, K))
                continue;
            if (have && memcmp(&scales[r], &s, sizeof s) != 0)
                return kind;
            have = true;
            s = scales[r];
        }
        scales[0] = s;
        kind = BN_TERNARY_SCALE_TENSOR;
    }
    return kind;
}

/* Packs trits into the matrix's layout (m->layout, K, rows, Kp, row_bytes
 * already set; m->owned has rows * row_bytes (or tiles * row_bytes) bytes). */
static void bn_pack(bn_ternary_matrix *m, const int8_t *values) {
    uint8_t *dst = m->owned;
    const int64_t K = m->K, rows = m->rows, Kp = m->Kp;
#define BN_CODE(r, k) ((r) < rows && (k) < K ? values[(r) * K + (k)] + 1 : 1)
    switch (m->layout) {
    case BN_LAYOUT_I2:
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *row = dst + (uint64_t)r * m->row_bytes;
            for (int64_t b = 0; b < Kp / BN_I2_BLOCK; b++)
                for (int j = 0; j < 32; j++) {
                    unsigned byte = 0;
                    for (int g = 0; g < 4; g++)
                        byte |= (unsigned)BN_CODE(r, b * 128 + 32 * g + j) << (6 - 2 * g);
                    row[b * 32 + j] = (uint8_t)byte;
                }
        }
        break;
    case BN_LAYOUT_T5:
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *row = dst + (uint64_t)r * m->row_bytes;
            for (int64_t c = 0; c < Kp / BN_T5_CHUNK; c++)
                for (int j = 0; j < 64; j++) {
                    unsigned n = 0;
                    for (int i = 0; i < 5; i++)
                        n = n * 3 + (unsigned)BN_CODE(r, c * 320 + 64 * i + j);
                    /* ceil(n * 256 / 243): the fixed-point fraction n / 3^5
                     * rounded up, so that multiplying by 3^i brings trit i
                     * to the top and (u * 3) >> 8 reads it (FORMATS.md 3.4). */
                    row[c * 64 + j] = (uint8_t)((n * 256 + 242) / 243);
                }
        }
        break;
    case BN_LAYOUT_T3:
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *row = dst + (uint64_t)r * m->row_bytes;
            for (int64_t c = 0; c < Kp / BN_T3_CHUNK; c++) {
                uint8_t *ch = row + c * BN_T3_CHUNK_BYTES;
                memset(ch, 0, BN_T3_CHUNK_BYTES);
                for (int j = 0; j < 64; j++) {
                    int64_t k = c * BN_T3_CHUNK + j;
                    int v = 9 * (BN_CODE(r, k) - 1) + 3 * (BN_CODE(r, k + 64) - 1) +
                            (BN_CODE(r, k + 128) - 1);
                    int mag = v < 0 ? -v : v;
                    ch[j % 32] |= (uint8_t)(mag << (4 * (j / 32)));
                    if (v < 0)
                        ch[32 + j / 8] |= (uint8_t)(1u << (j % 8));
                }
            }
        }
        break;
    case BN_LAYOUT_LUT2: {
        int64_t tiles = (rows + BN_LUT_TILE_ROWS - 1) / BN_LUT_TILE_ROWS;
        for (int64_t tl = 0; tl < tiles; tl++) {
            uint8_t *tile = dst + (uint64_t)tl * m->row_bytes;
            for (int64_t pp = 0; pp < Kp / 4; pp++)
                for (int j = 0; j < BN_LUT_TILE_ROWS; j++) {
                    int64_t r = tl * BN_LUT_TILE_ROWS + j, k = pp * 4;
                    unsigned lo = (unsigned)(BN_CODE(r, k) | BN_CODE(r, k + 1) << 2);
                    unsigned hi = (unsigned)(BN_CODE(r, k + 2) | BN_CODE(r, k + 3) << 2);
                    tile[pp * BN_LUT_TILE_ROWS + j] = (uint8_t)(lo | hi << 4);
                }
        }
        break;
    }
    default:
        break;
    }
#undef BN_CODE
}

/* Kp, row_bytes and total bytes of a layout for (K, rows). */
static uint64_t bn_layout_shape(bn_ternary_layout layout, int64_t K, int64_t rows, int64_t *Kp,
                                uint64_t *row_bytes) {
    switch (layout) {
    case BN_LAYOUT_I2:
        *Kp = bn_round_up(K, BN_I2_BLOCK);
        *row_bytes = (uint64_t)*Kp / 4;
        return *row_bytes * (uint64_t)rows;
    case BN_LAYOUT_T5:
        *Kp = bn_round_up(K, BN_T5_CHUNK);
        *row_bytes = (uint64_t)(*Kp / BN_T5_CHUNK) * BN_T5_CHUNK_BYTES;
        return *row_bytes * (uint64_t)rows;
    case BN_LAYOUT_T3:
        *Kp = bn_round_up(K, BN_T3_CHUNK);
        *row_bytes = (uint64_t)(*Kp / BN_T3_CHUNK) * BN_T3_CHUNK_BYTES;
        return *row_bytes * (uint64_t)rows;
    default: /* BN_LAYOUT_LUT2 */
        *Kp = bn_round_up(K, BN_LUT_KBLOCK);
        *row_bytes = (uint64_t)*Kp / 4 * BN_LUT_TILE_ROWS;
        return *row_bytes * (uint64_t)((rows + BN_LUT_TILE_ROWS - 1) / BN_LUT_TILE_ROWS);
    }
}

/* Bytes of the `owned` allocation: the packed rows, then (T3) the row sums
 * at the next multiple of 64. */
static size_t bn_owned_bytes(bn_ternary_layout layout, uint64_t total, int64_t rows) {
    size_t n = (size_t)bn_round_up((int64_t)total, 64);
    if (layout == BN_LAYOUT_T3)
        n += (size_t)bn_round_up(rows * (int64_t)sizeof(int32_t), 64);
    return n;
}

static int32_t *bn_row_sums_at(bn_ternary_layout layout, void *owned, uint64_t total) {
    if (layout != BN_LAYOUT_T3)
        return NULL;
    return (int32_t *)((uint8_t *)owned + bn_round_up((int64_t)total, 64));
}

/* Sum of n trits in {-1, 0, +1}. 32 int8 lanes take up to 127 steps each
 * (|lane| <= 127: no overflow) before they are widened: byte adds vectorize
 * at full width, where an int32 sum widened every trit twice (the widening
 * was half the time of the T3 load path). */
static int32_t bn_trit_sum(const int8_t *w, int64_t n) {
    int32_t s = 0;
    int64_t k = 0;
    while (n - k >= 32) {
        int64_t steps = (n - k) / 32 < 127 ? (n - k) / 32 : 127;
        int8_t lane[32] = {0};
        for (int64_t i = 0; i < steps; i++, k += 32)
            for (int j = 0; j < 32; j++)
                lane[j] = (int8_t)(lane[j] + w[k + j]);
        for (int j = 0; j < 32; j++)
            s += lane[j];
    }
    for (; k < n; k++)
        s += w[k];
    return s;
}

/* ---- the load path: one row (LUT2: one 64-row tile) at a time ----------
 *
 * bn_pack above is the plain definition of each layout; the packers below
 * produce the same bytes (tests/kernels/test_ternary_matrix.c compares them)
 * from a row of Kp trits already zero-padded past K, in loops the compiler
 * vectorizes, so a matrix is decoded and packed while its row is in L1. */

/* w: (Kp) trits -> one I2 row. */
static void bn_pack_row_i2(const int8_t *w, int64_t Kp, uint8_t *row) {
    for (int64_t b = 0; b < Kp / BN_I2_BLOCK; b++, w += BN_I2_BLOCK, row += BN_I2_BLOCK_BYTES)
        for (int j = 0; j < 32; j++)
            row[j] = (uint8_t)((w[j] + 1) << 6 | (w[32 + j] + 1) << 4 | (w[64 + j] + 1) << 2 |
                               (w[96 + j] + 1));
}

/* w: (Kp) trits -> one T5 row. */
static void bn_pack_row_t5(const int8_t *w, int64_t Kp, uint8_t *row) {
    for (int64_t c = 0; c < Kp / BN_T5_CHUNK; c++, w += BN_T5_CHUNK, row += BN_T5_CHUNK_BYTES)
        for (int j = 0; j < 64; j++) {
            unsigned n = (unsigned)(w[j] + 1) * 81 + (unsigned)(w[64 + j] + 1) * 27 +
                         (unsigned)(w[128 + j] + 1) * 9 + (unsigned)(w[192 + j] + 1) * 3 +
                         (unsigned)(w[256 + j] + 1);
            row[j] = (uint8_t)((n * 256 + 242) / 243);
        }
}

/* w: (Kp) trits -> one T3 row. Byte arithmetic throughout (v = 9a + 3b + c
 * fits an int8; |v| by sign mask) so the loop vectorizes at full width. The
 * 8 sign bytes gather one flag byte each from 8 triplets with a multiply:
 * flag byte i (0 or 1) times bit 7 + 7*(7-i) of the constant lands on bit
 * 56 + i, and no two products share a bit. */
static void bn_pack_row_t3(const int8_t *w, int64_t Kp, uint8_t *row) {
    for (int64_t c = 0; c < Kp / BN_T3_CHUNK; c++, w += BN_T3_CHUNK, row += BN_T3_CHUNK_BYTES) {
        uint8_t mag[64], neg[64];
        for (int j = 0; j < 64; j++) {
            int8_t a = w[j], b = w[64 + j], d = w[128 + j];
            int8_t v = (int8_t)(a + a + a + b);
            v = (int8_t)(v + v + v + d);
            int8_t sm = (int8_t)(v >> 7); /* 0 or -1 */
            mag[j] = (uint8_t)((v ^ sm) - sm);
            neg[j] = (uint8_t)(sm & 1);
        }
        for (int j = 0; j < 32; j++)
            row[j] = (uint8_t)(mag[j] | (uint8_t)(mag[32 + j] << 4));
        for (int q = 0; q < 8; q++) {
            uint64_t x = 0; /* flag byte i at bits 8i */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            memcpy(&x, neg + 8 * q, 8);
#else
            for (int i = 0; i < 8; i++)
                x |= (uint64_t)neg[8 * q + i] << (8 * i);
#endif
            row[32 + q] = (uint8_t)((x * 0x0102040810204080ull) >> 56);
        }
    }
}

/* w: (64, Kp) trits, rows past the matrix zero -> one LUT2 tile, through
 * tmp (64, Kp / 4): each row's index bytes first (contiguous, vectorizes),
 * then a byte transpose into the tile's row-fastest order. */
static void bn_pack_tile_lut2(const int8_t *w, int64_t Kp, uint8_t *tmp, uint8_t *tile) {
    const int64_t np = Kp / 4;
    for (int j = 0; j < BN_LUT_TILE_ROWS; j++) {
        const int8_t *x = w + j * Kp;
        uint8_t *o = tmp + j * np;
        for (int64_t pp = 0; pp < np; pp++)
            o[pp] = (uint8_t)((uint8_t)(x[4 * pp] + 1) | (uint8_t)(x[4 * pp + 1] + 1) << 2 |
                              (uint8_t)(x[4 * pp + 2] + 1) << 4 |
                              (uint8_t)(x[4 * pp + 3] + 1) << 6);
    }
    /* Eight bytes of a row at a time (np is a multiple of 64): one load
     * feeds eight stores, one into each of eight 64-byte tile lines. */
    for (int64_t p0 = 0; p0 < np; p0 += 8, tile += 8 * BN_LUT_TILE_ROWS)
        for (int j = 0; j < BN_LUT_TILE_ROWS; j++) {
            const uint8_t *x = tmp + j * np + p0;
            for (int i = 0; i < 8; i++)
                tile[i * BN_LUT_TILE_ROWS + j] = x[i];
        }
}

/* Asks the kernel for the whole pages of [p, p + n) in one call before the
 * packers write them: one page fault per 4 KiB page was the largest kernel
 * cost of loading a repacked file (the packed rows of the 2B4T shape are
 * ~430 MB), and populating them in a batch saves 10-20% of it. A hint: an
 * older kernel (no MADV_POPULATE_WRITE, Linux < 5.14) or a failure leaves
 * the pages to be faulted in as before. */
static void bn_prefault(void *p, size_t n) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    bn_advise_whole_pages(p, n, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

static bool bn_same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Decodes the stored tensor a row at a time and packs it into `layout`,
 * folding the scales as bn_scales_canonical does (same result as
 * bn_ternary_decode + bn_ternary_matrix_init_values, without the rows*K
 * trit buffer). Block scales that stay unequal need I2: the caller retries
 * then (returned as *need_i2, nothing built). */
static bn_status bn_init_streamed(bn_ternary_layout layout, bn_tensor_type type,
                                  const uint8_t *data, uint64_t n_bytes, int64_t K, int64_t rows,
                                  bn_ternary_matrix *out, bool *need_i2, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    int8_t *buf = NULL; /* (group, Kp) trits, zero past K; LUT2: + (64, Kp/4) */
    float *sc = NULL;   /* BLOCK256: (rows, K/256) block scales */
    float *rs = NULL;   /* (rows) row scales */
    *need_i2 = false;
    memset(out, 0, sizeof *out);
    int64_t Kp;
    uint64_t row_bytes, total = bn_layout_shape(layout, K, rows, &Kp, &row_bytes);
    const int64_t group = layout == BN_LAYOUT_LUT2 ? BN_LUT_TILE_ROWS : 1;
    const int64_t nb = K / 256;
    buf = calloc((size_t)(group * Kp + (group > 1 ? group * Kp / 4 : 0)), 1);
    rs = malloc((size_t)rows * sizeof *rs);
    float *row_sc = malloc((size_t)(nb > 1 ? nb : 1) * sizeof *row_sc); /* one row's scales */
    const size_t owned_bytes = bn_owned_bytes(layout, total, rows);
    out->owned = aligned_alloc(64, owned_bytes);
    if (out->owned)
        bn_prefault(out->owned, owned_bytes);
    int32_t *sums = out->owned ? bn_row_sums_at(layout, out->owned, total) : NULL;
    if (!buf || !rs || !row_sc || !out->owned) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "ternary matrix: cannot allocate %llu bytes for %lld x %lld",
                          (unsigned long long)total, (long long)rows, (long long)K);
        goto done;
    }
    bn_ternary_scale_kind kind = BN_TERNARY_SCALE_TENSOR;
    bool row_eq = true, tensor_eq = true, have_t = false;
    float s_t = 0.0f, s_tensor = 0.0f;
    uint8_t *dst = out->owned;
    for (int64_t r0 = 0; r0 < rows; r0 += group) {
        int64_t n = rows - r0 < group ? rows - r0 : group;
        for (int64_t i = 0; i < n; i++) {
            int8_t *w = buf + i * Kp;
            int64_t r = r0 + i;
            st = bn_ternary_decode_rows(type, data, n_bytes, K, rows, r, 1, w, row_sc, &kind,
                                        err);
            if (st != BN_STATUS_OK)
                goto done;
            if (kind == BN_TERNARY_SCALE_TENSOR) {
                s_tensor = row_sc[0];
            } else if (kind == BN_TERNARY_SCALE_ROW) {
                rs[r] = row_sc[0];
                /* Only a scale that differs needs the row's zero test. */
                bool same = have_t && bn_same_bits(row_sc[0], s_t);
                if (tensor_eq && !same && bn_any_nonzero(w, K)) {
                    if (have_t && !bn_same_bits(row_sc[0], s_t))
                        tensor_eq = false;
                    have_t = true;
                    s_t = row_sc[0];
                }
            } else { /* BLOCK256 */
                if (!sc) {
                    sc = malloc((size_t)(rows * nb) * sizeof *sc);
                    if (!sc) {
                        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                                          "ternary matrix: no memory for %lld scales",
                                          (long long)(rows * nb));
                        goto done;
                    }
                }
                memcpy(sc + r * nb, row_sc, (size_t)nb * sizeof *sc);
                bool have_r = false;
                float s_r = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    /* A block whose scale matches both runs changes nothing,
                     * zero or not: skip its zero test. */
                    if (have_r && have_t && bn_same_bits(row_sc[b], s_r) &&
                        bn_same_bits(row_sc[b], s_t))
                        continue;
                    if (!bn_any_nonzero(w + b * 256, 256))
                        continue;
                    if (have_r && !bn_same_bits(row_sc[b], s_r))
                        row_eq = false;
                    if (have_t && !bn_same_bits(row_sc[b], s_t))
                        tensor_eq = false;
                    have_r = have_t = true;
                    s_r = s_t = row_sc[b];
                }
                rs[r] = s_r;
            }
        }
        if (layout == BN_LAYOUT_LUT2) {
            if (n < group)
                memset(buf + n * Kp, 0, (size_t)((group - n) * Kp));
            bn_pack_tile_lut2(buf, Kp, (uint8_t *)buf + group * Kp,
                              dst + (uint64_t)(r0 / group) * row_bytes);
        } else {
            uint8_t *row = dst + (uint64_t)r0 * row_bytes;
            if (layout == BN_LAYOUT_I2)
                bn_pack_row_i2(buf, Kp, row);
            else if (layout == BN_LAYOUT_T5)
                bn_pack_row_t5(buf, Kp, row);
            else {
                bn_pack_row_t3(buf, Kp, row);
                sums[r0] = bn_trit_sum(buf, K);
            }
        }
    }
    out->layout = layout;
    out->K = K;
    out->rows = rows;
    out->Kp = Kp;
    out->row_bytes = row_bytes;
    out->data = out->owned;
    out->data_bytes = total;
    out->row_sums = sums;
    if (kind == BN_TERNARY_SCALE_TENSOR) {
        out->scale_kind = BN_TERNARY_SCALE_TENSOR;
        out->scale = s_tensor;
    } else if (tensor_eq && row_eq) {
        out->scale_kind = BN_TERNARY_SCALE_TENSOR;
        out->scale = have_t ? s_t : 0.0f;
    } else if (row_eq) {
        out->scale_kind = BN_TERNARY_SCALE_ROW;
        out->scales = out->owned_scales = rs;
        rs = NULL;
    } else if (layout == BN_LAYOUT_I2) {
        out->scale_kind = BN_TERNARY_SCALE_BLOCK256;
        out->scales = out->owned_scales = sc;
        sc = NULL;
    } else {
        *need_i2 = true; /* only I2 kernels apply block scales */
    }
done:
    if (st != BN_STATUS_OK || *need_i2)
        bn_ternary_matrix_free(out);
    free(buf);
    free(sc);
    free(rs);
    free(row_sc);
    return st;
}

bn_status bn_ternary_matrix_init_values(bn_ternary_layout layout, const int8_t *values,
                                        const float *scales, bn_ternary_scale_kind kind,
                                        int64_t K, int64_t rows, bn_ternary_matrix *out,
                                        bn_error *err) {
    bn_status st = BN_STATUS_OK;
    float *sc = NULL;
    memset(out, 0, sizeof *out);
    if (K < 1 || rows < 1 || K > (1 << 24) || rows > (1 << 24) || (int)layout < 0 ||
        layout >= BN_LAYOUT_COUNT || (kind == BN_TERNARY_SCALE_BLOCK256 && K % 256 != 0)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "ternary matrix: bad shape K=%lld rows=%lld (layout %d, scale kind %d)",
                          (long long)K, (long long)rows, (int)layout, (int)kind);
        goto fail;
    }
    for (int64_t i = 0; i < K * rows; i++)
        if (values[i] < -1 || values[i] > 1) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                              "ternary matrix: value %d at row %lld column %lld is not -1, 0 "
                              "or 1",
                              values[i], (long long)(i / K), (long long)(i % K));
            goto fail;
        }
    size_t n_scales = kind == BN_TERNARY_SCALE_TENSOR ? 1
                      : kind == BN_TERNARY_SCALE_ROW  ? (size_t)rows
                                                      : (size_t)(rows * (K / 256));
    sc = malloc(n_scales * sizeof *sc);
    if (!sc) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "ternary matrix: no memory for %zu scales",
                          n_scales);
        goto fail;
    }
    memcpy(sc, scales, n_scales * sizeof *sc);
    kind = bn_scales_canonical(values, sc, kind, K, rows);
    if (kind == BN_TERNARY_SCALE_BLOCK256)
        layout = BN_LAYOUT_I2; /* the only layout whose kernels apply block scales */

    out->layout = layout;
    out->K = K;
    out->rows = rows;
    out->scale_kind = kind;
    uint64_t total = bn_layout_shape(layout, K, rows, &out->Kp, &out->row_bytes);
    out->owned = aligned_alloc(64, bn_owned_bytes(layout, total, rows));
    if (!out->owned) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "ternary matrix: cannot allocate %llu bytes for %lld x %lld",
                          (unsigned long long)total, (long long)rows, (long long)K);
        goto fail;
    }
    bn_pack(out, values);
    out->data = out->owned;
    out->data_bytes = total;
    int32_t *sums = bn_row_sums_at(layout, out->owned, total);
    for (int64_t r = 0; sums && r < rows; r++)
        sums[r] = bn_trit_sum(values + r * K, K);
    out->row_sums = sums;
    if (kind == BN_TERNARY_SCALE_TENSOR) {
        out->scale = sc[0];
        free(sc);
    } else {
        out->scales = sc;
        out->owned_scales = sc;
    }
    return BN_STATUS_OK;
fail:
    free(sc);
    bn_ternary_matrix_free(out);
    return st;
}

/* I2_S with whole 128-blocks per row is already the I2 layout: point at it. */
static bn_status bn_init_i2s_in_place(const uint8_t *data, uint64_t n_bytes, int64_t K,
                                      int64_t rows, bn_ternary_matrix *out, bn_error *err) {
    uint64_t packed = (uint64_t)K / 4 * (uint64_t)rows;
    if (n_bytes < packed + 32)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "I2_S tensor %lld x %lld: %llu bytes, expected at least %llu "
                            "(packed codes + 32-byte scale tail)",
                            (long long)rows, (long long)K, (unsigned long long)n_bytes,
                            (unsigned long long)(packed + 32));
    out->layout = BN_LAYOUT_I2;
    out->K = K;
    out->rows = rows;
    out->Kp = K;
    out->row_bytes = (uint64_t)K / 4;
    out->data = data;
    out->data_bytes = packed;
    out->scale_kind = BN_TERNARY_SCALE_TENSOR;
    memcpy(&out->scale, data + packed, sizeof out->scale);
    out->zero_copy = true;
    return BN_STATUS_OK;
}

bn_status bn_ternary_matrix_init(const bn_kernels *k, bn_kernel_family family,
                                 bn_tensor_type type, const void *data, uint64_t n_bytes,
                                 int64_t K, int64_t rows, bn_ternary_matrix *out,
                                 bn_error *err) {
    bn_status st = BN_STATUS_OK;
    memset(out, 0, sizeof *out);
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(type);
    bool floats = type == BN_TYPE_F32 || type == BN_TYPE_F16 || type == BN_TYPE_BF16;
    if (!tr || (!tr->is_ternary && !floats)) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "ternary matrix: type %s does not hold ternary weights",
                          tr ? tr->name : "(unknown)");
        goto fail;
    }
    if (K < 1 || rows < 1 || K > (1 << 24) || rows > (1 << 24) || (int)family < 0 ||
        family >= BN_FAMILY_COUNT) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "ternary matrix: bad shape K=%lld rows=%lld or family %d",
                          (long long)K, (long long)rows, (int)family);
        goto fail;
    }
    if (family == BN_FAMILY_MAD && type == BN_TYPE_I2_S && K % BN_I2_BLOCK == 0)
        return bn_init_i2s_in_place(data, n_bytes, K, rows, out, err);

    /* The family's layout, if the table (when given) has a kernel for it:
     * a table still being written may leave an entry NULL; I2 always works. */
    bn_ternary_layout layout = BN_LAYOUT_I2;
    if (family == BN_FAMILY_LUT)
        layout = BN_LAYOUT_LUT2;
    else if ((type == BN_TYPE_TQ1_0 || type == BN_TYPE_IQ1_BN) && !(k && k->mad_1p6_in_i2))
        layout = (!k || k->ternary[BN_LAYOUT_T3].gemm) ? BN_LAYOUT_T3 : BN_LAYOUT_T5;
    if (k && !k->ternary[layout].gemm)
        layout = BN_LAYOUT_I2;
    bool need_i2 = false;
    st = bn_init_streamed(layout, type, data, n_bytes, K, rows, out, &need_i2, err);
    if (st == BN_STATUS_OK && need_i2)
        st = bn_init_streamed(BN_LAYOUT_I2, type, data, n_bytes, K, rows, out, &need_i2, err);
    return st;
fail:
    bn_ternary_matrix_free(out);
    return st;
}

bn_status bn_ternary_matrix_decode(const bn_ternary_matrix *m, int8_t *values, float *scales,
                                   bn_ternary_scale_kind *kind, bn_error *err) {
    if (!m || !m->data)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "ternary matrix: decode of an empty "
                                                        "matrix");
    for (int64_t r = 0; r < m->rows; r++) {
        int8_t *v = values + r * m->K;
        bn_ternary_matrix_codes(m, r, 0, m->K, (uint8_t *)v);
        for (int64_t k = 0; k < m->K; k++)
            v[k] = (int8_t)(v[k] - 1);
    }
    *kind = m->scale_kind;
    if (m->scale_kind == BN_TERNARY_SCALE_TENSOR)
        scales[0] = m->scale;
    else if (m->scale_kind == BN_TERNARY_SCALE_ROW)
        memcpy(scales, m->scales, (size_t)m->rows * sizeof *scales);
    else
        memcpy(scales, m->scales, (size_t)(m->rows * (m->K / 256)) * sizeof *scales);
    return BN_STATUS_OK;
}

void bn_ternary_matrix_free(bn_ternary_matrix *m) {
    if (!m)
        return;
    free(m->owned);
    free(m->owned_scales);
    memset(m, 0, sizeof *m);
}
