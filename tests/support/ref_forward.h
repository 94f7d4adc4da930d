/* ref_forward.h: a slow, simple, double-precision forward pass (tests only).
 *
 * An independent implementation of FORMATS.md section 4 that shares no code
 * with runtime/ or kernels/: it reads the GGUF keys itself, decodes every
 * projection to trits and scales with the ternary codec, and runs the
 * transformer in double, including the per-token int8 activation
 * quantization (127/absmax, round half to even) in front of every BitLinear.
 * The KV cache is exact (double). Supports the architectures the runtime
 * runs (bitnet-b1.58, bitnet-25, bitnet, llama), tied or untied output,
 * embeddings in F32/F16/BF16 (and Q8_0/Q6_K through bn_dequantize_row when
 * the loader provides it), optional per-matrix .scale tensors.
 */
#ifndef BN_TEST_REF_FORWARD_H
#define BN_TEST_REF_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "loader/gguf.h"
#include "runtime/bitnet.h"

typedef struct bn_ref_model bn_ref_model;

bn_status bn_ref_model_load(const char *path, bn_ref_model **out, bn_error *err);
void bn_ref_model_free(bn_ref_model *m);
int32_t bn_ref_model_n_vocab(const bn_ref_model *m);

/* Runs tokens[0..n) from position 0 and writes every position's logits:
 * logits (n, n_vocab), row-major. */
bn_status bn_ref_forward(const bn_ref_model *m, const int32_t *tokens, size_t n, double *logits,
                         bn_error *err);

#endif /* BN_TEST_REF_FORWARD_H */
