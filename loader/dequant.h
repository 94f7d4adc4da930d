/* dequant.h: rows of the float and ggml block types to f32, and back.
 *
 * Owns ggml's exact block layouts for the non-ternary types bitnet reads and
 * writes (F32, F16, BF16, Q8_0, Q6_K): dequantizing one row for the token
 * embedding lookup, the output layer's reference path and the converters, and
 * quantizing a row for the tools that write files (the benchmark model
 * generator writes Q6_K output layers, the converter Q8_0/F16 embeddings).
 * Row-addressable ternary types (TQ2_0, TQ1_0, IQ2_BN, IQ1_BN) are accepted
 * too and give value * scale; I2_S is not (its scale sits after the whole
 * tensor: use bn_ternary_decode).
 *
 * Pure functions, thread-safe, no allocation. A row of n values must be a
 * whole number of blocks (32 for Q8_0, 256 for Q6_K/TQ*, 64 for IQ*_BN);
 * otherwise, or for a type not listed, they return BN_STATUS_INVALID_ARG and
 * touch nothing. Byte sizes of rows: bn_tensor_type_row_bytes.
 */
#ifndef BN_DEQUANT_H
#define BN_DEQUANT_H

#include <stdint.h>

#include "loader/tensor_type.h"
#include "runtime/bitnet.h"

/* out: n floats. row: the row's stored bytes (any alignment). */
bn_status bn_dequantize_row(bn_tensor_type type, const void *row, float *out, int64_t n);

/* Q8_0: blocks of 32 as {f16 d; int8 q[32]}, d = max|x| / 127, q = round(x / d).
 * out: n/32 * 34 bytes. */
bn_status bn_quantize_row_q8_0(const float *x, void *out, int64_t n);

/* Q6_K: super-blocks of 256 as {ql[128], qh[64], int8 scales[16], f16 d}:
 * sixteen 16-value sub-blocks with a 6-bit signed quant (-32..31), an int8
 * sub-block scale and an f16 super-block scale. The sub-block scale is chosen
 * by a small search for the least squared error (not bit-identical to
 * llama.cpp's quantizer, but as accurate). out: n/256 * 210 bytes. */
bn_status bn_quantize_row_q6_k(const float *x, void *out, int64_t n);

#endif /* BN_DEQUANT_H */
