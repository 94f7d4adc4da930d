/* tiny_model.c: writes random tiny BitNet models (tests only).
 *
 * Deterministic for a seed (splitmix64). Ternary values are drawn with
 * P(-1) = P(0) = P(+1) = 1/3; the scales are ~1/sqrt(K) so that each
 * BitLinear keeps activations of order one. Block (TQ) and row (IQ*_BN)
 * formats get scales that vary per block / row, so the kernels' scale
 * handling is exercised, not just a broadcast.
 */
#include "tests/support/tiny_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/dequant.h"
#include "loader/gguf_writer.h"
#include "loader/half.h"
#include "loader/ternary_codec.h"
#include "tools/synthetic_vocab.h"
#include "runtime/error.h"

void bn_tiny_model_spec_default(bn_tiny_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->arch = "bitnet-b1.58";
    s->ternary_type = BN_TYPE_I2_S;
    s->embd_type = BN_TYPE_F32;
    s->n_embd = 256;
    s->n_ff = 512;
    s->n_layer = 2;
    s->n_head = 4;
    s->n_head_kv = 2;
    s->n_vocab = 320;
    s->n_ctx = 128;
    s->seed = 1;
}

static uint64_t rnd(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rnd_unit(uint64_t *st) /* [-1, 1) */
{
    return (float)((double)(rnd(st) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Every buffer handed to the writer lives until the file is written. */
typedef struct keep_list {
    void **ptrs;
    size_t n, cap;
} keep_list;

static void *keep(keep_list *k, size_t bytes)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        void **p = realloc(k->ptrs, cap * sizeof *p);
        if (!p)
            return NULL;
        k->ptrs = p;
        k->cap = cap;
    }
    void *m = calloc(1, bytes ? bytes : 1);
    if (m)
        k->ptrs[k->n++] = m;
    return m;
}

static bn_status add(bn_gguf_writer *w, const bn_tiny_model_spec *s, const char *name,
                     bn_tensor_type type, int64_t ne0, int64_t ne1, const void *data,
                     uint64_t n_bytes, bn_error *err)
{
    if (s->omit_tensor && strcmp(s->omit_tensor, name) == 0)
        return BN_STATUS_OK;
    int64_t ne[2] = {ne0, ne1};
    return bn_gguf_writer_add_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, data, n_bytes, err);
}

/* A float tensor (norms, embedding): values = base + spread * uniform. */
static bn_status add_floats(bn_gguf_writer *w, keep_list *k, const bn_tiny_model_spec *s,
                            uint64_t *st_rng, const char *name, bn_tensor_type type, int64_t ne0,
                            int64_t ne1, float base, float spread, bn_error *err)
{
    if (s->bad_shape_tensor && strcmp(s->bad_shape_tensor, name) == 0)
        ne1 += 1;
    int64_t n = ne0 * ne1;
    if (type == BN_TYPE_Q8_0 || type == BN_TYPE_Q6_K) {
        uint64_t rb = bn_tensor_type_row_bytes(type, ne0);
        uint8_t *buf = keep(k, (size_t)(rb * (uint64_t)ne1));
        float *row = malloc((size_t)ne0 * sizeof *row);
        if (!buf || !row || rb == 0) {
            free(row);
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
        }
        bn_status st = BN_STATUS_OK;
        for (int64_t r = 0; r < ne1 && st == BN_STATUS_OK; r++) {
            for (int64_t i = 0; i < ne0; i++)
                row[i] = base + spread * rnd_unit(st_rng);
            st = type == BN_TYPE_Q8_0 ? bn_quantize_row_q8_0(row, buf + r * rb, ne0)
                                      : bn_quantize_row_q6_k(row, buf + r * rb, ne0);
        }
        free(row);
        if (st != BN_STATUS_OK)
            return bn_error_set(err, st, "tiny model: cannot quantize %s", name);
        return add(w, s, name, type, ne0, ne1, buf, rb * (uint64_t)ne1, err);
    }
    size_t esz = type == BN_TYPE_F32 ? 4 : 2;
    uint8_t *buf = keep(k, (size_t)n * esz);
    if (!buf)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
    for (int64_t i = 0; i < n; i++) {
        float v = base + spread * rnd_unit(st_rng);
        if (type == BN_TYPE_F32) {
            memcpy(buf + 4 * i, &v, 4);
        } else {
            uint16_t h = type == BN_TYPE_F16 ? bn_f32_to_f16(v) : bn_f32_to_bf16(v);
            memcpy(buf + 2 * i, &h, 2);
        }
    }
    return add(w, s, name, type, ne0, ne1, buf, (uint64_t)n * esz, err);
}

void bn_test_repack_iq2_bn_r4(const uint8_t *x, int64_t K, int64_t rows, uint8_t *y) {
    const int64_t nblock = K / 64;
    const uint64_t row_size = 4 + (uint64_t)nblock * 16;
    for (int64_t row = 0; row < rows; row += 4) {
        uint8_t *dr4 = y + (uint64_t)row * row_size;
        const uint8_t *x4[4];
        for (int k = 0; k < 4; k++) {
            const uint8_t *r = x + (uint64_t)(row + k) * row_size;
            memcpy(dr4 + 4 * k, r, 4); /* the f32 scale, bytes as stored */
            x4[k] = r + 4;
        }
        uint8_t *y4 = dr4 + 16;
        for (int64_t ib = 0; ib < nblock; ib++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 4; l++)
                    for (int i = 0; i < 4; i++)
                        y4[64 * ib + 4 * k + i + 16 * l] =
                            (uint8_t)((((x4[k][16 * ib + i + 0] >> 2 * l) & 3) << 0) |
                                      (((x4[k][16 * ib + i + 4] >> 2 * l) & 3) << 2) |
                                      (((x4[k][16 * ib + i + 8] >> 2 * l) & 3) << 4) |
                                      (((x4[k][16 * ib + i + 12] >> 2 * l) & 3) << 6));
    }
}

static bn_status add_ternary(bn_gguf_writer *w, keep_list *k, const bn_tiny_model_spec *s,
                             uint64_t *st, const char *name, int64_t K, int64_t rows,
                             bn_error *err)
{
    if (s->bad_shape_tensor && strcmp(s->bad_shape_tensor, name) == 0)
        rows += 1;
    /* IQ2_BN_R4: written as IQ2_BN (same random draws), then repacked. */
    const bool r4 = s->ternary_type == BN_TYPE_IQ2_BN_R4;
    bn_tensor_type type = r4 ? BN_TYPE_IQ2_BN : s->ternary_type;
    int8_t *vals = malloc((size_t)(K * rows));
    float *scales = malloc((size_t)(rows * (K / 64 + 1)) * sizeof *scales);
    bn_status ret = BN_STATUS_OK;
    if (!vals || !scales) {
        ret = bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < K * rows; i++)
        vals[i] = (int8_t)((int)(rnd(st) % 3) - 1);
    float base = 1.0f / sqrtf((float)K) * (1.0f + 0.25f * rnd_unit(st));
    bn_ternary_scale_kind kind = BN_TERNARY_SCALE_TENSOR;
    int64_t ns = 1;
    if (type == BN_TYPE_TQ2_0 || type == BN_TYPE_TQ1_0) {
        kind = BN_TERNARY_SCALE_BLOCK256;
        ns = rows * K / 256;
    } else if (type == BN_TYPE_IQ2_BN || type == BN_TYPE_IQ1_BN) {
        kind = BN_TERNARY_SCALE_ROW;
        ns = rows;
    }
    for (int64_t i = 0; i < ns; i++)
        scales[i] = ns == 1 || s->uniform_scales ? base : base * (1.0f + 0.25f * rnd_unit(st));
    uint64_t nb = bn_ternary_encoded_bytes(type, K, rows);
    if (nb == 0) {
        ret = bn_error_set(err, BN_STATUS_INVALID_ARG, "tiny model: %s cannot hold %s [%lld, %lld]",
                           bn_tensor_type_name(type), name, (long long)K, (long long)rows);
        goto done;
    }
    void *data = keep(k, (size_t)nb);
    if (!data) {
        ret = bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
        goto done;
    }
    if ((ret = bn_ternary_encode(type, vals, scales, kind, K, rows, data, nb, err)))
        goto done;
    if (r4) {
        void *packed = keep(k, (size_t)nb);
        if (!packed) {
            ret = bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
            goto done;
        }
        bn_test_repack_iq2_bn_r4(data, K, rows, packed);
        data = packed;
        type = BN_TYPE_IQ2_BN_R4;
    }
    if ((ret = add(w, s, name, type, K, rows, data, nb, err)))
        goto done;
    if (s->scale_tensors) {
        char sname[128];
        snprintf(sname, sizeof sname, "%.*s.scale", (int)(strlen(name) - strlen(".weight")), name);
        float *sc = keep(k, sizeof *sc);
        if (!sc) {
            ret = bn_error_set(err, BN_STATUS_NO_MEMORY, "tiny model: out of memory");
            goto done;
        }
        *sc = 0.5f + 0.5f * (rnd_unit(st) + 1.0f);
        ret = add(w, s, sname, BN_TYPE_F32, 1, 1, sc, 4, err);
    }
done:
    free(vals);
    free(scales);
    return ret;
}

bn_status bn_tiny_model_write(const bn_tiny_model_spec *s, const char *path, bn_error *err)
{
    bn_status st;
    keep_list k = {0};
    bn_gguf_writer *w = NULL;
    uint64_t rs = s->seed * 0x100000001B3ull + 7;
    if ((st = bn_gguf_writer_new(&w, err)))
        goto done;
    const char *a = s->arch;
    char key[128];
#define KEY(x) (snprintf(key, sizeof key, "%s." x, a), key)
    if ((st = bn_gguf_writer_set_string(w, "general.architecture", a, err)) ||
        (st = bn_gguf_writer_set_string(w, "general.name", "tiny-random", err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)s->n_vocab, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head, err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv,
                                     err)) ||
        (st = bn_gguf_writer_set_u32(w, KEY("rope.dimension_count"),
                                     (uint32_t)(s->n_embd / s->n_head), err)) ||
        (st = bn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f, err)) ||
        (st = bn_gguf_writer_set_f32(w, KEY("rope.freq_base"), 10000.0f, err)))
        goto done;
    if (s->hidden_activation &&
        (st = bn_gguf_writer_set_string(w, KEY("hidden_activation"), s->hidden_activation, err)))
        goto done;
#undef KEY
    if (s->with_tokenizer && (st = bn_synthetic_vocab_write(w, s->n_vocab, err)))
        goto done;

    if ((st = add_floats(w, &k, s, &rs, "token_embd.weight", s->embd_type, s->n_embd, s->n_vocab,
                         0.0f, 1.0f, err)) ||
        (st = add_floats(w, &k, s, &rs, "output_norm.weight", BN_TYPE_F32, s->n_embd, 1, 1.0f,
                         0.2f, err)))
        goto done;
    if (s->untied &&
        (st = add_floats(w, &k, s, &rs, "output.weight", s->embd_type, s->n_embd, s->n_vocab, 0.0f,
                         0.5f, err)))
        goto done;
    bool sub = strcmp(a, "llama") != 0;
    int hd = s->n_embd / s->n_head, nkv = hd * s->n_head_kv;
    for (int il = 0; il < s->n_layer; il++) {
        char n[96];
#define NAME(x) (snprintf(n, sizeof n, "blk.%d." x, il), n)
        if ((st = add_floats(w, &k, s, &rs, NAME("attn_norm.weight"), BN_TYPE_F32, s->n_embd, 1,
                             1.0f, 0.2f, err)) ||
            (st = add_ternary(w, &k, s, &rs, NAME("attn_q.weight"), s->n_embd, s->n_embd, err)) ||
            (st = add_ternary(w, &k, s, &rs, NAME("attn_k.weight"), s->n_embd, nkv, err)) ||
            (st = add_ternary(w, &k, s, &rs, NAME("attn_v.weight"), s->n_embd, nkv, err)) ||
            (sub && (st = add_floats(w, &k, s, &rs, NAME("attn_sub_norm.weight"), BN_TYPE_F32,
                                     s->n_embd, 1, 1.0f, 0.2f, err))) ||
            (st = add_ternary(w, &k, s, &rs, NAME("attn_output.weight"), s->n_embd, s->n_embd,
                              err)) ||
            (st = add_floats(w, &k, s, &rs, NAME("ffn_norm.weight"), BN_TYPE_F32, s->n_embd, 1,
                             1.0f, 0.2f, err)) ||
            (st = add_ternary(w, &k, s, &rs, NAME("ffn_gate.weight"), s->n_embd, s->n_ff, err)) ||
            (st = add_ternary(w, &k, s, &rs, NAME("ffn_up.weight"), s->n_embd, s->n_ff, err)) ||
            (sub && (st = add_floats(w, &k, s, &rs, NAME("ffn_sub_norm.weight"), BN_TYPE_F32,
                                     s->n_ff, 1, 1.0f, 0.2f, err))) ||
            (st = add_ternary(w, &k, s, &rs, NAME("ffn_down.weight"), s->n_ff, s->n_embd, err)))
            goto done;
#undef NAME
    }
    st = bn_gguf_writer_write_file(w, path, err);
done:
    bn_gguf_writer_free(w);
    for (size_t i = 0; i < k.n; i++)
        free(k.ptrs[i]);
    free(k.ptrs);
    return st;
}
