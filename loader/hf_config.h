/* hf_config.h: a Hugging Face config.json, read into what a GGUF needs.
 *
 * Owns the decision of which model family a checkpoint belongs to and how
 * its packed weights are scaled (FORMATS.md 2.1 and 5):
 *   BitNetForCausalLM (model_type bitnet; 2B4T)   -> arch "bitnet-b1.58",
 *       ReLU^2, sub-norms named attn_sub_norm / ffn_sub_norm;
 *   BitnetForCausalLM (1bitLLM, model_type llama) -> arch "bitnet",
 *       sub-norms named inner_attn_ln / ffn_layernorm;
 *   LlamaForCausalLM with a bitnet quantization_config (Llama3-8B-1.58,
 *       Falcon3-1.58bit, Falcon-E)                 -> arch "llama", no sub-norms.
 * Packed uint8 weights carry a weight_scale. The rule is transformers'
 * (integrations/bitnet.py), whatever the architecture: quantization_config
 * linear_class "autobitlinear" (2B4T, Falcon-E) builds AutoBitLinear, which
 * multiplies by it; "bitlinear" or no linear_class (Llama3-8B-1.58, Falcon3)
 * builds BitLinear, which divides by it. Other linear_class values,
 * use_rms_norm (a norm inside every BitLinear), and a modules_to_not_convert
 * list that keeps a projection in floats or quantizes lm_head (a list
 * replaces transformers' default of lm_head) are UNSUPPORTED.
 *
 * Keys are read as transformers reads them: of two equal keys the last;
 * RoPE from rope_scaling or rope_parameters (what transformers >= 5 saves)
 * or rope_theta; absent values take the config class's defaults.
 *
 * Pure parsing; no files are touched except by bn_hf_config_load.
 */
#ifndef BN_HF_CONFIG_H
#define BN_HF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

typedef enum bn_hf_family {
    BN_HF_FAMILY_BITNET_B158, /* microsoft/bitnet-b1.58-2B-4T and its layout */
    BN_HF_FAMILY_BITNET,      /* 1bitLLM/bitnet_b1_58-* */
    BN_HF_FAMILY_LLAMA,       /* Llama-shaped BitNet checkpoints */
} bn_hf_family;

typedef struct bn_hf_config {
    bn_hf_family family;
    char arch[32];             /* GGUF general.architecture */
    char hf_arch[64];          /* architectures[0] as written */
    int64_t vocab_size;
    int64_t n_embd;            /* hidden_size */
    int64_t n_ff;              /* intermediate_size */
    int64_t n_layer;           /* num_hidden_layers */
    int64_t n_head;            /* num_attention_heads */
    int64_t n_head_kv;         /* num_key_value_heads (default n_head) */
    int64_t head_dim;          /* head_dim (default n_embd / n_head) */
    int64_t n_ctx_train;       /* max_position_embeddings */
    double rms_eps;            /* rms_norm_eps (default 1e-5) */
    double rope_theta;         /* rope_parameters / rope_theta (class default: 500000 for
                                  BitNetForCausalLM, else 10000) */
    double rope_scale;         /* linear scaling factor (1 when absent or "default") */
    char hidden_act[16];       /* "silu", "relu2", ... */
    bool relu2;                /* hidden_act is relu2, or the family implies it */
    bool tied;                 /* tie_word_embeddings (absent: false as in BitNetConfig
                                  and LlamaConfig; true for the 1bitLLM family) */
    int64_t bos_id, eos_id;    /* -1 when absent */
    bool scale_divides;        /* packed weights: W = code / weight_scale */
    char linear_class[32];     /* quantization_config.linear_class, "" if absent */
    char name[128];            /* last part of _name_or_path, "" if absent */
} bn_hf_config;

/* text[0..len) is config.json. Missing required sizes, sizes that are not
 * positive or do not divide (n_embd % n_head, n_head % n_head_kv): FORMAT;
 * an architecture we do not convert: UNSUPPORTED naming it. */
bn_status bn_hf_config_parse(const char *text, size_t len, bn_hf_config *out, bn_error *err);
/* Reads dir/config.json. */
bn_status bn_hf_config_load(const char *dir, bn_hf_config *out, bn_error *err);

#endif /* BN_HF_CONFIG_H */
