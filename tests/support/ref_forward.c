/* ref_forward.c: the double-precision reference forward pass (tests only).
 *
 * Written straight from FORMATS.md section 4, as plainly as possible, and
 * sharing nothing with runtime/ or kernels/ (the GGUF reader and the ternary
 * codec are the only library parts used: they are tested on their own).
 * Everything is double; the only deliberate rounding is the per-token int8
 * activation quantization in front of each BitLinear, which is part of the
 * model's definition (127 / absmax, round half to even, clamp to int8).
 */
#include "tests/support/ref_forward.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/dequant.h"
#include "loader/ternary_codec.h"
#include "runtime/error.h"

typedef struct ref_mat {
    int64_t K, rows;
    int8_t *w;            /* (rows, K) trits */
    float *scales;        /* as kind says */
    bn_ternary_scale_kind kind;
    double extra;         /* optional .scale tensor, else 1 */
} ref_mat;

typedef struct ref_layer {
    double *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm; /* sub-norms may be NULL */
    ref_mat q, k, v, o, gate, up, down;
} ref_layer;

struct bn_ref_model {
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_rot;
    double eps, rope_base, pos_scale;
    bool relu2, neox, sub_norms;
    double *embd;     /* (n_vocab, n_embd) */
    double *out;      /* (n_vocab, n_embd); == embd when tied */
    double *out_norm; /* (n_embd) */
    ref_layer *layers;
};

static bn_status get_int(const bn_gguf *g, const char *arch, const char *name, int def, int *out,
                         bn_error *err)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (bn_gguf_find_kv(g, key) < 0) {
        if (def < 0)
            return bn_error_set(err, BN_STATUS_NOT_FOUND, "ref: missing key %s", key);
        *out = def;
        return BN_STATUS_OK;
    }
    uint64_t v;
    bn_status st = bn_gguf_get_u64(g, key, &v, err);
    *out = (int)v;
    return st;
}

static double get_float(const bn_gguf *g, const char *arch, const char *name, double def)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    float v;
    if (bn_gguf_find_kv(g, key) < 0 || bn_gguf_get_f32(g, key, &v, NULL) != BN_STATUS_OK)
        return def;
    return v;
}

/* Any float-ish tensor to doubles (norms, embeddings, untied output). */
static bn_status load_floats(const bn_gguf *g, const char *name, int64_t n, double **out,
                             bn_error *err)
{
    const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
    if (!t)
        return bn_error_set(err, BN_STATUS_NOT_FOUND, "ref: missing tensor %s", name);
    int64_t count = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (count != n)
        return bn_error_set(err, BN_STATUS_FORMAT, "ref: tensor %s has %lld values, want %lld",
                            name, (long long)count, (long long)n);
    double *d = malloc((size_t)n * sizeof *d);
    if (!d)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "ref: out of memory");
    /* Row by row through the loader's dequantizer (F32/F16/BF16/Q8_0/Q6_K). */
    int64_t ne0 = t->ne[0];
    uint64_t rb = bn_tensor_type_row_bytes(t->type, ne0);
    float *row = malloc((size_t)ne0 * sizeof *row);
    if (!row || rb == 0) {
        free(d);
        free(row);
        return bn_error_set(err, BN_STATUS_UNSUPPORTED, "ref: tensor %s has type %s", name,
                            bn_tensor_type_name(t->type));
    }
    for (int64_t r = 0; r < n / ne0; r++) {
        bn_status st = bn_dequantize_row(t->type, t->data + r * rb, row, ne0);
        if (st != BN_STATUS_OK) {
            free(d);
            free(row);
            return bn_error_set(err, st, "ref: cannot dequantize %s (%s)", name,
                                bn_tensor_type_name(t->type));
        }
        for (int64_t i = 0; i < ne0; i++)
            d[r * ne0 + i] = row[i];
    }
    free(row);
    *out = d;
    return BN_STATUS_OK;
}

static bn_status load_mat(const bn_gguf *g, const char *name, ref_mat *m, bn_error *err)
{
    const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
    if (!t)
        return bn_error_set(err, BN_STATUS_NOT_FOUND, "ref: missing tensor %s", name);
    m->K = t->ne[0];
    m->rows = t->ne[1];
    size_t ns = bn_ternary_scale_count(t->type, m->K, m->rows);
    m->w = malloc((size_t)(m->K * m->rows));
    m->scales = malloc((ns ? ns : 1) * sizeof(float));
    if (!m->w || !m->scales)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "ref: out of memory");
    bn_status st = bn_ternary_decode(t->type, t->data, t->n_bytes, m->K, m->rows, m->w, m->scales,
                                     &m->kind, err);
    if (st != BN_STATUS_OK)
        return st;
    m->extra = 1.0;
    char sname[160];
    snprintf(sname, sizeof sname, "%.*s.scale", (int)(strlen(name) - strlen(".weight")), name);
    const bn_gguf_tensor *s = bn_gguf_find_tensor(g, sname);
    if (s && s->type == BN_TYPE_F32) {
        float f;
        memcpy(&f, s->data, 4);
        m->extra = f;
    }
    return BN_STATUS_OK;
}

static void free_mat(ref_mat *m)
{
    free(m->w);
    free(m->scales);
}

void bn_ref_model_free(bn_ref_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (int il = 0; il < m->n_layer; il++) {
            ref_layer *L = &m->layers[il];
            free(L->attn_norm);
            free(L->attn_sub_norm);
            free(L->ffn_norm);
            free(L->ffn_sub_norm);
            free_mat(&L->q);
            free_mat(&L->k);
            free_mat(&L->v);
            free_mat(&L->o);
            free_mat(&L->gate);
            free_mat(&L->up);
            free_mat(&L->down);
        }
        free(m->layers);
    }
    if (m->out != m->embd)
        free(m->out);
    free(m->embd);
    free(m->out_norm);
    free(m);
}

int32_t bn_ref_model_n_vocab(const bn_ref_model *m)
{
    return m->n_vocab;
}

bn_status bn_ref_model_load(const char *path, bn_ref_model **out, bn_error *err)
{
    bn_status st;
    bn_gguf *g = NULL;
    bn_ref_model *m = calloc(1, sizeof *m);
    if (!m)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "ref: out of memory");
    if ((st = bn_gguf_open_file(path, NULL, &g, err)))
        goto fail;
    bn_gguf_string as;
    if ((st = bn_gguf_get_string(g, "general.architecture", &as, err)))
        goto fail;
    char arch[64];
    snprintf(arch, sizeof arch, "%.*s", (int)as.len, as.data);
    bool is_llama = strcmp(arch, "llama") == 0;
    bool is_b158 = strcmp(arch, "bitnet-b1.58") == 0 || strcmp(arch, "bitnet-25") == 0;
    m->sub_norms = !is_llama;
    m->neox = !is_llama;
    m->relu2 = is_b158;
    char key[160];
    snprintf(key, sizeof key, "%s.hidden_activation", arch);
    bn_gguf_string act;
    if (bn_gguf_find_kv(g, key) >= 0 && bn_gguf_get_string(g, key, &act, NULL) == 0)
        m->relu2 = act.len == 5 && memcmp(act.data, "relu2", 5) == 0;

    if ((st = get_int(g, arch, "embedding_length", -1, &m->n_embd, err)) ||
        (st = get_int(g, arch, "feed_forward_length", -1, &m->n_ff, err)) ||
        (st = get_int(g, arch, "block_count", -1, &m->n_layer, err)) ||
        (st = get_int(g, arch, "attention.head_count", -1, &m->n_head, err)) ||
        (st = get_int(g, arch, "attention.head_count_kv", m->n_head, &m->n_head_kv, err)) ||
        (st = get_int(g, arch, "attention.key_length", m->n_embd / m->n_head, &m->head_dim, err)) ||
        (st = get_int(g, arch, "rope.dimension_count", m->head_dim, &m->n_rot, err)))
        goto fail;
    m->eps = get_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5);
    m->rope_base = get_float(g, arch, "rope.freq_base", 10000.0);
    m->pos_scale = 1.0 / get_float(g, arch, "rope.scaling.factor", 1.0);

    const bn_gguf_tensor *te = bn_gguf_find_tensor(g, "token_embd.weight");
    if (!te) {
        st = bn_error_set(err, BN_STATUS_NOT_FOUND, "ref: no token_embd.weight");
        goto fail;
    }
    m->n_vocab = (int)te->ne[1];
    if ((st = load_floats(g, "token_embd.weight", (int64_t)m->n_vocab * m->n_embd, &m->embd, err)) ||
        (st = load_floats(g, "output_norm.weight", m->n_embd, &m->out_norm, err)))
        goto fail;
    if (bn_gguf_find_tensor(g, "output.weight")) {
        if ((st = load_floats(g, "output.weight", (int64_t)m->n_vocab * m->n_embd, &m->out, err)))
            goto fail;
    } else {
        m->out = m->embd;
    }
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "ref: out of memory");
        goto fail;
    }
    for (int il = 0; il < m->n_layer; il++) {
        ref_layer *L = &m->layers[il];
        char n[128];
#define REF_NAME(s) (snprintf(n, sizeof n, "blk.%d." s, il), n)
        if ((st = load_floats(g, REF_NAME("attn_norm.weight"), m->n_embd, &L->attn_norm, err)) ||
            (st = load_floats(g, REF_NAME("ffn_norm.weight"), m->n_embd, &L->ffn_norm, err)) ||
            (st = load_mat(g, REF_NAME("attn_q.weight"), &L->q, err)) ||
            (st = load_mat(g, REF_NAME("attn_k.weight"), &L->k, err)) ||
            (st = load_mat(g, REF_NAME("attn_v.weight"), &L->v, err)) ||
            (st = load_mat(g, REF_NAME("attn_output.weight"), &L->o, err)) ||
            (st = load_mat(g, REF_NAME("ffn_gate.weight"), &L->gate, err)) ||
            (st = load_mat(g, REF_NAME("ffn_up.weight"), &L->up, err)) ||
            (st = load_mat(g, REF_NAME("ffn_down.weight"), &L->down, err)))
            goto fail;
        if (m->sub_norms &&
            ((st = load_floats(g, REF_NAME("attn_sub_norm.weight"), m->n_head * m->head_dim,
                               &L->attn_sub_norm, err)) ||
             (st = load_floats(g, REF_NAME("ffn_sub_norm.weight"), m->n_ff, &L->ffn_sub_norm,
                               err))))
            goto fail;
#undef REF_NAME
    }
    bn_gguf_close(g);
    *out = m;
    return BN_STATUS_OK;
fail:
    bn_gguf_close(g);
    bn_ref_model_free(m);
    return st;
}

static void rmsnorm(const double *x, const double *w, int n, double eps, double *y)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = w[i] * (x[i] * r);
}

/* BitLinear (FORMATS.md 4.3): quantize x per token, integer dot, rescale. */
static void bitlinear(const ref_mat *m, const double *x, double *y, int32_t *q)
{
    double amax = 1e-5;
    for (int64_t i = 0; i < m->K; i++)
        amax = fmax(amax, fabs(x[i]));
    double s = 127.0 / amax;
    for (int64_t i = 0; i < m->K; i++) {
        double r = nearbyint(x[i] * s); /* default rounding mode: half to even */
        q[i] = (int32_t)fmin(127.0, fmax(-128.0, r));
    }
    for (int64_t r = 0; r < m->rows; r++) {
        const int8_t *w = m->w + r * m->K;
        double acc_scaled = 0.0;
        if (m->kind == BN_TERNARY_SCALE_BLOCK256) {
            for (int64_t b = 0; b < m->K / 256; b++) {
                int64_t acc = 0;
                for (int64_t i = 256 * b; i < 256 * (b + 1); i++)
                    acc += (int64_t)w[i] * q[i];
                acc_scaled += (double)acc * m->scales[(r * m->K) / 256 + b];
            }
        } else {
            int64_t acc = 0;
            for (int64_t i = 0; i < m->K; i++)
                acc += (int64_t)w[i] * q[i];
            double ws = m->kind == BN_TERNARY_SCALE_ROW ? m->scales[r] : m->scales[0];
            acc_scaled = (double)acc * ws;
        }
        y[r] = acc_scaled / s * m->extra;
    }
}

static void rope(double *x, int n_rot, int pos, double base, double pos_scale, bool neox)
{
    for (int i = 0; i < n_rot / 2; i++) {
        double theta = pow(base, -2.0 * i / n_rot);
        double a = pos * pos_scale * theta, c = cos(a), s = sin(a);
        int i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
        double x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * c - x1 * s;
        x[i1] = x1 * c + x0 * s;
    }
}

bn_status bn_ref_forward(const bn_ref_model *m, const int32_t *tokens, size_t n, double *logits,
                         bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    int E = m->n_embd, F = m->n_ff, D = m->head_dim, NQ = m->n_head * D,
        NKV = m->n_head_kv * D;
    int W = E > F ? E : F;
    if (NQ > W)
        W = NQ;
    double *x = calloc(n * (size_t)E, sizeof *x);          /* (n, E) residual */
    double *kc = calloc((size_t)m->n_layer * n * NKV, sizeof *kc); /* (n_layer, n, NKV) */
    double *vc = calloc((size_t)m->n_layer * n * NKV, sizeof *vc);
    double *a = malloc((size_t)W * sizeof *a), *b = malloc((size_t)W * sizeof *b);
    double *qv = malloc((size_t)NQ * sizeof *qv), *att = malloc((size_t)NQ * sizeof *att);
    double *g = malloc((size_t)F * sizeof *g), *u = malloc((size_t)F * sizeof *u);
    double *sc = malloc((n + 1) * sizeof *sc);
    int32_t *q = malloc((size_t)W * sizeof *q);
    if (!x || !kc || !vc || !a || !b || !qv || !att || !g || !u || !sc || !q) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "ref: out of memory");
        goto done;
    }
    for (size_t t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->n_vocab) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG, "ref: token %d out of range", tokens[t]);
            goto done;
        }
        memcpy(x + t * E, m->embd + (size_t)tokens[t] * E, (size_t)E * sizeof *x);
    }
    /* Token by token through all layers is simplest: position t sees the
     * cache entries 0..t of each layer, which earlier tokens filled. */
    for (size_t t = 0; t < n; t++) {
        double *h = x + t * E;
        for (int il = 0; il < m->n_layer; il++) {
            const ref_layer *L = &m->layers[il];
            double *K = kc + ((size_t)il * n) * NKV, *V = vc + ((size_t)il * n) * NKV;
            rmsnorm(h, L->attn_norm, E, m->eps, a);
            bitlinear(&L->q, a, qv, q);
            bitlinear(&L->k, a, K + t * NKV, q);
            bitlinear(&L->v, a, V + t * NKV, q);
            for (int hh = 0; hh < m->n_head; hh++)
                rope(qv + hh * D, m->n_rot, (int)t, m->rope_base, m->pos_scale, m->neox);
            for (int hh = 0; hh < m->n_head_kv; hh++)
                rope(K + t * NKV + hh * D, m->n_rot, (int)t, m->rope_base, m->pos_scale, m->neox);
            for (int hh = 0; hh < m->n_head; hh++) {
                int kvh = hh / (m->n_head / m->n_head_kv);
                double mx = -INFINITY;
                for (size_t p = 0; p <= t; p++) {
                    double s = 0.0;
                    for (int d = 0; d < D; d++)
                        s += qv[hh * D + d] * K[p * NKV + kvh * D + d];
                    sc[p] = s / sqrt((double)D);
                    mx = fmax(mx, sc[p]);
                }
                double sum = 0.0;
                for (size_t p = 0; p <= t; p++)
                    sum += (sc[p] = exp(sc[p] - mx));
                for (int d = 0; d < D; d++) {
                    double o = 0.0;
                    for (size_t p = 0; p <= t; p++)
                        o += sc[p] / sum * V[p * NKV + kvh * D + d];
                    att[hh * D + d] = o;
                }
            }
            if (m->sub_norms)
                rmsnorm(att, L->attn_sub_norm, NQ, m->eps, a);
            else
                memcpy(a, att, (size_t)NQ * sizeof *a);
            bitlinear(&L->o, a, b, q);
            for (int i = 0; i < E; i++)
                h[i] += b[i];

            rmsnorm(h, L->ffn_norm, E, m->eps, a);
            bitlinear(&L->gate, a, g, q);
            bitlinear(&L->up, a, u, q);
            for (int i = 0; i < F; i++) {
                double gi = g[i];
                double act = m->relu2 ? (gi > 0 ? gi * gi : 0.0) : gi / (1.0 + exp(-gi));
                g[i] = act * u[i];
            }
            if (m->sub_norms)
                rmsnorm(g, L->ffn_sub_norm, F, m->eps, a);
            else
                memcpy(a, g, (size_t)F * sizeof *a);
            bitlinear(&L->down, a, b, q);
            for (int i = 0; i < E; i++)
                h[i] += b[i];
        }
        rmsnorm(h, m->out_norm, E, m->eps, a);
        for (int v = 0; v < m->n_vocab; v++) {
            double s = 0.0;
            for (int i = 0; i < E; i++)
                s += m->out[(size_t)v * E + i] * a[i];
            logits[t * (size_t)m->n_vocab + v] = s;
        }
    }
done:
    free(x);
    free(kc);
    free(vc);
    free(a);
    free(b);
    free(qv);
    free(att);
    free(g);
    free(u);
    free(sc);
    free(q);
    return st;
}
