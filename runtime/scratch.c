/* scratch.c: the forward step's scratch (runtime/session.h says what each
 * buffer holds and why some share memory). Allocated once, by a session
 * for bn_session_eval or by a batch for bn_batch_eval; a step allocates
 * nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/session.h"

static void *alloc_n(size_t n, size_t size)
{
    return malloc((n ? n : 1) * size);
}

void bn_scratch_free(bn_scratch *w)
{
    if (!w)
        return;
    free(w->x);
    free(w->shared); /* q, k, v, attn, gate, up, proj */
    free(w->normed);
    free(w->scores);
    free(w->rope_cos);
    free(w->rope_sin);
    free(w->inv_freq);
    free(w->logits_tmp);
    free(w->tok);
    free(w->pos);
    free(w->tok_seq);
    free(w->out_tok);
    free(w->out_dst);
    bn_act_batch_free(&w->act_embd);
    bn_act_batch_free(&w->act_attn);
    bn_act_batch_free(&w->act_ff);
    bn_act_batch_free(&w->act_out);
    free(w);
}

bn_status bn_scratch_new(const bn_model *model, int32_t n_tokens, int32_t n_seqs, int32_t n_ctx,
                         int32_t n_norm, int32_t n_tmp, int n_threads, bn_scratch **out,
                         bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    *out = NULL;
    bn_scratch *w = calloc(1, sizeof *w);
    if (!w)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for a step scratch");
    const bn_hparams *hp = &model->hp;
    w->n_tokens = n_tokens;
    w->n_seqs = n_seqs;
    w->n_ctx = n_ctx;
    w->n_norm = n_norm;
    w->n_tmp = n_tmp;
    w->n_threads = n_threads;

    const size_t B = (size_t)n_tokens, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff,
                 D = (size_t)hp->head_dim, NQ = (size_t)hp->n_head * D,
                 NKV = (size_t)hp->n_head_kv * D, half = (size_t)hp->n_rot / 2;
    w->x = alloc_n(B * E, sizeof(float));
    /* The attention group, the FFN group and proj share one block
     * (session.h says why their lives never overlap). */
    size_t attn_group = B * (2 * NQ + 2 * NKV), ffn_group = 2 * B * F, shared_n = B * E;
    shared_n = attn_group > shared_n ? attn_group : shared_n;
    shared_n = ffn_group > shared_n ? ffn_group : shared_n;
    w->shared = alloc_n(shared_n, sizeof(float));
    if (w->shared) {
        w->q = w->shared;
        w->k = w->q + B * NQ;
        w->v = w->k + B * NKV;
        w->attn = w->v + B * NKV;
        w->gate = w->shared;
        w->up = w->gate + B * F;
        w->proj = w->shared;
    }
    w->normed = alloc_n((size_t)n_norm * E, sizeof(float));
    w->scores = alloc_n((size_t)n_threads * BN_ATT_BLOCK * (size_t)(hp->n_head / hp->n_head_kv) *
                            (size_t)n_ctx, sizeof(float));
    w->rope_cos = alloc_n(B * half, sizeof(float));
    w->rope_sin = alloc_n(B * half, sizeof(float));
    w->inv_freq = alloc_n(half, sizeof(float));
    w->logits_tmp = n_tmp > 0 ? alloc_n((size_t)n_tmp * (size_t)hp->n_vocab, sizeof(float)) : NULL;
    w->tok = alloc_n(B, sizeof(int32_t));
    w->pos = alloc_n(B, sizeof(int32_t));
    w->tok_seq = alloc_n(B, sizeof(int32_t));
    w->out_tok = alloc_n((size_t)n_norm, sizeof(int32_t));
    w->out_dst = alloc_n((size_t)n_norm, sizeof(float *));
    if (!w->x || !w->shared || !w->normed || !w->scores || !w->rope_cos || !w->rope_sin ||
        !w->inv_freq || (n_tmp > 0 && !w->logits_tmp) || !w->tok || !w->pos || !w->tok_seq ||
        !w->out_tok || !w->out_dst) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "out of memory for a step scratch of %d tokens, %d positions",
                          (int)n_tokens, (int)n_ctx);
        goto fail;
    }
    bool lut = model->needs_lut;
    if ((st = bn_act_batch_alloc((int64_t)E, (int64_t)B, lut, &w->act_embd, err)) ||
        (st = bn_act_batch_alloc((int64_t)NQ, (int64_t)B, lut, &w->act_attn, err)) ||
        (st = bn_act_batch_alloc((int64_t)F, (int64_t)B, lut, &w->act_ff, err)))
        goto fail;
    if (model->lm_head_i8 &&
        (st = bn_act_batch_alloc((int64_t)E, (int64_t)n_norm, false, &w->act_out, err)))
        goto fail;
    /* inv_freq in float, as the HF reference computes it. */
    for (size_t i = 0; i < half; i++)
        w->inv_freq[i] = (float)(1.0 / pow((double)hp->rope_base, (double)(2 * i) / hp->n_rot));
    *out = w;
    return BN_STATUS_OK;
fail:
    bn_scratch_free(w);
    return st;
}
