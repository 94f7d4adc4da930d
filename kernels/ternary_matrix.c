/* ternary_matrix.c: building ternary weight matrices in the kernel layouts.
 *
 * Owns the choice of layout for a (family, stored type) pair, the zero-copy
 * path for I2_S, the packing of plain trits into I2 / T5 / LUT2 (kernels.h
 * describes each layout), the scale canonicalisation (equal block scales
 * become one tensor or row scale) and the way back to trits for tests.
 * Stored formats other than the zero-copy one are decoded with the ternary
 * codec (loader/ternary_codec.h) and packed from trits.
 * Runs once at load; allocates; never touches activations.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/internal.h"
#include "loader/half.h"
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

/* Does any value of this run differ from zero? */
static bool bn_any_nonzero(const int8_t *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (v[i])
            return true;
    return false;
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
    uint64_t total;
    switch (layout) {
    case BN_LAYOUT_I2:
        out->Kp = bn_round_up(K, BN_I2_BLOCK);
        out->row_bytes = (uint64_t)out->Kp / 4;
        total = out->row_bytes * (uint64_t)rows;
        break;
    case BN_LAYOUT_T5:
        out->Kp = bn_round_up(K, BN_T5_CHUNK);
        out->row_bytes = (uint64_t)(out->Kp / BN_T5_CHUNK) * BN_T5_CHUNK_BYTES;
        total = out->row_bytes * (uint64_t)rows;
        break;
    case BN_LAYOUT_T3:
        out->Kp = bn_round_up(K, BN_T3_CHUNK);
        out->row_bytes = (uint64_t)(out->Kp / BN_T3_CHUNK) * BN_T3_CHUNK_BYTES;
        total = out->row_bytes * (uint64_t)rows;
        break;
    default: /* BN_LAYOUT_LUT2 */
        out->Kp = bn_round_up(K, BN_LUT_KBLOCK);
        out->row_bytes = (uint64_t)out->Kp / 4 * BN_LUT_TILE_ROWS;
        total = out->row_bytes * (uint64_t)((rows + BN_LUT_TILE_ROWS - 1) / BN_LUT_TILE_ROWS);
        break;
    }
    out->owned = aligned_alloc(64, (size_t)bn_round_up((int64_t)total, 64));
    if (!out->owned) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "ternary matrix: cannot allocate %llu bytes for %lld x %lld",
                          (unsigned long long)total, (long long)rows, (long long)K);
        goto fail;
    }
    bn_pack(out, values);
    out->data = out->owned;
    out->data_bytes = total;
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

/* TQ2_0 -> I2 without decoding: a TQ2_0 block's 64 code bytes are two I2
 * blocks whose 2-bit fields sit in the opposite order (value 32l + m at bits
 * 2l instead of 6 - 2l), so each byte only has its bit pairs reversed. The
 * f16 block scales become one TENSOR or ROW scale when they agree (over the
 * blocks that hold a nonzero weight), else BLOCK256 floats. Runs at memory
 * speed: this is the load path of TQ2_0 files for the MAD family. */
#define BN_TQ2_BYTES 66
static bn_status bn_init_tq2_direct(const uint8_t *data, uint64_t n_bytes, int64_t K,
                                    int64_t rows, bn_ternary_matrix *out, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    const int64_t nb = K / 256;
    uint64_t need = (uint64_t)nb * BN_TQ2_BYTES * (uint64_t)rows;
    float *sc = NULL, *rs = NULL;
    if (n_bytes < need)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "TQ2_0 tensor %lld x %lld: %llu bytes, expected %llu", (long long)rows,
                            (long long)K, (unsigned long long)n_bytes, (unsigned long long)need);
    sc = malloc((size_t)(rows * nb) * sizeof *sc);
    rs = malloc((size_t)rows * sizeof *rs);
    out->owned = aligned_alloc(64, (size_t)bn_round_up(K / 4 * rows, 64));
    if (!sc || !rs || !out->owned) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "TQ2_0 tensor %lld x %lld: no memory",
                          (long long)rows, (long long)K);
        goto fail;
    }
    uint8_t rev[256];
    for (int b = 0; b < 256; b++)
        rev[b] = (uint8_t)(((b & 0x03) << 6) | ((b & 0x0c) << 2) | ((b & 0x30) >> 2) |
                           ((b & 0xc0) >> 6));
    bool tensor_eq = true, row_eq = true, have_t = false;
    uint16_t d_t = 0;
    uint8_t *dst = out->owned;
    for (int64_t r = 0; r < rows; r++) {
        bool have_r = false;
        uint16_t d_r = 0;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = data + (uint64_t)(r * nb + b) * BN_TQ2_BYTES;
            uint16_t d;
            memcpy(&d, blk + 64, 2);
            sc[r * nb + b] = bn_f16_to_f32(d);
            bool nonzero = false;
            for (int i = 0; i < 64; i++) {
                uint8_t c = blk[i];
                if (c & (c >> 1) & 0x55) {
                    st = bn_error_set(err, BN_STATUS_FORMAT,
                                      "TQ2_0 tensor: 2-bit code 3 in row %lld, block %lld, byte %d",
                                      (long long)r, (long long)b, i);
                    goto fail;
                }
                nonzero |= c != 0x55;
                dst[(r * nb + b) * 64 + i] = rev[c];
            }
            if (!nonzero)
                continue;
            if (have_r && d != d_r)
                row_eq = false;
            if (have_t && d != d_t)
                tensor_eq = false;
            have_r = have_t = true;
            d_r = d;
            d_t = d;
        }
        rs[r] = have_r ? bn_f16_to_f32(d_r) : 0.0f;
    }
    out->layout = BN_LAYOUT_I2;
    out->K = K;
    out->rows = rows;
    out->Kp = K;
    out->row_bytes = (uint64_t)K / 4;
    out->data = out->owned;
    out->data_bytes = out->row_bytes * (uint64_t)rows;
    if (row_eq && tensor_eq) {
        out->scale_kind = BN_TERNARY_SCALE_TENSOR;
        out->scale = have_t ? bn_f16_to_f32(d_t) : 0.0f;
        free(sc);
        free(rs);
    } else if (row_eq) {
        out->scale_kind = BN_TERNARY_SCALE_ROW;
        out->scales = out->owned_scales = rs;
        free(sc);
    } else {
        out->scale_kind = BN_TERNARY_SCALE_BLOCK256;
        out->scales = out->owned_scales = sc;
        free(rs);
    }
    return BN_STATUS_OK;
fail:
    free(sc);
    free(rs);
    bn_ternary_matrix_free(out);
    return st;
}

bn_status bn_ternary_matrix_init(const bn_kernels *k, bn_kernel_family family,
                                 bn_tensor_type type, const void *data, uint64_t n_bytes,
                                 int64_t K, int64_t rows, bn_ternary_matrix *out,
                                 bn_error *err) {
    bn_status st = BN_STATUS_OK;
    int8_t *values = NULL;
    float *scales = NULL;
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
    if (family == BN_FAMILY_MAD && type == BN_TYPE_TQ2_0 && K % 256 == 0)
        return bn_init_tq2_direct(data, n_bytes, K, rows, out, err);

    size_t n_scales = bn_ternary_scale_count(type, K, rows);
    values = malloc((size_t)(K * rows));
    scales = malloc((n_scales ? n_scales : 1) * sizeof *scales);
    if (!values || !scales) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "ternary matrix: no memory to decode %lld x %lld %s", (long long)rows,
                          (long long)K, tr->name);
        goto fail;
    }
    bn_ternary_scale_kind kind;
    st = bn_ternary_decode(type, data, n_bytes, K, rows, values, scales, &kind, err);
    if (st != BN_STATUS_OK)
        goto fail;
    /* The family's layout, if the table (when given) has a kernel for it:
     * a table still being written may leave an entry NULL; I2 always works. */
    bn_ternary_layout layout = BN_LAYOUT_I2;
    if (family == BN_FAMILY_LUT)
        layout = BN_LAYOUT_LUT2;
    else if (type == BN_TYPE_TQ1_0 || type == BN_TYPE_IQ1_BN)
        layout = (!k || k->ternary[BN_LAYOUT_T3].gemm) ? BN_LAYOUT_T3 : BN_LAYOUT_T5;
    if (k && !k->ternary[layout].gemm)
        layout = BN_LAYOUT_I2;
    st = bn_ternary_matrix_init_values(layout, values, scales, kind, K, rows, out, err);
    if (st != BN_STATUS_OK)
        goto fail;
    free(values);
    free(scales);
    return BN_STATUS_OK;
fail:
    free(values);
    free(scales);
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
