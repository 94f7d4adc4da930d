/* tiny_model.h: random tiny BitNet models as GGUF files (tests only).
 *
 * Writes a complete model file with bn_gguf_writer and the ternary codec:
 * metadata for the chosen architecture, random ternary projections (with a
 * scale near 1/sqrt(K) so activations stay O(1)), random norms near 1, a
 * random embedding, and optionally a small SentencePiece-style vocabulary.
 * Knobs let tests break the file on purpose (a missing tensor, a wrong
 * shape, an unknown architecture).
 */
#ifndef BN_TEST_TINY_MODEL_H
#define BN_TEST_TINY_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/tensor_type.h"
#include "runtime/bitnet.h"

typedef struct bn_tiny_model_spec {
    const char *arch;              /* "bitnet-b1.58" (default), "bitnet", "llama", ... */
    const char *hidden_activation; /* bitnet.hidden_activation, or NULL (absent) */
    bn_tensor_type ternary_type;   /* I2_S (default), TQ2_0, TQ1_0, IQ2_BN, IQ2_BN_R4, IQ1_BN,
                                    * F32, F16 (IQ2_BN_R4: the IQ2_BN file's trits and scales,
                                    * repacked by bn_test_repack_iq2_bn_r4) */
    bn_tensor_type embd_type;      /* F32 (default), F16, BF16, Q8_0, Q6_K */
    bool untied;                   /* write output.weight (same type as embd_type) */
    bool uniform_scales;           /* one scale for every block / row of a tensor */
    bool scale_tensors;            /* write per-matrix .scale tensors of shape [1] */
    int n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, n_ctx;
    uint64_t seed;
    bool with_tokenizer;           /* n_vocab must then be >= 260 */
    const char *omit_tensor;       /* leave this tensor out */
    const char *bad_shape_tensor;  /* write this one with ne1 + 1 */
} bn_tiny_model_spec;

/* 256 embd, 512 ff, 2 layers, 4 heads / 2 kv heads (head_dim 64), vocab 320,
 * ctx 128, bitnet-b1.58, I2_S, F32 embedding, tied, seed 1, no tokenizer. */
void bn_tiny_model_spec_default(bn_tiny_model_spec *spec);

bn_status bn_tiny_model_write(const bn_tiny_model_spec *spec, const char *path, bn_error *err);

/* IQ2_BN bytes (rows of f32 scale + 16-byte blocks) of a (K, rows) tensor
 * to IQ2_BN_R4, exactly as ik_llama.cpp's repack_iq2_bn
 * (ggml/src/iqk/iqk_quantize.cpp) writes them: per group of 4 rows, their 4
 * scales, then per 64-value block 64 bytes; byte 4k + i + 16l gets, in bits
 * 2j..2j+1 (j = 0..3), bits 2l..2l+1 of byte i + 4j of row k's block (its
 * value i + 4j + 16l). rows % 4 == 0, K % 64 == 0; out holds as many bytes
 * as the input. */
void bn_test_repack_iq2_bn_r4(const uint8_t *iq2bn, int64_t K, int64_t rows, uint8_t *out);

#endif /* BN_TEST_TINY_MODEL_H */
