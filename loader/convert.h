/* convert.h: a Hugging Face BitNet checkpoint folder to a GGUF file.
 *
 * Owns the mapping from a checkpoint (config.json, safetensors shards,
 * tokenizer files) to a GGUF the runtime loads (FORMATS.md sections 2 and 5):
 * the architecture string and {arch}.* metadata from bn_hf_config, HF tensor
 * names to GGUF names (HF [out, in] becomes GGUF ne = [in, out], same
 * bytes), norms as F32, the token embedding (and an untied output layer) as
 * F32/F16/Q8_0/Q6_K, and every projection in the requested type.
 *
 * Projection weights come in two forms, told apart by dtype:
 *   packed uint8 [out/4, in] + "<name>_scale" (weight_scale): four 2-bit codes
 *     per byte, low bits first, code i of P[r][c] is row i*out/4 + r; value
 *     code - 1 (code 3 read as 0, as the peers do); scale as hf_config.h says
 *     (multiply or divide);
 *   latent F32/F16/BF16 [out, in]: absmean per tensor (ternarize.h).
 * Llama-arch checkpoints get llama.cpp's Q/K row permutation (HF's rotate-half
 * rope pairs to ggml's adjacent pairs); the bitnet families keep HF order,
 * their graphs use NEOX rope.
 * TQ1_0/TQ2_0 store, per 256-block, the tensor scale, or 0 for a block whose
 * values are all 0 (llama.cpp's max|x| rule). A projection whose row length
 * does not fit the requested type (TQ: K % 256, I2_S: K % 128) is written as
 * F32 ternary values instead (exact: the same F32 scale the type would hold)
 * and reported through the note callback.
 *
 * The library never prints: progress and notes go to optional callbacks.
 */
#ifndef BN_CONVERT_H
#define BN_CONVERT_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/gguf_writer.h"
#include "loader/tensor_type.h"
#include "runtime/bitnet.h"

typedef struct bn_convert_options {
    bn_tensor_type type;      /* projections: I2_S, TQ2_0, TQ1_0, F16 or F32 */
    bn_tensor_type embd_type; /* F32, F16, Q8_0 or Q6_K; used when embd_type_set */
    bool embd_type_set;       /* else F32 when type is F32, F16 otherwise */
    bool skip_tokenizer;      /* tests: tensors and hyperparameters only */
    bool keep_latent;         /* F32/F16 only: write latent projections unternarized
                                 (not a runnable BitNet model; input for
                                 bitnet-quantize's statistics) */
    /* Called after each tensor (done of total), may be NULL. */
    void (*progress)(void *user, size_t done, size_t total, const char *gguf_name);
    /* Called for decisions worth telling the user (fallback types), may be NULL. */
    void (*note)(void *user, const char *message);
    void *user;
} bn_convert_options;

/* Converts hf_dir into a GGUF at out_path. */
bn_status bn_convert_hf(const char *hf_dir, const char *out_path, const bn_convert_options *opt,
                        bn_error *err);

/* general.file_type value for a projection type (informational; FORMATS.md 1.3). */
uint32_t bn_convert_file_type(bn_tensor_type type);

#endif /* BN_CONVERT_H */
