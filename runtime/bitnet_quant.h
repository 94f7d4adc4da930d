/* bitnet_quant.h: the quantization API of bitnet (installed next to bitnet.h).
 *
 * The numbers the converters and the forward pass already run, made public:
 * one implementation, not two. Ternary weights come from loader/ternarize.c
 * (absmean, the scale summed in PyTorch's order), packing from
 * loader/ternary_codec.c with bitnet-quantize's scale rules, per-token int8
 * activations and the BitLinear product from the kernel tables (kernels/).
 *
 * Arrays are plain row-major C arrays with their sizes; the caller owns
 * every buffer. Every call that can fail returns a bn_status and fills a
 * bn_error (the first error wins), as in bitnet.h. Inputs are checked before
 * anything is written: shapes whose element count overflows, NaN or infinite
 * values, and finite values so large that a scale or range overflows float32
 * are BN_STATUS_INVALID_ARG with a message, never an overflow. Pure
 * functions, thread-safe; only bn_bitlinear holds state (read-only after
 * creation, shareable between threads).
 *
 * Conventions (FORMATS.md 5.2 and 4.3):
 *   weights     gamma = max(mean|W|, 1e-5) over the tensor or a group of G
 *               consecutive values of a row; code = round(clip(W/gamma, -1, 1))
 *               (round half to even); W ~ code * gamma.
 *   activations per token (BitNet's rule) or per tensor, scale = 127 / amax,
 *               amax = max(max|x|, 1e-5) (or min(that, clip));
 *               q = clamp(round(x * scale), -128, 127); x ~ q / scale.
 *               Asymmetric: scale = 255 / (hi - lo) over [lo, hi] = the
 *               range of x (clipped to [-clip, clip]), widened to hold 0 and
 *               at least 1e-5 wide; zero_point = -128 - round(lo * scale);
 *               q = clamp(round(x * scale) + zero_point, -128, 127);
 *               x ~ (q - zero_point) / scale.
 * The activation scale multiplies (127 / amax, as the BitNet reference and
 * the kernels keep it); the weight scale gamma is the dequantization factor.
 */
#ifndef BITNET_QUANT_H
#define BITNET_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor types (the GGUF types bitnet reads and writes). */
typedef enum bn_qtype {
    BN_QTYPE_F32 = 0,
    BN_QTYPE_F16,
    BN_QTYPE_BF16,
    BN_QTYPE_Q8_0,
    BN_QTYPE_Q6_K,
    BN_QTYPE_TQ1_0,  /* 1.6875 bits: base-3 packed, f16 scale per 256 */
    BN_QTYPE_TQ2_0,  /* 2.0625 bits: 2-bit codes, f16 scale per 256 */
    BN_QTYPE_I2_S,   /* 2 bits: bitnet.cpp, one f32 scale per tensor */
    BN_QTYPE_IQ1_BN, /* 1.625 bits: ik_llama, f16 scale per row */
    BN_QTYPE_IQ2_BN, /* 2 bits: ik_llama, f32 scale per row */
    BN_QTYPE_COUNT
} bn_qtype;

/* "I2_S", "TQ2_0", ...; NULL for an out-of-range value. */
const char *bn_qtype_name(bn_qtype type);
/* Parses a name, case-insensitively ("i2_s", "TQ1_0"). INVALID_ARG with the
 * list of names otherwise. */
bn_status bn_qtype_from_name(const char *name, bn_qtype *out, bn_error *err);
/* Bits a weight takes in that type, block scales included (I2_S: 2). */
double bn_qtype_bits_per_weight(bn_qtype type);

/* ======================================================================
 * Ternary weights
 * ====================================================================== */

/* Scales a (rows, K) matrix gets: 1 for group_size 0 (per tensor), else
 * rows * K / group_size (K % group_size == 0). INVALID_ARG for bad shapes. */
bn_status bn_quant_weights_scale_count(int64_t rows, int64_t K, int64_t group_size,
                                       size_t *n_scales, bn_error *err);

/* codes (rows*K) in {-1, 0, +1} and scales (bn_quant_weights_scale_count)
 * from w (rows, K). group_size 0: one gamma for the whole tensor (BitNet's
 * rule); G > 0: a gamma per G consecutive values of a row. */
bn_status bn_quant_weights_ternary(const float *w, int64_t rows, int64_t K, int64_t group_size,
                                   int8_t *codes, float *scales, bn_error *err);

/* out (rows, K) = codes * gamma of each value's group. Codes outside
 * {-1, 0, +1} are INVALID_ARG. */
bn_status bn_quant_weights_dequant(const int8_t *codes, const float *scales, int64_t rows,
                                   int64_t K, int64_t group_size, float *out, bn_error *err);

/* ======================================================================
 * INT8 activations
 * ====================================================================== */

typedef struct bn_quant_act_options {
    bool per_tensor; /* false (default): a scale per token (row), BitNet's rule */
    bool symmetric;  /* true (default); false: with a zero point */
    float clip;      /* > 0: clip |x| (or x to [-clip, clip]) first; 0 (default): none */
} bn_quant_act_options;

void bn_quant_act_options_default(bn_quant_act_options *opts);

/* Quantizes x (n_tokens, K) into q (n_tokens, K), scales (n_tokens, or 1
 * per tensor) and, when asymmetric, zero_points (as many; NULL allowed when
 * symmetric). opts NULL: the defaults. The per-token symmetric case without
 * a clip runs the model's own kernel (bit-exact with the forward pass). */
bn_status bn_quant_act_i8(const float *x, int64_t n_tokens, int64_t K,
                          const bn_quant_act_options *opts, int8_t *q, float *scales,
                          int32_t *zero_points, bn_error *err);

/* out (n_tokens, K) = (q - zero_point) / scale; zero_points NULL means 0. */
bn_status bn_quant_act_dequant(const int8_t *q, const float *scales, const int32_t *zero_points,
                               int64_t n_tokens, int64_t K, bool per_tensor, float *out,
                               bn_error *err);

/* ======================================================================
 * Error statistics
 * ====================================================================== */

typedef struct bn_quant_error_stats {
    uint64_t n;
    double mse;        /* mean of (ref - approx)^2 */
    double max_abs;    /* max |ref - approx| */
    double snr_db;     /* 10 log10(sum ref^2 / sum (ref - approx)^2); INFINITY when exact */
    double sum_sq_ref;
    double sum_sq_err;
} bn_quant_error_stats;

/* Compares n floats (in double). NaN or infinite values are INVALID_ARG. */
bn_status bn_quant_error(const float *ref, const float *approx, int64_t n,
                         bn_quant_error_stats *out, bn_error *err);

/* ======================================================================
 * Packing to GGUF layouts (I2_S, TQ2_0, TQ1_0; also IQ2_BN, IQ1_BN, and
 * F32/F16/BF16 holding code * scale)
 *
 * Scales are carried to the granularity the type stores exactly as
 * bitnet-quantize does (loader/quantize.h): a tensor gamma is broadcast (a
 * TQ block with no nonzero code stores 0, as llama.cpp writes); per-row or
 * per-256 scales collapse to their least-squares common value when the type
 * stores fewer. Packing takes group_size 0 (tensor), K (row) or 256 (K a
 * multiple of 256); other group sizes are refused with a message.
 * ====================================================================== */

/* Bytes a (rows, K) tensor takes in type; INVALID_ARG when the shape does
 * not fit it (I2_S: rows*K % 128, TQ: K % 256, IQ*_BN: K % 64). */
bn_status bn_quant_packed_bytes(bn_qtype type, int64_t rows, int64_t K, uint64_t *n_bytes,
                                bn_error *err);

bn_status bn_quant_pack(bn_qtype type, const int8_t *codes, const float *scales, int64_t rows,
                        int64_t K, int64_t group_size, void *out, uint64_t out_bytes,
                        bn_error *err);

/* Decodes a stored tensor to codes (rows*K) and its scales: *group_size
 * says how they are indexed (0: one per tensor; K: per row; 256: per 256).
 * *n_scales is the count; when it exceeds scales_cap nothing is written to
 * scales and the status is INVALID_ARG (rows * max(1, K/256) always fits).
 * Malformed bytes (a 2-bit code 3, a float tensor that is not ternary) are
 * BN_STATUS_FORMAT. */
bn_status bn_quant_unpack(bn_qtype type, const void *data, uint64_t n_bytes, int64_t rows,
                          int64_t K, int8_t *codes, float *scales, size_t scales_cap,
                          size_t *n_scales, int64_t *group_size, bn_error *err);

/* ======================================================================
 * BitLinear: y = x W^T with W ternary, computed as the model computes it:
 * x quantized per token to int8 (BitNet's rule), exact int32 sums of codes
 * times int8 values, then y = sum / act_scale * gamma (kernels/kernels.h).
 * ====================================================================== */

typedef struct bn_bitlinear bn_bitlinear;

/* From packed bytes (copied: data need not outlive the object). kernels:
 * a kernel table name as in bn_model_options, NULL for the best. */
bn_status bn_bitlinear_new(bn_qtype type, const void *data, uint64_t n_bytes, int64_t rows,
                           int64_t K, const char *kernels, bn_bitlinear **out, bn_error *err);
/* From codes and scales as bn_quant_weights_ternary makes them, with
 * group_size 0, K or 256. */
bn_status bn_bitlinear_new_codes(const int8_t *codes, const float *scales, int64_t rows,
                                 int64_t K, int64_t group_size, const char *kernels,
                                 bn_bitlinear **out, bn_error *err);
void bn_bitlinear_free(bn_bitlinear *bl);
int64_t bn_bitlinear_rows(const bn_bitlinear *bl);
int64_t bn_bitlinear_k(const bn_bitlinear *bl);
const char *bn_bitlinear_kernels_name(const bn_bitlinear *bl);

/* y (n_tokens, rows) from x (n_tokens, K); n_threads <= 0 means 1. Allocates
 * its scratch per call (not a decode path). Results do not depend on
 * n_threads. */
bn_status bn_bitlinear_forward(const bn_bitlinear *bl, const float *x, int64_t n_tokens,
                               float *y, int n_threads, bn_error *err);

/* ======================================================================
 * Model size
 * ====================================================================== */

/* Bytes n_params weights take in type (whole blocks; I2_S adds its 32-byte
 * scale tail once): an estimate for a model stored mostly in one type.
 * INVALID_ARG when the count overflows 64 bits. */
bn_status bn_quant_estimate_bytes(uint64_t n_params, bn_qtype type, uint64_t *n_bytes,
                                  bn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_QUANT_H */
