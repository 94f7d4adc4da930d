/* bitnet-gen-model: writes a GGUF with random ternary weights in the exact
 * shape of a real BitNet model, for benchmarks and kernel tests at real sizes.
 *
 *   bitnet-gen-model --shape 2b4t|1bitllm-large|1bitllm-3b|llama3-8b|tiny
 *                    --type i2_s|tq2_0|tq1_0|iq2_bn|iq1_bn|f16
 *                    [--embd-type f16|q6_k|f32] [--seed N] -o OUT.gguf
 *
 * The metadata is the real model's (architecture, sizes, RoPE base, context),
 * the projections are random trits (P(0) = 1/2, P(+-1) = 1/4) with a scale
 * of 1/sqrt(K) so activations stay of order one, norms are 1, the embedding
 * is uniform in [-1, 1]. The tokenizer is a synthetic SentencePiece-style
 * vocabulary of the real size (<unk>, <s>, </s>, 256 byte tokens, then
 * filler pieces), enough for bitnet-run and bitnet-bench to encode text.
 * The output is not a language model; only its shapes and speed are real.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader/dequant.h"
#include "loader/gguf_writer.h"
#include "loader/half.h"
#include "loader/ternary_codec.h"
#include "runtime/bitnet.h"
#include "tools/synthetic_vocab.h"

typedef struct shape {
    const char *name;
    const char *arch;
    const char *hidden_activation; /* for arch bitnet, or NULL */
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx;
    float rope_base;
    bool untied;
} shape;

static const shape shapes[] = {
    {"2b4t", "bitnet-b1.58", NULL, 128256, 2560, 6912, 30, 20, 5, 4096, 500000.0f, false},
    {"1bitllm-large", "bitnet", NULL, 32002, 1536, 4096, 24, 16, 16, 2048, 10000.0f, false},
    {"1bitllm-3b", "bitnet", NULL, 32002, 3200, 8640, 26, 32, 32, 2048, 10000.0f, false},
    {"llama3-8b", "llama", NULL, 128256, 4096, 14336, 32, 32, 8, 8192, 500000.0f, true},
    {"tiny", "bitnet-b1.58", NULL, 2048, 256, 768, 6, 8, 2, 256, 500000.0f, false},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bitnet-gen-model --shape 2b4t|1bitllm-large|1bitllm-3b|llama3-8b|tiny\n"
               "                        --type i2_s|tq2_0|tq1_0|iq2_bn|iq1_bn|f16\n"
               "                        [--embd-type f16|q6_k|f32] [--seed N] -o OUT.gguf\n");
}

static uint64_t rnd(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Buffers handed to the writer must live until the file is written. */
typedef struct keep_list {
    void **p;
    size_t n, cap;
} keep_list;

static void *keep(keep_list *k, size_t bytes)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 256;
        void **np = realloc(k->p, cap * sizeof *np);
        if (!np)
            return NULL;
        k->p = np;
        k->cap = cap;
    }
    void *m = malloc(bytes ? bytes : 1);
    if (m)
        k->p[k->n++] = m;
    return m;
}

static int oom(void)
{
    fprintf(stderr, "bitnet-gen-model: error: out of memory\n");
    return 1;
}

static int lib_fail(const bn_error *err)
{
    fprintf(stderr, "bitnet-gen-model: error: %s\n", err->message);
    return 1;
}

/* Random trits: 2 bits of randomness each, code 3 folded to 0. */
static void random_trits(int8_t *v, int64_t n, uint64_t *st)
{
    static const int8_t map[4] = {-1, 0, 1, 0};
    int64_t i = 0;
    while (i < n) {
        uint64_t r = rnd(st);
        for (int j = 0; j < 32 && i < n; j++, i++)
            v[i] = map[(r >> (2 * j)) & 3];
    }
}

static float unit(uint64_t *st)
{
    return (float)((double)(rnd(st) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static int add_ternary(bn_gguf_writer *w, keep_list *k, int8_t *vals, bn_tensor_type type,
                       const char *name, int64_t K, int64_t rows, uint64_t *st, bn_error *err)
{
    uint64_t nb = bn_ternary_encoded_bytes(type, K, rows);
    if (nb == 0) {
        fprintf(stderr, "bitnet-gen-model: error: type %s cannot hold tensor %s of shape [%lld, "
                        "%lld] (row length %lld is not a multiple of its block)\n",
                bn_tensor_type_name(type), name, (long long)K, (long long)rows, (long long)K);
        return 1;
    }
    void *data = keep(k, (size_t)nb);
    if (!data)
        return oom();
    random_trits(vals, K * rows, st);
    float scale = 1.0f / sqrtf((float)K);
    if (bn_ternary_encode(type, vals, &scale, BN_TERNARY_SCALE_TENSOR, K, rows, data, nb, err))
        return lib_fail(err);
    int64_t ne[2] = {K, rows};
    if (bn_gguf_writer_add_tensor(w, name, type, 2, ne, data, nb, err))
        return lib_fail(err);
    return 0;
}

static int add_floats(bn_gguf_writer *w, keep_list *k, bn_tensor_type type, const char *name,
                      int64_t ne0, int64_t ne1, float base, float spread, uint64_t *st,
                      bn_error *err)
{
    uint64_t rb = type == BN_TYPE_F32 ? 4 * (uint64_t)ne0
                  : type == BN_TYPE_F16 ? 2 * (uint64_t)ne0
                                        : bn_tensor_type_row_bytes(type, ne0);
    uint8_t *data = keep(k, (size_t)(rb * (uint64_t)ne1));
    float *row = malloc((size_t)ne0 * sizeof *row);
    if (!data || !row) {
        free(row);
        return oom();
    }
    for (int64_t r = 0; r < ne1; r++) {
        for (int64_t i = 0; i < ne0; i++)
            row[i] = base + spread * unit(st);
        uint8_t *dst = data + (uint64_t)r * rb;
        bn_status s = BN_STATUS_OK;
        if (type == BN_TYPE_F32) {
            memcpy(dst, row, (size_t)rb);
        } else if (type == BN_TYPE_F16) {
            for (int64_t i = 0; i < ne0; i++) {
                uint16_t h = bn_f32_to_f16(row[i]);
                memcpy(dst + 2 * i, &h, 2);
            }
        } else {
            s = bn_quantize_row_q6_k(row, dst, ne0);
        }
        if (s != BN_STATUS_OK) {
            free(row);
            fprintf(stderr, "bitnet-gen-model: error: cannot quantize %s to %s\n", name,
                    bn_tensor_type_name(type));
            return 1;
        }
    }
    free(row);
    int64_t ne[2] = {ne0, ne1};
    if (bn_gguf_writer_add_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, data,
                                  rb * (uint64_t)ne1, err))
        return lib_fail(err);
    return 0;
}

int main(int argc, char **argv)
{
    const char *shape_name = NULL, *type_name = NULL, *embd_name = "f16", *out = NULL;
    uint64_t seed = 1;
    /* every option but -h takes a value: options come in pairs */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bitnet-gen-model: option '%s' needs a value (or is unknown)\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--shape"))
            shape_name = v;
        else if (!strcmp(a, "--type"))
            type_name = v;
        else if (!strcmp(a, "--embd-type"))
            embd_name = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || *end || !*v) {
                fprintf(stderr, "bitnet-gen-model: --seed wants an integer, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "bitnet-gen-model: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!shape_name || !type_name || !out) {
        fprintf(stderr, "bitnet-gen-model: --shape, --type and -o are required\n");
        usage(stderr);
        return 2;
    }
    const shape *sh = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(shapes[i].name, shape_name))
            sh = &shapes[i];
    if (!sh) {
        fprintf(stderr, "bitnet-gen-model: unknown shape '%s'\n", shape_name);
        usage(stderr);
        return 2;
    }
    static const struct { const char *name; bn_tensor_type type; } types[] = {
        {"i2_s", BN_TYPE_I2_S}, {"tq2_0", BN_TYPE_TQ2_0}, {"tq1_0", BN_TYPE_TQ1_0},
        {"iq2_bn", BN_TYPE_IQ2_BN}, {"iq1_bn", BN_TYPE_IQ1_BN}, {"f16", BN_TYPE_F16},
    };
    bn_tensor_type ttype = BN_TYPE_COUNT, etype;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcmp(types[i].name, type_name))
            ttype = types[i].type;
    if (ttype == BN_TYPE_COUNT) {
        fprintf(stderr, "bitnet-gen-model: unknown --type '%s'\n", type_name);
        usage(stderr);
        return 2;
    }
    if (!strcmp(embd_name, "f16"))
        etype = BN_TYPE_F16;
    else if (!strcmp(embd_name, "f32"))
        etype = BN_TYPE_F32;
    else if (!strcmp(embd_name, "q6_k"))
        etype = BN_TYPE_Q6_K;
    else {
        fprintf(stderr, "bitnet-gen-model: unknown --embd-type '%s'\n", embd_name);
        usage(stderr);
        return 2;
    }
    if (etype == BN_TYPE_Q6_K && sh->n_embd % 256 != 0) {
        fprintf(stderr, "bitnet-gen-model: error: Q6_K needs n_embd %% 256 == 0; shape %s has %d\n",
                sh->name, sh->n_embd);
        return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bn_error err;
    bn_error_clear(&err);
    keep_list k = {0};
    bn_gguf_writer *w = NULL;
    int8_t *vals = NULL;
    int rc = 1;
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 12345;
    if (bn_gguf_writer_new(&w, &err)) {
        rc = lib_fail(&err);
        goto done;
    }
    char key[128], name[128], desc[128];
    const char *a = sh->arch;
#define KEY(x) (snprintf(key, sizeof key, "%s." x, a), key)
    snprintf(desc, sizeof desc, "random-%s-%s", sh->name, type_name);
    int hd = sh->n_embd / sh->n_head;
    if (bn_gguf_writer_set_string(w, "general.architecture", a, &err) ||
        bn_gguf_writer_set_string(w, "general.name", desc, &err) ||
        bn_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)sh->n_vocab, &err) ||
        bn_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)sh->n_ctx, &err) ||
        bn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)sh->n_embd, &err) ||
        bn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)sh->n_layer, &err) ||
        bn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)sh->n_ff, &err) ||
        bn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)sh->n_head, &err) ||
        bn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)sh->n_head_kv, &err) ||
        bn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)hd, &err) ||
        bn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f, &err) ||
        bn_gguf_writer_set_f32(w, KEY("rope.freq_base"), sh->rope_base, &err)) {
        rc = lib_fail(&err);
        goto done;
    }
#undef KEY
    if (bn_synthetic_vocab_write(w, sh->n_vocab, &err) != BN_STATUS_OK) {
        rc = lib_fail(&err);
        goto done;
    }
    rc = 1;
    int64_t E = sh->n_embd, F = sh->n_ff, NKV = (int64_t)hd * sh->n_head_kv;
    vals = malloc((size_t)(E > F ? E : F) * (size_t)(E > F ? E : F));
    if (!vals) {
        rc = oom();
        goto done;
    }
    if ((rc = add_floats(w, &k, etype, "token_embd.weight", E, sh->n_vocab, 0.0f, 1.0f, &st,
                         &err)) ||
        (rc = add_floats(w, &k, BN_TYPE_F32, "output_norm.weight", E, 1, 1.0f, 0.0f, &st, &err)))
        goto done;
    if (sh->untied &&
        (rc = add_floats(w, &k, etype, "output.weight", E, sh->n_vocab, 0.0f, 0.5f, &st, &err)))
        goto done;
    bool sub = strcmp(a, "llama") != 0;
    for (int il = 0; il < sh->n_layer; il++) {
#define NAME(x) (snprintf(name, sizeof name, "blk.%d." x, il), name)
        if ((rc = add_floats(w, &k, BN_TYPE_F32, NAME("attn_norm.weight"), E, 1, 1.0f, 0.0f, &st,
                             &err)) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("attn_q.weight"), E, E, &st, &err)) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("attn_k.weight"), E, NKV, &st, &err)) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("attn_v.weight"), E, NKV, &st, &err)) ||
            (sub && (rc = add_floats(w, &k, BN_TYPE_F32, NAME("attn_sub_norm.weight"), E, 1, 1.0f,
                                     0.0f, &st, &err))) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("attn_output.weight"), E, E, &st, &err)) ||
            (rc = add_floats(w, &k, BN_TYPE_F32, NAME("ffn_norm.weight"), E, 1, 1.0f, 0.0f, &st,
                             &err)) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("ffn_gate.weight"), E, F, &st, &err)) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("ffn_up.weight"), E, F, &st, &err)) ||
            (sub && (rc = add_floats(w, &k, BN_TYPE_F32, NAME("ffn_sub_norm.weight"), F, 1, 1.0f,
                                     0.0f, &st, &err))) ||
            (rc = add_ternary(w, &k, vals, ttype, NAME("ffn_down.weight"), F, E, &st, &err)))
            goto done;
#undef NAME
    }
    if (bn_gguf_writer_write_file(w, out, &err)) {
        rc = lib_fail(&err);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "bitnet-gen-model: wrote %s (%s, %s projections, %s embedding) in %.1f s\n",
            out, sh->name, bn_tensor_type_name(ttype), bn_tensor_type_name(etype),
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
done:
    free(vals);
    bn_gguf_writer_free(w);
    for (size_t i = 0; i < k.n; i++)
        free(k.p[i]);
    free(k.p);
    return rc;
}
