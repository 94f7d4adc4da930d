/* bitnet-run.h: the parsed command line of bitnet-run, shared by its
 * one-shot generation (tools/bitnet-run.c) and, when built in, its chat
 * REPL (a separate file defining bn_run_chat and compiled with
 * BN_RUN_HAVE_CHAT). Only the tools include this.
 */
#ifndef BN_TOOLS_BITNET_RUN_H
#define BN_TOOLS_BITNET_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/bitnet.h"

typedef struct bn_run_options {
    const char *model_path;   /* -m; NULL before the default is resolved */
    const char *prompt;       /* -p (or the contents of -f); in chat: the system prompt */
    const char *prompt_file;  /* -f */
    int32_t n_predict;        /* -n; -1 = until EOG or the context is full */
    int n_threads;            /* -t */
    int32_t n_ctx;            /* -c; 0 = min(train context, 4096) */
    int32_t n_batch;          /* -b */
    bool seed_given;
    uint64_t seed;            /* -s */
    bn_sampler_params sampling;
    bn_kv_type type_k, type_v;
    bool display_prompt;      /* off with --no-display-prompt */
    bool verbose;
    const char *dump_logits;  /* --dump-logits PATH */
    bool lm_head_i8;
    bool no_mmap;             /* --no-mmap: read the file into (huge-page) memory */
    bool ignore_eos;
    bool chat;                /* -cnv / --chat */
    const char *chat_template;/* --chat-template NAME (chat mode) */
    bool ctx_shift;           /* --ctx-shift: full context drops the oldest turns (chat) */
} bn_run_options;

#ifdef BN_RUN_HAVE_CHAT
/* The chat REPL: runs until EOF on stdin; returns the process exit code.
 * The model is loaded; the session is the caller's to free afterwards. */
int bn_run_chat(const bn_run_options *opts, bn_model *model, bn_session *session,
                bn_sampler *sampler);
#endif

#endif /* BN_TOOLS_BITNET_RUN_H */
