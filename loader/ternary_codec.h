/* ternary_codec.h: every ternary weight layout to and from plain trits.
 *
 * Owns the bit-exact translation between a tensor's stored bytes and its
 * ternary content: one int8 in {-1, 0, +1} per weight plus the scales that
 * multiply them. Layouts (FORMATS.md section 3):
 *   I2_S    128-value / 32-byte blocks over the whole row-major tensor, then a
 *           32-byte tail holding one f32 tensor scale.
 *   TQ2_0   256-value / 66-byte blocks, 2 bits per weight, f16 block scale.
 *   TQ1_0   256-value / 54-byte blocks, base-3 packed, f16 block scale.
 *   IQ2_BN  per row: f32 scale, then 64-value / 16-byte blocks.
 *   IQ2_BN_R4  ik_llama's 4-row interleave of IQ2_BN (rows % 4 == 0): per
 *           group of 4 rows their 4 f32 scales, then per 64-value block 64
 *           bytes; byte 4k + i + 16l of a block holds, for row k of the
 *           group, values 16l + i + 4j at bits 2j..2j+1 (j = 0..3). Decoded
 *           only (bitnet does not write it).
 *   IQ1_BN  per row: f16 scale, then 64-value / 13-byte blocks, base-3.
 *   F32/F16/BF16  ternary values already multiplied out (+-s or 0).
 *
 * It does not choose scales from latent weights (absmean lives with the
 * converters) and knows nothing of files: callers hand it a byte range.
 * Every size is checked against the byte count given; a byte range too short
 * for the shape, a 2-bit code of 3, or a float tensor that is not ternary is
 * BN_STATUS_FORMAT naming the element. Pure functions; thread-safe.
 *
 * Shapes: K = ne0 (values per row, contiguous), rows = ne1*ne2*ne3.
 */
#ifndef BN_TERNARY_CODEC_H
#define BN_TERNARY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "loader/tensor_type.h"
#include "runtime/bitnet.h"

/* How the scales array is indexed. */
typedef enum bn_ternary_scale_kind {
    BN_TERNARY_SCALE_TENSOR,   /* scales[0] for every weight */
    BN_TERNARY_SCALE_ROW,      /* scales[r] for row r */
    BN_TERNARY_SCALE_BLOCK256, /* scales[(r*K + k) / 256]; needs K % 256 == 0 */
} bn_ternary_scale_kind;

/* Decodes a stored tensor. values: rows*K int8 in {-1,0,+1}, row-major;
 * scales: room for bn_ternary_scale_count(type, K, rows) floats, of which
 * 1 (tensor), rows (row) or rows*K/256 (block) are written; *kind says which.
 *   I2_S -> TENSOR; TQ2_0, TQ1_0 -> BLOCK256; IQ2_BN(_R4), IQ1_BN -> ROW;
 *   F32/F16/BF16 -> TENSOR when every nonzero weight is +-s for one s, else
 *   ROW when that holds per row (an all-zero row gets scale 0); anything else
 *   (two magnitudes in one row, NaN) is BN_STATUS_FORMAT.
 * n_bytes must be at least the layout's size for (K, rows); extra bytes after
 * it are ignored. */
bn_status bn_ternary_decode(bn_tensor_type type, const void *data, uint64_t n_bytes, int64_t K,
                            int64_t rows, int8_t *values, float *scales,
                            bn_ternary_scale_kind *kind, bn_error *err);

/* Decodes rows [r0, r0 + n) of the stored tensor of shape (K, rows) into
 * values (n*K) and the scales of those rows, indexed from r0: I2_S -> TENSOR
 * (scales[0]); TQ2_0, TQ1_0 -> BLOCK256 (n*K/256); IQ2_BN(_R4), IQ1_BN -> ROW (n);
 * F32/F16/BF16 -> ROW (n): each row's magnitude, 0 for a row of zeros (no
 * tensor scale is chosen here, unlike bn_ternary_decode). The same values,
 * checks and messages (which name the tensor's own rows) as bn_ternary_decode,
 * table-driven and vectorizable: the load path repacks a row at a time with
 * it, so the trits stay in cache. */
bn_status bn_ternary_decode_rows(bn_tensor_type type, const void *data, uint64_t n_bytes,
                                 int64_t K, int64_t rows, int64_t r0, int64_t n, int8_t *values,
                                 float *scales, bn_ternary_scale_kind *kind, bn_error *err);

/* Floats a caller must provide for bn_ternary_decode's scales: 1 for I2_S,
 * rows for IQ*_BN and for F32/F16/BF16 (which may need a scale per row),
 * rows*K/256 for TQ*_0. 0 for a non-ternary type or a bad shape. */
size_t bn_ternary_scale_count(bn_tensor_type type, int64_t K, int64_t rows);

/* Bytes bn_ternary_encode writes for this type and shape; 0 when the shape
 * does not fit the type (I2_S: rows*K % 128; TQ: K % 256; IQ*_BN: K % 64). */
uint64_t bn_ternary_encoded_bytes(bn_tensor_type type, int64_t K, int64_t rows);

/* Encodes rows*K trits with the given scales (indexed as kind says) into out.
 *   I2_S stores one f32 tensor scale: ROW or BLOCK256 scales that are not all
 *     equal are refused (BN_STATUS_INVALID_ARG).
 *   TQ2_0/TQ1_0 store an f16 scale per 256-block: TENSOR/ROW are broadcast.
 *   IQ2_BN stores an f32 row scale, IQ1_BN an f16 one: TENSOR is broadcast,
 *     BLOCK256 must be constant along each row.
 *   F32/F16/BF16 store value * scale for any kind.
 *   IQ2_BN_R4 is not written: BN_STATUS_UNSUPPORTED.
 * Values outside {-1,0,+1}, non-finite scales, scales that overflow f16, or
 * out_bytes smaller than bn_ternary_encoded_bytes are BN_STATUS_INVALID_ARG. */
bn_status bn_ternary_encode(bn_tensor_type type, const int8_t *values, const float *scales,
                            bn_ternary_scale_kind kind, int64_t K, int64_t rows, void *out,
                            uint64_t out_bytes, bn_error *err);

#endif /* BN_TERNARY_CODEC_H */
