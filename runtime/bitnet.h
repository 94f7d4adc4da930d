/* bitnet.h: the public API of the bitnet runtime.
 *
 * Two opaque objects: a model (weights, vocabulary, kernel table; read-only
 * once loaded, shareable between threads) and a session (KV cache, scratch,
 * sampler state; used by one thread at a time). Every call that can fail
 * returns a bn_status and fills a bn_error with a message that names the
 * thing and the numbers. The library never prints and never aborts on input
 * that comes from outside (files, prompts, flags).
 *
 * The status and error record come first: every module of the library
 * shares them. Then models, sessions and the sampler.
 */
#ifndef BITNET_H
#define BITNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bn_status {
    BN_STATUS_OK = 0,
    BN_STATUS_IO,           /* a file could not be opened, read or mapped */
    BN_STATUS_FORMAT,       /* a file is malformed (truncated, inconsistent) */
    BN_STATUS_UNSUPPORTED,  /* well-formed, but a type/arch/feature we do not run */
    BN_STATUS_INVALID_ARG,  /* a caller passed a bad value (flag, size, NULL) */
    BN_STATUS_NO_MEMORY,
    BN_STATUS_NOT_FOUND,    /* a key, tensor or token that is not there */
    BN_STATUS_CONTEXT_FULL, /* the KV cache has no room for more tokens */
    BN_STATUS_INTERRUPTED,  /* the caller asked to stop */
} bn_status;

#define BN_ERROR_MESSAGE_BYTES 512

/* The first error wins: later calls to bn_error_set do not overwrite it, so
 * the message names the root cause, not the last function on the way out. */
typedef struct bn_error {
    bn_status status;
    char message[BN_ERROR_MESSAGE_BYTES];
} bn_error;

const char *bn_status_name(bn_status status);
void bn_error_clear(bn_error *err);

/* ======================================================================
 * Models
 *
 * A bn_model owns the mapped GGUF file, the architecture's hyperparameters,
 * every bound tensor (shape-checked against the metadata at load), the
 * ternary matrices repacked for the chosen kernel table, and the tokenizer
 * (when the file carries one). Read-only after bn_model_load: any number of
 * sessions and threads may use one model at once. Free it after its sessions.
 * ====================================================================== */

typedef struct bn_model bn_model;
typedef struct bn_session bn_session;
typedef struct bn_sampler bn_sampler;

/* Which ternary kernel family runs a product: lookup tables or multiply-add. */
typedef enum bn_kernel_choice {
    BN_KERNEL_CHOICE_AUTO = 0, /* the table's own choice per use */
    BN_KERNEL_CHOICE_MAD,
    BN_KERNEL_CHOICE_LUT,
} bn_kernel_choice;

typedef struct bn_model_options {
    int n_threads;            /* threads for repacking at load; <= 0 means 1 */
    const char *kernels;      /* kernel table name (ref|avx2|avx512|avx512vbmi|neon|neon-dotprod);
                                 NULL = the best this CPU runs. Tools pass getenv("BN_KERNELS"). */
    bool use_mmap;            /* map the file (default) or read it into memory */
    bool lm_head_i8;          /* int8 copy of the output layer: faster, less exact */
    bn_kernel_choice prompt_kernels; /* family for batches of more than one token */
    bn_kernel_choice decode_kernels; /* family for one token at a time */
} bn_model_options;

/* Fills the defaults: 1 thread, best table, mmap on, exact output layer, AUTO. */
void bn_model_options_default(bn_model_options *opts);

/* opts may be NULL (defaults). On failure *out is NULL and err says why:
 * BN_STATUS_IO (file), FORMAT (malformed), UNSUPPORTED (arch, tensor type),
 * NOT_FOUND (a required key or tensor is missing). */
bn_status bn_model_load(const char *path, const bn_model_options *opts, bn_model **out,
                        bn_error *err);
void bn_model_free(bn_model *model);

/* ---- model information (all valid for the model's lifetime) ---- */
const char *bn_model_arch(const bn_model *model);          /* "bitnet-b1.58", "llama", ... */
const char *bn_model_description(const bn_model *model);   /* e.g. "tiny-bitnet (bitnet-b1.58), 6 layers, I2_S" */
int32_t bn_model_n_vocab(const bn_model *model);
int32_t bn_model_n_ctx_train(const bn_model *model);
int32_t bn_model_n_embd(const bn_model *model);
int32_t bn_model_n_layer(const bn_model *model);
uint64_t bn_model_n_params(const bn_model *model);
const char *bn_model_kernels_name(const bn_model *model);  /* the kernel table in use */
uint64_t bn_model_file_bytes(const bn_model *model);
/* Weight bytes one generated token streams (every layer's matrices, the
 * output layer and one embedding row): the bound for tokens/s at a given
 * memory bandwidth. */
uint64_t bn_model_bytes_per_token(const bn_model *model);
const char *bn_model_chat_template(const bn_model *model); /* NULL when absent */
/* Renders a conversation in the model's chat format (recognised from
 * tokenizer.chat_template, else bitnet's "plain" form, as bitnet-run --chat
 * chooses): roles[i] is "system", "user" or "assistant", contents[i] its
 * UTF-8 text; add_generation_prompt opens the assistant's reply. BOS is not
 * part of the text. Same capacity rule as bn_model_detokenize. */
bn_status bn_model_chat_render(const bn_model *model, const char *const *roles,
                               const char *const *contents, size_t n, bool add_generation_prompt,
                               char *buf, size_t cap, size_t *n_bytes, bn_error *err);
/* One of the metadata strings the model keeps: "general.name",
 * "general.architecture" or "tokenizer.chat_template"; NULL otherwise or
 * when absent. */
const char *bn_model_meta_string(const bn_model *model, const char *key);

/* ---- tokens ---- */
bool bn_model_has_tokenizer(const bn_model *model);
/* Encodes text into ids. When the ids do not fit in cap, nothing useful is
 * in ids, *n_ids holds the count needed and the status is INVALID_ARG.
 * A model without a tokenizer gives NOT_FOUND. */
bn_status bn_model_tokenize(const bn_model *model, const char *text, size_t len, bool add_bos,
                            bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                            bn_error *err);
/* The bytes one id stands for, for streaming (no NUL is added; *n_bytes is
 * the length, possibly larger than cap, in which case nothing is written
 * and the status is INVALID_ARG). Control tokens give no bytes. */
bn_status bn_model_token_to_piece(const bn_model *model, int32_t id, char *buf, size_t cap,
                                  size_t *n_bytes, bn_error *err);
/* Decodes a whole sequence to text (NUL-terminated when it fits; *n_bytes
 * excludes the NUL). Same capacity rule as above. */
bn_status bn_model_detokenize(const bn_model *model, const int32_t *ids, size_t n_ids, char *buf,
                              size_t cap, size_t *n_bytes, bn_error *err);
bool bn_model_is_eog(const bn_model *model, int32_t id); /* end of generation */
int32_t bn_model_bos(const bn_model *model); /* -1 when unknown */
/* Whether prompts start with BOS (tokenizer.ggml.add_bos_token or the
 * tokenizer's default); false without a tokenizer. */
bool bn_model_add_bos(const bn_model *model);
int32_t bn_model_eos(const bn_model *model);

/* ======================================================================
 * Sessions
 *
 * A session owns the KV cache, its logits and (unless batch_only) the
 * scratch buffers of the forward pass for n_batch tokens, all allocated in
 * bn_session_new: evaluating tokens allocates nothing. One thread at a time
 * per session; each eval runs one OpenMP parallel region per sub-batch with
 * n_threads threads. Logits do not depend on n_threads.
 *
 * Memory (2B4T shape, F16 cache): the KV cache is 75 KiB a position (300
 * MiB at n_ctx 4096); logits n_logits * 501 KiB (64 MiB by default); the
 * scratch about 90 KiB a token of n_batch (about 45 MiB at 512) plus 256 KiB
 * per thread per 1024 positions of n_ctx. A session that a bn_batch runs
 * needs none of the scratch: create it batch_only (and with n_logits = 1
 * unless it wants every token's logits), and it holds just its cache and
 * logits.
 * ====================================================================== */

typedef enum bn_kv_type {
    BN_KV_TYPE_F16 = 0,
    BN_KV_TYPE_F32,
} bn_kv_type;

typedef struct bn_session_options {
    int32_t n_ctx;       /* KV cache positions; <= 0: min(train context, 4096) */
    int32_t n_batch;     /* tokens per forward step; <= 0: 512 (capped by n_ctx) */
    int32_t n_logits;    /* rows of logits one eval can return with all_logits;
                            <= 0: as many as fit in 64 MiB, at least 1, at most n_ctx */
    int n_threads;       /* <= 0: 1 */
    bn_kv_type type_k;
    bn_kv_type type_v;
    bool batch_only;     /* no scratch of its own: KV cache and logits only. Such a
                            session is evaluated by bn_batch_eval only
                            (bn_session_eval gives INVALID_ARG); n_batch and
                            n_threads are unused. Default false. */
} bn_session_options;

void bn_session_options_default(bn_session_options *opts);

bn_status bn_session_new(const bn_model *model, const bn_session_options *opts,
                         bn_session **out, bn_error *err);
void bn_session_free(bn_session *session);

/* Appends n tokens at positions n_past..n_past+n-1 and runs them through the
 * model (as batches of up to n_batch tokens, matrix-matrix). all_logits:
 * keep the logits of every token of this call (n <= n_logits), else only of
 * the last one. Errors: CONTEXT_FULL when n_past + n > n_ctx (nothing is
 * evaluated), INVALID_ARG for n == 0, ids outside the vocabulary or too many
 * logit rows. On error the cache is left as before the call. */
bn_status bn_session_eval(bn_session *session, const int32_t *tokens, size_t n, bool all_logits,
                          bn_error *err);
/* Logits (n_vocab floats) of row i of the last eval: i in [0, n) with
 * all_logits, else 0; i = -1 means the last row. NULL if out of range or
 * nothing evaluated yet. Valid until the next eval. */
const float *bn_session_logits(const bn_session *session, int32_t i);
int32_t bn_session_n_past(const bn_session *session);
int32_t bn_session_n_ctx(const bn_session *session);
/* Forgets every position >= n_keep (n_keep <= n_past), e.g. for /reset or
 * before re-evaluating a changed suffix. The logits become invalid. */
bn_status bn_session_truncate(bn_session *session, int32_t n_keep, bn_error *err);

typedef struct bn_session_stats {
    uint64_t n_eval_calls;       /* successful bn_session_eval calls */
    uint64_t n_tokens_evaluated; /* tokens run through the model, all calls */
    uint64_t n_prompt_tokens;    /* tokens from calls with n > 1 */
    double prompt_ms;            /* wall time of those calls */
    uint64_t n_gen_tokens;       /* tokens from calls with n == 1 */
    double gen_ms;
} bn_session_stats;

void bn_session_stats_get(const bn_session *session, bn_session_stats *out);
void bn_session_stats_reset(bn_session *session);

/* ======================================================================
 * Batches: several sessions advanced in one forward step
 *
 * A bn_batch runs the tokens of several sessions of one model through the
 * model together: every weight matrix is streamed once per step for all of
 * them, and each session's tokens attend only to its own KV cache. The
 * sessions may be at different positions and in different phases (some
 * decoding one token, others prefilling a chunk of their prompt). The batch
 * owns the step's scratch, sized at creation; sessions keep their KV caches
 * and logits (create them batch_only to leave their own scratch out). A
 * step is one OpenMP parallel region of n_threads threads and allocates
 * nothing. Used by one thread at a time; its sessions must not be used
 * elsewhere during bn_batch_eval. Free the batch before the model.
 *
 * Results: a session's logits after a step do not depend on the other
 * sequences of the step, on their order or on n_threads, with one
 * exception: when the step holds several sequences, the output layer (a
 * float product) runs once for all of their rows, and a table's kernel for
 * several rows may sum in another order than its kernel for one (kernels.h:
 * within 2e-6 of sum |w x| per logit). Everything before it (the ternary
 * layers, norms, attention) is exact integer work or a fixed float order,
 * bit-identical to the session run alone. With lm_head_i8 the output layer
 * is integer work too and logits are bit-identical throughout.
 *
 * Memory (2B4T shape): the scratch is about 90 KiB a token of n_tokens, 256
 * KiB per thread per 1024 positions of n_ctx, and 501 KiB per sequence of
 * n_seqs (logit rows in flight): about 55 MiB with the defaults at 2 threads.
 * ====================================================================== */

typedef struct bn_batch bn_batch;

typedef struct bn_batch_options {
    int32_t n_tokens; /* tokens of all sequences in one step; <= 0: 512 */
    int32_t n_seqs;   /* sequences in one step; <= 0: 16 */
    int n_threads;    /* <= 0: 1 */
    int32_t n_ctx;    /* positions a sequence may reach (attention scratch):
                         n_past + n_tokens of every sequence must stay within it;
                         <= 0: the model's training context */
} bn_batch_options;

/* One sequence's part of a step: n_tokens tokens appended to session at its
 * positions n_past, n_past + 1, ... */
typedef struct bn_batch_seq {
    bn_session *session;
    const int32_t *tokens;
    int32_t n_tokens;
    bool all_logits; /* keep the logits of every token (<= the session's n_logits), else the last */
    bool no_logits;  /* keep none (a prompt chunk that more chunks follow): the
                        output layer skips the sequence, bn_session_logits gives NULL */
} bn_batch_seq;

void bn_batch_options_default(bn_batch_options *opts);
bn_status bn_batch_new(const bn_model *model, const bn_batch_options *opts, bn_batch **out,
                       bn_error *err);
void bn_batch_free(bn_batch *batch);

/* Evaluates every sequence's tokens in one step. On success each session's
 * n_past grows by its n_tokens and bn_session_logits gives its logits, as
 * after bn_session_eval; greedy tokens equal those of the session run alone.
 * Errors (nothing is evaluated, no session changes): INVALID_ARG for more
 * tokens or sequences than the batch holds, a session listed twice or of
 * another model, an empty sequence, ids outside the vocabulary, too many
 * logit rows for a session, all_logits with no_logits, or a sequence
 * reaching past the batch's n_ctx;
 * CONTEXT_FULL when a sequence does not fit in its session's cache.
 * Session counters: each session counts the call as one eval of its
 * n_tokens, taking the whole step's wall time. */
bn_status bn_batch_eval(bn_batch *batch, const bn_batch_seq *seqs, size_t n_seqs, bn_error *err);

/* ======================================================================
 * Sampling (llama.cpp's order): repetition penalty over the last
 * repeat_last_n accepted tokens -> top-k -> top-p -> min-p -> temperature ->
 * draw. temp <= 0 is greedy (argmax, lowest id on ties). Deterministic for a
 * seed. Allocates its scratch at creation; sampling allocates nothing.
 * ====================================================================== */

typedef struct bn_sampler_params {
    float temp;           /* 0.8; <= 0: greedy */
    int32_t top_k;        /* 40; <= 0: off */
    float top_p;          /* 0.95; >= 1: off */
    float min_p;          /* 0.05; <= 0: off */
    float repeat_penalty; /* 1.0 = off */
    int32_t repeat_last_n;/* 64; 0 = off, -1 = whole history kept (up to 4096) */
    uint64_t seed;
} bn_sampler_params;

void bn_sampler_params_default(bn_sampler_params *params);
bn_status bn_sampler_new(const bn_sampler_params *params, int32_t n_vocab, bn_sampler **out,
                         bn_error *err);
void bn_sampler_free(bn_sampler *sampler);
/* Picks a token from n_vocab logits (not modified). Does not accept it. */
bn_status bn_sampler_sample(bn_sampler *sampler, const float *logits, int32_t *out_token,
                            bn_error *err);
/* Adds a token to the penalty history (prompt tokens and sampled ones). */
void bn_sampler_accept(bn_sampler *sampler, int32_t token);
/* Clears the history and reseeds. */
void bn_sampler_reset(bn_sampler *sampler, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_H */
