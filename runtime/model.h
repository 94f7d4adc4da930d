/* model.h: the loaded model's insides (internal to runtime/).
 *
 * struct bn_model is opaque to users (runtime/bitnet.h); the session and the
 * forward pass read it through this header. Everything here is filled by
 * bn_model_load (runtime/model.c) and read-only afterwards.
 */
#ifndef BN_MODEL_H
#define BN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "loader/gguf.h"
#include "runtime/bitnet.h"
#include "runtime/hparams.h"
#include "tokenizer/tokenizer.h"

/* The seven BitLinear projections of a layer. */
typedef enum bn_mat_id {
    BN_MAT_Q = 0,
    BN_MAT_K,
    BN_MAT_V,
    BN_MAT_O,
    BN_MAT_GATE,
    BN_MAT_UP,
    BN_MAT_DOWN,
    BN_MAT_COUNT
} bn_mat_id;

/* Which set of matrices a step uses: one token at a time, or a batch. */
enum { BN_SET_DECODE = 0, BN_SET_PROMPT = 1, BN_SET_COUNT = 2 };

typedef struct bn_layer {
    float *attn_norm;     /* (n_embd) owned f32 copy */
    float *attn_sub_norm; /* (n_head * head_dim); NULL without sub-norms */
    float *ffn_norm;      /* (n_embd) */
    float *ffn_sub_norm;  /* (n_ff); NULL without sub-norms */
    /* mat[BN_SET_PROMPT] is a second layout only when the prompt family
     * differs from the decode family; otherwise it aliases mat[DECODE]. */
    bn_ternary_matrix mat[BN_SET_COUNT][BN_MAT_COUNT];
    float mat_scale[BN_MAT_COUNT]; /* optional .scale tensors (old bitnet arch); 1 if absent */
    bool has_mat_scale;
} bn_layer;

struct bn_model {
    bn_gguf *gguf;
    bn_hparams hp;
    const bn_kernels *kern;
    bn_tokenizer *tok;        /* NULL when the file has no tokenizer */
    bn_dense_matrix embd;     /* token_embd (n_vocab rows of n_embd) */
    bn_dense_matrix output;   /* output.weight, or a second view of token_embd when tied */
    bool tied;
    bool lm_head_i8;
    float *output_norm;       /* (n_embd) */
    bn_layer *layers;         /* (n_layer) */
    bool two_sets;            /* prompt and decode use different layouts */
    bool needs_lut;           /* some set is LUT: act batches need tables */
    bn_kernel_family family[BN_SET_COUNT];
    bn_tensor_type ternary_type; /* of the projections (of blk.0.attn_q) */
    uint64_t n_params;
    uint64_t bytes_per_token;
    char *chat_template;      /* NUL-terminated copy, or NULL */
    char *name;               /* general.name copy, or NULL */
    char description[256];
};

#endif /* BN_MODEL_H */
