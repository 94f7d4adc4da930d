/* batch.c: several sessions of one model advanced in one call.
 *
 * bn_batch_eval checks every sequence first (sizes, ids, room in each
 * cache, no session twice) so that an error leaves every session as it was.
 *
 * For now each sequence then runs through its own session's forward steps,
 * one after another: correct, but every weight matrix is streamed once per
 * sequence. The single-step form (one weight pass for all sequences) will
 * replace the loop in bn_batch_eval without changing this API.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/session.h"

struct bn_batch {
    const bn_model *model;
    int32_t n_tokens;
    int32_t n_seqs;
    int n_threads;
};

void bn_batch_options_default(bn_batch_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->n_tokens = 512;
    opts->n_seqs = 16;
    opts->n_threads = 1;
}

bn_status bn_batch_new(const bn_model *model, const bn_batch_options *opts, bn_batch **out,
                       bn_error *err)
{
    if (!model || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_batch_new: model and out are required");
    *out = NULL;
    bn_batch_options o;
    bn_batch_options_default(&o);
    if (opts)
        o = *opts;
    bn_batch *b = calloc(1, sizeof *b);
    if (!b)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_batch_new: out of memory");
    b->model = model;
    b->n_tokens = o.n_tokens > 0 ? o.n_tokens : 512;
    b->n_seqs = o.n_seqs > 0 ? o.n_seqs : 16;
    b->n_threads = o.n_threads > 0 ? o.n_threads : 1;
    *out = b;
    return BN_STATUS_OK;
}

void bn_batch_free(bn_batch *batch)
{
    free(batch);
}

/* Everything bn_batch_eval refuses, before anything runs. */
static bn_status check_seqs(const bn_batch *b, const bn_batch_seq *seqs, size_t n_seqs,
                            bn_error *err)
{
    if (n_seqs == 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_batch_eval: no sequences");
    if (n_seqs > (size_t)b->n_seqs)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bn_batch_eval: %zu sequences, the batch holds at most %d", n_seqs,
                            (int)b->n_seqs);
    const int32_t n_vocab = b->model->hp.n_vocab;
    size_t total = 0;
    for (size_t i = 0; i < n_seqs; i++) {
        const bn_batch_seq *q = &seqs[i];
        if (!q->session || !q->tokens || q->n_tokens <= 0)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bn_batch_eval: sequence %zu has no session or no tokens", i);
        if (q->session->model != b->model)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bn_batch_eval: sequence %zu's session belongs to another model", i);
        for (size_t j = 0; j < i; j++)
            if (seqs[j].session == q->session)
                return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                    "bn_batch_eval: sequences %zu and %zu share one session", j, i);
        for (int32_t t = 0; t < q->n_tokens; t++)
            if (q->tokens[t] < 0 || q->tokens[t] >= n_vocab)
                return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                    "bn_batch_eval: sequence %zu, token %d has id %d, outside "
                                    "the vocabulary [0, %d)", i, (int)t, (int)q->tokens[t],
                                    (int)n_vocab);
        if (q->n_tokens > q->session->n_ctx - q->session->n_past)
            return bn_error_set(err, BN_STATUS_CONTEXT_FULL,
                                "bn_batch_eval: sequence %zu: %d tokens do not fit after %d of %d "
                                "positions", i, (int)q->n_tokens, (int)q->session->n_past,
                                (int)q->session->n_ctx);
        if (q->all_logits && q->n_tokens > q->session->n_logits)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bn_batch_eval: sequence %zu asks logits for %d tokens, its "
                                "session keeps at most %d rows", i, (int)q->n_tokens,
                                (int)q->session->n_logits);
        total += (size_t)q->n_tokens;
    }
    if (total > (size_t)b->n_tokens)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bn_batch_eval: %zu tokens in one step, the batch holds at most %d",
                            total, (int)b->n_tokens);
    return BN_STATUS_OK;
}

bn_status bn_batch_eval(bn_batch *batch, const bn_batch_seq *seqs, size_t n_seqs, bn_error *err)
{
    if (!batch || (!seqs && n_seqs > 0))
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_batch_eval: NULL argument");
    bn_status st = check_seqs(batch, seqs, n_seqs, err);
    if (st != BN_STATUS_OK)
        return st;
    for (size_t i = 0; i < n_seqs; i++) {
        st = bn_session_eval(seqs[i].session, seqs[i].tokens, (size_t)seqs[i].n_tokens,
                             seqs[i].all_logits, err);
        if (st != BN_STATUS_OK) /* checked above: cannot happen */
            return st;
    }
    return BN_STATUS_OK;
}
