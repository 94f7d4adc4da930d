/* chat.h: a conversation over one session, turn by turn, with the KV cache
 * kept across turns.
 *
 * Owns a bn_chat: the chat format, the token ids the session's KV cache
 * holds (a log mirroring the cache, so turns can be re-evaluated without
 * re-tokenizing), where each turn starts in it, the stop tokens and the
 * per-reply counters. Borrows the model, the session and the sampler (the
 * caller creates and frees them, after the chat); the chat is the only user
 * of the session while it lives.
 *
 * A turn: bn_chat_add_user closes the previous reply with the format's
 * end-of-turn marker, then renders and evaluates only the new user message
 * and the generation prompt; bn_chat_next_token then yields the reply one
 * token at a time (each one evaluated before it is returned, so stopping
 * after any token leaves a consistent cache). The caller decides when to
 * stop early (Ctrl-C): it simply stops calling bn_chat_next_token.
 *
 * Full context: without ctx_shift a turn that does not fit is refused
 * (CONTEXT_FULL, nothing evaluated) and a reply that reaches the end stops
 * with BN_CHAT_STOP_CONTEXT_FULL. With ctx_shift the system prompt stays
 * and the oldest whole turns are dropped (see shift_context in chat.c).
 *
 * Never prints; every failure is a status with a message. One thread.
 */
#ifndef BN_CHAT_H
#define BN_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/bitnet.h"
#include "runtime/chat_template.h"

typedef struct bn_chat bn_chat;

typedef struct bn_chat_options {
    bn_chat_template tmpl;
    const char *system_prompt; /* NULL or "" for none */
    int32_t n_predict;         /* tokens per reply; < 0: until a stop token or full context */
    bool ignore_eos;           /* do not stop at end-of-generation tokens */
    bool ctx_shift;            /* drop the oldest turns when the context is full */
    uint64_t seed;             /* the sampler is reseeded with it on bn_chat_reset */
} bn_chat_options;

typedef enum bn_chat_stop {
    BN_CHAT_STOP_NONE = 0,     /* a token was produced; the reply goes on */
    BN_CHAT_STOP_EOG,          /* the model ended its turn */
    BN_CHAT_STOP_LIMIT,        /* n_predict tokens were generated */
    BN_CHAT_STOP_CONTEXT_FULL, /* no room left (even after shifting, with ctx_shift) */
} bn_chat_stop;

typedef struct bn_chat_info {
    int32_t n_past;            /* tokens in the cache */
    int32_t n_keep;            /* of which BOS and the system prompt */
    int32_t n_turns;           /* turns in the cache (a turn: user message + reply) */
    int32_t last_turn_tokens;  /* tokens the last bn_chat_add_user evaluated */
    int32_t reply_tokens;      /* tokens of the current reply so far */
    int32_t n_shifts;          /* times the context was shifted */
    int32_t n_dropped_turns;   /* turns dropped by those shifts */
    int32_t n_reevaluated;     /* tokens re-evaluated by those shifts */
} bn_chat_info;

/* Creates the chat and evaluates its start: BOS (when the model adds one)
 * and the system prompt. NOT_FOUND without a tokenizer, CONTEXT_FULL when
 * the system prompt does not fit, INVALID_ARG for NULL arguments. */
bn_status bn_chat_new(const bn_model *model, bn_session *session, bn_sampler *sampler,
                      const bn_chat_options *opts, bn_chat **out, bn_error *err);
void bn_chat_free(bn_chat *chat);

/* A new conversation: forgets every turn (the system prompt stays in the
 * cache) and resets the sampler to opts->seed. */
bn_status bn_chat_reset(bn_chat *chat, bn_error *err);

/* Adds a user message and evaluates it with the generation prompt. */
bn_status bn_chat_add_user(bn_chat *chat, const char *text, bn_error *err);

/* Produces the next token of the reply. On BN_CHAT_STOP_NONE *token is
 * the new token (already in the cache and in the sampler's history) and the
 * caller prints it; any other *stop ends the reply and *token is -1. */
bn_status bn_chat_next_token(bn_chat *chat, int32_t *token, bn_chat_stop *stop, bn_error *err);

void bn_chat_info_get(const bn_chat *chat, bn_chat_info *out);

/* The ids the cache holds, in position order (*n = n_past); valid until
 * the next call that changes the chat. For tests and diagnostics. */
const int32_t *bn_chat_tokens(const bn_chat *chat, int32_t *n);

#endif /* BN_CHAT_H */
