/* session.c: sessions: the KV cache, the logits and the session's own step
 * scratch (all allocated here, once; batch_only sessions have no scratch),
 * evaluating tokens in sub-batches, logits, truncation and counters.
 *
 * bn_session_eval checks everything first (ids in range, room in the cache,
 * logit rows) and only then runs the forward steps, which cannot fail: on an
 * error the session is exactly as before the call.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "runtime/error.h"
#include "runtime/session.h"

#define BN_LOGITS_BUDGET_BYTES (64u << 20)
#define BN_MAX_CTX (1 << 24)

void bn_session_options_default(bn_session_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->n_ctx = 0;
    opts->n_batch = 512;
    opts->n_logits = 0;
    opts->n_threads = 1;
    opts->type_k = BN_KV_TYPE_F16;
    opts->type_v = BN_KV_TYPE_F16;
}

void bn_session_free(bn_session *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->logits);
    bn_scratch_free(s->scratch);
    free(s);
}

bn_status bn_session_new(const bn_model *model, const bn_session_options *opts_in,
                         bn_session **out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_session *s = NULL;
    if (!model || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_session_new: model and out are required");
        goto fail;
    }
    *out = NULL;
    bn_session_options o;
    if (opts_in)
        o = *opts_in;
    else
        bn_session_options_default(&o);
    const bn_hparams *hp = &model->hp;
    if (o.n_ctx <= 0)
        o.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (o.n_ctx > BN_MAX_CTX) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "context size %d is too large (at most %d)",
                          (int)o.n_ctx, BN_MAX_CTX);
        goto fail;
    }
    if (o.n_batch <= 0)
        o.n_batch = 512;
    if (o.n_batch > o.n_ctx)
        o.n_batch = o.n_ctx;
    if (o.n_logits <= 0) {
        size_t fit = BN_LOGITS_BUDGET_BYTES / ((size_t)hp->n_vocab * sizeof(float));
        o.n_logits = fit < 1 ? 1 : fit > (size_t)o.n_ctx ? o.n_ctx : (int32_t)fit;
    }
    if (o.n_logits > o.n_ctx)
        o.n_logits = o.n_ctx;
    if (o.n_threads <= 0)
        o.n_threads = 1;
    if ((o.type_k != BN_KV_TYPE_F16 && o.type_k != BN_KV_TYPE_F32) ||
        (o.type_v != BN_KV_TYPE_F16 && o.type_v != BN_KV_TYPE_F32)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "unknown KV cache type (K %d, V %d)",
                          (int)o.type_k, (int)o.type_v);
        goto fail;
    }

    s = calloc(1, sizeof *s);
    if (!s) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    s->model = model;
    s->n_ctx = o.n_ctx;
    s->n_batch = o.batch_only ? 0 : o.n_batch;
    s->n_logits = o.n_logits;
    s->n_threads = o.n_threads;
    s->type_k = o.type_k;
    s->type_v = o.type_v;

    const size_t NKV = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    size_t cache_n = (size_t)hp->n_layer * (size_t)o.n_ctx * NKV;
    s->k_cache = malloc(cache_n * (o.type_k == BN_KV_TYPE_F16 ? 2 : 4));
    s->v_cache = malloc(cache_n * (o.type_v == BN_KV_TYPE_F16 ? 2 : 4));
    s->logits = malloc((size_t)o.n_logits * (size_t)hp->n_vocab * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->logits) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "out of memory for a session of %d positions (KV cache %zu MiB)",
                          (int)o.n_ctx,
                          cache_n * (size_t)(o.type_k == BN_KV_TYPE_F16 ? 4 : 8) >> 20);
        goto fail;
    }
    /* bn_session_eval's scratch: one sequence of up to n_batch tokens, logit
     * rows of one step at most min(n_logits, n_batch). */
    if (!o.batch_only) {
        int32_t norm_rows = o.n_logits < o.n_batch ? o.n_logits : o.n_batch;
        if ((st = bn_scratch_new(model, o.n_batch, 1, o.n_ctx, norm_rows, 0, o.n_threads,
                                 &s->scratch, err)))
            goto fail;
    }
    *out = s;
    return BN_STATUS_OK;
fail:
    bn_session_free(s);
    return st;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bn_status bn_session_eval(bn_session *s, const int32_t *tokens, size_t n, bool all_logits,
                          bn_error *err)
{
    if (!s || (!tokens && n > 0))
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_session_eval: NULL argument");
    if (n == 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_session_eval: no tokens to evaluate");
    if (!s->scratch)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bn_session_eval: the session was created batch_only; evaluate it "
                            "with bn_batch_eval");
    const int32_t n_vocab = s->model->hp.n_vocab;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "token %zu of %zu has id %d, outside the vocabulary [0, %d)", i, n,
                                (int)tokens[i], (int)n_vocab);
    if (n > (size_t)(s->n_ctx - s->n_past))
        return bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                            "context full: %zu tokens do not fit after %d of %d positions", n,
                            (int)s->n_past, (int)s->n_ctx);
    if (all_logits && n > (size_t)s->n_logits)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "logits for %zu tokens requested, the session keeps at most %d rows "
                            "(bn_session_options.n_logits)", n, (int)s->n_logits);

    double t0 = now_ms();
    s->logits_rows = 0;
    for (size_t off = 0; off < n; off += (size_t)s->n_batch) {
        int32_t nb = (int32_t)(n - off < (size_t)s->n_batch ? n - off : (size_t)s->n_batch);
        bool last = off + (size_t)nb == n;
        int32_t from;
        float *out;
        if (all_logits) {
            from = 0;
            out = s->logits + off * (size_t)n_vocab;
        } else {
            from = last ? nb - 1 : nb;
            out = s->logits;
        }
        const bn_step_seq seq = {
            .session = s, .tokens = tokens + off, .n = nb, .logits_from = from, .logits = out};
        bn_forward_step(s->scratch, s->model, &seq, 1);
        s->n_past += nb;
    }
    s->logits_rows = all_logits ? (int32_t)n : 1;
    double dt = now_ms() - t0;

    s->stats.n_eval_calls++;
    s->stats.n_tokens_evaluated += n;
    if (n > 1) {
        s->stats.n_prompt_tokens += n;
        s->stats.prompt_ms += dt;
    } else {
        s->stats.n_gen_tokens += n;
        s->stats.gen_ms += dt;
    }
    return BN_STATUS_OK;
}

const float *bn_session_logits(const bn_session *s, int32_t i)
{
    if (!s || s->logits_rows == 0)
        return NULL;
    if (i == -1)
        i = s->logits_rows - 1;
    if (i < 0 || i >= s->logits_rows)
        return NULL;
    return s->logits + (size_t)i * (size_t)s->model->hp.n_vocab;
}

int32_t bn_session_n_past(const bn_session *s) { return s ? s->n_past : 0; }
int32_t bn_session_n_ctx(const bn_session *s) { return s ? s->n_ctx : 0; }

bn_status bn_session_truncate(bn_session *s, int32_t n_keep, bn_error *err)
{
    if (!s)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_session_truncate: session is NULL");
    if (n_keep < 0 || n_keep > s->n_past)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "cannot keep %d positions: the session holds %d", (int)n_keep,
                            (int)s->n_past);
    /* Positions past n_keep are simply overwritten by the next eval. */
    s->n_past = n_keep;
    s->logits_rows = 0;
    return BN_STATUS_OK;
}

void bn_session_stats_get(const bn_session *s, bn_session_stats *out)
{
    if (!out)
        return;
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->stats;
}

void bn_session_stats_reset(bn_session *s)
{
    if (s)
        memset(&s->stats, 0, sizeof s->stats);
}
