/* convert.c: HF checkpoint folder -> GGUF (see the header for the rules).
 *
 * Order of work: read config.json, open the shards, write the metadata, plan
 * the GGUF tensor list (name, HF source, role), then convert tensor by
 * tensor into buffers that the GGUF writer borrows, and write the file once.
 * Peak memory is the output file plus one tensor's float copy.
 */
#include "loader/convert.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/dequant.h"
#include "loader/half.h"
#include "loader/hf_config.h"
#include "loader/safetensors.h"
#include "loader/ternarize.h"
#include "loader/ternary_codec.h"
#include "runtime/error.h"
#include "tokenizer/hf_import.h"

typedef enum role {
    ROLE_EMBD,   /* token_embd: [vocab, n_embd] */
    ROLE_OUTPUT, /* untied output: [vocab, n_embd] */
    ROLE_NORM,   /* 1-D, F32 */
    ROLE_PROJ,   /* ternary projection */
} role;

/* Which rows to permute for llama-arch rope (0: none). */
typedef enum permute_kind { PERMUTE_NONE, PERMUTE_Q, PERMUTE_K } permute_kind;

typedef struct plan_entry {
    char gguf_name[96];
    char hf_name[160];
    role role;
    permute_kind permute;
    int64_t rows, cols; /* expected HF [out, in] (proj) or [n] (norm; cols = 1) */
} plan_entry;

typedef struct converter {
    const bn_convert_options *opt;
    bn_hf_config cfg;
    bn_safetensors_set *set;
    bn_gguf_writer *w;
    plan_entry *plan;
    size_t n_plan;
    void **buffers; /* (n_plan) owned output bytes, borrowed by the writer */
    float *f32;     /* scratch: one tensor as floats */
    int8_t *trits;  /* scratch: one tensor's ternary values */
    int8_t *trits2; /* scratch: permuted copy */
    int8_t *negz;   /* scratch: 1 where a latent weight rounded to -0 */
    size_t scratch_elems;
    /* Projections whose scale the output type rounds (F16 values, TQ's F16
     * block scales): how many, and the largest relative change. */
    size_t n_scale_rounded;
    double max_scale_rel;
} converter;

uint32_t bn_convert_file_type(bn_tensor_type type) {
    switch (type) {
    case BN_TYPE_F32: return 0;
    case BN_TYPE_F16: return 1;
    case BN_TYPE_TQ1_0: return 36; /* mainline MOSTLY_TQ1_0 */
    case BN_TYPE_TQ2_0: return 37; /* mainline MOSTLY_TQ2_0 */
    case BN_TYPE_I2_S: return 40;  /* bitnet.cpp MOSTLY_I2_S */
    default: return 0;
    }
}

static void note(const converter *c, const char *fmt, ...) BN_PRINTF_LIKE(2, 3);
static void note(const converter *c, const char *fmt, ...) {
    if (!c->opt->note)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->opt->note(c->opt->user, msg);
}

/* ---- planning ---------------------------------------------------------- */

static bn_status plan_add(converter *c, const char *gguf_name, const char *hf_name, role r,
                          permute_kind p, int64_t rows, int64_t cols, bn_error *err) {
    plan_entry *grown = realloc(c->plan, (c->n_plan + 1) * sizeof *grown);
    if (!grown)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for the tensor plan");
    c->plan = grown;
    plan_entry *e = &c->plan[c->n_plan++];
    memset(e, 0, sizeof *e);
    snprintf(e->gguf_name, sizeof e->gguf_name, "%s", gguf_name);
    snprintf(e->hf_name, sizeof e->hf_name, "%s", hf_name);
    e->role = r;
    e->permute = p;
    e->rows = rows;
    e->cols = cols;
    return BN_STATUS_OK;
}

/* The first of two candidate HF names that the checkpoint has (sub-norm
 * names differ between 2B4T and 1bitLLM); the first when neither does, so
 * the "missing" message names the expected one. */
static const char *pick_name(const converter *c, const char *a, const char *b, char *buf,
                             size_t size, int il) {
    snprintf(buf, size, a, il);
    if (bn_safetensors_set_find(c->set, buf))
        return buf;
    char alt[160];
    snprintf(alt, sizeof alt, b, il);
    if (bn_safetensors_set_find(c->set, alt)) {
        snprintf(buf, size, "%s", alt);
        return buf;
    }
    snprintf(buf, size, a, il);
    return buf;
}

static bn_status make_plan(converter *c, bn_error *err) {
    const bn_hf_config *h = &c->cfg;
    bool llama = h->family == BN_HF_FAMILY_LLAMA;
    int64_t q_out = h->n_head * h->head_dim, kv_out = h->n_head_kv * h->head_dim;
    bn_status s;
    const bn_st_tensor *embd = bn_safetensors_set_find(c->set, "model.embed_tokens.weight");
    int64_t vocab = embd && embd->n_dims == 2 ? embd->shape[0] : h->vocab_size;
    if ((s = plan_add(c, "token_embd.weight", "model.embed_tokens.weight", ROLE_EMBD, PERMUTE_NONE,
                      vocab, h->n_embd, err)))
        return s;
    for (int il = 0; il < h->n_layer; il++) {
        char g[96], hf[160];
        struct {
            const char *gguf, *hf, *hf_alt;
            role r;
            permute_kind p;
            int64_t rows, cols;
        } items[] = {
            {"attn_norm", "model.layers.%d.input_layernorm.weight", NULL, ROLE_NORM, PERMUTE_NONE,
             h->n_embd, 1},
            {"attn_q", "model.layers.%d.self_attn.q_proj.weight", NULL, ROLE_PROJ,
             llama ? PERMUTE_Q : PERMUTE_NONE, q_out, h->n_embd},
            {"attn_k", "model.layers.%d.self_attn.k_proj.weight", NULL, ROLE_PROJ,
             llama ? PERMUTE_K : PERMUTE_NONE, kv_out, h->n_embd},
            {"attn_v", "model.layers.%d.self_attn.v_proj.weight", NULL, ROLE_PROJ, PERMUTE_NONE,
             kv_out, h->n_embd},
            {"attn_output", "model.layers.%d.self_attn.o_proj.weight", NULL, ROLE_PROJ,
             PERMUTE_NONE, h->n_embd, q_out},
            {"attn_sub_norm", "model.layers.%d.self_attn.attn_sub_norm.weight",
             "model.layers.%d.self_attn.inner_attn_ln.weight", ROLE_NORM, PERMUTE_NONE, q_out, 1},
            {"ffn_norm", "model.layers.%d.post_attention_layernorm.weight", NULL, ROLE_NORM,
             PERMUTE_NONE, h->n_embd, 1},
            {"ffn_gate", "model.layers.%d.mlp.gate_proj.weight", NULL, ROLE_PROJ, PERMUTE_NONE,
             h->n_ff, h->n_embd},
            {"ffn_up", "model.layers.%d.mlp.up_proj.weight", NULL, ROLE_PROJ, PERMUTE_NONE,
             h->n_ff, h->n_embd},
            {"ffn_down", "model.layers.%d.mlp.down_proj.weight", NULL, ROLE_PROJ, PERMUTE_NONE,
             h->n_embd, h->n_ff},
            {"ffn_sub_norm", "model.layers.%d.mlp.ffn_sub_norm.weight",
             "model.layers.%d.mlp.ffn_layernorm.weight", ROLE_NORM, PERMUTE_NONE, h->n_ff, 1},
        };
        for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
            if (llama && items[i].hf_alt) /* plain Llama blocks have no sub-norms */
                continue;
            snprintf(g, sizeof g, "blk.%d.%s.weight", il, items[i].gguf);
            if (items[i].hf_alt)
                pick_name(c, items[i].hf, items[i].hf_alt, hf, sizeof hf, il);
            else
                snprintf(hf, sizeof hf, items[i].hf, il);
            if ((s = plan_add(c, g, hf, items[i].r, items[i].p, items[i].rows, items[i].cols, err)))
                return s;
        }
    }
    if ((s = plan_add(c, "output_norm.weight", "model.norm.weight", ROLE_NORM, PERMUTE_NONE,
                      h->n_embd, 1, err)))
        return s;
    if (!h->tied) {
        if ((s = plan_add(c, "output.weight", "lm_head.weight", ROLE_OUTPUT, PERMUTE_NONE, vocab,
                          h->n_embd, err)))
            return s;
    }
    return BN_STATUS_OK;
}

/* ---- reading HF tensors ------------------------------------------------ */

static bn_status need_scratch(converter *c, size_t n, bn_error *err) {
    if (n <= c->scratch_elems)
        return BN_STATUS_OK;
    free(c->f32);
    free(c->trits);
    free(c->trits2);
    free(c->negz);
    c->f32 = malloc(n * sizeof *c->f32);
    c->trits = malloc(n);
    c->trits2 = malloc(n);
    c->negz = malloc(n);
    c->scratch_elems = n;
    if (!c->f32 || !c->trits || !c->trits2 || !c->negz) {
        c->scratch_elems = 0;
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for a tensor of %zu values", n);
    }
    return BN_STATUS_OK;
}

/* Elements [first, first + count) of a float tensor -> f32 (F32, F16, BF16, F64). */
static bn_status read_floats_range(const bn_st_tensor *t, uint64_t first, uint64_t count,
                                   float *out, bn_error *err) {
    const uint8_t *p = t->data;
    for (uint64_t j = 0; j < count; j++) {
        uint64_t i = first + j;
        switch (t->dtype) {
        case BN_ST_F32: {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            out[j] = bn_f32_from_bits(u);
            break;
        }
        case BN_ST_F16: out[j] = bn_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8)); break;
        case BN_ST_BF16: out[j] = bn_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8)); break;
        case BN_ST_F64: {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--)
                u = u << 8 | p[8 * i + (uint64_t)b];
            double d;
            memcpy(&d, &u, sizeof d);
            out[j] = (float)d;
            break;
        }
        default:
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "HF tensor %s has dtype %s; expected F32, F16, BF16 or F64",
                                t->name, bn_st_dtype_name(t->dtype));
        }
    }
    return BN_STATUS_OK;
}

static bn_status read_floats(const bn_st_tensor *t, float *out, bn_error *err) {
    return read_floats_range(t, 0, t->n_elements, out, err);
}

static const bn_st_tensor *find_required(const converter *c, const char *hf_name,
                                         const char *gguf_name, bn_error *err) {
    const bn_st_tensor *t = bn_safetensors_set_find(c->set, hf_name);
    if (!t)
        bn_error_set(err, BN_STATUS_NOT_FOUND,
                     "checkpoint has no tensor %s (needed for %s)", hf_name, gguf_name);
    return t;
}

/* ---- per-role conversion ----------------------------------------------- */

static bn_status add_output(converter *c, size_t index, const char *name, bn_tensor_type type,
                            uint32_t n_dims, const int64_t *ne, void *data, uint64_t n_bytes,
                            bn_error *err) {
    c->buffers[index] = data;
    return bn_gguf_writer_add_tensor(c->w, name, type, n_dims, ne, data, n_bytes, err);
}

static bn_status convert_norm(converter *c, size_t index, const plan_entry *e, bn_error *err) {
    const bn_st_tensor *t = find_required(c, e->hf_name, e->gguf_name, err);
    if (!t)
        return BN_STATUS_NOT_FOUND;
    if (t->n_elements != (uint64_t)e->rows || t->n_dims > 1)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "HF tensor %s has %" PRIu64 " values in %u dims, expected [%" PRId64 "]",
                            t->name, t->n_elements, t->n_dims, e->rows);
    float *out = malloc((size_t)e->rows * sizeof *out);
    if (!out)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s", e->gguf_name);
    c->buffers[index] = out;
    bn_status s = read_floats(t, out, err);
    if (s != BN_STATUS_OK)
        return s;
    int64_t ne[1] = {e->rows};
    return add_output(c, index, e->gguf_name, BN_TYPE_F32, 1, ne, out,
                      (uint64_t)e->rows * sizeof(float), err);
}

static bn_tensor_type embd_type_of(const converter *c) {
    if (c->opt->embd_type_set)
        return c->opt->embd_type;
    return c->opt->type == BN_TYPE_F32 ? BN_TYPE_F32 : BN_TYPE_F16;
}

/* Embedding or untied output: [rows = vocab, cols = n_embd] floats. */
static bn_status convert_dense(converter *c, size_t index, const plan_entry *e, bn_error *err) {
    const bn_st_tensor *t = find_required(c, e->hf_name, e->gguf_name, err);
    if (!t)
        return BN_STATUS_NOT_FOUND;
    if (t->n_dims != 2 || t->shape[0] != e->rows || t->shape[1] != e->cols)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "HF tensor %s has shape [%" PRId64 ", %" PRId64 "], expected [%" PRId64
                            ", %" PRId64 "]",
                            t->name, t->shape[0], t->n_dims > 1 ? t->shape[1] : 1, e->rows,
                            e->cols);
    /* Row by row: a 128256 x 4096 head would need 2 GB as one float copy. */
    bn_status s = need_scratch(c, (size_t)e->cols, err);
    if (s != BN_STATUS_OK)
        return s;
    bn_tensor_type type = embd_type_of(c);
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(type);
    if (e->cols % tr->block_size != 0) {
        note(c, "%s: rows of %" PRId64 " values do not fit %s blocks of %u; writing F16",
             e->gguf_name, e->cols, tr->name, tr->block_size);
        type = BN_TYPE_F16;
    }
    uint64_t row_bytes = bn_tensor_type_row_bytes(type, e->cols);
    uint64_t bytes = row_bytes * (uint64_t)e->rows;
    uint8_t *out = malloc(bytes ? bytes : 1);
    if (!out)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s (%" PRIu64 " bytes)",
                            e->gguf_name, bytes);
    c->buffers[index] = out;
    for (int64_t r = 0; r < e->rows; r++) {
        const float *src = c->f32;
        if ((s = read_floats_range(t, (uint64_t)(r * e->cols), (uint64_t)e->cols, c->f32, err)))
            return s;
        uint8_t *dst = out + (uint64_t)r * row_bytes;
        switch (type) {
        case BN_TYPE_F32: memcpy(dst, src, (size_t)e->cols * sizeof(float)); break;
        case BN_TYPE_F16:
            for (int64_t k = 0; k < e->cols; k++) {
                uint16_t hv = bn_f32_to_f16(src[k]);
                memcpy(dst + 2 * k, &hv, 2);
            }
            break;
        case BN_TYPE_BF16:
            for (int64_t k = 0; k < e->cols; k++) {
                uint16_t hv = bn_f32_to_bf16(src[k]);
                memcpy(dst + 2 * k, &hv, 2);
            }
            break;
        case BN_TYPE_Q8_0: bn_quantize_row_q8_0(src, dst, e->cols); break;
        case BN_TYPE_Q6_K: bn_quantize_row_q6_k(src, dst, e->cols); break;
        default:
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "embedding type %s is not one of F32, F16, BF16, Q8_0, Q6_K",
                                tr->name);
        }
    }
    int64_t ne[2] = {e->cols, e->rows};
    return add_output(c, index, e->gguf_name, type, 2, ne, out, bytes, err);
}

/* llama.cpp's converter reorders each head's rows from HF's rotate-half
 * pairing (i, i + hd/2) to ggml's adjacent pairing (2i, 2i + 1):
 * new row h*hd + 2j + i  <-  old row h*hd + i*hd/2 + j. */
static void permute_rows(const void *src, void *dst, int64_t rows, int64_t row_bytes,
                         int64_t n_heads) {
    int64_t hd = rows / n_heads, half = hd / 2;
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < half; j++)
                memcpy((uint8_t *)dst + (h * hd + 2 * j + i) * row_bytes,
                       (const uint8_t *)src + (h * hd + i * half + j) * row_bytes,
                       (size_t)row_bytes);
}

/* Reads a projection as trits and one tensor scale; *latent says whether
 * c->f32 holds the latent float weights it came from. */
static bn_status read_projection(converter *c, const plan_entry *e, float *scale, bool *latent,
                                 bn_error *err) {
    *latent = false;
    const bn_st_tensor *t = find_required(c, e->hf_name, e->gguf_name, err);
    if (!t)
        return BN_STATUS_NOT_FOUND;
    int64_t rows = e->rows, cols = e->cols;
    bn_status s = need_scratch(c, (size_t)(rows * cols), err);
    if (s != BN_STATUS_OK)
        return s;
    if (t->dtype == BN_ST_U8 || t->dtype == BN_ST_I8) {
        /* Packed 2-bit codes: [rows/4, cols], four row blocks in bit pairs. */
        int64_t R = rows / 4;
        if (rows % 4 != 0 || t->n_dims != 2 || t->shape[0] != R || t->shape[1] != cols)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "packed HF tensor %s has shape [%" PRId64 ", %" PRId64
                                "], expected [%" PRId64 ", %" PRId64 "] (= [%" PRId64 "/4, %" PRId64 "])",
                                t->name, t->shape[0], t->n_dims > 1 ? t->shape[1] : 1, R, cols,
                                rows, cols);
        char sname[200];
        snprintf(sname, sizeof sname, "%s_scale", e->hf_name);
        const bn_st_tensor *st = bn_safetensors_set_find(c->set, sname);
        if (!st)
            return bn_error_set(err, BN_STATUS_NOT_FOUND,
                                "packed HF tensor %s has no %s beside it", t->name, sname);
        float ws = 0.0f;
        if (st->n_elements != 1)
            return bn_error_set(err, BN_STATUS_FORMAT, "%s has %" PRIu64 " values, expected 1",
                                sname, st->n_elements);
        if ((s = read_floats(st, &ws, err)))
            return s;
        if (!isfinite(ws) || ws <= 0.0f)
            return bn_error_set(err, BN_STATUS_FORMAT, "%s = %g is not a positive scale", sname,
                                (double)ws);
        *scale = c->cfg.scale_divides ? 1.0f / ws : ws;
        memset(c->negz, 0, (size_t)(rows * cols));
        static const int8_t code_value[4] = {-1, 0, 1, 0}; /* code 3 never written: as 0 */
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < cols; k++) {
                uint8_t b = t->data[r * cols + k];
                for (int i = 0; i < 4; i++)
                    c->trits[(i * R + r) * cols + k] = code_value[(b >> (2 * i)) & 3];
            }
    } else {
        if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "HF tensor %s has shape [%" PRId64 ", %" PRId64 "], expected [%" PRId64
                                ", %" PRId64 "]",
                                t->name, t->shape[0], t->n_dims > 1 ? t->shape[1] : 1, rows, cols);
        if ((s = read_floats(t, c->f32, err)))
            return s;
        *latent = true;
        *scale = bn_absmean_scale(c->f32, rows * cols);
        bn_ternarize(c->f32, rows * cols, *scale, c->trits);
        /* round(W / s) of a small negative weight is -0 in PyTorch, and a
         * float export stores -0 * s = -0: remembered so that F32/F16
         * outputs match such exports bit for bit. */
        for (int64_t i = 0; i < rows * cols; i++)
            c->negz[i] = (int8_t)(c->trits[i] == 0 && signbit(c->f32[i]));
    }
    if (e->permute != PERMUTE_NONE) {
        int64_t heads = e->permute == PERMUTE_Q ? c->cfg.n_head : c->cfg.n_head_kv;
        permute_rows(c->trits, c->trits2, rows, cols, heads);
        memcpy(c->trits, c->trits2, (size_t)(rows * cols));
        permute_rows(c->negz, c->trits2, rows, cols, heads);
        memcpy(c->negz, c->trits2, (size_t)(rows * cols));
        if (*latent) { /* the floats too, for keep_latent; the output buffer is scratch here */
            float *tmp = malloc((size_t)(rows * cols) * sizeof *tmp);
            if (!tmp)
                return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory to permute %s", e->gguf_name);
            permute_rows(c->f32, tmp, rows, cols * (int64_t)sizeof(float), heads);
            memcpy(c->f32, tmp, (size_t)(rows * cols) * sizeof *tmp);
            free(tmp);
        }
    }
    return BN_STATUS_OK;
}

static bn_status convert_projection(converter *c, size_t index, const plan_entry *e,
                                    bn_error *err) {
    float s = 0.0f;
    bool latent = false;
    bn_status st = read_projection(c, e, &s, &latent, err);
    if (st != BN_STATUS_OK)
        return st;
    int64_t K = e->cols, rows = e->rows;
    bn_tensor_type type = c->opt->type;
    if (latent && c->opt->keep_latent && (type == BN_TYPE_F32 || type == BN_TYPE_F16)) {
        /* The master weights as they are, for bitnet-quantize experiments. */
        uint64_t n = (uint64_t)(rows * K), bytes = n * (type == BN_TYPE_F32 ? 4 : 2);
        uint8_t *out = malloc(bytes);
        if (!out)
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s", e->gguf_name);
        c->buffers[index] = out;
        for (uint64_t i = 0; i < n; i++) {
            if (type == BN_TYPE_F32) {
                memcpy(out + 4 * i, &c->f32[i], 4);
            } else {
                uint16_t h = bn_f32_to_f16(c->f32[i]);
                memcpy(out + 2 * i, &h, 2);
            }
        }
        int64_t ne[2] = {K, rows};
        return add_output(c, index, e->gguf_name, type, 2, ne, out, bytes, err);
    }
    /* A row length the type cannot hold falls back to F32 ternary values.
     * F32, not F16: the values are +-s with s the exact F32 scale the
     * ternary types would carry (1/weight_scale for BitLinear checkpoints),
     * and F16 rounds s by up to 2^-11 relative, which moves logits by ~3%
     * of a trained model's spread (0.5-1.1% on the hf-packed test models).
     * The other exact form, F16 codes +-1 with the scale in a separate
     * blk.N.*.scale tensor, halves the size but adds a tensor that
     * llama.cpp's loader rejects in llama-arch files (every tensor must be
     * used); no published checkpoint has such shapes, so the fallback's size
     * matters only for odd test models. */
    int64_t need = type == BN_TYPE_I2_S                            ? 128
                   : type == BN_TYPE_TQ1_0 || type == BN_TYPE_TQ2_0 ? 256
                                                                    : 1;
    if (K % need != 0) {
        note(c, "%s: rows of %" PRId64 " values are not a multiple of %" PRId64
                "; writing F32 ternary values (exact) instead of %s",
             e->gguf_name, K, need, bn_tensor_type_name(type));
        type = BN_TYPE_F32;
    }
    if (type == BN_TYPE_F16 || type == BN_TYPE_TQ1_0 || type == BN_TYPE_TQ2_0) {
        /* These hold s as F16: exact for a bf16 weight_scale that multiplies,
         * rounded for 1/weight_scale or an absmean scale. Told, not refused:
         * it is the format the user asked for (I2_S and F32 keep s). */
        double rel = fabs((double)bn_f16_to_f32(bn_f32_to_f16(s)) - (double)s) / (double)s;
        if (rel > 0.0) {
            c->n_scale_rounded++;
            c->max_scale_rel = fmax(c->max_scale_rel, rel);
        }
    }
    uint64_t bytes = bn_ternary_encoded_bytes(type, K, rows);
    uint8_t *out = malloc(bytes ? bytes : 1);
    float *block_scales = NULL;
    if (!out)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s (%" PRIu64 " bytes)",
                            e->gguf_name, bytes);
    c->buffers[index] = out;
    if (type == BN_TYPE_TQ1_0 || type == BN_TYPE_TQ2_0) {
        /* llama.cpp's d = max|x| per block: s, or 0 where the block is all 0. */
        int64_t nb = rows * K / 256;
        block_scales = malloc((size_t)nb * sizeof *block_scales);
        if (!block_scales)
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s scales", e->gguf_name);
        for (int64_t b = 0; b < nb; b++) {
            bool any = false;
            for (int64_t i = 0; i < 256 && !any; i++)
                any = c->trits[b * 256 + i] != 0;
            block_scales[b] = any ? s : 0.0f;
        }
        st = bn_ternary_encode(type, c->trits, block_scales, BN_TERNARY_SCALE_BLOCK256, K, rows,
                               out, bytes, err);
        free(block_scales);
    } else {
        st = bn_ternary_encode(type, c->trits, &s, BN_TERNARY_SCALE_TENSOR, K, rows, out, bytes,
                               err);
    }
    if (st != BN_STATUS_OK)
        return st;
    if (type == BN_TYPE_F32 || type == BN_TYPE_F16) {
        for (int64_t i = 0; i < rows * K; i++)
            if (c->negz[i]) /* little-endian: the sign bit is in the value's last byte */
                out[type == BN_TYPE_F32 ? 4 * i + 3 : 2 * i + 1] |= 0x80;
    }
    int64_t ne[2] = {K, rows};
    return add_output(c, index, e->gguf_name, type, 2, ne, out, bytes, err);
}

/* ---- metadata ---------------------------------------------------------- */

static bn_status write_metadata(converter *c, const char *hf_dir, bn_error *err) {
    const bn_hf_config *h = &c->cfg;
    bn_gguf_writer *w = c->w;
    char key[128];
    bn_status s;
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, h->arch), key)
    /* general.name: the checkpoint's own name, else the folder's. */
    char name[128];
    snprintf(name, sizeof name, "%s", h->name[0] ? h->name : hf_dir);
    if (!h->name[0]) {
        size_t len = strlen(name);
        while (len > 1 && name[len - 1] == '/')
            name[--len] = '\0';
        const char *base = strrchr(name, '/');
        if (base && base[1])
            memmove(name, base + 1, strlen(base + 1) + 1);
    }
    if ((s = bn_gguf_writer_set_string(w, "general.architecture", h->arch, err)) ||
        (s = bn_gguf_writer_set_string(w, "general.name", name, err)) ||
        (s = bn_gguf_writer_set_u32(w, "general.quantization_version", 2, err)) ||
        (s = bn_gguf_writer_set_u32(w, "general.file_type", bn_convert_file_type(c->opt->type),
                                    err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)c->plan[0].rows, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)h->n_ctx_train, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)h->n_embd, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)h->n_layer, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)h->n_ff, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)h->n_head, err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)h->n_head_kv,
                                    err)) ||
        (s = bn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)h->head_dim, err)) ||
        (s = bn_gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)h->rope_theta, err)) ||
        (s = bn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)h->rms_eps,
                                    err)) ||
        (s = bn_gguf_writer_set_string(w, KEY("rope.scaling.type"), "linear", err)) ||
        (s = bn_gguf_writer_set_f32(w, KEY("rope.scaling.factor"), (float)h->rope_scale, err)))
        return s;
    if (h->head_dim * h->n_head != h->n_embd) {
        if ((s = bn_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)h->head_dim,
                                        err)) ||
            (s = bn_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)h->head_dim,
                                        err)))
            return s;
    }
    /* The key mainline reads for arch bitnet; harmless (and written by the
     * shipped files) for bitnet-b1.58, where ReLU^2 is implied. */
    if (h->relu2 && (s = bn_gguf_writer_set_string(w, KEY("hidden_activation"), "relu2", err)))
        return s;
#undef KEY
    if (c->opt->skip_tokenizer)
        return BN_STATUS_OK;
    return bn_hf_tokenizer_import(hf_dir, w, err);
}

/* ---- driver ------------------------------------------------------------ */

/* Tells the user about checkpoint tensors the conversion did not use (a
 * naming variant or a feature such as biases would otherwise vanish
 * silently). Rotary caches and a tied lm_head are expected leftovers. */
static void note_unused(const converter *c) {
    size_t unused = 0;
    char first[3][160];
    for (size_t i = 0; i < bn_safetensors_set_count(c->set); i++) {
        const char *name = bn_safetensors_set_at(c->set, i)->name;
        size_t len = strlen(name);
        bool used = strstr(name, "rotary_emb.inv_freq") != NULL ||
                    (c->cfg.tied && strcmp(name, "lm_head.weight") == 0);
        for (size_t j = 0; j < c->n_plan && !used; j++) {
            size_t hl = strlen(c->plan[j].hf_name);
            used = strcmp(name, c->plan[j].hf_name) == 0 ||
                   (len == hl + 6 && strncmp(name, c->plan[j].hf_name, hl) == 0 &&
                    strcmp(name + hl, "_scale") == 0);
        }
        if (!used && unused < 3)
            snprintf(first[unused], sizeof first[0], "%s", name);
        unused += !used;
    }
    if (unused)
        note(c, "%zu checkpoint tensor%s not converted (e.g. %s%s%s%s%s)", unused,
             unused == 1 ? "" : "s", first[0], unused > 1 ? ", " : "", unused > 1 ? first[1] : "",
             unused > 2 ? ", " : "", unused > 2 ? first[2] : "");
}

bn_status bn_convert_hf(const char *hf_dir, const char *out_path, const bn_convert_options *opt,
                        bn_error *err) {
    bn_status s = BN_STATUS_OK;
    converter c;
    memset(&c, 0, sizeof c);
    if (!hf_dir || !out_path || !opt) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_convert_hf: NULL argument");
        goto fail;
    }
    c.opt = opt;
    switch (opt->type) {
    case BN_TYPE_I2_S:
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0:
    case BN_TYPE_F16:
    case BN_TYPE_F32: break;
    default:
        s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                         "output type %s: choose I2_S, TQ2_0, TQ1_0, F16 or F32",
                         bn_tensor_type_name(opt->type));
        goto fail;
    }
    if ((s = bn_hf_config_load(hf_dir, &c.cfg, err)))
        goto fail;
    if ((s = bn_safetensors_set_open(hf_dir, &c.set, err)))
        goto fail;
    if ((s = make_plan(&c, err)))
        goto fail;
    c.buffers = calloc(c.n_plan, sizeof *c.buffers);
    if (!c.buffers) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory");
        goto fail;
    }
    if ((s = bn_gguf_writer_new(&c.w, err)))
        goto fail;
    if ((s = write_metadata(&c, hf_dir, err)))
        goto fail;
    for (size_t i = 0; i < c.n_plan; i++) {
        const plan_entry *e = &c.plan[i];
        switch (e->role) {
        case ROLE_NORM: s = convert_norm(&c, i, e, err); break;
        case ROLE_EMBD:
        case ROLE_OUTPUT: s = convert_dense(&c, i, e, err); break;
        case ROLE_PROJ: s = convert_projection(&c, i, e, err); break;
        }
        if (s != BN_STATUS_OK)
            goto fail;
        if (opt->progress)
            opt->progress(opt->user, i + 1, c.n_plan, e->gguf_name);
    }
    note_unused(&c);
    if (c.n_scale_rounded)
        note(&c, "%zu projection scale%s rounded to %s's F16 (up to %.2g relative); I2_S or F32 "
                 "keep %s exact",
             c.n_scale_rounded, c.n_scale_rounded == 1 ? "" : "s", bn_tensor_type_name(opt->type),
             c.max_scale_rel, c.n_scale_rounded == 1 ? "it" : "them");
    s = bn_gguf_writer_write_file(c.w, out_path, err);
fail:
    bn_gguf_writer_free(c.w);
    for (size_t i = 0; c.buffers && i < c.n_plan; i++)
        free(c.buffers[i]);
    free(c.buffers);
    free(c.plan);
    free(c.f32);
    free(c.trits);
    free(c.trits2);
    free(c.negz);
    bn_safetensors_set_close(c.set);
    return s;
}
