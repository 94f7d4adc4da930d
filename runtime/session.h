/* session.h: sessions, batches and the forward step's scratch (internal to
 * runtime/).
 *
 * struct bn_session holds one sequence's state: its KV cache, its logits,
 * its position, and (unless it was created batch_only) a step scratch of its
 * own, sized for n_batch tokens, for bn_session_eval. struct bn_batch
 * (runtime/batch.c) holds a step scratch sized for several sequences and
 * borrows the sessions' caches and logits for each step. Both run the same
 * forward step (runtime/forward.c): a single-session eval is a step of one
 * sequence. Shapes are written next to each buffer.
 */
#ifndef BN_SESSION_H
#define BN_SESSION_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "runtime/barrier.h"
#include "runtime/bitnet.h"
#include "runtime/model.h"

/* Tokens of one sequence whose attention one thread computes together,
 * reading each cached K/V row once for all of them. */
#define BN_ATT_BLOCK 16

/* Vocabulary rows of the output layer one thread computes per call when
 * logits rows go to several sessions (see bn_scratch.logits_tmp). */
#define BN_OUT_CHUNK 1024

/* Everything one forward step writes besides the KV caches and the logits,
 * sized once (bn_scratch_new) for at most n_tokens tokens of at most n_seqs
 * sequences, attention over at most n_ctx positions, and n_threads threads.
 *
 * q, k, v, attn (the attention group), gate, up (the FFN group) and proj
 * are views into one allocation, `shared`, because their lives within a
 * layer never overlap: the attention group is dead (attn quantized into
 * act_attn) before o_proj writes proj; proj is dead (added to x) before gate
 * and up are written; the FFN group is dead (gate quantized into act_ff)
 * before down_proj writes proj, which is dead before the next layer writes
 * q. forward.c must keep it so: no buffer may be read after a later stage
 * has written. This keeps 4 * n_tokens * (2 n_q + 2 n_kv + n_embd) bytes off
 * the scratch (17.5 MiB at a 512-token step of the 2B4T shape).
 * Tokens of a step are numbered 0 .. n-1, sequence after sequence. */
typedef struct bn_scratch {
    int32_t n_tokens;  /* capacity: tokens in one step */
    int32_t n_seqs;    /* capacity: sequences in one step */
    int32_t n_ctx;     /* capacity: positions a token of the step may see */
    int32_t n_norm;    /* capacity: rows of `normed` (logit rows of one step) */
    int32_t n_tmp;     /* rows of logits_tmp (0 for one sequence a step) */
    int n_threads;     /* capacity: threads of the step's team */

    float *shared;   /* max(2 n_q + 2 n_kv, 2 n_ff, n_embd) * n_tokens floats */
    float *x;        /* (n_tokens, n_embd) residual stream */
    float *q;        /* (n_tokens, n_q) queries, n_q = n_head * head_dim */
    float *k;        /* (n_tokens, n_kv) keys of this step, before the caches */
    float *v;        /* (n_tokens, n_kv) */
    float *attn;     /* (n_tokens, n_q) attention output, heads concatenated */
    float *gate;     /* (n_tokens, n_ff) gate, then act(gate) * up */
    float *up;       /* (n_tokens, n_ff) */
    float *proj;     /* (n_tokens, n_embd) output of o_proj / down_proj (in shared) */
    float *normed;   /* (n_norm, n_embd) final-norm rows that need logits */
    float *scores;   /* (n_threads, BN_ATT_BLOCK, n_head / n_head_kv, n_ctx) attention
                      * probabilities of a block of tokens */
    float *rope_cos; /* (n_tokens, n_rot / 2) for this step's positions */
    float *rope_sin; /* (n_tokens, n_rot / 2) */
    float *inv_freq; /* (n_rot / 2) */
    /* Output-layer results when the step's logit rows belong to several
     * sessions: one product over all rows (the weights streamed once), each
     * thread BN_OUT_CHUNK vocabulary rows at a time into its columns here,
     * then copied to each session's logits while still in cache. Steps with
     * more logit rows than n_tmp take several passes. */
    float *logits_tmp; /* (n_tmp, n_vocab) */
    bn_act_batch act_embd; /* K = n_embd: input of q/k/v and gate/up */
    bn_act_batch act_attn; /* K = n_q: input of o_proj */
    bn_act_batch act_ff;   /* K = n_ff: input of down_proj */
    bn_act_batch act_out;  /* K = n_embd, n_norm rows: int8 lm head input */

    /* The step's plan, filled by bn_forward_step before its parallel region. */
    int32_t *tok;      /* (n_tokens) ids */
    int32_t *pos;      /* (n_tokens) positions */
    int32_t *tok_seq;  /* (n_tokens) index of the token's sequence */
    int32_t *out_tok;  /* (n_norm) step tokens whose logits are wanted, ascending */
    float **out_dst;   /* (n_norm) where each of those logits rows goes */

    bn_barrier barrier; /* between the stages of a step */
} bn_scratch;

/* Allocates a scratch (see above); lm_head_i8 and LUT tables follow the
 * model. n_tmp > 0 only for steps of several sequences. */
bn_status bn_scratch_new(const bn_model *model, int32_t n_tokens, int32_t n_seqs, int32_t n_ctx,
                         int32_t n_norm, int32_t n_tmp, int n_threads, bn_scratch **out,
                         bn_error *err);
void bn_scratch_free(bn_scratch *w);

struct bn_session {
    const bn_model *model;
    int32_t n_ctx;
    int32_t n_batch;       /* tokens per step of bn_session_eval */
    int32_t n_logits;      /* capacity of `logits` in rows */
    int n_threads;
    bn_kv_type type_k, type_v;
    int32_t n_past;        /* positions filled in the cache */

    /* KV cache, post-RoPE keys and values, F16 (uint16_t) or F32:
     * (n_layer, n_ctx, n_kv) with n_kv = n_head_kv * head_dim. */
    void *k_cache;
    void *v_cache;

    float *logits;         /* (n_logits, n_vocab) */
    int32_t logits_rows;   /* rows valid from the last eval (0: none) */

    /* bn_session_eval's step scratch (n_batch tokens, one sequence, n_ctx
     * positions, n_threads); NULL for a batch_only session. */
    bn_scratch *scratch;

    bn_session_stats stats;
};

/* One sequence's part of a forward step. */
typedef struct bn_step_seq {
    bn_session *session;   /* whose KV cache the tokens join, at n_past.. */
    const int32_t *tokens; /* (n) ids, checked by the caller */
    int32_t n;
    int32_t logits_from;   /* logits for its tokens [logits_from, n); n: none */
    float *logits;         /* (n - logits_from, n_vocab) rows */
} bn_step_seq;

/* Runs the tokens of n_seqs sequences (n_seqs <= w->n_seqs, sum of n <=
 * w->n_tokens, each n >= 1, distinct sessions of model, n_past + n within
 * both the session's n_ctx and w->n_ctx, logit rows within w->n_norm) as one
 * step: appends their K/V to each session's cache and writes the logits asked
 * for. Does not move n_past. Allocates nothing, cannot fail. */
void bn_forward_step(bn_scratch *w, const bn_model *model, const bn_step_seq *seqs,
                     int32_t n_seqs);

#endif /* BN_SESSION_H */
