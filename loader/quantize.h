/* quantize.h: GGUF -> GGUF ternary (re)quantization with error statistics.
 *
 * Owns bitnet-quantize's work: every projection tensor (blk.N.attn_q/k/v/
 * output, ffn_gate/up/down) and every tensor already in a ternary type is
 * rewritten in the target type; all other tensors and all metadata are
 * copied unchanged (general.file_type is updated; scalar metadata of widths
 * the writer lacks is widened: u8/u16 -> u32, i8/i16 -> i32, f64 -> f32).
 *
 * Sources, by the input tensor's type:
 *   ternary types (I2_S, TQ*, IQ*_BN): decoded; every value is preserved.
 *   F32/F16/BF16 holding ternary values (+-s, 0; e.g. converter output):
 *     decoded exactly, values and scales preserved.
 *   other floats (latent weights), Q8_0, Q6_K: ternarized with absmean, per
 *     tensor (BitNet's rule, ternarize.h) or, with group_size G in
 *     {64, 128, 256}, per group of G consecutive weights; the stored scale of
 *     each 256-block is then the least-squares fit of the block's weights to
 *     its trits (TQ1_0/TQ2_0 targets only, whose blocks carry scales).
 * Scales are carried to the target's granularity: a tensor scale is
 * broadcast (TQ blocks with no nonzero value get 0, as llama.cpp writes);
 * finer scales collapse to the least-squares common scale (the mean of the
 * scales weighted by their nonzero counts) when the target has one scale per
 * tensor (I2_S) or per row (IQ*_BN). A tensor whose row length does not fit
 * the target (TQ: K % 256, IQ*_BN: K % 64, I2_S: K % 128) is copied as it
 * is and reported with quantized = false.
 *
 * Statistics per tensor: bytes before/after, squared error against the
 * input's own dequantized weights, fraction of zero trits, and time. The
 * library never prints: results go through callbacks.
 */
#ifndef BN_QUANTIZE_H
#define BN_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/tensor_type.h"
#include "loader/ternary_codec.h"
#include "runtime/bitnet.h"

typedef struct bn_quantize_stats {
    const char *name;          /* tensor name ("total" for the sum) */
    bn_tensor_type in_type, out_type; /* total: in_type BN_TYPE_COUNT when mixed */
    bool quantized;            /* false: copied unchanged */
    uint64_t n_elements;
    uint64_t in_bytes, out_bytes;
    double sum_sq_err;         /* sum over weights of (input - output)^2 */
    double sum_sq_ref;         /* sum of input^2 */
    uint64_t n_zeros;          /* zero trits in the output */
    double seconds;            /* decode + quantize + encode + error pass */
} bn_quantize_stats;

/* Derived figures (0 where undefined). */
double bn_quantize_stats_mse(const bn_quantize_stats *s);
double bn_quantize_stats_rel_err(const bn_quantize_stats *s); /* sqrt(err / ref) */
double bn_quantize_stats_ratio(const bn_quantize_stats *s, bn_tensor_type vs); /* F32 or F16 */
double bn_quantize_stats_gbps(const bn_quantize_stats *s); /* F32 bytes of weights per second */

typedef struct bn_quantize_options {
    bn_tensor_type type;       /* I2_S, TQ2_0, TQ1_0, IQ2_BN, IQ1_BN, F16 or F32 */
    int group_size;            /* 0: per tensor; 64, 128 or 256: per group (TQ targets) */
    /* token_embd.weight and output.weight: rewritten in this type (F32, F16,
     * BF16, Q8_0 or Q6_K) when embd_type_set; else copied. They get a stats
     * row but are not part of the total, which covers the ternary tensors. */
    bn_tensor_type embd_type;
    bool embd_type_set;
    /* Called once per tensor, in file order, and once with the totals
     * (name "total"). May be NULL. */
    void (*on_tensor)(void *user, const bn_quantize_stats *stats, size_t index, size_t count);
    void *user;
} bn_quantize_options;

/* Carries trits' scales (indexed as kind says) to the granularity the target
 * type stores, as described above, into tscales (room for rows, or
 * rows*K/256 for TQ targets): what bitnet-quantize encodes, and what the
 * public packing (runtime/bitnet_quant.h) encodes too. */
void bn_quantize_target_scales(bn_tensor_type target, const int8_t *trits, const float *scales,
                               bn_ternary_scale_kind kind, int64_t K, int64_t rows,
                               float *tscales, bn_ternary_scale_kind *out_kind);

/* Reads in_path, writes out_path. *total (may be NULL) receives the sums. */
bn_status bn_quantize_gguf(const char *in_path, const char *out_path,
                           const bn_quantize_options *opt, bn_quantize_stats *total,
                           bn_error *err);

#endif /* BN_QUANTIZE_H */
