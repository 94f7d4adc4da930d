/* forward.c: one forward step of the transformer over the tokens of one or
 * more sequences.
 *
 * Owns the order of operations of FORMATS.md section 4 and the threading:
 * one OpenMP parallel region per step, inside which every thread takes a
 * static share of each stage (tokens for norms, RoPE and quantization; rows
 * of each matrix, in multiples of the kernel table's granule, for the
 * products; (sequence, 16-token block, KV head) items dealt round-robin for
 * attention), with a barrier between stages that depend on each other. No
 * fork/join per matrix product.
 *
 * A step carries the tokens of several sequences (sessions), one after the
 * other: every weight matrix is streamed once for all of them. Each token
 * has its own position (its session's n_past + its index in the sequence)
 * and its K/V go to its own session's cache; each attention item reads one
 * session's cache only. A single-session eval is the same code with one
 * sequence.
 *
 * Per layer:
 *   attn_norm + int8 quantization, fused (one quantized input for q, k, v)
 *   q, k, v = BitLinear            (int32 accumulation in the kernels)
 *   RoPE on q and k; k, v appended to each session's KV cache (F16 or F32)
 *   causal GQA attention over the session's cache (the table's attend,
 *   bit-exact on every table, see attend_block)
 *   attn_sub_norm + quantization (or plain quantization without sub-norms)
 *   x += o_proj
 *   ffn_norm + quantization, fused (one quantized input for gate and up)
 *   gate, up = BitLinear; m = relu(g)^2 * u or silu(g) * u
 *   ffn_sub_norm + quantization (or plain quantization)
 *   x += down_proj
 * then the final norm and the output layer, only for the tokens whose logits
 * are wanted (see output_layer).
 *
 * Kernel set: a step of one token uses the decode set (matrix-vector
 * kernels), any larger step the prompt set (matrix-matrix: 8 sequences
 * decoding one token each are a batch of 8). Ternary products are exact
 * integer work, so either set gives the same bits.
 *
 * Determinism: every output element is computed by exactly one thread with a
 * kernel whose reduction order does not depend on the row range, so logits
 * are bit-identical for any thread count. Nothing here allocates.
 */
#include <math.h>
#include <string.h>

#include "runtime/barrier.h"
#include "runtime/session.h"

#ifdef BN_HAVE_OPENMP
#include <omp.h>
#endif

/* Between dependent stages; see runtime/barrier.h for why not omp barrier. */
#define BN_BARRIER() bn_barrier_wait(&w->barrier, &local_sense)

/* Rotates one head vector in place. NeoX pairs (i, i + n_rot/2); the normal
 * (GPT-J / llama) form pairs (2i, 2i + 1). Dimensions past n_rot stay. */
static void rope_head(float *x, int n_rot, const float *cs, const float *sn, bn_rope_kind kind)
{
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        int i0 = kind == BN_ROPE_NEOX ? i : 2 * i;
        int i1 = kind == BN_ROPE_NEOX ? i + half : 2 * i + 1;
        float x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * cs[i] - x1 * sn[i];
        x[i1] = x0 * sn[i] + x1 * cs[i];
    }
}

/* y[t][r] *= scale for rows [rb, re) of n tokens (old bitnet .scale tensors). */
static void scale_rows(float *y, int64_t stride, int32_t n, int64_t rb, int64_t re, float scale)
{
    if (scale == 1.0f)
        return;
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = rb; r < re; r++)
            y[t * stride + r] *= scale;
}

/* One BitLinear over this thread's rows. */
static void bitlinear(const bn_kernels *k, const bn_ternary_matrix *w, float mat_scale,
                      const bn_act_batch *act, int ith, int nth, float *y, int64_t y_stride,
                      int64_t *rb_out, int64_t *re_out)
{
    int64_t rb, re;
    bn_kernels_split_rows(w->rows, k->row_granule, ith, nth, &rb, &re);
    if (re > rb) {
        bn_ternary_gemm(k, w, act, rb, re, y, y_stride);
        scale_rows(y, y_stride, (int32_t)act->n_tokens, rb, re, mat_scale);
    }
    if (rb_out) {
        *rb_out = rb;
        *re_out = re;
    }
}

/* Causal attention of the step tokens [t0, t1) (at most BN_ATT_BLOCK, all
 * of one sequence, at positions pos0 ..) over that sequence's cache, for the
 * n_rep query heads that share KV head kvh: one item for the kernel table.
 * Every table computes it in the same fixed order (kernels.h), bit for bit,
 * because an ulp of difference in the attention output can flip an int8
 * activation of the next BitLinear and move the logits by ~1e-2 of their
 * range. The order for one (token, head) does not depend on the block, so
 * results do not depend on blocking, threads or the other sequences either.
 * scores: (BN_ATT_BLOCK, n_rep, w->n_ctx) this thread's scratch. */
static void attend_block(const bn_scratch *w, const bn_session *s, const bn_kernels *k, int il,
                         int32_t t0, int32_t t1, int32_t pos0, int kvh, float *scores)
{
    const bn_hparams *hp = &s->model->hp;
    const int64_t D = hp->head_dim, NQ = (int64_t)hp->n_head * D, NKV = (int64_t)hp->n_head_kv * D;
    const int n_rep = hp->n_head / hp->n_head_kv;
    const size_t layer_off = (size_t)il * (size_t)s->n_ctx * (size_t)NKV + (size_t)kvh * (size_t)D;
    const bool k_f16 = s->type_k == BN_KV_TYPE_F16, v_f16 = s->type_v == BN_KV_TYPE_F16;
    const bn_att_item it = {
        .head_dim = D,
        .n_rep = n_rep,
        .n_tok = t1 - t0,
        .pos0 = pos0,
        .kq_scale = 1.0f / sqrtf((float)D),
        .q = w->q + t0 * NQ + (int64_t)kvh * n_rep * D,
        .q_stride = NQ,
        .k = k_f16 ? (const void *)((const uint16_t *)s->k_cache + layer_off)
                   : (const void *)((const float *)s->k_cache + layer_off),
        .v = v_f16 ? (const void *)((const uint16_t *)s->v_cache + layer_off)
                   : (const void *)((const float *)s->v_cache + layer_off),
        .kv_stride = NKV,
        .k_f16 = k_f16,
        .v_f16 = v_f16,
        .out = w->attn + t0 * NQ + (int64_t)kvh * n_rep * D,
        .out_stride = NQ,
        .scores = scores,
        .sc_stride = w->n_ctx,
    };
    k->attend(&it);
}

/* g = relu(g)^2 * u over n values (gate and up rows, which never overlap).
 * relu as a bit mask (g where g > 0, else +0, NaN included: the same value
 * as g > 0 ? g : 0) so that the compiler vectorizes the loop with the same
 * operations per element, hence the same bits. The plain ternary stayed a
 * branch on the sign of g (float compares are not if-converted under
 * -ftrapping-math), mispredicted about half the time: ~10% of pp512 at 1
 * thread. */
static void ffn_relu2_mul(float *restrict g, const float *restrict u, int64_t n)
{
    for (int64_t r = 0; r < n; r++) {
        uint32_t bits;
        memcpy(&bits, &g[r], sizeof bits);
        bits &= -(uint32_t)(g[r] > 0.0f);
        float a;
        memcpy(&a, &bits, sizeof a);
        g[r] = a * a * u[r];
    }
}

/* Fills the step's plan: per token its id, position and sequence; the
 * tokens whose logits are wanted and where each row goes. Returns the number
 * of logit rows; *one_dst: they all go to one session, contiguously. */
static int32_t plan_step(bn_scratch *w, const bn_step_seq *seqs, int32_t n_seqs, int32_t *n_tok,
                         bool *one_dst)
{
    const int32_t n_vocab = seqs[0].session->model->hp.n_vocab;
    int32_t n = 0, n_out = 0, n_dst = 0;
    for (int32_t si = 0; si < n_seqs; si++) {
        const bn_step_seq *q = &seqs[si];
        for (int32_t i = 0; i < q->n; i++) {
            w->tok[n + i] = q->tokens[i];
            w->pos[n + i] = q->session->n_past + i;
            w->tok_seq[n + i] = si;
        }
        if (q->logits_from < q->n)
            n_dst++;
        for (int32_t i = q->logits_from; i < q->n; i++) {
            w->out_tok[n_out] = n + i;
            w->out_dst[n_out] = q->logits + (size_t)(i - q->logits_from) * (size_t)n_vocab;
            n_out++;
        }
        n += q->n;
    }
    *n_tok = n;
    *one_dst = n_dst <= 1;
    return n_out;
}

/* The output layer over the n_out final-norm rows (this thread's share of
 * the vocabulary). One session: its rows are contiguous in its logits, so
 * the product writes there directly, exactly as a single-session eval always
 * has. Several sessions: one product over all rows (weights streamed once),
 * BN_OUT_CHUNK vocabulary rows at a time into logits_tmp, each chunk copied
 * to the sessions' rows while it is in cache; groups of n_tmp rows when
 * there are more. */
static void output_layer(bn_scratch *w, const bn_model *m, int32_t n_out, bool one_dst, int ith,
                         int nth)
{
    const bn_kernels *k = m->kern;
    const int64_t E = m->hp.n_embd, V = m->hp.n_vocab;
    int64_t rb, re;
    bn_kernels_split_rows(V, 64, ith, nth, &rb, &re);
    if (re <= rb)
        return;
    if (one_dst) {
        if (m->lm_head_i8)
            k->dense_gemm_i8(&m->output, &w->act_out, rb, re, w->out_dst[0], V);
        else
            k->dense_gemm(&m->output, w->normed, E, n_out, rb, re, w->out_dst[0], V);
        return;
    }
    for (int32_t g0 = 0; g0 < n_out; g0 += w->n_tmp) {
        const int32_t gn = n_out - g0 < w->n_tmp ? n_out - g0 : w->n_tmp;
        bn_act_batch act = w->act_out; /* rows g0 .. g0 + gn of it */
        if (m->lm_head_i8) {
            act.q += (int64_t)g0 * act.stride;
            act.scale += g0;
            act.sum += g0;
            act.block_sum += (int64_t)g0 * (act.stride / 256);
            act.n_tokens = gn;
        }
        for (int64_t c0 = rb; c0 < re; c0 += BN_OUT_CHUNK) {
            const int64_t c1 = c0 + BN_OUT_CHUNK < re ? c0 + BN_OUT_CHUNK : re;
            if (m->lm_head_i8)
                k->dense_gemm_i8(&m->output, &act, c0, c1, w->logits_tmp, V);
            else
                k->dense_gemm(&m->output, w->normed + (int64_t)g0 * E, E, gn, c0, c1,
                              w->logits_tmp, V);
            for (int32_t j = 0; j < gn; j++)
                memcpy(w->out_dst[g0 + j] + c0, w->logits_tmp + j * V + c0,
                       (size_t)(c1 - c0) * sizeof(float));
        }
    }
}

void bn_forward_step(bn_scratch *w, const bn_model *m, const bn_step_seq *seqs, int32_t n_seqs)
{
    const bn_hparams *hp = &m->hp;
    const bn_kernels *k = m->kern;
    const int64_t E = hp->n_embd, F = hp->n_ff, D = hp->head_dim;
    const int64_t NQ = (int64_t)hp->n_head * D, NKV = (int64_t)hp->n_head_kv * D;
    const int half_rot = hp->n_rot / 2;
    const float eps = hp->norm_eps;
    int32_t n;
    bool one_dst;
    const int32_t n_out = plan_step(w, seqs, n_seqs, &n, &one_dst);
    const int set = n > 1 ? BN_SET_PROMPT : BN_SET_DECODE;

    /* Capacities were checked at creation and by the caller, so these
     * resets cannot fail. */
    bn_act_batch_reset(&w->act_embd, E, n, NULL);
    bn_act_batch_reset(&w->act_attn, NQ, n, NULL);
    bn_act_batch_reset(&w->act_ff, F, n, NULL);
    if (m->lm_head_i8 && n_out > 0)
        bn_act_batch_reset(&w->act_out, E, n_out, NULL);

#ifdef BN_HAVE_OPENMP
#pragma omp parallel num_threads(w->n_threads)
#endif
    {
#ifdef BN_HAVE_OPENMP
        const int ith = omp_get_thread_num(), nth = omp_get_num_threads();
        /* The team may be smaller than asked for: size the barrier from it. */
#pragma omp single
        bn_barrier_init(&w->barrier, nth);
#else
        const int ith = 0, nth = 1;
        bn_barrier_init(&w->barrier, 1);
#endif
        int local_sense = 0;
        int64_t tb, te; /* this thread's tokens */
        bn_kernels_split_rows(n, 1, ith, nth, &tb, &te);
        const int n_rep = hp->n_head / hp->n_head_kv;
        float *scores =
            w->scores + (size_t)ith * BN_ATT_BLOCK * (size_t)n_rep * (size_t)w->n_ctx;

        /* Embedding rows and this step's RoPE angles. Angles follow the HF
         * reference: inv_freq and pos * inv_freq in float, then cos/sin. */
        for (int64_t t = tb; t < te; t++) {
            bn_dense_matrix_get_row(&m->embd, w->tok[t], w->x + t * E);
            float pos = (float)w->pos[t] * hp->rope_pos_scale;
            for (int i = 0; i < half_rot; i++) {
                double a = (double)(pos * w->inv_freq[i]);
                w->rope_cos[t * half_rot + i] = (float)cos(a);
                w->rope_sin[t * half_rot + i] = (float)sin(a);
            }
        }
        BN_BARRIER();

        for (int il = 0; il < hp->n_layer; il++) {
            const bn_layer *L = &m->layers[il];
            const bn_ternary_matrix *W = L->mat[set];
            int64_t rb, re;

            /* attention norm + quantization, shared by q, k, v */
            k->act_rmsnorm_quant(w->x, E, L->attn_norm, eps, &w->act_embd, tb, te);
            BN_BARRIER();
            bitlinear(k, &W[BN_MAT_Q], L->mat_scale[BN_MAT_Q], &w->act_embd, ith, nth, w->q, NQ,
                      NULL, NULL);
            bitlinear(k, &W[BN_MAT_K], L->mat_scale[BN_MAT_K], &w->act_embd, ith, nth, w->k, NKV,
                      NULL, NULL);
            bitlinear(k, &W[BN_MAT_V], L->mat_scale[BN_MAT_V], &w->act_embd, ith, nth, w->v, NKV,
                      NULL, NULL);
            BN_BARRIER();

            /* RoPE, then append k and v to the token's session's cache at its
             * position */
            for (int64_t t = tb; t < te; t++) {
                const bn_session *s = seqs[w->tok_seq[t]].session;
                const float *cs = w->rope_cos + t * half_rot, *sn = w->rope_sin + t * half_rot;
                for (int h = 0; h < hp->n_head; h++)
                    rope_head(w->q + t * NQ + h * D, hp->n_rot, cs, sn, hp->rope);
                for (int h = 0; h < hp->n_head_kv; h++)
                    rope_head(w->k + t * NKV + h * D, hp->n_rot, cs, sn, hp->rope);
                size_t off = ((size_t)il * (size_t)s->n_ctx + (size_t)w->pos[t]) * (size_t)NKV;
                if (s->type_k == BN_KV_TYPE_F16)
                    k->f32_to_f16(w->k + t * NKV, (uint16_t *)s->k_cache + off, NKV);
                else
                    memcpy((float *)s->k_cache + off, w->k + t * NKV, (size_t)NKV * sizeof(float));
                if (s->type_v == BN_KV_TYPE_F16)
                    k->f32_to_f16(w->v + t * NKV, (uint16_t *)s->v_cache + off, NKV);
                else
                    memcpy((float *)s->v_cache + off, w->v + t * NKV, (size_t)NKV * sizeof(float));
            }
            BN_BARRIER();

            /* attention: (sequence, block of its tokens, KV head) items dealt
             * round-robin, so that the costly late tokens of a causal prompt
             * and the sequences with long caches spread over every thread */
            {
                int64_t item = 0;
                int32_t t_seq = 0; /* the sequence's first step token */
                for (int32_t si = 0; si < n_seqs; si++) {
                    const bn_step_seq *sq = &seqs[si];
                    for (int32_t b0 = 0; b0 < sq->n; b0 += BN_ATT_BLOCK) {
                        int32_t b1 = b0 + BN_ATT_BLOCK < sq->n ? b0 + BN_ATT_BLOCK : sq->n;
                        for (int kvh = 0; kvh < hp->n_head_kv; kvh++, item++)
                            if (item % nth == ith)
                                attend_block(w, sq->session, k, il, t_seq + b0, t_seq + b1,
                                             sq->session->n_past + b0, kvh, scores);
                    }
                    t_seq += sq->n;
                }
            }
            BN_BARRIER();

            /* sub-norm + quantization, then x += o_proj */
            if (L->attn_sub_norm)
                k->act_rmsnorm_quant(w->attn, NQ, L->attn_sub_norm, eps, &w->act_attn, tb, te);
            else
                k->act_quant(w->attn, NQ, &w->act_attn, tb, te);
            BN_BARRIER();
            bitlinear(k, &W[BN_MAT_O], L->mat_scale[BN_MAT_O], &w->act_attn, ith, nth, w->proj, E,
                      &rb, &re);
            for (int32_t t = 0; t < n; t++)
                for (int64_t r = rb; r < re; r++)
                    w->x[t * E + r] += w->proj[t * E + r];
            BN_BARRIER();

            /* FFN norm + quantization, shared by gate and up */
            k->act_rmsnorm_quant(w->x, E, L->ffn_norm, eps, &w->act_embd, tb, te);
            BN_BARRIER();
            bitlinear(k, &W[BN_MAT_GATE], L->mat_scale[BN_MAT_GATE], &w->act_embd, ith, nth,
                      w->gate, F, &rb, &re);
            bitlinear(k, &W[BN_MAT_UP], L->mat_scale[BN_MAT_UP], &w->act_embd, ith, nth, w->up,
                      F, NULL, NULL);
            /* gate and up have the same rows, so this thread owns [rb, re) of both */
            for (int32_t t = 0; t < n; t++) {
                float *g = w->gate + t * F;
                const float *u = w->up + t * F;
                if (hp->act == BN_FFN_ACT_RELU2) {
                    ffn_relu2_mul(g + rb, u + rb, re - rb);
                } else {
                    for (int64_t r = rb; r < re; r++)
                        g[r] = g[r] / (1.0f + expf(-g[r])) * u[r];
                }
            }
            BN_BARRIER();
            if (L->ffn_sub_norm)
                k->act_rmsnorm_quant(w->gate, F, L->ffn_sub_norm, eps, &w->act_ff, tb, te);
            else
                k->act_quant(w->gate, F, &w->act_ff, tb, te);
            BN_BARRIER();
            bitlinear(k, &W[BN_MAT_DOWN], L->mat_scale[BN_MAT_DOWN], &w->act_ff, ith, nth,
                      w->proj, E, &rb, &re);
            for (int32_t t = 0; t < n; t++)
                for (int64_t r = rb; r < re; r++)
                    w->x[t * E + r] += w->proj[t * E + r];
            BN_BARRIER();
        }

        /* final norm and the output layer, for the rows that need logits */
        if (n_out > 0) {
            int64_t ob, oe;
            bn_kernels_split_rows(n_out, 1, ith, nth, &ob, &oe);
            for (int64_t j = ob; j < oe; j++)
                k->rmsnorm(w->x + (int64_t)w->out_tok[j] * E, m->output_norm, eps, E,
                           w->normed + j * E);
            if (m->lm_head_i8 && oe > ob)
                k->act_quant(w->normed, E, &w->act_out, ob, oe);
            BN_BARRIER();
            output_layer(w, m, n_out, one_dst, ith, nth);
        }
    }
}
