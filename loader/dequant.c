/* dequant.c: ggml's float and block layouts, one row at a time (see header).
 *
 * Layouts (ggml-common.h, read from ggml's sources and written anew):
 *   Q8_0  34 bytes per 32 values: f16 d, int8 q[32]; x = d * q.
 *   Q6_K  210 bytes per 256 values: ql[128] (low 4 bits), qh[64] (high 2
 *         bits), int8 scales[16] (one per 16 consecutive values), f16 d.
 *         The 256 values are two halves of 128; in half h, for l = 0..31 and
 *         m = 0..3, value 128h + 32m + l has
 *           low  nibble: ql[64h + l + 32*(m & 1)] >> (4*(m >> 1)) & 15
 *           high bits:   qh[32h + l] >> (2m) & 3
 *         q = low | high << 4, x = d * scales[(128h + 32m + l) / 16] * (q - 32).
 * All multi-byte fields are little-endian and read byte by byte.
 */
#include "loader/dequant.h"

#include <math.h>
#include <string.h>

#include "loader/half.h"
#include "loader/ternary_codec.h"

enum { Q8_BLOCK = 32, Q8_BYTES = 34, Q6_BLOCK = 256, Q6_BYTES = 210 };

static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void wr_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

static void dequant_q6_k_block(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = bn_f16_to_f32(rd_u16(b + 208));
    for (int h = 0; h < 2; h++) {
        for (int m = 0; m < 4; m++) {
            for (int l = 0; l < 32; l++) {
                int lo = (ql[64 * h + l + 32 * (m & 1)] >> (4 * (m >> 1))) & 15;
                int hi = (qh[32 * h + l] >> (2 * m)) & 3;
                int i = 128 * h + 32 * m + l;
                y[i] = d * (float)sc[i / 16] * (float)((lo | hi << 4) - 32);
            }
        }
    }
}

/* Ternary rows decoded block by block through the codec, so no allocation:
 * IQ*_BN blocks are handed over with their row's scale in front. */
static bn_status dequant_ternary(bn_tensor_type type, const uint8_t *row, float *out, int64_t n) {
    int64_t block = (type == BN_TYPE_TQ1_0 || type == BN_TYPE_TQ2_0) ? 256 : 64;
    uint64_t block_bytes = bn_tensor_type_row_bytes(type, block);
    uint64_t meta = type == BN_TYPE_IQ2_BN ? 4 : type == BN_TYPE_IQ1_BN ? 2 : 0;
    uint8_t one[4 + 16]; /* meta + one IQ*_BN block */
    int8_t v[256];
    float s;
    bn_ternary_scale_kind kind;
    for (int64_t b = 0; b < n / block; b++) {
        const uint8_t *src;
        if (meta) {
            memcpy(one, row, meta);
            memcpy(one + meta, row + meta + (uint64_t)b * (block_bytes - meta), block_bytes - meta);
            src = one;
        } else {
            src = row + (uint64_t)b * block_bytes;
        }
        bn_status st = bn_ternary_decode(type, src, block_bytes, block, 1, v, &s, &kind, NULL);
        if (st != BN_STATUS_OK)
            return st;
        for (int64_t i = 0; i < block; i++)
            out[b * block + i] = (float)v[i] * s;
    }
    return BN_STATUS_OK;
}

bn_status bn_dequantize_row(bn_tensor_type type, const void *row, float *out, int64_t n) {
    const uint8_t *p = row;
    if (!row || !out || n < 1)
        return BN_STATUS_INVALID_ARG;
    switch (type) {
    case BN_TYPE_F32:
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            out[i] = bn_f32_from_bits(u);
        }
        return BN_STATUS_OK;
    case BN_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = bn_f16_to_f32(rd_u16(p + 2 * i));
        return BN_STATUS_OK;
    case BN_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            out[i] = bn_bf16_to_f32(rd_u16(p + 2 * i));
        return BN_STATUS_OK;
    case BN_TYPE_Q8_0:
        if (n % Q8_BLOCK != 0)
            return BN_STATUS_INVALID_ARG;
        for (int64_t b = 0; b < n / Q8_BLOCK; b++) {
            const uint8_t *blk = p + b * Q8_BYTES;
            float d = bn_f16_to_f32(rd_u16(blk));
            for (int j = 0; j < Q8_BLOCK; j++)
                out[b * Q8_BLOCK + j] = d * (float)(int8_t)blk[2 + j];
        }
        return BN_STATUS_OK;
    case BN_TYPE_Q6_K:
        if (n % Q6_BLOCK != 0)
            return BN_STATUS_INVALID_ARG;
        for (int64_t b = 0; b < n / Q6_BLOCK; b++)
            dequant_q6_k_block(p + b * Q6_BYTES, out + b * Q6_BLOCK);
        return BN_STATUS_OK;
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0:
        if (n % 256 != 0)
            return BN_STATUS_INVALID_ARG;
        return dequant_ternary(type, p, out, n);
    case BN_TYPE_IQ1_BN:
    case BN_TYPE_IQ2_BN:
        if (n % 64 != 0)
            return BN_STATUS_INVALID_ARG;
        return dequant_ternary(type, p, out, n);
    default:
        return BN_STATUS_INVALID_ARG;
    }
}

bn_status bn_quantize_row_q8_0(const float *x, void *out, int64_t n) {
    if (!x || !out || n < 1 || n % Q8_BLOCK != 0)
        return BN_STATUS_INVALID_ARG;
    uint8_t *o = out;
    for (int64_t b = 0; b < n / Q8_BLOCK; b++) {
        const float *xb = x + b * Q8_BLOCK;
        uint8_t *blk = o + b * Q8_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < Q8_BLOCK; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        wr_u16(blk, bn_f32_to_f16(d));
        for (int j = 0; j < Q8_BLOCK; j++) {
            /* |x * id| <= 127 up to rounding; clamp anyway so NaN-free inputs
             * can never wrap. */
            float q = roundf(xb[j] * id);
            q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
            blk[2 + j] = (uint8_t)(int8_t)q;
        }
    }
    return BN_STATUS_OK;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* One 16-value sub-block: the scale s and quants q[i] in -32..31 with the
 * least squared error among a few candidate grids. Each candidate maps the
 * largest-magnitude value to a level near the edge of the range; the scale
 * is then refit by least squares for the quants it produced. */
static float q6_fit_sub_block(const float *x, int8_t *q) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 16; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax == 0.0f) {
        memset(q, 0, 16);
        return 0.0f;
    }
    float best_err = INFINITY, best_s = 0.0f;
    int8_t trial[16];
    for (int c = 0; c < 12; c++) {
        /* -32 uses the extra negative level; 31..26.5 trade range for steps. */
        float level = c == 0 ? -32.0f : c == 1 ? -31.5f : 32.5f - 0.5f * (float)c;
        float iscale = level / max;
        double sxq = 0.0, sqq = 0.0;
        for (int i = 0; i < 16; i++) {
            trial[i] = (int8_t)clamp_int((int)lrintf(x[i] * iscale), -32, 31);
            sxq += (double)x[i] * trial[i];
            sqq += (double)trial[i] * trial[i];
        }
        if (sqq == 0.0)
            continue;
        float s = (float)(sxq / sqq);
        double e = 0.0;
        for (int i = 0; i < 16; i++) {
            double diff = (double)x[i] - (double)s * trial[i];
            e += diff * diff;
        }
        if (e < best_err) {
            best_err = (float)e;
            best_s = s;
            memcpy(q, trial, 16);
        }
    }
    return best_s;
}

bn_status bn_quantize_row_q6_k(const float *x, void *out, int64_t n) {
    if (!x || !out || n < 1 || n % Q6_BLOCK != 0)
        return BN_STATUS_INVALID_ARG;
    uint8_t *o = out;
    for (int64_t b = 0; b < n / Q6_BLOCK; b++) {
        const float *xb = x + b * Q6_BLOCK;
        uint8_t *blk = o + b * Q6_BYTES;
        float sub[16]; /* (16) per-sub-block scales */
        int8_t q[256];
        float smax = 0.0f;
        for (int s = 0; s < 16; s++) {
            sub[s] = q6_fit_sub_block(xb + 16 * s, q + 16 * s);
            smax = fmaxf(smax, fabsf(sub[s]));
        }
        /* Super-block scale: the sub-block scales become int8 multiples of d.
         * The quants are then redone against the scale actually stored. */
        float d = bn_f16_to_f32(bn_f32_to_f16(smax / 127.0f));
        int8_t *sc = (int8_t *)(blk + 192);
        for (int s = 0; s < 16; s++) {
            int isc = d != 0.0f ? clamp_int((int)lrintf(sub[s] / d), -127, 127) : 0;
            sc[s] = (int8_t)isc;
            float eff = d * (float)isc;
            for (int i = 0; i < 16; i++)
                q[16 * s + i] = (int8_t)(eff != 0.0f
                                             ? clamp_int((int)lrintf(xb[16 * s + i] / eff), -32, 31)
                                             : 0);
        }
        wr_u16(blk + 208, bn_f32_to_f16(d));
        /* Pack: L = q + 32 in 0..63; layout as in the file comment. */
        uint8_t *ql = blk, *qh = blk + 128;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int L[4];
                for (int m = 0; m < 4; m++)
                    L[m] = q[128 * h + 32 * m + l] + 32;
                ql[64 * h + l] = (uint8_t)((L[0] & 15) | (L[2] & 15) << 4);
                ql[64 * h + l + 32] = (uint8_t)((L[1] & 15) | (L[3] & 15) << 4);
                qh[32 * h + l] =
                    (uint8_t)((L[0] >> 4) | (L[1] >> 4) << 2 | (L[2] >> 4) << 4 | (L[3] >> 4) << 6);
            }
        }
    }
    return BN_STATUS_OK;
}
