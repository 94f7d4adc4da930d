/* model.c: loading a model: open the GGUF, read the architecture, bind and
 * shape-check every tensor, repack the ternary matrices for the kernel table,
 * load the tokenizer. Also the model's public getters and token wrappers.
 *
 * Every expected tensor is looked up by name and checked for presence, type
 * and shape against the hyperparameters before anything reads its bytes, so
 * a broken file gives one clear message ("tensor 'blk.3.attn_k.weight' has
 * shape [256, 128], expected [256, 64]") and never a crash later. Tensors we
 * do not use are ignored, except biases, which we refuse rather than
 * silently drop.
 *
 * Repacking runs once, in parallel over the projection tensors (n_threads),
 * each tensor by one thread (into both kernel sets when there are two), so
 * the result does not depend on the thread count. A tensor that was copied
 * (every set repacked it) has its file pages released right after
 * (bn_gguf_release), so a repacked model holds about the copy, not file +
 * copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/model.h"

#ifdef BN_HAVE_OPENMP
#include <omp.h>
#endif

static const char *const mat_names[BN_MAT_COUNT] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

void bn_model_options_default(bn_model_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->n_threads = 1;
    opts->kernels = NULL;
    opts->use_mmap = true;
    opts->lm_head_i8 = false;
    opts->prompt_kernels = BN_KERNEL_CHOICE_AUTO;
    opts->decode_kernels = BN_KERNEL_CHOICE_AUTO;
}

/* "[a, b]" for messages. */
static void fmt_shape(char *buf, size_t cap, const bn_gguf_tensor *t)
{
    if (t->n_dims <= 1)
        snprintf(buf, cap, "[%lld]", (long long)t->ne[0]);
    else if (t->n_dims == 2)
        snprintf(buf, cap, "[%lld, %lld]", (long long)t->ne[0], (long long)t->ne[1]);
    else
        snprintf(buf, cap, "[%lld, %lld, %lld, %lld]", (long long)t->ne[0], (long long)t->ne[1],
                 (long long)t->ne[2], (long long)t->ne[3]);
}

/* Finds `name` and checks its shape is [ne0] (ne1 == 0) or [ne0, ne1].
 * A missing tensor is NOT_FOUND unless optional (then *out = NULL). */
static bn_status bind(const bn_model *m, const char *name, int64_t ne0, int64_t ne1, bool optional,
                      const bn_gguf_tensor **out, bn_error *err)
{
    const bn_gguf_tensor *t = bn_gguf_find_tensor(m->gguf, name);
    *out = t;
    if (!t) {
        if (optional)
            return BN_STATUS_OK;
        return bn_error_set(err, BN_STATUS_NOT_FOUND,
                            "model lacks tensor '%s' (required by architecture '%s')", name,
                            m->hp.arch_name);
    }
    bool ok = t->ne[0] == ne0 && t->ne[2] == 1 && t->ne[3] == 1 &&
              (ne1 == 0 ? t->ne[1] == 1 : t->ne[1] == ne1);
    if (!ok) {
        char have[96], want[64];
        fmt_shape(have, sizeof have, t);
        if (ne1 == 0)
            snprintf(want, sizeof want, "[%lld]", (long long)ne0);
        else
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
        return bn_error_set(err, BN_STATUS_FORMAT, "tensor '%s' has shape %s, expected %s", name,
                            have, want);
    }
    return BN_STATUS_OK;
}

/* Copies a norm-like vector into owned f32 memory (files store F32; F16/BF16
 * are widened). */
static bn_status load_vector(const bn_model *m, const char *name, int64_t n, float **out,
                             bn_error *err)
{
    const bn_gguf_tensor *t;
    bn_status st = bind(m, name, n, 0, false, &t, err);
    if (st != BN_STATUS_OK)
        return st;
    if (t->type != BN_TYPE_F32 && t->type != BN_TYPE_F16 && t->type != BN_TYPE_BF16)
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "tensor '%s' has type %s; norm weights must be F32, F16 or BF16", name,
                            bn_tensor_type_name(t->type));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for tensor '%s'", name);
    bn_dense_matrix dm;
    st = bn_dense_matrix_init(t->type, t->data, t->n_bytes, n, 1, false, &dm, err);
    if (st != BN_STATUS_OK) {
        free(v);
        return st;
    }
    bn_dense_matrix_get_row(&dm, 0, v);
    bn_dense_matrix_free(&dm);
    *out = v;
    return BN_STATUS_OK;
}

static bool dense_type_ok(bn_tensor_type t)
{
    return t == BN_TYPE_F32 || t == BN_TYPE_F16 || t == BN_TYPE_BF16 || t == BN_TYPE_Q8_0 ||
           t == BN_TYPE_Q6_K;
}

/* One tensor to repack: filled while binding, built in parallel afterwards,
 * into one matrix per kernel set (two when prompt and decode families
 * differ). One job owns both, so it knows when the tensor's bytes are no
 * longer needed. */
typedef struct repack_job {
    const bn_gguf_tensor *t;
    bn_ternary_matrix *out[2];
    bn_kernel_family family[2];
    int n_out;
} repack_job;

static bn_status choice_to_family(bn_kernel_choice c, bn_kernel_family *f, bn_error *err)
{
    switch (c) {
    case BN_KERNEL_CHOICE_AUTO:
    case BN_KERNEL_CHOICE_MAD: *f = BN_FAMILY_MAD; return BN_STATUS_OK;
    case BN_KERNEL_CHOICE_LUT: *f = BN_FAMILY_LUT; return BN_STATUS_OK;
    }
    return bn_error_set(err, BN_STATUS_INVALID_ARG, "unknown kernel family choice %d", (int)c);
}

static bn_status bind_layers(bn_model *m, repack_job *jobs, size_t *n_jobs, bn_error *err)
{
    const bn_hparams *hp = &m->hp;
    int64_t E = hp->n_embd, F = hp->n_ff, NQ = (int64_t)hp->n_head * hp->head_dim,
            NKV = (int64_t)hp->n_head_kv * hp->head_dim;
    /* (K, rows) of each projection, GGUF order: ne0 = input features. */
    const int64_t shape[BN_MAT_COUNT][2] = {
        {E, NQ}, {E, NKV}, {E, NKV}, {NQ, E}, {E, F}, {E, F}, {F, E},
    };
    bn_status st = BN_STATUS_OK;
    size_t nj = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        bn_layer *L = &m->layers[il];
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        if ((st = load_vector(m, name, E, &L->attn_norm, err)))
            return st;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
        if ((st = load_vector(m, name, E, &L->ffn_norm, err)))
            return st;
        if (hp->sub_norms) {
            snprintf(name, sizeof name, "blk.%d.attn_sub_norm.weight", il);
            if ((st = load_vector(m, name, NQ, &L->attn_sub_norm, err)))
                return st;
            snprintf(name, sizeof name, "blk.%d.ffn_sub_norm.weight", il);
            if ((st = load_vector(m, name, F, &L->ffn_sub_norm, err)))
                return st;
        }
        for (int j = 0; j < BN_MAT_COUNT; j++) {
            const bn_gguf_tensor *t;
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, mat_names[j]);
            if ((st = bind(m, name, shape[j][0], shape[j][1], false, &t, err)))
                return st;
            const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(t->type);
            bool float_ternary = t->type == BN_TYPE_F32 || t->type == BN_TYPE_F16 ||
                                 t->type == BN_TYPE_BF16;
            if (!tr || (!tr->is_ternary && !float_ternary))
                return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                    "tensor '%s' has type %s, which is not a ternary type "
                                    "(I2_S, TQ1_0, TQ2_0, IQ1_BN, IQ2_BN, or ternary values in "
                                    "F32/F16/BF16)",
                                    name, bn_tensor_type_name(t->type));
            if (il == 0 && j == 0)
                m->ternary_type = t->type;
            jobs[nj].t = t;
            jobs[nj].n_out = m->two_sets ? 2 : 1;
            for (int s = 0; s < jobs[nj].n_out; s++) {
                jobs[nj].out[s] = &L->mat[s][j];
                jobs[nj].family[s] = m->family[s];
            }
            nj++;
            /* Optional per-matrix scale (old bitnet arch): shape [1], F32. */
            snprintf(name, sizeof name, "blk.%d.%s.scale", il, mat_names[j]);
            L->mat_scale[j] = 1.0f;
            const bn_gguf_tensor *sc = bn_gguf_find_tensor(m->gguf, name);
            if (sc) {
                if (sc->type != BN_TYPE_F32 || sc->ne[0] * sc->ne[1] * sc->ne[2] * sc->ne[3] != 1)
                    return bn_error_set(err, BN_STATUS_FORMAT,
                                        "tensor '%s' must be one F32 value, has type %s and %lld "
                                        "values", name, bn_tensor_type_name(sc->type),
                                        (long long)(sc->ne[0] * sc->ne[1] * sc->ne[2] * sc->ne[3]));
                memcpy(&L->mat_scale[j], sc->data, sizeof(float));
                L->has_mat_scale = true;
            }
            snprintf(name, sizeof name, "blk.%d.%s.bias", il, mat_names[j]);
            if (bn_gguf_find_tensor(m->gguf, name))
                return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                    "tensor '%s': projection biases are not supported", name);
        }
    }
    *n_jobs = nj;
    return BN_STATUS_OK;
}

static bn_status run_repack(bn_model *m, repack_job *jobs, size_t n_jobs, int n_threads,
                            bn_error *err)
{
    size_t first_i = (size_t)-1; /* index of the failed job reported: the lowest */
    bn_status first_st = BN_STATUS_OK;
    bn_error first_err;
    bn_error_clear(&first_err);
    (void)n_threads;
#ifdef BN_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
#endif
    for (size_t i = 0; i < n_jobs; i++) {
        bn_error e;
        bn_error_clear(&e);
        const bn_gguf_tensor *t = jobs[i].t;
        bn_status st = BN_STATUS_OK;
        bool copied = true;
        for (int s = 0; s < jobs[i].n_out && st == BN_STATUS_OK; s++) {
            st = bn_ternary_matrix_init(m->kern, jobs[i].family[s], t->type, t->data, t->n_bytes,
                                        t->ne[0], t->ne[1], jobs[i].out[s], &e);
            copied = copied && !jobs[i].out[s]->zero_copy;
        }
        /* Every matrix of this tensor is an owned copy: its file pages would
         * only sit in memory next to the copy (file + copy is what made the
         * peak RSS of repacked files ~1.6x the file). Nothing reads a
         * projection's source bytes after this. */
        if (st == BN_STATUS_OK && copied)
            bn_gguf_release(m->gguf, t);
        if (st != BN_STATUS_OK) {
#ifdef BN_HAVE_OPENMP
#pragma omp critical(bn_repack_error)
#endif
            {
                if (i < first_i) {
                    first_i = i;
                    first_st = st;
                    first_err = e;
                }
            }
        }
    }
    if (first_st != BN_STATUS_OK)
        return bn_error_set(err, first_st, "tensor '%s': %s", jobs[first_i].t->name,
                            first_err.message);
    return BN_STATUS_OK;
}

void bn_model_free(bn_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int il = 0; il < m->hp.n_layer; il++) {
            bn_layer *L = &m->layers[il];
            free(L->attn_norm);
            free(L->attn_sub_norm);
            free(L->ffn_norm);
            free(L->ffn_sub_norm);
            for (int s = 0; s < BN_SET_COUNT; s++) {
                if (s == BN_SET_PROMPT && !m->two_sets)
                    continue;
                for (int j = 0; j < BN_MAT_COUNT; j++)
                    bn_ternary_matrix_free(&L->mat[s][j]);
            }
        }
        free(m->layers);
    }
    bn_dense_matrix_free(&m->embd);
    bn_dense_matrix_free(&m->output);
    free(m->output_norm);
    bn_tokenizer_free(m->tok);
    free(m->chat_template);
    free(m->name);
    bn_gguf_close(m->gguf);
    free(m);
}

static char *dup_gguf_string(const bn_gguf *g, const char *key)
{
    bn_gguf_string s;
    if (bn_gguf_find_kv(g, key) < 0 || bn_gguf_get_string(g, key, &s, NULL) != BN_STATUS_OK)
        return NULL;
    char *c = malloc((size_t)s.len + 1);
    if (c) {
        memcpy(c, s.data, (size_t)s.len);
        c[s.len] = '\0';
    }
    return c;
}

bn_status bn_model_load(const char *path, const bn_model_options *opts_in, bn_model **out,
                        bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_model *m = NULL;
    repack_job *jobs = NULL;
    if (!path || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_model_load: path and out are required");
        goto fail;
    }
    *out = NULL;
    bn_model_options opts;
    if (opts_in)
        opts = *opts_in;
    else
        bn_model_options_default(&opts);
    int n_threads = opts.n_threads > 0 ? opts.n_threads : 1;

    m = calloc(1, sizeof *m);
    if (!m) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    bn_gguf_open_options go = {.no_mmap = !opts.use_mmap};
    if ((st = bn_gguf_open_file(path, &go, &m->gguf, err)))
        goto fail;
    if ((st = bn_hparams_read(m->gguf, &m->hp, err)))
        goto fail;
    const bn_hparams *hp = &m->hp;
    if ((st = bn_kernels_select(opts.kernels, &m->kern, err)))
        goto fail;
    if ((st = choice_to_family(opts.decode_kernels, &m->family[BN_SET_DECODE], err)) ||
        (st = choice_to_family(opts.prompt_kernels, &m->family[BN_SET_PROMPT], err)))
        goto fail;
    m->two_sets = m->family[BN_SET_DECODE] != m->family[BN_SET_PROMPT];
    m->needs_lut = m->family[0] == BN_FAMILY_LUT || m->family[1] == BN_FAMILY_LUT;

    /* Embedding: its ne1 is the vocabulary when the metadata does not say. */
    const bn_gguf_tensor *te = bn_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (te && m->hp.n_vocab == 0 && te->ne[1] > 0 && te->ne[1] <= INT32_MAX)
        m->hp.n_vocab = (int32_t)te->ne[1];
    if (m->hp.n_vocab == 0) {
        st = bn_error_set(err, BN_STATUS_NOT_FOUND,
                          "model lacks tensor 'token_embd.weight' and a vocabulary size");
        goto fail;
    }
    if ((st = bind(m, "token_embd.weight", hp->n_embd, hp->n_vocab, false, &te, err)))
        goto fail;
    if (!dense_type_ok(te->type)) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "tensor 'token_embd.weight' has type %s (supported: F32, F16, BF16, "
                          "Q8_0, Q6_K)", bn_tensor_type_name(te->type));
        goto fail;
    }
    if ((st = bn_dense_matrix_init(te->type, te->data, te->n_bytes, te->ne[0], te->ne[1], false,
                                   &m->embd, err)))
        goto fail;
    const bn_gguf_tensor *to;
    if ((st = bind(m, "output.weight", hp->n_embd, hp->n_vocab, true, &to, err)))
        goto fail;
    m->tied = to == NULL;
    if (!to)
        to = te;
    if (!dense_type_ok(to->type)) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "tensor 'output.weight' has type %s (supported: F32, F16, BF16, Q8_0, "
                          "Q6_K)", bn_tensor_type_name(to->type));
        goto fail;
    }
    m->lm_head_i8 = opts.lm_head_i8;
    if ((st = bn_dense_matrix_init(to->type, to->data, to->n_bytes, to->ne[0], to->ne[1],
                                   opts.lm_head_i8, &m->output, err)))
        goto fail;
    if ((st = load_vector(m, "output_norm.weight", hp->n_embd, &m->output_norm, err)))
        goto fail;

    /* Each layer has at least 9 tensors: a block_count the file cannot hold
     * is refused before anything is sized from it. */
    if ((uint64_t)hp->n_layer * 9 > bn_gguf_tensor_count(m->gguf)) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "block_count %d needs at least %llu tensors, the file has %zu",
                          (int)hp->n_layer, (unsigned long long)hp->n_layer * 9,
                          bn_gguf_tensor_count(m->gguf));
        goto fail;
    }
    /* Llama-3.1-style frequency factors would change every RoPE angle:
     * refuse them rather than run the model wrong. */
    if (bn_gguf_find_tensor(m->gguf, "rope_freqs.weight")) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "tensor 'rope_freqs.weight' (Llama 3.1 RoPE frequency factors) is not "
                          "supported");
        goto fail;
    }

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    jobs = calloc((size_t)hp->n_layer * BN_MAT_COUNT * 2, sizeof *jobs);
    if (!m->layers || !jobs) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for %d layers",
                          (int)hp->n_layer);
        goto fail;
    }
    size_t n_jobs = 0;
    if ((st = bind_layers(m, jobs, &n_jobs, err)))
        goto fail;
    if ((st = run_repack(m, jobs, n_jobs, n_threads, err)))
        goto fail;
    if (!m->two_sets)
        for (int il = 0; il < hp->n_layer; il++)
            memcpy(m->layers[il].mat[BN_SET_PROMPT], m->layers[il].mat[BN_SET_DECODE],
                   sizeof m->layers[il].mat[BN_SET_DECODE]);

    /* Tokenizer: optional (benchmark files and test models may lack one). */
    bn_error terr;
    bn_error_clear(&terr);
    bn_status ts = bn_tokenizer_load(m->gguf, &m->tok, &terr);
    if (ts == BN_STATUS_NOT_FOUND) {
        m->tok = NULL;
    } else if (ts != BN_STATUS_OK) {
        st = bn_error_set(err, ts, "tokenizer: %s", terr.message);
        goto fail;
    } else if (bn_tokenizer_n_vocab(m->tok) > hp->n_vocab) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "the tokenizer has %d tokens but the model only %d embedding rows",
                          (int)bn_tokenizer_n_vocab(m->tok), (int)hp->n_vocab);
        goto fail;
    }
    m->chat_template = dup_gguf_string(m->gguf, "tokenizer.chat_template");
    m->name = dup_gguf_string(m->gguf, "general.name");
    /* Everything the model needs from the metadata is copied by now (the
     * tokenizer keeps its own tables): its pages (mostly the vocabulary)
     * may leave memory. */
    bn_gguf_release_metadata(m->gguf);

    /* Sizes for reports. */
    uint64_t E = (uint64_t)hp->n_embd, F = (uint64_t)hp->n_ff,
             NQ = (uint64_t)hp->n_head * hp->head_dim, NKV = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t per_layer = E * NQ * 2 + E * NKV * 2 + E * F * 3;
    m->n_params = (uint64_t)hp->n_layer * (per_layer + 2 * E + (hp->sub_norms ? NQ + F : 0)) +
                  (uint64_t)hp->n_vocab * E * (m->tied ? 1 : 2) + E;
    uint64_t bpt = m->embd.row_bytes;
    for (int il = 0; il < hp->n_layer; il++)
        for (int j = 0; j < BN_MAT_COUNT; j++)
            bpt += m->layers[il].mat[BN_SET_DECODE][j].data_bytes;
    if (m->lm_head_i8)
        bpt += (uint64_t)m->output.rows * (uint64_t)m->output.q8_stride;
    else
        bpt += (uint64_t)m->output.rows * m->output.row_bytes;
    m->bytes_per_token = bpt;
    snprintf(m->description, sizeof m->description,
             "%s (%s), %d layers, %d embd, %d heads / %d kv, %s, %s projections, %.1fM params",
             m->name ? m->name : "unnamed", hp->arch_name, (int)hp->n_layer, (int)hp->n_embd,
             (int)hp->n_head, (int)hp->n_head_kv, bn_ffn_act_name(hp->act),
             bn_tensor_type_name(m->ternary_type), (double)m->n_params / 1e6);

    free(jobs);
    *out = m;
    return BN_STATUS_OK;
fail:
    free(jobs);
    bn_model_free(m);
    return st;
}

/* ---- getters ---- */

const char *bn_model_arch(const bn_model *m) { return m->hp.arch_name; }
const char *bn_model_description(const bn_model *m) { return m->description; }
int32_t bn_model_n_vocab(const bn_model *m) { return m->hp.n_vocab; }
int32_t bn_model_n_ctx_train(const bn_model *m) { return m->hp.n_ctx_train; }
int32_t bn_model_n_embd(const bn_model *m) { return m->hp.n_embd; }
int32_t bn_model_n_layer(const bn_model *m) { return m->hp.n_layer; }
uint64_t bn_model_n_params(const bn_model *m) { return m->n_params; }
const char *bn_model_kernels_name(const bn_model *m) { return m->kern->name; }
uint64_t bn_model_file_bytes(const bn_model *m) { return bn_gguf_file_size(m->gguf); }
uint64_t bn_model_bytes_per_token(const bn_model *m) { return m->bytes_per_token; }
const char *bn_model_chat_template(const bn_model *m) { return m->chat_template; }

const char *bn_model_meta_string(const bn_model *m, const char *key)
{
    /* Only the two strings we keep a NUL-terminated copy of; GGUF strings
     * are not NUL-terminated in the file. */
    if (!m || !key)
        return NULL;
    if (strcmp(key, "general.name") == 0)
        return m->name;
    if (strcmp(key, "general.architecture") == 0)
        return m->hp.arch_name;
    if (strcmp(key, "tokenizer.chat_template") == 0)
        return m->chat_template;
    return NULL;
}

/* ---- tokens ---- */

bool bn_model_has_tokenizer(const bn_model *m) { return m && m->tok; }

static bn_status need_tok(const bn_model *m, bn_error *err)
{
    if (!m)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "model is NULL");
    if (!m->tok)
        return bn_error_set(err, BN_STATUS_NOT_FOUND,
                            "the model file has no tokenizer (tokenizer.ggml.* metadata)");
    return BN_STATUS_OK;
}

bn_status bn_model_tokenize(const bn_model *m, const char *text, size_t len, bool add_bos,
                            bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                            bn_error *err)
{
    bn_status st = need_tok(m, err);
    if (st != BN_STATUS_OK)
        return st;
    return bn_tokenizer_encode(m->tok, text, len, add_bos, parse_special, ids, cap, n_ids, err);
}

bn_status bn_model_token_to_piece(const bn_model *m, int32_t id, char *buf, size_t cap,
                                  size_t *n_bytes, bn_error *err)
{
    bn_status st = need_tok(m, err);
    if (st != BN_STATUS_OK)
        return st;
    return bn_tokenizer_token_to_piece(m->tok, id, false, buf, cap, n_bytes, err);
}

bn_status bn_model_detokenize(const bn_model *m, const int32_t *ids, size_t n_ids, char *buf,
                              size_t cap, size_t *n_bytes, bn_error *err)
{
    bn_status st = need_tok(m, err);
    if (st != BN_STATUS_OK)
        return st;
    size_t need = 0;
    st = bn_tokenizer_decode(m->tok, ids, n_ids, false, buf, cap, &need, err);
    if (n_bytes)
        *n_bytes = need;
    if (st != BN_STATUS_OK)
        return st;
    if (need < cap)
        buf[need] = '\0';
    return BN_STATUS_OK;
}

bool bn_model_is_eog(const bn_model *m, int32_t id)
{
    if (m && m->tok)
        return bn_tokenizer_is_eog(m->tok, id);
    return false;
}

int32_t bn_model_bos(const bn_model *m) { return m && m->tok ? bn_tokenizer_bos(m->tok) : -1; }
int32_t bn_model_eos(const bn_model *m) { return m && m->tok ? bn_tokenizer_eos(m->tok) : -1; }
bool bn_model_add_bos(const bn_model *m) { return m && m->tok ? bn_tokenizer_add_bos(m->tok) : false; }
