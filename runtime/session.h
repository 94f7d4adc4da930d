/* session.h: a session's insides (internal to runtime/).
 *
 * struct bn_session holds the KV cache and every scratch buffer of the
 * forward pass, sized once in bn_session_new (runtime/session.c) for
 * n_batch tokens per step and n_ctx positions; runtime/forward.c runs one
 * step over them. Shapes are written next to each buffer.
 */
#ifndef BN_SESSION_H
#define BN_SESSION_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "runtime/barrier.h"
#include "runtime/bitnet.h"
#include "runtime/model.h"

/* Tokens of a step whose attention one thread computes together, reading
 * each cached K/V row once for all of them. */
#define BN_ATT_BLOCK 16

struct bn_session {
    const bn_model *model;
    int32_t n_ctx;
    int32_t n_batch;
    int32_t n_logits;      /* capacity of `logits` in rows */
    int n_threads;
    bn_kv_type type_k, type_v;
    int32_t n_past;        /* positions filled in the cache */

    /* KV cache, post-RoPE keys and values, F16 (uint16_t) or F32:
     * (n_layer, n_ctx, n_kv) with n_kv = n_head_kv * head_dim. */
    void *k_cache;
    void *v_cache;

    /* Scratch for one step of up to n_batch tokens.
     * q, k, v, attn (the attention group), gate, up (the FFN group) and proj
     * are views into one allocation, `shared`, because their lives within a
     * layer never overlap: the attention group is dead (attn quantized into
     * act_attn) before o_proj writes proj; proj is dead (added to x) before
     * gate and up are written; the FFN group is dead (gate quantized into
     * act_ff) before down_proj writes proj, which is dead before the next
     * layer writes q. forward.c must keep it so: no buffer may be read after
     * a later stage has written. This keeps 4 * n_batch * (2 n_q + 2 n_kv +
     * n_embd) bytes off the session (17.5 MiB at a 512-token batch of the
     * 2B4T shape). */
    float *shared;   /* max(2 n_q + 2 n_kv, 2 n_ff, n_embd) * n_batch floats */
    float *x;        /* (n_batch, n_embd) residual stream */
    float *q;        /* (n_batch, n_q) queries, n_q = n_head * head_dim */
    float *k;        /* (n_batch, n_kv) keys of this step, before the cache */
    float *v;        /* (n_batch, n_kv) */
    float *attn;     /* (n_batch, n_q) attention output, heads concatenated */
    float *gate;     /* (n_batch, n_ff) gate, then act(gate) * up */
    float *up;       /* (n_batch, n_ff) */
    float *proj;     /* (n_batch, n_embd) output of o_proj / down_proj (in shared) */
    float *normed;   /* (n_batch, n_embd) final-norm rows that need logits */
    float *scores;   /* (n_threads, BN_ATT_BLOCK, n_head / n_head_kv, n_ctx) attention
                      * probabilities of a block of tokens */
    float *rope_cos; /* (n_batch, n_rot / 2) for this step's positions */
    float *rope_sin; /* (n_batch, n_rot / 2) */
    float *inv_freq; /* (n_rot / 2) */
    bn_act_batch act_embd; /* K = n_embd: input of q/k/v and gate/up */
    bn_act_batch act_attn; /* K = n_q: input of o_proj */
    bn_act_batch act_ff;   /* K = n_ff: input of down_proj */
    bn_act_batch act_out;  /* K = n_embd, n_logits rows: int8 lm head input */

    float *logits;         /* (n_logits, n_vocab) */
    int32_t logits_rows;   /* rows valid from the last eval (0: none) */

    bn_session_stats stats;
    bn_barrier barrier;    /* between the stages of a step */
};

/* Runs tokens[0..n) (n <= n_batch) at positions n_past.. through the model,
 * appends their K/V to the cache, and writes logits for tokens
 * [logits_from, n) into logits_out (rows of n_vocab); logits_from == n
 * means none. Does not move n_past. Allocates nothing. */
void bn_forward_step(bn_session *s, const int32_t *tokens, int32_t n, int32_t logits_from,
                     float *logits_out);

#endif /* BN_SESSION_H */
