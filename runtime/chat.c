/* chat.c: turns over one session with the KV cache kept (see chat.h).
 *
 * Invariants: tokens[0, n_past) are exactly the ids in the session's cache,
 * in position order, and n_past == bn_session_n_past(session) between calls.
 * tokens[0, n_keep) is the conversation start (BOS and the system message);
 * turn i occupies [turn_start[i], turn_start[i + 1]) (the last one runs to
 * n_past) and holds the user message, the generation prompt, the reply and,
 * once the next turn starts, the end-of-turn marker that closes the reply.
 * Every evaluated id is also accepted by the sampler, as in one-shot mode,
 * so the repetition penalty sees the conversation.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/chat.h"
#include "runtime/error.h"

#define BN_CHAT_MAX_STOP 8

struct bn_chat {
    const bn_model *model;
    bn_session *session;
    bn_sampler *sampler;
    bn_chat_options opts;
    char *system_prompt;      /* owned copy of opts.system_prompt (or NULL) */
    int32_t n_ctx;
    int32_t *tokens;          /* (n_ctx) ids held by the cache */
    int32_t n_past;
    int32_t n_keep;
    int32_t *turn_start;      /* (n_ctx) first position of each turn */
    int32_t n_turns;
    bool reply_open;          /* a reply was started and not yet closed */
    int32_t reply_tokens;
    int32_t last_turn_tokens;
    int32_t stop_ids[BN_CHAT_MAX_STOP];
    int n_stop;
    int32_t n_shifts, n_dropped_turns, n_reevaluated;
};

/* Encodes text (special-token texts become their ids: the formats are made
 * of them) into a new array; *ids is NULL when *n is 0. */
static bn_status tokenize(const bn_model *model, const char *text, bool add_bos, int32_t **ids,
                          size_t *n, bn_error *err)
{
    bn_status st;
    size_t need = 0, len = strlen(text);
    bn_error probe;
    bn_error_clear(&probe);
    *ids = NULL;
    *n = 0;
    st = bn_model_tokenize(model, text, len, add_bos, true, NULL, 0, &need, &probe);
    if (st != BN_STATUS_OK && st != BN_STATUS_INVALID_ARG)
        return bn_error_set(err, st, "%s", probe.message);
    if (need == 0)
        return BN_STATUS_OK;
    int32_t *buf = malloc(need * sizeof *buf);
    if (!buf)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "chat: out of memory for %zu tokens", need);
    st = bn_model_tokenize(model, text, len, add_bos, true, buf, need, &need, err);
    if (st != BN_STATUS_OK) {
        free(buf);
        return st;
    }
    *ids = buf;
    *n = need;
    return BN_STATUS_OK;
}

/* Appends ids to the cache and the log, and to the sampler's history. */
static bn_status eval_append(bn_chat *c, const int32_t *ids, size_t n, bn_error *err)
{
    if (n == 0)
        return BN_STATUS_OK;
    if ((size_t)c->n_past + n > (size_t)c->n_ctx)
        return bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                            "chat: %zu tokens do not fit after %d of %d", n, (int)c->n_past,
                            (int)c->n_ctx);
    bn_status st = bn_session_eval(c->session, ids, n, false, err);
    if (st != BN_STATUS_OK)
        return st;
    memcpy(c->tokens + c->n_past, ids, n * sizeof *ids);
    c->n_past += (int32_t)n;
    for (size_t i = 0; i < n; i++)
        bn_sampler_accept(c->sampler, ids[i]);
    return BN_STATUS_OK;
}

/* Stop tokens beyond the model's EOG set: the format's end-of-turn specials,
 * when the vocabulary has them as single special tokens (a text that only
 * becomes one id with parse_special on). */
static void collect_stop_ids(bn_chat *c)
{
    const char *const *texts = bn_chat_template_stop_texts(c->opts.tmpl);
    for (int i = 0; texts && texts[i] && c->n_stop < BN_CHAT_MAX_STOP; i++) {
        int32_t id[2], plain[2];
        size_t n = 0, n_plain = 0;
        size_t len = strlen(texts[i]);
        if (bn_model_tokenize(c->model, texts[i], len, false, true, id, 2, &n, NULL) !=
                BN_STATUS_OK ||
            n != 1)
            continue;
        if (bn_model_tokenize(c->model, texts[i], len, false, false, plain, 2, &n_plain, NULL) ==
                BN_STATUS_OK &&
            n_plain == 1 && plain[0] == id[0])
            continue; /* an ordinary piece, not a marker */
        c->stop_ids[c->n_stop++] = id[0];
    }
}

static bool is_stop(const bn_chat *c, int32_t tok)
{
    if (bn_model_is_eog(c->model, tok))
        return true;
    for (int i = 0; i < c->n_stop; i++)
        if (c->stop_ids[i] == tok)
            return true;
    return false;
}

/* Evaluates the conversation start: BOS and the system message. */
static bn_status start(bn_chat *c, bn_error *err)
{
    bn_status st;
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    st = bn_session_truncate(c->session, 0, err);
    if (st != BN_STATUS_OK)
        goto fail;
    c->n_past = 0;
    c->n_keep = 0;
    c->n_turns = 0;
    c->reply_open = false;
    c->reply_tokens = 0;
    bn_chat_message sys = {BN_CHAT_ROLE_SYSTEM, c->system_prompt};
    st = bn_chat_template_render(c->opts.tmpl, &sys, c->system_prompt ? 1 : 0, 0, false, &text,
                                 NULL, err);
    if (st != BN_STATUS_OK)
        goto fail;
    st = tokenize(c->model, text, bn_model_add_bos(c->model), &ids, &n, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (n > (size_t)c->n_ctx) {
        st = bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                          "the system prompt has %zu tokens but the context holds %d", n,
                          (int)c->n_ctx);
        goto fail;
    }
    st = eval_append(c, ids, n, err);
    if (st != BN_STATUS_OK)
        goto fail;
    c->n_keep = c->n_past;
fail:
    free(ids);
    free(text);
    return st;
}

bn_status bn_chat_new(const bn_model *model, bn_session *session, bn_sampler *sampler,
                      const bn_chat_options *opts, bn_chat **out, bn_error *err)
{
    bn_status st;
    bn_chat *c = NULL;
    if (out)
        *out = NULL;
    if (!model || !session || !sampler || !opts || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_new: NULL argument");
        goto fail;
    }
    if (!bn_chat_template_name(opts->tmpl)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_new: unknown chat template %d",
                          (int)opts->tmpl);
        goto fail;
    }
    if (!bn_model_has_tokenizer(model)) {
        st = bn_error_set(err, BN_STATUS_NOT_FOUND, "chat needs a tokenizer; the model has none");
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_chat_new: out of memory");
        goto fail;
    }
    c->model = model;
    c->session = session;
    c->sampler = sampler;
    c->opts = *opts;
    c->n_ctx = bn_session_n_ctx(session);
    if (opts->system_prompt && *opts->system_prompt) {
        c->system_prompt = strdup(opts->system_prompt);
        if (!c->system_prompt) {
            st = bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_chat_new: out of memory");
            goto fail;
        }
    }
    c->opts.system_prompt = c->system_prompt;
    c->tokens = malloc((size_t)c->n_ctx * sizeof *c->tokens);
    c->turn_start = malloc((size_t)c->n_ctx * sizeof *c->turn_start);
    if (!c->tokens || !c->turn_start) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_chat_new: out of memory for a %d-token log",
                          (int)c->n_ctx);
        goto fail;
    }
    collect_stop_ids(c);
    st = start(c, err);
    if (st != BN_STATUS_OK)
        goto fail;
    *out = c;
    return BN_STATUS_OK;
fail:
    bn_chat_free(c);
    return st;
}

void bn_chat_free(bn_chat *c)
{
    if (!c)
        return;
    free(c->system_prompt);
    free(c->tokens);
    free(c->turn_start);
    free(c);
}

bn_status bn_chat_reset(bn_chat *c, bn_error *err)
{
    if (!c)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_reset: chat is NULL");
    /* Keep the start in the cache: only the turns after it go. The sampler
     * restarts from the seed and sees the start again, so a reset chat
     * answers exactly as a new one would. */
    bn_status st = bn_session_truncate(c->session, c->n_keep, err);
    if (st != BN_STATUS_OK)
        return st;
    c->n_past = c->n_keep;
    c->n_turns = 0;
    c->reply_open = false;
    c->reply_tokens = 0;
    bn_sampler_reset(c->sampler, c->opts.seed);
    for (int32_t i = 0; i < c->n_keep; i++)
        bn_sampler_accept(c->sampler, c->tokens[i]);
    /* The logits of the last start token are gone with the truncation; the
     * next turn evaluates at least its user message, so none are needed. */
    return BN_STATUS_OK;
}

/* Makes room for `need` more tokens by dropping the oldest whole turns
 * (never the start, and never the last turn when protect_last: it is the
 * reply being written). It drops turns until the kept history and the new
 * tokens fill at most half of the space after the start, so that a long
 * chat shifts once in a while rather than at every token.
 *
 * Why truncate and re-evaluate instead of sliding the cache: each cached K
 * row was rotated by RoPE for the absolute position it was computed at.
 * Moving later rows down to fill the gap would leave them rotated for their
 * old positions, and attention scores depend on the difference of the query
 * and key rotations, so every distance across the gap would be wrong
 * (llama.cpp re-rotates K in place to fix this: a "K-shift"). Instead the
 * start [0, n_keep) stays where it is (its positions do not change), the
 * cache is truncated to it, and the kept turns are evaluated again at their
 * new positions: every K and V row is then exactly what a fresh evaluation
 * of the shortened conversation gives. The cost is one prompt-speed pass
 * over the kept turns per shift. */
static bn_status shift_context(bn_chat *c, int32_t need, bool protect_last, bn_error *err)
{
    int32_t n_droppable = protect_last ? c->n_turns - 1 : c->n_turns;
    int32_t soft = c->n_keep + (c->n_ctx - c->n_keep) / 2;
    int32_t k = 0;
#define KEPT_AFTER(k) ((k) < c->n_turns ? c->n_past - c->turn_start[(k)] : 0)
    while (k < n_droppable && c->n_keep + KEPT_AFTER(k) + need > soft)
        k++;
    int32_t kept = KEPT_AFTER(k);
#undef KEPT_AFTER
    if (c->n_keep + kept + need > c->n_ctx)
        return bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                            "the context (%d tokens) is full: the system prompt (%d) and the "
                            "current turn (%d) leave no room for %d more",
                            (int)c->n_ctx, (int)c->n_keep, (int)kept, (int)need);
    if (k == 0)
        return BN_STATUS_OK;
    int32_t cut = c->n_past - kept;
    bn_status st = bn_session_truncate(c->session, c->n_keep, err);
    if (st != BN_STATUS_OK)
        return st;
    memmove(c->tokens + c->n_keep, c->tokens + cut, (size_t)kept * sizeof *c->tokens);
    c->n_past = c->n_keep;
    if (kept > 0) {
        st = bn_session_eval(c->session, c->tokens + c->n_keep, (size_t)kept, false, err);
        if (st != BN_STATUS_OK) {
            /* The cache holds only the start now: forget the turns too. */
            c->n_turns = 0;
            c->reply_open = false;
            return st;
        }
    }
    c->n_past = c->n_keep + kept;
    for (int32_t i = k; i < c->n_turns; i++)
        c->turn_start[i - k] = c->turn_start[i] - (cut - c->n_keep);
    c->n_turns -= k;
    c->n_shifts++;
    c->n_dropped_turns += k;
    c->n_reevaluated += kept;
    return BN_STATUS_OK;
}

bn_status bn_chat_add_user(bn_chat *c, const char *text, bn_error *err)
{
    bn_status st;
    char *rendered = NULL;
    int32_t *close_ids = NULL, *user_ids = NULL, *all = NULL;
    size_t n_close = 0, n_user = 0;
    if (!c || !text) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_add_user: NULL argument");
        goto fail;
    }
    /* The previous reply is closed with the format's end-of-turn marker:
     * its end-of-generation token (if it got that far) was sampled but never
     * evaluated. Tokenized on its own so a turn boundary is a token
     * boundary, which lets shift_context drop whole turns. */
    if (c->reply_open && c->n_turns > 0) {
        st = tokenize(c->model, bn_chat_template_assistant_end(c->opts.tmpl), false, &close_ids,
                      &n_close, err);
        if (st != BN_STATUS_OK)
            goto fail;
    }
    bn_chat_message msg = {BN_CHAT_ROLE_USER, text};
    st = bn_chat_template_render(c->opts.tmpl, &msg, 1, 0, true, &rendered, NULL, err);
    if (st != BN_STATUS_OK)
        goto fail;
    st = tokenize(c->model, rendered, false, &user_ids, &n_user, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if ((size_t)c->n_past + n_close + n_user > (size_t)c->n_ctx) {
        if (!c->opts.ctx_shift || n_user > (size_t)(c->n_ctx - c->n_keep)) {
            st = bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                              "the context (%d tokens) is full: this turn needs %zu tokens and "
                              "%d are free (/reset starts a new conversation%s)",
                              (int)c->n_ctx, n_close + n_user, (int)(c->n_ctx - c->n_past),
                              c->opts.ctx_shift ? "" : "; --ctx-shift drops the oldest turns");
            goto fail;
        }
        st = shift_context(c, (int32_t)(n_close + n_user), false, err);
        if (st != BN_STATUS_OK)
            goto fail;
        if (c->n_turns == 0)
            n_close = 0; /* the reply it would close was dropped */
    }
    /* One eval for the close and the new turn: one batch, one set of logits. */
    all = malloc((n_close + n_user) * sizeof *all);
    if (!all) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "chat: out of memory for %zu tokens",
                          n_close + n_user);
        goto fail;
    }
    if (n_close)
        memcpy(all, close_ids, n_close * sizeof *all);
    memcpy(all + n_close, user_ids, n_user * sizeof *all);
    int32_t turn_at = c->n_past + (int32_t)n_close;
    st = eval_append(c, all, n_close + n_user, err);
    if (st != BN_STATUS_OK)
        goto fail;
    c->turn_start[c->n_turns++] = turn_at;
    c->reply_open = true;
    c->reply_tokens = 0;
    c->last_turn_tokens = (int32_t)(n_close + n_user);
fail:
    free(rendered);
    free(close_ids);
    free(user_ids);
    free(all);
    return st;
}

bn_status bn_chat_next_token(bn_chat *c, int32_t *token, bn_chat_stop *stop, bn_error *err)
{
    bn_status st;
    int32_t tok = -1;
    if (token)
        *token = -1;
    if (stop)
        *stop = BN_CHAT_STOP_NONE;
    if (!c || !token || !stop)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_next_token: NULL argument");
    if (!c->reply_open)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bn_chat_next_token: no reply in progress (add a user message first)");
    if (c->opts.n_predict >= 0 && c->reply_tokens >= c->opts.n_predict) {
        *stop = BN_CHAT_STOP_LIMIT;
        return BN_STATUS_OK;
    }
    const float *logits = bn_session_logits(c->session, -1);
    if (!logits)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_chat_next_token: no logits to sample");
    st = bn_sampler_sample(c->sampler, logits, &tok, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!c->opts.ignore_eos && is_stop(c, tok)) {
        *stop = BN_CHAT_STOP_EOG;
        return BN_STATUS_OK;
    }
    if (c->n_past + 1 > c->n_ctx) {
        bn_error shift_err;
        bn_error_clear(&shift_err);
        if (!c->opts.ctx_shift) {
            *stop = BN_CHAT_STOP_CONTEXT_FULL;
            return BN_STATUS_OK;
        }
        st = shift_context(c, 1, true, &shift_err);
        if (st == BN_STATUS_CONTEXT_FULL) {
            *stop = BN_CHAT_STOP_CONTEXT_FULL;
            return BN_STATUS_OK;
        }
        if (st != BN_STATUS_OK)
            return bn_error_set(err, st, "%s", shift_err.message);
    }
    st = eval_append(c, &tok, 1, err);
    if (st != BN_STATUS_OK)
        return st;
    c->reply_tokens++;
    *token = tok;
    return BN_STATUS_OK;
}

void bn_chat_info_get(const bn_chat *c, bn_chat_info *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->n_past = c->n_past;
    out->n_keep = c->n_keep;
    out->n_turns = c->n_turns;
    out->last_turn_tokens = c->last_turn_tokens;
    out->reply_tokens = c->reply_tokens;
    out->n_shifts = c->n_shifts;
    out->n_dropped_turns = c->n_dropped_turns;
    out->n_reevaluated = c->n_reevaluated;
}

const int32_t *bn_chat_tokens(const bn_chat *c, int32_t *n)
{
    if (n)
        *n = c ? c->n_past : 0;
    return c ? c->tokens : NULL;
}
