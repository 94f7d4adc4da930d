/* hparams.h: architectures and their hyperparameters (internal to runtime/).
 *
 * Owns the mapping from `general.architecture` to the block structure the
 * forward pass runs (sub-norms or not, ReLU^2 or SiLU gating, NeoX or
 * adjacent-pair RoPE) and the reading and checking of the `{arch}.*` keys
 * (FORMATS.md 2.1, 2.2). Knows nothing of tensors: runtime/model.c binds
 * and shape-checks those against these numbers.
 */
#ifndef BN_HPARAMS_H
#define BN_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/gguf.h"
#include "runtime/bitnet.h"

typedef enum bn_arch {
    BN_ARCH_BITNET_B158 = 0, /* "bitnet-b1.58": BitNet b1.58 2B4T as published */
    BN_ARCH_BITNET_25,       /* "bitnet-25": 2B4T's pre-release name, same graph */
    BN_ARCH_BITNET,          /* "bitnet": 1bitLLM models (and 2B4T via mainline converters) */
    BN_ARCH_LLAMA,           /* "llama" with ternary matrices: Llama3-8B-1.58, Falcon3 */
} bn_arch;

typedef enum bn_ffn_act {
    BN_FFN_ACT_RELU2 = 0, /* relu(g)^2 * u */
    BN_FFN_ACT_SILU,      /* silu(g) * u */
} bn_ffn_act;

typedef enum bn_rope_kind {
    BN_ROPE_NEOX = 0,  /* rotate_half: pairs (i, i + n_rot/2) */
    BN_ROPE_NORM,      /* adjacent pairs (2i, 2i + 1) */
} bn_rope_kind;

typedef struct bn_hparams {
    bn_arch arch;
    char arch_name[32];
    int32_t n_vocab;      /* from {arch}.vocab_size, else token_embd's ne1 (set by the binder) */
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_ff;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;     /* key_length = value_length */
    int32_t n_rot;        /* rope.dimension_count; <= head_dim, even */
    float norm_eps;
    float rope_base;
    float rope_pos_scale; /* positions are multiplied by this (1 / linear factor) */
    bool sub_norms;
    bn_ffn_act act;
    bn_rope_kind rope;
} bn_hparams;

/* Reads and checks every hyperparameter. Unknown architecture:
 * BN_STATUS_UNSUPPORTED naming it and the supported ones; a missing required
 * key: BN_STATUS_NOT_FOUND; inconsistent numbers: BN_STATUS_FORMAT. */
bn_status bn_hparams_read(const bn_gguf *gguf, bn_hparams *hp, bn_error *err);

const char *bn_ffn_act_name(bn_ffn_act act);

#endif /* BN_HPARAMS_H */
