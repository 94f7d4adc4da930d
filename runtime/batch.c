/* batch.c: several sessions of one model advanced in one forward step.
 *
 * bn_batch_eval checks every sequence first (sizes, ids, room in each
 * cache and in the batch's attention scratch, logit rows, no session twice)
 * so that an error leaves every session as it was. Then one bn_forward_step
 * runs all their tokens (runtime/forward.c): every weight matrix is streamed
 * once for all sequences, each token's K/V go to its own session's cache and
 * each sequence attends to its own cache only. The batch owns the step's
 * scratch, sized in bn_batch_new for n_tokens tokens of n_seqs sequences
 * and n_ctx positions; the sessions lend their caches and logits.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/error.h"
#include "runtime/session.h"

struct bn_batch {
    const bn_model *model;
    int32_t n_tokens;
    int32_t n_seqs;
    int32_t n_ctx;
    int n_threads;
    bn_scratch *scratch;  /* n_tokens tokens, n_seqs sequences, n_ctx positions */
    bn_step_seq *steps;   /* (n_seqs) the step's plan */
};

void bn_batch_options_default(bn_batch_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->n_tokens = 512;
    opts->n_seqs = 16;
    opts->n_threads = 1;
    opts->n_ctx = 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
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
    bn_status st = BN_STATUS_OK;
    bn_batch *b = calloc(1, sizeof *b);
    if (!b)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_batch_new: out of memory");
    b->model = model;
    b->n_tokens = o.n_tokens > 0 ? o.n_tokens : 512;
    b->n_seqs = o.n_seqs > 0 ? o.n_seqs : 16;
    b->n_threads = o.n_threads > 0 ? o.n_threads : 1;
    b->n_ctx = o.n_ctx > 0 ? o.n_ctx : model->hp.n_ctx_train;
    if (b->n_ctx < 1)
        b->n_ctx = 1;
    if (b->n_seqs > b->n_tokens)
        b->n_seqs = b->n_tokens; /* every sequence brings at least one token */
    b->steps = calloc((size_t)b->n_seqs, sizeof *b->steps);
    if (!b->steps) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "bn_batch_new: out of memory");
        goto fail;
    }
    /* Logit rows: up to every token's (all_logits); rows for several
     * sessions pass through n_seqs rows of logits_tmp at a time. */
    if ((st = bn_scratch_new(model, b->n_tokens, b->n_seqs, b->n_ctx, b->n_tokens,
                             b->n_seqs > 1 ? b->n_seqs : 0, b->n_threads, &b->scratch, err)))
        goto fail;
    *out = b;
    return BN_STATUS_OK;
fail:
    bn_batch_free(b);
    return st;
}

void bn_batch_free(bn_batch *batch)
{
    if (!batch)
        return;
    bn_scratch_free(batch->scratch);
    free(batch->steps);
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
        if (q->session->n_past + q->n_tokens > b->n_ctx)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bn_batch_eval: sequence %zu reaches position %d, the batch "
                                "attends over at most %d (bn_batch_options.n_ctx)", i,
                                (int)(q->session->n_past + q->n_tokens), (int)b->n_ctx);
        if (q->all_logits && q->no_logits)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bn_batch_eval: sequence %zu asks for all logits and for none", i);
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

    double t0 = now_ms();
    for (size_t i = 0; i < n_seqs; i++) {
        const bn_batch_seq *q = &seqs[i];
        batch->steps[i] = (bn_step_seq){
            .session = q->session,
            .tokens = q->tokens,
            .n = q->n_tokens,
            .logits_from = q->no_logits ? q->n_tokens : q->all_logits ? 0 : q->n_tokens - 1,
            .logits = q->session->logits,
        };
    }
    bn_forward_step(batch->scratch, batch->model, batch->steps, (int32_t)n_seqs);
    double dt = now_ms() - t0;

    for (size_t i = 0; i < n_seqs; i++) {
        bn_session *s = seqs[i].session;
        const int32_t n = seqs[i].n_tokens;
        s->n_past += n;
        s->logits_rows = seqs[i].no_logits ? 0 : seqs[i].all_logits ? n : 1;
        s->stats.n_eval_calls++;
        s->stats.n_tokens_evaluated += (uint64_t)n;
        if (n > 1) {
            s->stats.n_prompt_tokens += (uint64_t)n;
            s->stats.prompt_ms += dt;
        } else {
            s->stats.n_gen_tokens += (uint64_t)n;
            s->stats.gen_ms += dt;
        }
    }
    return BN_STATUS_OK;
}
