/* ternary_codec.c: the bit-level layouts of ternary tensors (see the header).
 *
 * One decoder and one encoder per layout, each a plain loop in the order of
 * the bytes, written from FORMATS.md section 3 and checked against the
 * tiny-bitnet files written by bitnet.cpp and llama.cpp (tests/loader/
 * test_ternary_codec.c). The 2-bit layouts share the code convention
 * value = code - 1 (0 -> -1, 1 -> 0, 2 -> +1); the base-3 layouts pack five
 * codes into a byte as ceil(q * 256 / 243), which the decoder undoes with a
 * multiply and a shift (trit_of). Multi-byte fields are little-endian on disk
 * and are assembled byte by byte, so the host's byte order does not matter.
 */
#include "loader/ternary_codec.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "loader/half.h"
#include "runtime/error.h"

/* Weights per block of each layout. */
enum {
    I2S_BLOCK = 128,  /* 32 bytes */
    I2S_TAIL = 32,    /* f32 scale + 28 zero bytes */
    TQ_BLOCK = 256,   /* TQ2_0: 66 bytes, TQ1_0: 54 bytes */
    TQ2_BYTES = 66,
    TQ1_BYTES = 54,
    BN_BLOCK = 64,    /* IQ2_BN: 16 bytes, IQ1_BN: 13 bytes */
    IQ2BN_BYTES = 16,
    IQ1BN_BYTES = 13,
};

/* Largest rows*K we accept: keeps every byte count (at most 4 per weight)
 * far from 64-bit overflow. */
#define MAX_WEIGHTS ((int64_t)1 << 58)

static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static float rd_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    return bn_f32_from_bits(u);
}

static void wr_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void wr_f32(uint8_t *p, float f) {
    uint32_t u = bn_f32_to_bits(f);
    p[0] = (uint8_t)(u & 0xff);
    p[1] = (uint8_t)((u >> 8) & 0xff);
    p[2] = (uint8_t)((u >> 16) & 0xff);
    p[3] = (uint8_t)(u >> 24);
}

/* Digit n (0 = most significant of five) of a base-3 byte B = ceil(q*256/243).
 * B*3^n mod 256 shifts the wanted digit to the top of the byte's fraction
 * q/243 ~ B/256; times 3 over 256 reads it out. Always 0..2 for any byte. */
static int trit_of(uint8_t b, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t u = (uint8_t)(b * pow3[n]);
    return (u * 3) >> 8;
}

/* q in 0..242 (five base-3 digits) -> the stored byte. */
static uint8_t trit_pack(int q) { return (uint8_t)((q * 256 + 242) / 243); }

static const char *type_name(bn_tensor_type type) {
    switch (type) {
    case BN_TYPE_F32: return "F32";
    case BN_TYPE_F16: return "F16";
    case BN_TYPE_BF16: return "BF16";
    case BN_TYPE_Q8_0: return "Q8_0";
    case BN_TYPE_Q6_K: return "Q6_K";
    case BN_TYPE_TQ1_0: return "TQ1_0";
    case BN_TYPE_TQ2_0: return "TQ2_0";
    case BN_TYPE_I2_S: return "I2_S";
    case BN_TYPE_IQ1_BN: return "IQ1_BN";
    case BN_TYPE_IQ2_BN: return "IQ2_BN";
    case BN_TYPE_IQ2_BN_R4: return "IQ2_BN_R4";
    default: return "unknown";
    }
}

/* Checks (type, K, rows) and gives the layout's byte size; the message says
 * which rule the shape breaks. */
static bn_status layout_bytes(bn_tensor_type type, int64_t K, int64_t rows, uint64_t *out,
                              bn_status bad_shape, bn_error *err) {
    *out = 0;
    if (K < 1 || rows < 1 || K > MAX_WEIGHTS / rows)
        return bn_error_set(err, bad_shape, "%s tensor: bad shape K=%" PRId64 " rows=%" PRId64,
                            type_name(type), K, rows);
    uint64_t n = (uint64_t)K * (uint64_t)rows;
    switch (type) {
    case BN_TYPE_F32: *out = n * 4; break;
    case BN_TYPE_F16:
    case BN_TYPE_BF16: *out = n * 2; break;
    case BN_TYPE_I2_S:
        if (n % I2S_BLOCK != 0)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "I2_S tensor: %" PRIu64 " weights (K=%" PRId64 " x rows=%" PRId64
                                ") is not a multiple of the 128-weight block",
                                n, K, rows);
        *out = n / 4 + I2S_TAIL;
        break;
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0:
        if (K % TQ_BLOCK != 0)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "%s tensor: row length K=%" PRId64 " is not a multiple of 256",
                                type_name(type), K);
        *out = n / TQ_BLOCK * (type == BN_TYPE_TQ2_0 ? TQ2_BYTES : TQ1_BYTES);
        break;
    case BN_TYPE_IQ2_BN:
    case BN_TYPE_IQ1_BN:
        if (K % BN_BLOCK != 0)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "%s tensor: row length K=%" PRId64 " is not a multiple of 64",
                                type_name(type), K);
        *out = (uint64_t)rows * (type == BN_TYPE_IQ2_BN ? 4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES
                                                        : 2 + (uint64_t)K / BN_BLOCK * IQ1BN_BYTES);
        break;
    case BN_TYPE_IQ2_BN_R4:
        if (K % BN_BLOCK != 0 || rows % 4 != 0)
            return bn_error_set(err, bad_shape,
                                "IQ2_BN_R4 tensor: K=%" PRId64 " rows=%" PRId64 " (K must be a "
                                "multiple of 64 and rows of 4)",
                                K, rows);
        *out = (uint64_t)rows * (4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES);
        break;
    default:
        return bn_error_set(err, BN_STATUS_UNSUPPORTED, "%s is not a ternary tensor type",
                            type_name(type));
    }
    return BN_STATUS_OK;
}

uint64_t bn_ternary_encoded_bytes(bn_tensor_type type, int64_t K, int64_t rows) {
    uint64_t bytes = 0;
    if (layout_bytes(type, K, rows, &bytes, BN_STATUS_INVALID_ARG, NULL) != BN_STATUS_OK)
        return 0;
    return bytes;
}

size_t bn_ternary_scale_count(bn_tensor_type type, int64_t K, int64_t rows) {
    uint64_t bytes = 0;
    if (layout_bytes(type, K, rows, &bytes, BN_STATUS_INVALID_ARG, NULL) != BN_STATUS_OK)
        return 0;
    switch (type) {
    case BN_TYPE_I2_S: return 1;
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0: return (size_t)(rows * (K / TQ_BLOCK));
    default: return (size_t)rows; /* IQ*_BN, and floats that may need a scale per row */
    }
}

/* ---- decoding ---------------------------------------------------------- */

static bn_status bad_code(bn_tensor_type type, uint64_t index, int64_t K, uint64_t byte_offset,
                          bn_error *err) {
    return bn_error_set(err, BN_STATUS_FORMAT,
                        "%s tensor: 2-bit code 3 (not a ternary value) for weight %" PRIu64
                        " (row %" PRIu64 ", column %" PRIu64 ") at byte %" PRIu64,
                        type_name(type), index, index / (uint64_t)K, index % (uint64_t)K,
                        byte_offset);
}

/* Whole tensor in 128-value blocks: value 32g + j of a block sits in byte j,
 * bits 7-2g..6-2g (group 0 in the top bits). */
static bn_status decode_i2s(const uint8_t *p, int64_t K, int64_t rows, int8_t *values,
                            float *scales, bn_error *err) {
    uint64_t n = (uint64_t)K * (uint64_t)rows;
    for (uint64_t blk = 0; blk < n / I2S_BLOCK; blk++) {
        const uint8_t *b = p + blk * 32;
        int8_t *w = values + blk * I2S_BLOCK;
        for (int g = 0; g < 4; g++) {
            for (int j = 0; j < 32; j++) {
                int c = (b[j] >> (6 - 2 * g)) & 3;
                if (c == 3)
                    return bad_code(BN_TYPE_I2_S, blk * I2S_BLOCK + 32 * g + j, K, blk * 32 + j,
                                    err);
                w[32 * g + j] = (int8_t)(c - 1);
            }
        }
    }
    scales[0] = rd_f32(p + n / 4);
    return BN_STATUS_OK;
}

/* 256-value blocks of qs[64] + f16 d; value 128h + 32l + m in byte 32h + m,
 * bits 2l..2l+1 (low bits first). */
static bn_status decode_tq2(const uint8_t *p, int64_t K, int64_t rows, int8_t *values,
                            float *scales, bn_error *err) {
    uint64_t nblk = (uint64_t)K * (uint64_t)rows / TQ_BLOCK;
    for (uint64_t blk = 0; blk < nblk; blk++) {
        const uint8_t *b = p + blk * TQ2_BYTES;
        int8_t *w = values + blk * TQ_BLOCK;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 4; l++) {
                for (int m = 0; m < 32; m++) {
                    int c = (b[32 * h + m] >> (2 * l)) & 3;
                    if (c == 3)
                        return bad_code(BN_TYPE_TQ2_0, blk * TQ_BLOCK + 128 * h + 32 * l + m, K,
                                        blk * TQ2_BYTES + 32 * h + m, err);
                    w[128 * h + 32 * l + m] = (int8_t)(c - 1);
                }
            }
        }
        scales[blk] = bn_f16_to_f32(rd_u16(b + 64));
    }
    return BN_STATUS_OK;
}

/* 256-value blocks of qs[48] + qh[4] + f16 d, five (qh: four) base-3 digits
 * per byte, first value most significant:
 *   qs[m]      (m < 32): values m + 32n          (n = 0..4) -> 0..159
 *   qs[32 + m] (m < 16): values 160 + m + 16n    (n = 0..4) -> 160..239
 *   qh[j]      (j < 4):  values 240 + j + 4n     (n = 0..3) -> 240..255 */
static void decode_tq1(const uint8_t *p, int64_t K, int64_t rows, int8_t *values,
                       float *scales) {
    uint64_t nblk = (uint64_t)K * (uint64_t)rows / TQ_BLOCK;
    for (uint64_t blk = 0; blk < nblk; blk++) {
        const uint8_t *b = p + blk * TQ1_BYTES;
        int8_t *w = values + blk * TQ_BLOCK;
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 32; m++)
                w[m + 32 * n] = (int8_t)(trit_of(b[m], n) - 1);
        for (int n = 0; n < 5; n++)
            for (int m = 0; m < 16; m++)
                w[160 + m + 16 * n] = (int8_t)(trit_of(b[32 + m], n) - 1);
        for (int n = 0; n < 4; n++)
            for (int j = 0; j < 4; j++)
                w[240 + j + 4 * n] = (int8_t)(trit_of(b[48 + j], n) - 1);
        scales[blk] = bn_f16_to_f32(rd_u16(b + 52));
    }
}

/* Rows of f32 scale + 64-value blocks of 16 bytes; value j + 16s in byte j,
 * bits 2s..2s+1. */
static bn_status decode_iq2bn(const uint8_t *p, int64_t K, int64_t rows, int8_t *values,
                              float *scales, bn_error *err) {
    uint64_t row_bytes = 4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = p + (uint64_t)r * row_bytes;
        scales[r] = rd_f32(row);
        for (int64_t blk = 0; blk < K / BN_BLOCK; blk++) {
            const uint8_t *b = row + 4 + blk * IQ2BN_BYTES;
            int8_t *w = values + r * K + blk * BN_BLOCK;
            for (int s = 0; s < 4; s++) {
                for (int j = 0; j < 16; j++) {
                    int c = (b[j] >> (2 * s)) & 3;
                    if (c == 3)
                        return bad_code(BN_TYPE_IQ2_BN,
                                        (uint64_t)(r * K + blk * BN_BLOCK + j + 16 * s), K,
                                        (uint64_t)(b - p) + (uint64_t)j, err);
                    w[j + 16 * s] = (int8_t)(c - 1);
                }
            }
        }
    }
    return BN_STATUS_OK;
}

/* Rows of f16 scale + 64-value blocks of ql[12] + extra. Group g (16 values):
 * ql[3g + k] holds values 16g + 5k + j (j = 0..4, j = 0 least significant),
 * extra holds value 16g + 15 as digit g (g = 0 least significant). Digit j of
 * five, least significant first, is trit_of's digit 4 - j. */
static void decode_iq1bn(const uint8_t *p, int64_t K, int64_t rows, int8_t *values,
                         float *scales) {
    uint64_t row_bytes = 2 + (uint64_t)K / BN_BLOCK * IQ1BN_BYTES;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = p + (uint64_t)r * row_bytes;
        scales[r] = bn_f16_to_f32(rd_u16(row));
        for (int64_t blk = 0; blk < K / BN_BLOCK; blk++) {
            const uint8_t *b = row + 2 + blk * IQ1BN_BYTES;
            int8_t *w = values + r * K + blk * BN_BLOCK;
            for (int g = 0; g < 4; g++) {
                for (int k = 0; k < 3; k++)
                    for (int j = 0; j < 5; j++)
                        w[16 * g + 5 * k + j] = (int8_t)(trit_of(b[3 * g + k], 4 - j) - 1);
                w[16 * g + 15] = (int8_t)(trit_of(b[12], 4 - g) - 1);
            }
        }
    }
}

static float float_at(bn_tensor_type type, const uint8_t *p, uint64_t i) {
    if (type == BN_TYPE_F32)
        return rd_f32(p + 4 * i);
    uint16_t h = rd_u16(p + 2 * i);
    return type == BN_TYPE_F16 ? bn_f16_to_f32(h) : bn_bf16_to_f32(h);
}

/* Ternary values stored multiplied out, rows [r0, r0 + n) (messages name
 * the tensor's own rows). Each row must hold only 0 and +-s_r for its largest
 * magnitude s_r; scales[i] receives s_r of row r0 + i (0 for a row of zeros),
 * values the n*K trits. */
static bn_status decode_float_rows(bn_tensor_type type, const uint8_t *p, int64_t K, int64_t r0,
                                   int64_t n, int8_t *values, float *scales, bn_error *err) {
    for (int64_t r = r0; r < r0 + n; r++) {
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float v = float_at(type, p, (uint64_t)(r * K + k));
            if (isnan(v) || isinf(v))
                return bn_error_set(err, BN_STATUS_FORMAT,
                                    "%s tensor: weight %" PRId64 " (row %" PRId64
                                    ", column %" PRId64 ") is %g, not a ternary value",
                                    type_name(type), r * K + k, r, k, (double)v);
            if (fabsf(v) > s)
                s = fabsf(v);
        }
        for (int64_t k = 0; k < K; k++) {
            float v = float_at(type, p, (uint64_t)(r * K + k));
            int8_t t;
            if (v == 0.0f)
                t = 0;
            else if (v == s)
                t = 1;
            else if (v == -s)
                t = -1;
            else
                return bn_error_set(err, BN_STATUS_FORMAT,
                                    "%s tensor: weight %" PRId64 " (row %" PRId64
                                    ", column %" PRId64 ") is %.9g, neither 0 nor +-%.9g (the "
                                    "row's largest magnitude): not a ternary tensor",
                                    type_name(type), r * K + k, r, k, (double)v, (double)s);
            values[(r - r0) * K + k] = t;
        }
        scales[r - r0] = s;
    }
    return BN_STATUS_OK;
}

/* The whole float tensor: row scales, then one scale for the tensor when
 * every row that has one agrees. scales has room for rows floats. */
static bn_status decode_float(bn_tensor_type type, const uint8_t *p, int64_t K, int64_t rows,
                              int8_t *values, float *scales, bn_ternary_scale_kind *kind,
                              bn_error *err) {
    bn_status st = decode_float_rows(type, p, K, 0, rows, values, scales, err);
    if (st != BN_STATUS_OK)
        return st;
    float common = 0.0f;
    bool same = true;
    for (int64_t r = 0; r < rows; r++) {
        if (scales[r] == 0.0f)
            continue;
        if (common == 0.0f)
            common = scales[r];
        else if (scales[r] != common)
            same = false;
    }
    if (same) {
        scales[0] = common;
        *kind = BN_TERNARY_SCALE_TENSOR;
    } else {
        *kind = BN_TERNARY_SCALE_ROW;
    }
    return BN_STATUS_OK;
}

bn_status bn_ternary_decode(bn_tensor_type type, const void *data, uint64_t n_bytes, int64_t K,
                            int64_t rows, int8_t *values, float *scales,
                            bn_ternary_scale_kind *kind, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    uint64_t need = 0;
    if (!data || !values || !scales || !kind) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_ternary_decode: NULL argument");
        goto fail;
    }
    st = layout_bytes(type, K, rows, &need, BN_STATUS_FORMAT, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (n_bytes < need) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "%s tensor of %" PRId64 " x %" PRId64 " needs %" PRIu64
                          " bytes, only %" PRIu64 " given (truncated)",
                          type_name(type), rows, K, need, n_bytes);
        goto fail;
    }
    const uint8_t *p = data;
    switch (type) {
    case BN_TYPE_I2_S:
        *kind = BN_TERNARY_SCALE_TENSOR;
        st = decode_i2s(p, K, rows, values, scales, err);
        break;
    case BN_TYPE_TQ2_0:
        *kind = BN_TERNARY_SCALE_BLOCK256;
        st = decode_tq2(p, K, rows, values, scales, err);
        break;
    case BN_TYPE_TQ1_0:
        *kind = BN_TERNARY_SCALE_BLOCK256;
        decode_tq1(p, K, rows, values, scales);
        break;
    case BN_TYPE_IQ2_BN:
        *kind = BN_TERNARY_SCALE_ROW;
        st = decode_iq2bn(p, K, rows, values, scales, err);
        break;
    case BN_TYPE_IQ1_BN:
        *kind = BN_TERNARY_SCALE_ROW;
        decode_iq1bn(p, K, rows, values, scales);
        break;
    case BN_TYPE_IQ2_BN_R4:
        st = bn_ternary_decode_rows(type, p, n_bytes, K, rows, 0, rows, values, scales, kind,
                                    err);
        break;
    default: /* layout_bytes let only the float types through */
        st = decode_float(type, p, K, rows, values, scales, kind, err);
        break;
    }
fail:
    return st;
}

/* ---- decoding row ranges (the load path) ----------------------------- */

/* Every byte's five base-3 digits, least significant first, minus one: entry
 * [b][j] is trit_of(b, 4 - j) - 1, IQ1_BN's digit order. Generated from
 * trit_of (the tests compare bn_ternary_decode_rows with bn_ternary_decode on
 * every byte value), so one 5-byte copy replaces five multiplies. */
static const int8_t iq1_digits[256][8] = { /* 3 zero bytes: read as words */
    {-1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1}, {0, -1, -1, -1, -1}, {1, -1, -1, -1, -1},
    {-1, 0, -1, -1, -1}, {0, 0, -1, -1, -1}, {1, 0, -1, -1, -1}, {-1, 1, -1, -1, -1},
    {0, 1, -1, -1, -1}, {1, 1, -1, -1, -1}, {-1, -1, 0, -1, -1}, {0, -1, 0, -1, -1},
    {1, -1, 0, -1, -1}, {-1, 0, 0, -1, -1}, {0, 0, 0, -1, -1}, {1, 0, 0, -1, -1},
    {-1, 1, 0, -1, -1}, {0, 1, 0, -1, -1}, {1, 1, 0, -1, -1}, {-1, -1, 1, -1, -1},
    {-1, -1, 1, -1, -1}, {0, -1, 1, -1, -1}, {1, -1, 1, -1, -1}, {-1, 0, 1, -1, -1},
    {0, 0, 1, -1, -1}, {1, 0, 1, -1, -1}, {-1, 1, 1, -1, -1}, {0, 1, 1, -1, -1},
    {1, 1, 1, -1, -1}, {-1, -1, -1, 0, -1}, {0, -1, -1, 0, -1}, {1, -1, -1, 0, -1},
    {-1, 0, -1, 0, -1}, {0, 0, -1, 0, -1}, {1, 0, -1, 0, -1}, {-1, 1, -1, 0, -1},
    {0, 1, -1, 0, -1}, {1, 1, -1, 0, -1}, {-1, -1, 0, 0, -1}, {0, -1, 0, 0, -1},
    {0, -1, 0, 0, -1}, {1, -1, 0, 0, -1}, {-1, 0, 0, 0, -1}, {0, 0, 0, 0, -1}, {1, 0, 0, 0, -1},
    {-1, 1, 0, 0, -1}, {0, 1, 0, 0, -1}, {1, 1, 0, 0, -1}, {-1, -1, 1, 0, -1}, {0, -1, 1, 0, -1},
    {1, -1, 1, 0, -1}, {-1, 0, 1, 0, -1}, {0, 0, 1, 0, -1}, {1, 0, 1, 0, -1}, {-1, 1, 1, 0, -1},
    {0, 1, 1, 0, -1}, {1, 1, 1, 0, -1}, {-1, -1, -1, 1, -1}, {0, -1, -1, 1, -1},
    {1, -1, -1, 1, -1}, {1, -1, -1, 1, -1}, {-1, 0, -1, 1, -1}, {0, 0, -1, 1, -1},
    {1, 0, -1, 1, -1}, {-1, 1, -1, 1, -1}, {0, 1, -1, 1, -1}, {1, 1, -1, 1, -1},
    {-1, -1, 0, 1, -1}, {0, -1, 0, 1, -1}, {1, -1, 0, 1, -1}, {-1, 0, 0, 1, -1}, {0, 0, 0, 1, -1},
    {1, 0, 0, 1, -1}, {-1, 1, 0, 1, -1}, {0, 1, 0, 1, -1}, {1, 1, 0, 1, -1}, {-1, -1, 1, 1, -1},
    {0, -1, 1, 1, -1}, {1, -1, 1, 1, -1}, {1, -1, 1, 1, -1}, {-1, 0, 1, 1, -1}, {0, 0, 1, 1, -1},
    {1, 0, 1, 1, -1}, {-1, 1, 1, 1, -1}, {0, 1, 1, 1, -1}, {1, 1, 1, 1, -1}, {-1, -1, -1, -1, 0},
    {0, -1, -1, -1, 0}, {1, -1, -1, -1, 0}, {-1, 0, -1, -1, 0}, {0, 0, -1, -1, 0},
    {1, 0, -1, -1, 0}, {-1, 1, -1, -1, 0}, {0, 1, -1, -1, 0}, {1, 1, -1, -1, 0},
    {-1, -1, 0, -1, 0}, {0, -1, 0, -1, 0}, {1, -1, 0, -1, 0}, {-1, 0, 0, -1, 0},
    {-1, 0, 0, -1, 0}, {0, 0, 0, -1, 0}, {1, 0, 0, -1, 0}, {-1, 1, 0, -1, 0}, {0, 1, 0, -1, 0},
    {1, 1, 0, -1, 0}, {-1, -1, 1, -1, 0}, {0, -1, 1, -1, 0}, {1, -1, 1, -1, 0}, {-1, 0, 1, -1, 0},
    {0, 0, 1, -1, 0}, {1, 0, 1, -1, 0}, {-1, 1, 1, -1, 0}, {0, 1, 1, -1, 0}, {1, 1, 1, -1, 0},
    {-1, -1, -1, 0, 0}, {0, -1, -1, 0, 0}, {1, -1, -1, 0, 0}, {-1, 0, -1, 0, 0}, {0, 0, -1, 0, 0},
    {0, 0, -1, 0, 0}, {1, 0, -1, 0, 0}, {-1, 1, -1, 0, 0}, {0, 1, -1, 0, 0}, {1, 1, -1, 0, 0},
    {-1, -1, 0, 0, 0}, {0, -1, 0, 0, 0}, {1, -1, 0, 0, 0}, {-1, 0, 0, 0, 0}, {0, 0, 0, 0, 0},
    {1, 0, 0, 0, 0}, {-1, 1, 0, 0, 0}, {0, 1, 0, 0, 0}, {1, 1, 0, 0, 0}, {-1, -1, 1, 0, 0},
    {0, -1, 1, 0, 0}, {1, -1, 1, 0, 0}, {-1, 0, 1, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 1, 0, 0},
    {1, 0, 1, 0, 0}, {-1, 1, 1, 0, 0}, {0, 1, 1, 0, 0}, {1, 1, 1, 0, 0}, {-1, -1, -1, 1, 0},
    {0, -1, -1, 1, 0}, {1, -1, -1, 1, 0}, {-1, 0, -1, 1, 0}, {0, 0, -1, 1, 0}, {1, 0, -1, 1, 0},
    {-1, 1, -1, 1, 0}, {0, 1, -1, 1, 0}, {1, 1, -1, 1, 0}, {-1, -1, 0, 1, 0}, {0, -1, 0, 1, 0},
    {1, -1, 0, 1, 0}, {-1, 0, 0, 1, 0}, {0, 0, 0, 1, 0}, {1, 0, 0, 1, 0}, {1, 0, 0, 1, 0},
    {-1, 1, 0, 1, 0}, {0, 1, 0, 1, 0}, {1, 1, 0, 1, 0}, {-1, -1, 1, 1, 0}, {0, -1, 1, 1, 0},
    {1, -1, 1, 1, 0}, {-1, 0, 1, 1, 0}, {0, 0, 1, 1, 0}, {1, 0, 1, 1, 0}, {-1, 1, 1, 1, 0},
    {0, 1, 1, 1, 0}, {1, 1, 1, 1, 0}, {-1, -1, -1, -1, 1}, {0, -1, -1, -1, 1}, {1, -1, -1, -1, 1},
    {-1, 0, -1, -1, 1}, {0, 0, -1, -1, 1}, {1, 0, -1, -1, 1}, {-1, 1, -1, -1, 1},
    {-1, 1, -1, -1, 1}, {0, 1, -1, -1, 1}, {1, 1, -1, -1, 1}, {-1, -1, 0, -1, 1},
    {0, -1, 0, -1, 1}, {1, -1, 0, -1, 1}, {-1, 0, 0, -1, 1}, {0, 0, 0, -1, 1}, {1, 0, 0, -1, 1},
    {-1, 1, 0, -1, 1}, {0, 1, 0, -1, 1}, {1, 1, 0, -1, 1}, {-1, -1, 1, -1, 1}, {0, -1, 1, -1, 1},
    {1, -1, 1, -1, 1}, {-1, 0, 1, -1, 1}, {0, 0, 1, -1, 1}, {1, 0, 1, -1, 1}, {-1, 1, 1, -1, 1},
    {-1, 1, 1, -1, 1}, {0, 1, 1, -1, 1}, {1, 1, 1, -1, 1}, {-1, -1, -1, 0, 1}, {0, -1, -1, 0, 1},
    {1, -1, -1, 0, 1}, {-1, 0, -1, 0, 1}, {0, 0, -1, 0, 1}, {1, 0, -1, 0, 1}, {-1, 1, -1, 0, 1},
    {0, 1, -1, 0, 1}, {1, 1, -1, 0, 1}, {-1, -1, 0, 0, 1}, {0, -1, 0, 0, 1}, {1, -1, 0, 0, 1},
    {-1, 0, 0, 0, 1}, {0, 0, 0, 0, 1}, {1, 0, 0, 0, 1}, {-1, 1, 0, 0, 1}, {0, 1, 0, 0, 1},
    {0, 1, 0, 0, 1}, {1, 1, 0, 0, 1}, {-1, -1, 1, 0, 1}, {0, -1, 1, 0, 1}, {1, -1, 1, 0, 1},
    {-1, 0, 1, 0, 1}, {0, 0, 1, 0, 1}, {1, 0, 1, 0, 1}, {-1, 1, 1, 0, 1}, {0, 1, 1, 0, 1},
    {1, 1, 1, 0, 1}, {-1, -1, -1, 1, 1}, {0, -1, -1, 1, 1}, {1, -1, -1, 1, 1}, {-1, 0, -1, 1, 1},
    {0, 0, -1, 1, 1}, {1, 0, -1, 1, 1}, {-1, 1, -1, 1, 1}, {0, 1, -1, 1, 1}, {1, 1, -1, 1, 1},
    {1, 1, -1, 1, 1}, {-1, -1, 0, 1, 1}, {0, -1, 0, 1, 1}, {1, -1, 0, 1, 1}, {-1, 0, 0, 1, 1},
    {0, 0, 0, 1, 1}, {1, 0, 0, 1, 1}, {-1, 1, 0, 1, 1}, {0, 1, 0, 1, 1}, {1, 1, 0, 1, 1},
    {-1, -1, 1, 1, 1}, {0, -1, 1, 1, 1}, {1, -1, 1, 1, 1}, {-1, 0, 1, 1, 1}, {0, 0, 1, 1, 1},
    {1, 0, 1, 1, 1}, {-1, 1, 1, 1, 1}, {0, 1, 1, 1, 1}, {1, 1, 1, 1, 1},
};

/* trit_of(b, n) - 1 from u = b * 3^n mod 256, kept in a byte as
 * x = u ^ 0x80 read as int8: the digit is 0 below u = 86, 1 from 86, 2 from
 * 171 (u * 3 >> 8), i.e. x > -43 and x > 42, two signed byte compares (SSE2
 * has none unsigned). The next digit's x is 3x (mod 256), as
 * 3(u + 128) = 3u + 128 + 256. Compares and byte adds only, so loops over
 * bytes vectorize at full width. */
static inline int8_t digit_m1_x(int8_t x) {
    return (int8_t)((x > -43) + (x > 42) - 1);
}

static inline int8_t times3(int8_t x) {
    return (int8_t)(uint8_t)((uint8_t)x + (uint8_t)x + (uint8_t)x);
}

/* Where the 2-bit code of weight i (tensor-wide index) sits: byte offset
 * from the tensor start and shift. For the error message of a code 3. */
static void code2_pos(bn_tensor_type type, int64_t K, uint64_t i, uint64_t *byte, int *shift) {
    uint64_t r = i / (uint64_t)K, k = i % (uint64_t)K;
    switch (type) {
    case BN_TYPE_I2_S: {
        uint64_t in = i % I2S_BLOCK;
        *byte = i / I2S_BLOCK * 32 + in % 32;
        *shift = 6 - 2 * (int)(in / 32);
        break;
    }
    case BN_TYPE_TQ2_0: {
        uint64_t in = i % TQ_BLOCK;
        *byte = i / TQ_BLOCK * TQ2_BYTES + 32 * (in / 128) + in % 32;
        *shift = 2 * (int)(in % 128 / 32);
        break;
    }
    case BN_TYPE_IQ2_BN_R4: {
        uint64_t in = k % BN_BLOCK, l = in / 16, i4 = in % 4;
        *byte = r / 4 * 4 * (4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES) + 16 +
                k / BN_BLOCK * 64 + 4 * (r % 4) + i4 + 16 * l;
        *shift = 2 * (int)(in % 16 / 4);
        break;
    }
    default: { /* IQ2_BN */
        uint64_t in = k % BN_BLOCK;
        *byte = r * (4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES) + 4 + k / BN_BLOCK * IQ2BN_BYTES +
                in % 16;
        *shift = 2 * (int)(in / 16);
        break;
    }
    }
}

/* The first code 3 among rows [r0, r0 + n), reported as the whole-tensor
 * decoders do (they scan the weights in ascending order too). Only called
 * after a fast loop has seen one. */
static bn_status first_bad_code(bn_tensor_type type, const uint8_t *p, int64_t K, int64_t r0,
                                int64_t n, bn_error *err) {
    for (uint64_t i = (uint64_t)(r0 * K); i < (uint64_t)((r0 + n) * K); i++) {
        uint64_t byte;
        int shift;
        code2_pos(type, K, i, &byte, &shift);
        if (((p[byte] >> shift) & 3) == 3)
            return bad_code(type, i, K, byte, err);
    }
    return bn_error_set(err, BN_STATUS_FORMAT, "%s tensor: bad 2-bit code", type_name(type));
}

/* I2_S weights [i0, i0 + n) of the tensor, in place of any alignment: whole
 * 128-blocks take the vector loop. Returns nonzero if a code 3 was seen. */
static unsigned rows_i2s(const uint8_t *p, uint64_t i0, uint64_t n, int8_t *w) {
    unsigned bad = 0;
    for (uint64_t i = 0; i < n;) {
        uint64_t idx = i0 + i;
        if (idx % I2S_BLOCK == 0 && n - i >= I2S_BLOCK) {
            const uint8_t *b = p + idx / 4;
            int8_t *o = w + i;
            uint8_t any3 = 0;
            for (int j = 0; j < 32; j++) {
                uint8_t x = b[j];
                any3 |= x & (x >> 1) & 0x55;
                o[j] = (int8_t)((x >> 6) - 1);
                o[32 + j] = (int8_t)(((x >> 4) & 3) - 1);
                o[64 + j] = (int8_t)(((x >> 2) & 3) - 1);
                o[96 + j] = (int8_t)((x & 3) - 1);
            }
            bad |= any3;
            i += I2S_BLOCK;
        } else {
            uint64_t in = idx % I2S_BLOCK;
            unsigned c = (p[idx / I2S_BLOCK * 32 + in % 32] >> (6 - 2 * (in / 32))) & 3;
            bad |= c & (c >> 1);
            w[i++] = (int8_t)((int)c - 1);
        }
    }
    return bad;
}

/* One TQ2_0 row (K / 256 blocks at b): values and block scales. */
static unsigned row_tq2(const uint8_t *b, int64_t K, int8_t *w, float *scales) {
    unsigned bad = 0;
    for (int64_t blk = 0; blk < K / TQ_BLOCK; blk++, b += TQ2_BYTES, w += TQ_BLOCK) {
        uint8_t any3 = 0;
        for (int h = 0; h < 2; h++)
            for (int m = 0; m < 32; m++) {
                uint8_t x = b[32 * h + m];
                int8_t *o = w + 128 * h + m;
                any3 |= x & (x >> 1) & 0x55;
                o[0] = (int8_t)((x & 3) - 1);
                o[32] = (int8_t)(((x >> 2) & 3) - 1);
                o[64] = (int8_t)(((x >> 4) & 3) - 1);
                o[96] = (int8_t)((x >> 6) - 1);
            }
        bad |= any3;
        scales[blk] = bn_f16_to_f32(rd_u16(b + 64));
    }
    return bad;
}

/* One TQ1_0 row: the layout of decode_tq1, each byte's digits most
 * significant first by repeated x = 3x (digit_m1_x). The 48 qs bytes of a
 * block are three full vectors; its 4 qh bytes are not, so the qh bytes of
 * 16 blocks are gathered into one 64-byte run, decoded digit by digit in
 * 64-wide loops, and their 4-value pieces copied out (decoded one block at
 * a time, those 16 values were as slow as the other 240). */
static void row_tq1(const uint8_t *b, int64_t K, int8_t *w, float *scales) {
    const int64_t nblk = K / TQ_BLOCK;
    for (int64_t blk = 0; blk < nblk; blk++) {
        const uint8_t *bb = b + blk * TQ1_BYTES;
        int8_t *ww = w + blk * TQ_BLOCK;
        for (int m = 0; m < 32; m++) {
            int8_t x = (int8_t)(bb[m] ^ 0x80);
            for (int n = 0; n < 5; n++, x = times3(x))
                ww[m + 32 * n] = digit_m1_x(x);
        }
        for (int m = 0; m < 16; m++) {
            int8_t x = (int8_t)(bb[32 + m] ^ 0x80);
            for (int n = 0; n < 5; n++, x = times3(x))
                ww[160 + m + 16 * n] = digit_m1_x(x);
        }
        scales[blk] = bn_f16_to_f32(rd_u16(bb + 52));
    }
    enum { QH_BLOCKS = 16 }; /* blocks whose qh bytes are decoded together */
    for (int64_t blk0 = 0; blk0 < nblk; blk0 += QH_BLOCKS) {
        int nb = nblk - blk0 < QH_BLOCKS ? (int)(nblk - blk0) : QH_BLOCKS;
        int8_t x[4 * QH_BLOCKS] = {0}; /* (block, j): qh[j] ^ 0x80 of each block */
        int8_t d[4][4 * QH_BLOCKS];     /* (digit n, block, j) */
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < 4; j++)
                x[4 * i + j] = (int8_t)(b[(blk0 + i) * TQ1_BYTES + 48 + j] ^ 0x80);
        for (int n = 0; n < 4; n++)
            for (int i = 0; i < 4 * QH_BLOCKS; i++) {
                d[n][i] = digit_m1_x(x[i]);
                x[i] = times3(x[i]);
            }
        /* qh[j] digit n is value 240 + j + 4n: 4 contiguous values per n. */
        for (int i = 0; i < nb; i++)
            for (int n = 0; n < 4; n++)
                memcpy(w + (blk0 + i) * TQ_BLOCK + 240 + 4 * n, d[n] + 4 * i, 4);
    }
}

/* One IQ2_BN row (after its f32 scale). */
static unsigned row_iq2bn(const uint8_t *b, int64_t K, int8_t *w) {
    unsigned bad = 0;
    for (int64_t blk = 0; blk < K / BN_BLOCK; blk++, b += IQ2BN_BYTES, w += BN_BLOCK) {
        uint8_t any3 = 0;
        for (int j = 0; j < 16; j++) {
            uint8_t x = b[j];
            any3 |= x & (x >> 1) & 0x55;
            w[j] = (int8_t)((x & 3) - 1);
            w[16 + j] = (int8_t)(((x >> 2) & 3) - 1);
            w[32 + j] = (int8_t)(((x >> 4) & 3) - 1);
            w[48 + j] = (int8_t)((x >> 6) - 1);
        }
        bad |= any3;
    }
    return bad;
}

/* Row k (0..3) of an IQ2_BN_R4 group whose blocks start at b: byte
 * 4k + i + 16l of each 64-byte block holds values 16l + i + 4j, bits 2j. */
static unsigned row_iq2bn_r4(const uint8_t *b, int k, int64_t K, int8_t *w) {
    unsigned bad = 0;
    for (int64_t blk = 0; blk < K / BN_BLOCK; blk++, b += 4 * IQ2BN_BYTES, w += BN_BLOCK) {
        uint8_t any3 = 0;
        for (int l = 0; l < 4; l++)
            for (int i = 0; i < 4; i++) {
                uint8_t x = b[4 * k + i + 16 * l];
                any3 |= x & (x >> 1) & 0x55;
                for (int j = 0; j < 4; j++)
                    w[16 * l + i + 4 * j] = (int8_t)(((x >> (2 * j)) & 3) - 1);
            }
        bad |= any3;
    }
    return bad;
}

/* Bytes 0..7 of x as a little-endian word, and back; memcpy on a
 * little-endian target (one load or store), byte by byte elsewhere. */
static inline uint64_t ld_le64(const void *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
#endif
}

static inline void st_le64(void *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    uint8_t *b = p;
    for (int i = 0; i < 8; i++, v >>= 8)
        b[i] = (uint8_t)v;
#endif
}

/* One IQ1_BN row (after its f16 scale). Each table entry read as a word
 * holds a byte's 5 values in bytes 0..4 and zeros in bytes 5..7, so a
 * group's 16 values are two words put together with shifts and ors:
 * values 0..7 = ql[0] (5) and the first 3 of ql[1]; values 8..15 = the
 * last 2 of ql[1], ql[2] (5) and the extra digit. Two aligned 8-byte stores
 * per group where 8-byte table copies at 5-byte steps took 4 stores that
 * straddle words, plus a byte store (the stores were the decode's cost);
 * nothing is written outside the group. */
static void row_iq1bn(const uint8_t *b, int64_t K, int8_t *w) {
    for (int64_t blk = 0; blk < K / BN_BLOCK; blk++, b += IQ1BN_BYTES, w += BN_BLOCK) {
        uint64_t extra = ld_le64(iq1_digits[b[12]]); /* digit g for group g */
        for (int g = 0; g < 4; g++, extra >>= 8) {
            uint64_t d0 = ld_le64(iq1_digits[b[3 * g]]), d1 = ld_le64(iq1_digits[b[3 * g + 1]]),
                     d2 = ld_le64(iq1_digits[b[3 * g + 2]]);
            st_le64(w + 16 * g, d0 | d1 << 40);
            st_le64(w + 16 * g + 8, d1 >> 24 | d2 << 16 | (extra & 0xff) << 56);
        }
    }
}

bn_status bn_ternary_decode_rows(bn_tensor_type type, const void *data, uint64_t n_bytes,
                                 int64_t K, int64_t rows, int64_t r0, int64_t n, int8_t *values,
                                 float *scales, bn_ternary_scale_kind *kind, bn_error *err) {
    uint64_t need = 0;
    if (!data || !values || !scales || !kind)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_ternary_decode_rows: NULL argument");
    bn_status st = layout_bytes(type, K, rows, &need, BN_STATUS_FORMAT, err);
    if (st != BN_STATUS_OK)
        return st;
    if (n_bytes < need)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s tensor of %" PRId64 " x %" PRId64 " needs %" PRIu64
                            " bytes, only %" PRIu64 " given (truncated)",
                            type_name(type), rows, K, need, n_bytes);
    if (r0 < 0 || n < 1 || r0 > rows - n)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bn_ternary_decode_rows: rows [%" PRId64 ", %" PRId64
                            ") outside the tensor's %" PRId64,
                            r0, r0 + n, rows);
    const uint8_t *p = data;
    unsigned bad = 0;
    switch (type) {
    case BN_TYPE_I2_S:
        *kind = BN_TERNARY_SCALE_TENSOR;
        bad = rows_i2s(p, (uint64_t)(r0 * K), (uint64_t)(n * K), values);
        scales[0] = rd_f32(p + (uint64_t)K * (uint64_t)rows / 4);
        break;
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0: {
        *kind = BN_TERNARY_SCALE_BLOCK256;
        uint64_t bytes = type == BN_TYPE_TQ2_0 ? TQ2_BYTES : TQ1_BYTES,
                 row_bytes = (uint64_t)K / TQ_BLOCK * bytes;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *b = p + (uint64_t)(r0 + i) * row_bytes;
            if (type == BN_TYPE_TQ2_0)
                bad |= row_tq2(b, K, values + i * K, scales + i * (K / TQ_BLOCK));
            else
                row_tq1(b, K, values + i * K, scales + i * (K / TQ_BLOCK));
        }
        break;
    }
    case BN_TYPE_IQ2_BN:
    case BN_TYPE_IQ1_BN: {
        *kind = BN_TERNARY_SCALE_ROW;
        bool two = type == BN_TYPE_IQ2_BN;
        uint64_t row_bytes = two ? 4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES
                                 : 2 + (uint64_t)K / BN_BLOCK * IQ1BN_BYTES;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *row = p + (uint64_t)(r0 + i) * row_bytes;
            if (two) {
                scales[i] = rd_f32(row);
                bad |= row_iq2bn(row + 4, K, values + i * K);
            } else {
                scales[i] = bn_f16_to_f32(rd_u16(row));
                row_iq1bn(row + 2, K, values + i * K);
            }
        }
        break;
    }
    case BN_TYPE_IQ2_BN_R4: {
        *kind = BN_TERNARY_SCALE_ROW;
        uint64_t group_bytes = 4 * (4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES);
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *g = p + (uint64_t)((r0 + i) / 4) * group_bytes;
            int k = (int)((r0 + i) % 4);
            scales[i] = rd_f32(g + 4 * k);
            bad |= row_iq2bn_r4(g + 16, k, K, values + i * K);
        }
        break;
    }
    default: /* layout_bytes let only the float types through */
        *kind = BN_TERNARY_SCALE_ROW;
        return decode_float_rows(type, p, K, r0, n, values, scales, err);
    }
    if (bad)
        return first_bad_code(type, p, K, r0, n, err);
    return BN_STATUS_OK;
}

/* ---- encoding ---------------------------------------------------------- */

/* Number of scales a kind carries for this shape; 0 if the kind cannot index
 * it (BLOCK256 needs K % 256 == 0). */
static uint64_t kind_count(bn_ternary_scale_kind kind, int64_t K, int64_t rows) {
    switch (kind) {
    case BN_TERNARY_SCALE_TENSOR: return 1;
    case BN_TERNARY_SCALE_ROW: return (uint64_t)rows;
    case BN_TERNARY_SCALE_BLOCK256:
        return K % TQ_BLOCK == 0 ? (uint64_t)rows * (uint64_t)(K / TQ_BLOCK) : 0;
    }
    return 0;
}

/* Scale of weight (r, k) under kind. */
static float scale_at(const float *scales, bn_ternary_scale_kind kind, int64_t K, int64_t r,
                      int64_t k) {
    switch (kind) {
    case BN_TERNARY_SCALE_TENSOR: return scales[0];
    case BN_TERNARY_SCALE_ROW: return scales[r];
    default: return scales[r * (K / TQ_BLOCK) + k / TQ_BLOCK];
    }
}

/* The one scale of row r, for the row-scale layouts: BLOCK256 scales must be
 * constant along the row. */
static bn_status row_scale(bn_tensor_type type, const float *scales, bn_ternary_scale_kind kind,
                           int64_t K, int64_t r, float *out, bn_error *err) {
    *out = scale_at(scales, kind, K, r, 0);
    if (kind != BN_TERNARY_SCALE_BLOCK256)
        return BN_STATUS_OK;
    for (int64_t b = 1; b < K / TQ_BLOCK; b++)
        if (scales[r * (K / TQ_BLOCK) + b] != *out)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "%s stores one scale per row, but row %" PRId64
                                " has block scales %g and %g",
                                type_name(type), r, (double)*out,
                                (double)scales[r * (K / TQ_BLOCK) + b]);
    return BN_STATUS_OK;
}

static bn_status f16_scale(bn_tensor_type type, float s, uint16_t *out, bn_error *err) {
    *out = bn_f32_to_f16(s);
    if ((*out & 0x7c00u) == 0x7c00u)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "%s stores f16 scales, and %g is outside the f16 range",
                            type_name(type), (double)s);
    return BN_STATUS_OK;
}

static uint8_t code_of(int8_t v) { return (uint8_t)(v + 1); }

static void encode_i2s(const int8_t *values, uint64_t n, float s, uint8_t *out) {
    for (uint64_t blk = 0; blk < n / I2S_BLOCK; blk++) {
        const int8_t *w = values + blk * I2S_BLOCK;
        uint8_t *b = out + blk * 32;
        for (int j = 0; j < 32; j++)
            b[j] = (uint8_t)(code_of(w[j]) << 6 | code_of(w[32 + j]) << 4 |
                             code_of(w[64 + j]) << 2 | code_of(w[96 + j]));
    }
    memset(out + n / 4, 0, I2S_TAIL);
    wr_f32(out + n / 4, s);
}

static void encode_tq2_block(const int8_t *w, uint16_t d, uint8_t *b) {
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++)
            b[32 * h + m] = (uint8_t)(code_of(w[128 * h + m]) | code_of(w[128 * h + 32 + m]) << 2 |
                                      code_of(w[128 * h + 64 + m]) << 4 |
                                      code_of(w[128 * h + 96 + m]) << 6);
    wr_u16(b + 64, d);
}

/* Five codes, the first most significant, as one base-3 byte. */
static uint8_t pack5_msb_first(const int8_t *w, int stride, int count) {
    int q = 0;
    for (int n = 0; n < 5; n++)
        q = q * 3 + (n < count ? code_of(w[n * stride]) : 0);
    return trit_pack(q);
}

static void encode_tq1_block(const int8_t *w, uint16_t d, uint8_t *b) {
    for (int m = 0; m < 32; m++)
        b[m] = pack5_msb_first(w + m, 32, 5);
    for (int m = 0; m < 16; m++)
        b[32 + m] = pack5_msb_first(w + 160 + m, 16, 5);
    for (int j = 0; j < 4; j++)
        b[48 + j] = pack5_msb_first(w + 240 + j, 4, 4); /* fifth digit 0 */
    wr_u16(b + 52, d);
}

static void encode_iq2bn_block(const int8_t *w, uint8_t *b) {
    for (int j = 0; j < 16; j++)
        b[j] = (uint8_t)(code_of(w[j]) | code_of(w[16 + j]) << 2 | code_of(w[32 + j]) << 4 |
                         code_of(w[48 + j]) << 6);
}

static void encode_iq1bn_block(const int8_t *w, uint8_t *b) {
    int extra = 0, pow3 = 1;
    for (int g = 0; g < 4; g++) {
        for (int k = 0; k < 3; k++) {
            int q = 0, m = 1;
            for (int j = 0; j < 5; j++, m *= 3)
                q += m * code_of(w[16 * g + 5 * k + j]);
            b[3 * g + k] = trit_pack(q);
        }
        extra += pow3 * code_of(w[16 * g + 15]);
        pow3 *= 3;
    }
    b[12] = trit_pack(extra);
}

bn_status bn_ternary_encode(bn_tensor_type type, const int8_t *values, const float *scales,
                            bn_ternary_scale_kind kind, int64_t K, int64_t rows, void *out,
                            uint64_t out_bytes, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    uint64_t need = 0, n_scales = 0;
    if (!values || !scales || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_ternary_encode: NULL argument");
        goto fail;
    }
    if (type == BN_TYPE_IQ2_BN_R4) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "IQ2_BN_R4 is read only; write IQ2_BN (the same bytes per row)");
        goto fail;
    }
    st = layout_bytes(type, K, rows, &need, BN_STATUS_INVALID_ARG, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (out_bytes < need) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "%s tensor of %" PRId64 " x %" PRId64 " needs %" PRIu64
                          " bytes, the output has %" PRIu64,
                          type_name(type), rows, K, need, out_bytes);
        goto fail;
    }
    n_scales = kind_count(kind, K, rows);
    if (n_scales == 0) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "256-block scales need K %% 256 == 0, K is %" PRId64, K);
        goto fail;
    }
    for (uint64_t i = 0; i < n_scales; i++) {
        if (!isfinite(scales[i])) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG, "scale %" PRIu64 " is %g, not finite",
                              i, (double)scales[i]);
            goto fail;
        }
    }
    uint64_t n = (uint64_t)K * (uint64_t)rows;
    for (uint64_t i = 0; i < n; i++) {
        if (values[i] < -1 || values[i] > 1) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                              "weight %" PRIu64 " (row %" PRIu64 ", column %" PRIu64
                              ") is %d, not -1, 0 or +1",
                              i, i / (uint64_t)K, i % (uint64_t)K, values[i]);
            goto fail;
        }
    }

    uint8_t *o = out;
    switch (type) {
    case BN_TYPE_I2_S:
        for (uint64_t i = 1; i < n_scales; i++) {
            if (scales[i] != scales[0]) {
                st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                                  "I2_S stores one scale per tensor, but scales 0 and %" PRIu64
                                  " differ (%g vs %g)",
                                  i, (double)scales[0], (double)scales[i]);
                goto fail;
            }
        }
        encode_i2s(values, n, scales[0], o);
        break;
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0:
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t b = 0; b < K / TQ_BLOCK; b++) {
                uint16_t d;
                st = f16_scale(type, scale_at(scales, kind, K, r, b * TQ_BLOCK), &d, err);
                if (st != BN_STATUS_OK)
                    goto fail;
                uint64_t blk = (uint64_t)(r * (K / TQ_BLOCK) + b);
                const int8_t *w = values + blk * TQ_BLOCK;
                if (type == BN_TYPE_TQ2_0)
                    encode_tq2_block(w, d, o + blk * TQ2_BYTES);
                else
                    encode_tq1_block(w, d, o + blk * TQ1_BYTES);
            }
        }
        break;
    case BN_TYPE_IQ2_BN:
    case BN_TYPE_IQ1_BN: {
        bool two = type == BN_TYPE_IQ2_BN;
        uint64_t row_bytes = two ? 4 + (uint64_t)K / BN_BLOCK * IQ2BN_BYTES
                                 : 2 + (uint64_t)K / BN_BLOCK * IQ1BN_BYTES;
        for (int64_t r = 0; r < rows; r++) {
            uint8_t *row = o + (uint64_t)r * row_bytes;
            float s;
            st = row_scale(type, scales, kind, K, r, &s, err);
            if (st != BN_STATUS_OK)
                goto fail;
            if (two) {
                wr_f32(row, s);
            } else {
                uint16_t d;
                st = f16_scale(type, s, &d, err);
                if (st != BN_STATUS_OK)
                    goto fail;
                wr_u16(row, d);
            }
            for (int64_t b = 0; b < K / BN_BLOCK; b++) {
                const int8_t *w = values + r * K + b * BN_BLOCK;
                if (two)
                    encode_iq2bn_block(w, row + 4 + b * IQ2BN_BYTES);
                else
                    encode_iq1bn_block(w, row + 2 + b * IQ1BN_BYTES);
            }
        }
        break;
    }
    default: /* F32, F16, BF16: the values multiplied out */
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t k = 0; k < K; k++) {
                float v = (float)values[r * K + k] * scale_at(scales, kind, K, r, k);
                uint64_t i = (uint64_t)(r * K + k);
                if (type == BN_TYPE_F32)
                    wr_f32(o + 4 * i, v);
                else
                    wr_u16(o + 2 * i, type == BN_TYPE_F16 ? bn_f32_to_f16(v) : bn_f32_to_bf16(v));
            }
        }
        break;
    }
fail:
    return st;
}
