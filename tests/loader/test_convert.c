/* test_convert.c: Hugging Face folders to GGUF.
 *
 * The tiny-bitnet HF folder (latent F32 master weights) converts to F32
 * tensors bit-identical to tiny-bitnet-f32.gguf (which PyTorch exported),
 * to TQ2_0/TQ1_0 tensors byte-identical to llama.cpp's, and to I2_S tensors
 * that decode to bitnet.cpp's values and scales. Packed uint8 checkpoints
 * (both scale conventions, both sub-norm namings) are built here from the
 * F32 GGUF's trits; a small Llama-arch checkpoint checks the Q/K row
 * permutation; broken folders give clear errors. Tiny random checkpoints in
 * each published packed form (tests/loader/data/hf-packed) convert to every
 * type and give Hugging Face transformers' logits and greedy tokens.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/convert.h"
#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "loader/ternary_codec.h"
#include "tests/support/model_files.h"

static void require_tiny(void) { bn_test_require_tiny("hf/model.safetensors"); }

static bn_gguf *open_tiny(const char *file) {
    char path[1200];
    return bn_test_gguf_open(bn_test_tiny_path(path, sizeof path, file));
}

static void convert_ok(const char *dir, bn_tensor_type type, bool tokenizer, const char *out) {
    bn_convert_options opt = {.type = type, .skip_tokenizer = !tokenizer};
    bn_error err = {0};
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_OK, "%s", err.message);
}

/* Every tensor of `ref` (or only projections) has the same type, shape and bytes in `got`. */
static void assert_same_tensors(bn_gguf *ref, bn_gguf *got, bool projections_only) {
    int n = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(ref); i++) {
        const bn_gguf_tensor *a = bn_gguf_tensor_at(ref, i);
        if (projections_only && !bn_test_is_projection(a->name))
            continue;
        const bn_gguf_tensor *b = bn_gguf_find_tensor(got, a->name);
        cr_assert(b, "no %s in the converted file", a->name);
        cr_assert_eq(a->type, b->type, "%s: type %s vs %s", a->name, bn_tensor_type_name(a->type),
                     bn_tensor_type_name(b->type));
        for (int d = 0; d < 4; d++)
            cr_assert_eq(a->ne[d], b->ne[d], "%s: ne[%d]", a->name, d);
        cr_assert_eq(a->n_bytes, b->n_bytes, "%s", a->name);
        cr_assert_eq(memcmp(a->data, b->data, a->n_bytes), 0, "%s: bytes differ", a->name);
        n++;
    }
    cr_assert_geq(n, 42);
}

Test(convert, tiny_bitnet_to_f32_is_bit_identical_to_the_pytorch_export) {
    require_tiny();
    char hf[1100], out[1024];
    bn_test_tiny_path(hf, sizeof hf, "hf");
    bn_test_out_path(out, sizeof out, "convert", "f32");
    convert_ok(hf, BN_TYPE_F32, true, out);
    bn_gguf *ref = open_tiny("tiny-bitnet-f32.gguf"), *got = bn_test_gguf_open(out);
    assert_same_tensors(ref, got, false); /* all 68: embedding, norms, projections */
    cr_assert_eq(bn_gguf_tensor_count(got), bn_gguf_tensor_count(ref));
    bn_gguf_string s;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_get_string(got, "general.architecture", &s, &err), BN_STATUS_OK);
    cr_assert_eq(s.len, strlen("bitnet-b1.58"));
    cr_assert_eq(memcmp(s.data, "bitnet-b1.58", s.len), 0);
    cr_assert_eq(bn_gguf_get_string(got, "bitnet-b1.58.hidden_activation", &s, &err), BN_STATUS_OK);
    cr_assert_eq(memcmp(s.data, "relu2", 5), 0);
    uint32_t u;
    cr_assert_eq(bn_gguf_get_u32(got, "bitnet-b1.58.attention.head_count_kv", &u, &err),
                 BN_STATUS_OK);
    cr_assert_eq(u, 2);
    cr_assert_eq(bn_gguf_get_u32(got, "bitnet-b1.58.rope.dimension_count", &u, &err), BN_STATUS_OK);
    cr_assert_eq(u, 32);
    float f;
    cr_assert_eq(bn_gguf_get_f32(got, "bitnet-b1.58.rope.freq_base", &f, &err), BN_STATUS_OK);
    cr_assert_eq(f, 500000.0f);
    bn_gguf_value_type et;
    uint64_t count;
    cr_assert_eq(bn_gguf_get_array(got, "tokenizer.ggml.tokens", &et, &count, &err), BN_STATUS_OK,
                 "%s", err.message);
    cr_assert_eq(count, 2048);
    bn_gguf_close(ref);
    bn_gguf_close(got);
    remove(out);
}

Test(convert, tiny_bitnet_to_tq2_0_and_tq1_0_is_byte_identical_to_llama_cpp) {
    require_tiny();
    char hf[1100], out[1024];
    bn_test_tiny_path(hf, sizeof hf, "hf");
    const char *files[2] = {"tiny-bitnet-TQ2_0.gguf", "tiny-bitnet-TQ1_0.gguf"};
    bn_tensor_type types[2] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    for (int i = 0; i < 2; i++) {
        bn_test_out_path(out, sizeof out, "convert", "tq");
        convert_ok(hf, types[i], false, out);
        bn_gguf *ref = open_tiny(files[i]), *got = bn_test_gguf_open(out);
        assert_same_tensors(ref, got, false); /* F16 embedding too */
        bn_gguf_close(ref);
        bn_gguf_close(got);
        remove(out);
    }
}

/* Decoded values and scales of every projection agree between two files. */
static void assert_same_ternary(bn_gguf *ref, bn_gguf *got) {
    int n = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(ref); i++) {
        const bn_gguf_tensor *a = bn_gguf_tensor_at(ref, i);
        if (!bn_test_is_projection(a->name))
            continue;
        const bn_gguf_tensor *b = bn_gguf_find_tensor(got, a->name);
        cr_assert(b, "%s missing", a->name);
        int64_t K = a->ne[0], rows = a->ne[1];
        size_t na = bn_ternary_scale_count(a->type, K, rows), nb = bn_ternary_scale_count(b->type, K, rows);
        int8_t *va = malloc((size_t)(K * rows)), *vb = malloc((size_t)(K * rows));
        float *sa = malloc(na * sizeof(float)), *sb = malloc(nb * sizeof(float));
        bn_ternary_scale_kind ka, kb;
        bn_error err = {0};
        cr_assert_eq(bn_ternary_decode(a->type, a->data, a->n_bytes, K, rows, va, sa, &ka, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(bn_ternary_decode(b->type, b->data, b->n_bytes, K, rows, vb, sb, &kb, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(memcmp(va, vb, (size_t)(K * rows)), 0, "%s: values differ", a->name);
        cr_assert_eq(ka, BN_TERNARY_SCALE_TENSOR);
        cr_assert_eq(kb, BN_TERNARY_SCALE_TENSOR);
        cr_assert_float_eq(sa[0], sb[0], 2e-7f * sa[0], "%s: scale %.9g vs %.9g", a->name,
                           (double)sa[0], (double)sb[0]);
        free(va);
        free(vb);
        free(sa);
        free(sb);
        n++;
    }
    cr_assert_eq(n, 42);
}

Test(convert, tiny_bitnet_to_i2_s_decodes_to_bitnet_cpp_values_and_scales) {
    require_tiny();
    char hf[1100], out[1024];
    bn_test_tiny_path(hf, sizeof hf, "hf");
    bn_test_out_path(out, sizeof out, "convert", "i2s");
    convert_ok(hf, BN_TYPE_I2_S, false, out);
    bn_gguf *ref = open_tiny("tiny-bitnet-I2_S.gguf"), *got = bn_test_gguf_open(out);
    assert_same_ternary(ref, got);
    /* Exactly equal scales, not only close. */
    for (size_t i = 0; i < bn_gguf_tensor_count(ref); i++) {
        const bn_gguf_tensor *a = bn_gguf_tensor_at(ref, i);
        if (!bn_test_is_projection(a->name))
            continue;
        const bn_gguf_tensor *b = bn_gguf_find_tensor(got, a->name);
        uint64_t n = (uint64_t)(a->ne[0] * a->ne[1]);
        cr_assert_eq(memcmp(a->data, b->data, n / 4 + 4), 0, "%s: packed bytes or scale differ",
                     a->name);
    }
    const bn_gguf_tensor *e = bn_gguf_find_tensor(got, "token_embd.weight");
    cr_assert_eq(e->type, BN_TYPE_F16, "I2_S conversions store the embedding as F16");
    bn_gguf_close(ref);
    bn_gguf_close(got);
    remove(out);
}

/* ---- synthetic checkpoints --------------------------------------------- */

typedef struct st_entry {
    char name[128];
    const char *dtype;
    int n_dims;
    int64_t shape[2];
    void *data; /* owned */
    size_t n_bytes;
} st_entry;

typedef struct st_builder {
    st_entry e[128];
    int n;
} st_builder;

static void st_add(st_builder *b, const char *name, const char *dtype, int n_dims, int64_t d0,
                   int64_t d1, const void *data, size_t n_bytes) {
    cr_assert_lt(b->n, 128);
    st_entry *e = &b->e[b->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->n_dims = n_dims;
    e->shape[0] = d0;
    e->shape[1] = d1;
    e->data = malloc(n_bytes ? n_bytes : 1);
    memcpy(e->data, data, n_bytes);
    e->n_bytes = n_bytes;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void st_write(st_builder *b, const char *path) {
    size_t cap = 65536, len = 0;
    char *h = malloc(cap);
    len += (size_t)snprintf(h + len, cap - len, "{");
    size_t off = 0;
    for (int i = 0; i < b->n; i++) {
        st_entry *e = &b->e[i];
        char shape[64];
        if (e->n_dims == 0)
            snprintf(shape, sizeof shape, "[]");
        else if (e->n_dims == 1)
            snprintf(shape, sizeof shape, "[%lld]", (long long)e->shape[0]);
        else
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)e->shape[0],
                     (long long)e->shape[1]);
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", e->name, e->dtype, shape, off, off + e->n_bytes);
        off += e->n_bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    cr_assert_lt(len, cap - 1);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    uint8_t n8[8];
    for (int i = 0; i < 8; i++)
        n8[i] = (uint8_t)((uint64_t)len >> (8 * i));
    fwrite(n8, 1, 8, f);
    fwrite(h, 1, len, f);
    for (int i = 0; i < b->n; i++)
        fwrite(b->e[i].data, 1, b->e[i].n_bytes, f);
    fclose(f);
    free(h);
    for (int i = 0; i < b->n; i++)
        free(b->e[i].data);
    b->n = 0;
}

static void make_dir(char *dir, size_t size, const char *tag) {
    snprintf(dir, size, "%s/hf_%s_%d", BN_BUILD_DIR, tag, (int)getpid());
    mkdir(dir, 0755);
}

static void clean_dir(const char *dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    remove(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    remove(p);
    rmdir(dir);
}

static const char *const HF_PROJ[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                       "mlp.down_proj"};
static const char *const GG_PROJ[7] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                       "ffn_gate", "ffn_up", "ffn_down"};

/* A packed checkpoint built from tiny-bitnet-f32.gguf's trits: weight_scale
 * = s (multiply) or 1/s (divide), sub-norms under the given names. */
static void build_packed(const char *dir, const char *config, bool divide, const char *attn_sub,
                         const char *ffn_sub) {
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, config);
    bn_gguf *ref = open_tiny("tiny-bitnet-f32.gguf");
    static st_builder b;
    b.n = 0;
    const bn_gguf_tensor *t = bn_gguf_find_tensor(ref, "token_embd.weight");
    st_add(&b, "model.embed_tokens.weight", "F32", 2, t->ne[1], t->ne[0], t->data, t->n_bytes);
    t = bn_gguf_find_tensor(ref, "output_norm.weight");
    st_add(&b, "model.norm.weight", "F32", 1, t->ne[0], 1, t->data, t->n_bytes);
    for (int il = 0; il < 6; il++) {
        char g[128], h[128];
        struct {
            const char *gg, *hf;
        } norms[4] = {{"attn_norm", "input_layernorm"},
                      {"ffn_norm", "post_attention_layernorm"},
                      {"attn_sub_norm", attn_sub},
                      {"ffn_sub_norm", ffn_sub}};
        for (int k = 0; k < 4; k++) {
            snprintf(g, sizeof g, "blk.%d.%s.weight", il, norms[k].gg);
            snprintf(h, sizeof h, "model.layers.%d.%s.weight", il, norms[k].hf);
            t = bn_gguf_find_tensor(ref, g);
            st_add(&b, h, "F32", 1, t->ne[0], 1, t->data, t->n_bytes);
        }
        for (int p = 0; p < 7; p++) {
            snprintf(g, sizeof g, "blk.%d.%s.weight", il, GG_PROJ[p]);
            t = bn_gguf_find_tensor(ref, g);
            int64_t K = t->ne[0], rows = t->ne[1], R = rows / 4;
            int8_t *v = malloc((size_t)(K * rows));
            float *scales = malloc((size_t)rows * sizeof(float)); /* floats may need one per row */
            bn_ternary_scale_kind kind;
            bn_error err = {0};
            cr_assert_eq(bn_ternary_decode(BN_TYPE_F32, t->data, t->n_bytes, K, rows, v, scales,
                                           &kind, &err),
                         BN_STATUS_OK);
            cr_assert_eq(kind, BN_TERNARY_SCALE_TENSOR);
            float s = scales[0];
            free(scales);
            uint8_t *packed = calloc((size_t)(R * K), 1);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < K; k++)
                    packed[(r % R) * K + k] |= (uint8_t)((v[r * K + k] + 1) << (2 * (r / R)));
            snprintf(h, sizeof h, "model.layers.%d.%s.weight", il, HF_PROJ[p]);
            st_add(&b, h, "U8", 2, R, K, packed, (size_t)(R * K));
            float ws = divide ? 1.0f / s : s;
            snprintf(h, sizeof h, "model.layers.%d.%s.weight_scale", il, HF_PROJ[p]);
            st_add(&b, h, "F32", 0, 1, 1, &ws, 4);
            free(v);
            free(packed);
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_write(&b, path);
    bn_gguf_close(ref);
}

#define TINY_SIZES                                                                              \
    "\"vocab_size\":2048,\"hidden_size\":256,\"intermediate_size\":768,"                        \
    "\"num_hidden_layers\":6,\"num_attention_heads\":8,\"num_key_value_heads\":2,"              \
    "\"max_position_embeddings\":256,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,"           \
    "\"tie_word_embeddings\":true"

Test(convert, packed_2b4t_checkpoints_multiply_by_weight_scale) {
    require_tiny();
    char dir[1024], out[1024];
    make_dir(dir, sizeof dir, "packed_mul");
    build_packed(dir,
                 "{\"architectures\":[\"BitNetForCausalLM\"],\"hidden_act\":\"relu2\"," TINY_SIZES
                 ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                 "\"linear_class\":\"autobitlinear\",\"quantization_mode\":\"offline\"}}",
                 false, "self_attn.attn_sub_norm", "mlp.ffn_sub_norm");
    bn_test_out_path(out, sizeof out, "convert", "packed_mul");
    convert_ok(dir, BN_TYPE_F32, false, out);
    bn_gguf *ref = open_tiny("tiny-bitnet-f32.gguf"), *got = bn_test_gguf_open(out);
    assert_same_ternary(ref, got);
    bn_gguf_close(got);
    remove(out);
    /* The same checkpoint to TQ2_0: llama.cpp's bytes. */
    convert_ok(dir, BN_TYPE_TQ2_0, false, out);
    bn_gguf *tq = open_tiny("tiny-bitnet-TQ2_0.gguf");
    got = bn_test_gguf_open(out);
    assert_same_tensors(tq, got, true);
    bn_gguf_close(tq);
    bn_gguf_close(got);
    bn_gguf_close(ref);
    remove(out);
    clean_dir(dir);
}

Test(convert, packed_1bitllm_style_checkpoints_divide_by_weight_scale) {
    require_tiny();
    char dir[1024], out[1024];
    make_dir(dir, sizeof dir, "packed_div");
    build_packed(dir, "{\"architectures\":[\"BitnetForCausalLM\"],\"hidden_act\":\"relu2\"," TINY_SIZES "}",
                 true, "self_attn.inner_attn_ln", "mlp.ffn_layernorm");
    bn_test_out_path(out, sizeof out, "convert", "packed_div");
    convert_ok(dir, BN_TYPE_F32, false, out);
    bn_gguf *ref = open_tiny("tiny-bitnet-f32.gguf"), *got = bn_test_gguf_open(out);
    assert_same_ternary(ref, got); /* scales within 2e-7 relative: 1/(1/s) */
    bn_gguf_string s;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_get_string(got, "general.architecture", &s, &err), BN_STATUS_OK);
    cr_assert_eq(memcmp(s.data, "bitnet", s.len), 0);
    cr_assert_eq(bn_gguf_get_string(got, "bitnet.hidden_activation", &s, &err), BN_STATUS_OK);
    cr_assert(bn_gguf_find_tensor(got, "blk.5.attn_sub_norm.weight"));
    bn_gguf_close(ref);
    bn_gguf_close(got);
    remove(out);
    clean_dir(dir);
}

static void collect_note(void *user, const char *message) {
    char *buf = user;
    size_t n = strlen(buf);
    snprintf(buf + n, 1024 - n, "%s\n", message);
}

/* A one-layer Llama-arch checkpoint whose q_proj/k_proj ternarize to the
 * identity: row p of the converted tensor shows which HF row it came from. */
Test(convert, llama_checkpoints_get_the_q_k_row_permutation_and_an_untied_output) {
    char dir[1024], out[1024], path[1200];
    make_dir(dir, sizeof dir, "llama");
    enum { E = 256, FF = 256, V = 16, H = 4, HKV = 2, HD = E / H };
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":16,"
                     "\"hidden_size\":256,\"intermediate_size\":256,\"num_hidden_layers\":1,"
                     "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
                     "\"tie_word_embeddings\":false,\"hidden_act\":\"silu\","
                     "\"quantization_config\":{\"quant_method\":\"bitnet\"}}");
    static st_builder b;
    b.n = 0;
    static float emb[V * E], norm[E], eye[E * E], kv[HKV * HD * E], dense[E * E];
    for (int i = 0; i < V * E; i++)
        emb[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < E; i++)
        norm[i] = 1.0f;
    for (int r = 0; r < E; r++)
        eye[r * E + r] = 1.0f;
    for (int r = 0; r < HKV * HD; r++)
        kv[r * E + r] = 1.0f;
    for (int i = 0; i < E * E; i++)
        dense[i] = (i % 3) ? 0.5f : -0.5f;
    st_add(&b, "model.embed_tokens.weight", "F32", 2, V, E, emb, sizeof emb);
    st_add(&b, "lm_head.weight", "F32", 2, V, E, emb, sizeof emb);
    st_add(&b, "model.norm.weight", "F32", 1, E, 1, norm, sizeof norm);
    st_add(&b, "model.layers.0.input_layernorm.weight", "F32", 1, E, 1, norm, sizeof norm);
    st_add(&b, "model.layers.0.post_attention_layernorm.weight", "F32", 1, E, 1, norm, sizeof norm);
    st_add(&b, "model.layers.0.self_attn.q_proj.weight", "F32", 2, E, E, eye, sizeof eye);
    st_add(&b, "model.layers.0.self_attn.k_proj.weight", "F32", 2, HKV * HD, E, kv, sizeof kv);
    st_add(&b, "model.layers.0.self_attn.v_proj.weight", "F32", 2, HKV * HD, E, kv, sizeof kv);
    st_add(&b, "model.layers.0.self_attn.o_proj.weight", "F32", 2, E, E, dense, sizeof dense);
    st_add(&b, "model.layers.0.mlp.gate_proj.weight", "F32", 2, FF, E, dense, sizeof dense);
    st_add(&b, "model.layers.0.mlp.up_proj.weight", "F32", 2, FF, E, dense, sizeof dense);
    st_add(&b, "model.layers.0.mlp.down_proj.weight", "F32", 2, E, FF, dense, sizeof dense);
    st_add(&b, "model.layers.0.self_attn.q_proj.bias", "F32", 1, E, 1, norm, sizeof norm);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_write(&b, path);

    bn_test_out_path(out, sizeof out, "convert", "llama");
    char notes[1024] = "";
    bn_convert_options copt = {.type = BN_TYPE_I2_S, .skip_tokenizer = true, .note = collect_note,
                               .user = notes};
    bn_error cerr = {0};
    cr_assert_eq(bn_convert_hf(dir, out, &copt, &cerr), BN_STATUS_OK, "%s", cerr.message);
    cr_assert(strstr(notes, "1 checkpoint tensor not converted (e.g. model.layers.0.self_attn.q_proj.bias"),
              "unused tensors are reported: %s", notes);
    bn_gguf *g = bn_test_gguf_open(out);
    const char *names[2] = {"blk.0.attn_q.weight", "blk.0.attn_k.weight"};
    int64_t heads[2] = {H, HKV};
    for (int m = 0; m < 2; m++) {
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, names[m]);
        cr_assert(t);
        int64_t rows = t->ne[1];
        int8_t *v = malloc((size_t)(E * rows));
        float s; /* I2_S: one scale */
        bn_ternary_scale_kind kind;
        bn_error err = {0};
        cr_assert_eq(t->type, BN_TYPE_I2_S);
        cr_assert_eq(bn_ternary_decode(t->type, t->data, t->n_bytes, E, rows, v, &s, &kind, &err),
                     BN_STATUS_OK, "%s", err.message);
        for (int64_t hh = 0; hh < heads[m]; hh++)
            for (int64_t i = 0; i < 2; i++)
                for (int64_t j = 0; j < HD / 2; j++) {
                    int64_t row = hh * HD + 2 * j + i, src = hh * HD + i * HD / 2 + j;
                    cr_assert_eq(v[row * E + src], 1, "%s row %lld should come from HF row %lld",
                                 names[m], (long long)row, (long long)src);
                }
        free(v);
    }
    const bn_gguf_tensor *o = bn_gguf_find_tensor(g, "output.weight");
    cr_assert(o, "untied output written");
    cr_assert_eq(o->type, BN_TYPE_F16);
    cr_assert_null(bn_gguf_find_tensor(g, "blk.0.attn_sub_norm.weight"));
    bn_gguf_string s;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_get_string(g, "general.architecture", &s, &err), BN_STATUS_OK);
    cr_assert_eq(memcmp(s.data, "llama", s.len), 0);
    bn_gguf_close(g);
    remove(out);

    /* Missing tensors: a clear error naming the first one. */
    b.n = 0;
    st_add(&b, "model.embed_tokens.weight", "F32", 2, V, E, emb, sizeof emb);
    st_write(&b, path);
    bn_convert_options opt = {.type = BN_TYPE_I2_S, .skip_tokenizer = true};
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_NOT_FOUND);
    cr_assert(strstr(err.message, "checkpoint has no tensor model.layers.0.input_layernorm.weight"),
              "%s", err.message);
    clean_dir(dir);
}

Test(convert, broken_folders_give_clear_errors) {
    char dir[1024], out[1024], path[1200];
    make_dir(dir, sizeof dir, "broken");
    bn_test_out_path(out, sizeof out, "convert", "broken");
    bn_convert_options opt = {.type = BN_TYPE_F32, .skip_tokenizer = true};
    bn_error err = {0};
    /* No config.json. */
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_IO);
    cr_assert(strstr(err.message, "config.json"), "%s", err.message);
    /* Broken config.json. */
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"architectures\": [\"BitNetForCausalLM\"], ");
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "config.json"), "%s", err.message);
    /* Good config, no weights. */
    write_text(path, "{\"architectures\":[\"BitNetForCausalLM\"]," TINY_SIZES "}");
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_NOT_FOUND);
    cr_assert(strstr(err.message, "model.safetensors"), "%s", err.message);
    /* A safetensors file whose header length runs past the end. */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_text(path, "\xff\xff\0\0\0\0\0\0{}");
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "header length"), "%s", err.message);
    /* An unknown dtype. */
    static st_builder b;
    b.n = 0;
    float x[4] = {0};
    st_add(&b, "model.embed_tokens.weight", "F4", 1, 16, 1, x, 8);
    st_write(&b, path);
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "unknown dtype"), "%s", err.message);
    /* Wrong shape for the embedding. */
    st_add(&b, "model.embed_tokens.weight", "F32", 2, 2, 2, x, 16);
    st_write(&b, path);
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "model.embed_tokens.weight"), "%s", err.message);
    /* Bad output type. */
    opt.type = BN_TYPE_Q6_K;
    bn_error_clear(&err);
    cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_INVALID_ARG);
    cr_assert_neq(access(out, F_OK), 0, "no output file after a failure");
    clean_dir(dir);
}

/* ---- the logits round trip (needs the runtime) --------------------------- */

#include "runtime/bitnet.h"

/* Max |difference| of every logit of a prompt between two model files. */
static float logits_max_diff(const char *a_path, const char *b_path) {
    bn_model *m[2] = {NULL, NULL};
    bn_session *s[2] = {NULL, NULL};
    const char *paths[2] = {a_path, b_path};
    bn_error err = {0};
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = 1;
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 64;
    so.n_threads = 1;
    int32_t ids[64];
    size_t n_ids = 0;
    const char *prompt = "Once upon a time, there was a little girl named Lily.";
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(bn_model_load(paths[i], &mo, &m[i], &err), BN_STATUS_OK, "%s: %s", paths[i],
                     err.message);
        cr_assert_eq(bn_session_new(m[i], &so, &s[i], &err), BN_STATUS_OK, "%s", err.message);
    }
    cr_assert_eq(bn_model_tokenize(m[0], prompt, strlen(prompt), true, false, ids, 64, &n_ids, &err),
                 BN_STATUS_OK, "%s", err.message);
    int32_t n_vocab = bn_model_n_vocab(m[0]);
    cr_assert_eq(n_vocab, bn_model_n_vocab(m[1]));
    float worst = 0.0f;
    for (int i = 0; i < 2; i++)
        cr_assert_eq(bn_session_eval(s[i], ids, n_ids, true, &err), BN_STATUS_OK, "%s", err.message);
    for (size_t t = 0; t < n_ids; t++) {
        const float *la = bn_session_logits(s[0], (int32_t)t), *lb = bn_session_logits(s[1], (int32_t)t);
        cr_assert(la && lb);
        for (int32_t v = 0; v < n_vocab; v++)
            worst = fmaxf(worst, fabsf(la[v] - lb[v]));
    }
    for (int i = 0; i < 2; i++) {
        bn_session_free(s[i]);
        bn_model_free(m[i]);
    }
    return worst;
}

Test(convert, converted_models_give_the_shipped_files_logits) {
    require_tiny();
    char hf[1100], out[1024], ref[1200];
    bn_test_tiny_path(hf, sizeof hf, "hf");
    struct {
        bn_tensor_type type, embd;
        const char *file;
    } cases[] = {{BN_TYPE_I2_S, BN_TYPE_F32, "tiny-bitnet-I2_S.gguf"},
                 {BN_TYPE_TQ2_0, BN_TYPE_F16, "tiny-bitnet-TQ2_0.gguf"},
                 {BN_TYPE_F32, BN_TYPE_F32, "tiny-bitnet-f32.gguf"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_test_out_path(out, sizeof out, "convert", "logits");
        bn_convert_options opt = {.type = cases[i].type, .embd_type = cases[i].embd,
                                  .embd_type_set = true};
        bn_error err = {0};
        cr_assert_eq(bn_convert_hf(hf, out, &opt, &err), BN_STATUS_OK, "%s", err.message);
        bn_test_tiny_path(ref, sizeof ref, cases[i].file);
        float d = logits_max_diff(ref, out);
        cr_assert_eq(d, 0.0f, "%s: logits differ by up to %g", cases[i].file, (double)d);
        remove(out);
    }
}

/* ---- packed checkpoints against Hugging Face transformers ---------------- */

#include "loader/json.h"

/* tests/loader/data/hf-packed/<form>: tiny random checkpoints in each
 * published packed form, with transformers' float32 logits for every
 * position of three prompts and its greedy continuations
 * (tools/gen-hf-packed-checkpoints.py wrote them; its header lists the
 * forms and the transformers version). Each form is converted to F32 and to
 * every ternary type, with its tokenizer, and run here.
 *
 * What both sides compute is the same: int8 activations (127 / max|x| per
 * token, round half to even), ternary weights, one F32 scale per tensor
 * (weight_scale, or 1/weight_scale for BitLinear). The session runs with an
 * F32 KV cache and the exact output layer, so differences come only from
 * float order (sums, rsqrt, softmax, rope angles).
 *
 * Tolerances, relative to the reference row's logit spread (max - min):
 *   F32 and I2_S (and their F32 fallbacks): TOL_EXACT_SCALE, 1e-4, float
 *     noise. Measured with every x86 kernel table (ref, avx2, avx512,
 *     avx512vbmi): at most 4.6e-7 of the spread (5.3e-5 absolute).
 *   TQ2_0, TQ1_0: TOL_F16_SCALE, 1e-3. These formats hold each 256-block's
 *     scale as F16 (llama.cpp's format): exact for a bf16 weight_scale that
 *     multiplies, but 1/weight_scale rounds by up to 2^-11 relative, which
 *     rescales every product of that tensor. Measured: 2.0e-5 of the spread
 *     (5.7e-4 absolute, llama-bitlinear, whose ffn_down is TQ).
 * For scale: F16 fallback values (the old behaviour) moved these logits by
 * 5e-3 to 1.1e-2 of the spread, a wrong scale direction changes the greedy
 * tokens, and moving one int8 activation by one step moves them by 0.3% to
 * 1.8% (measured in transformers): a failure here means the int8 values
 * differ, not that float noise grew.
 * Greedy tokens must be identical; the generator records the smallest
 * top-1/top-2 gap on the greedy path (0.12 for llama-bitlinear), and the
 * test checks that its worst difference stays under half of it, so a near
 * tie cannot decide the result. */
#define TOL_EXACT_SCALE 1e-4
#define TOL_F16_SCALE 1e-3
#define HF_PACKED_DIR BN_SOURCE_DIR "/tests/loader/data/hf-packed/"

typedef struct hf_reference {
    bn_json_doc *doc;
    const bn_json_value *prompts;
    int32_t n_vocab;
    double min_gap;
    float *logits; /* (sum of prompt lengths, n_vocab) */
    size_t n_rows;
} hf_reference;

static void hf_reference_load(const char *dir, hf_reference *ref) {
    char path[1200];
    bn_error err = {0};
    snprintf(path, sizeof path, "%s/reference.json", dir);
    cr_assert_eq(bn_json_parse_file(path, &ref->doc, &err), BN_STATUS_OK, "%s", err.message);
    const bn_json_value *root = bn_json_root(ref->doc);
    int64_t nv = 0;
    cr_assert(bn_json_as_int64(bn_json_object_get(root, "n_vocab"), &nv));
    cr_assert(bn_json_as_double(bn_json_object_get(root, "min_greedy_top2_gap"), &ref->min_gap));
    ref->n_vocab = (int32_t)nv;
    ref->prompts = bn_json_object_get(root, "prompts");
    ref->n_rows = 0;
    for (size_t p = 0; p < bn_json_array_len(ref->prompts); p++)
        ref->n_rows +=
            bn_json_array_len(bn_json_object_get(bn_json_array_at(ref->prompts, p), "ids"));
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    ref->logits = malloc(ref->n_rows * (size_t)nv * sizeof(float));
    cr_assert_eq(fread(ref->logits, sizeof(float), ref->n_rows * (size_t)nv, f),
                 ref->n_rows * (size_t)nv, "%s: short file", path);
    fclose(f);
}

static void hf_reference_free(hf_reference *ref) {
    bn_json_free(ref->doc);
    free(ref->logits);
}

static int32_t argmax(const float *v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Runs every prompt of ref through the model at path: same token ids, logits
 * within tol of the spread, same greedy tokens. Returns the worst
 * |difference| / spread. */
static double compare_with_transformers(const char *path, const hf_reference *ref, double tol,
                                        const char *what) {
    bn_model *m = NULL;
    bn_session *s = NULL;
    bn_error err = {0};
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = 1;
    cr_assert_eq(bn_model_load(path, &mo, &m, &err), BN_STATUS_OK, "%s: %s", what, err.message);
    cr_assert_eq(bn_model_n_vocab(m), ref->n_vocab, "%s", what);
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 64;
    so.n_threads = 1;
    so.type_k = so.type_v = BN_KV_TYPE_F32; /* transformers keeps K and V in float32 */
    cr_assert_eq(bn_session_new(m, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    double worst = 0.0, worst_abs = 0.0;
    size_t row = 0;
    for (size_t p = 0; p < bn_json_array_len(ref->prompts); p++) {
        const bn_json_value *pr = bn_json_array_at(ref->prompts, p);
        const char *text;
        cr_assert(bn_json_as_string(bn_json_object_get(pr, "text"), &text, NULL));
        const bn_json_value *want_ids = bn_json_object_get(pr, "ids");
        const bn_json_value *want_greedy = bn_json_object_get(pr, "greedy");
        int32_t ids[64];
        size_t n_ids = 0;
        cr_assert_eq(bn_model_tokenize(m, text, strlen(text), bn_model_add_bos(m), false, ids, 64,
                                       &n_ids, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(n_ids, bn_json_array_len(want_ids),
                     "%s: \"%s\" has %zu tokens, transformers %zu", what, text, n_ids,
                     bn_json_array_len(want_ids));
        for (size_t i = 0; i < n_ids; i++) {
            int64_t id;
            cr_assert(bn_json_as_int64(bn_json_array_at(want_ids, i), &id));
            cr_assert_eq(ids[i], id, "%s: \"%s\" token %zu is %d, transformers %lld", what, text, i,
                         ids[i], (long long)id);
        }
        cr_assert_eq(bn_session_truncate(s, 0, &err), BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(bn_session_eval(s, ids, n_ids, true, &err), BN_STATUS_OK, "%s", err.message);
        for (size_t t = 0; t < n_ids; t++, row++) {
            const float *got = bn_session_logits(s, (int32_t)t);
            const float *want = ref->logits + row * (size_t)ref->n_vocab;
            float lo = want[0], hi = want[0], d = 0.0f;
            for (int32_t v = 0; v < ref->n_vocab; v++) {
                lo = fminf(lo, want[v]);
                hi = fmaxf(hi, want[v]);
                d = fmaxf(d, fabsf(got[v] - want[v]));
            }
            worst = fmax(worst, (double)d / (double)(hi - lo));
            worst_abs = fmax(worst_abs, (double)d);
        }
        /* Greedy continuation, one token per eval. */
        int32_t next = argmax(bn_session_logits(s, -1), ref->n_vocab);
        for (size_t g = 0; g < bn_json_array_len(want_greedy); g++) {
            int64_t want;
            cr_assert(bn_json_as_int64(bn_json_array_at(want_greedy, g), &want));
            cr_assert_eq(next, want, "%s: \"%s\" greedy token %zu is %d, transformers %lld", what,
                         text, g, next, (long long)want);
            cr_assert_eq(bn_session_eval(s, &next, 1, false, &err), BN_STATUS_OK, "%s",
                         err.message);
            next = argmax(bn_session_logits(s, -1), ref->n_vocab);
        }
    }
    cr_log_info("%s: max |logit difference| %.3g = %.3g of the spread (tolerance %.0e)", what,
                worst_abs, worst, tol);
    cr_assert_leq(worst, tol, "%s: logits differ from transformers' by %.3g of the spread", what,
                  worst);
    cr_assert_lt(worst_abs, ref->min_gap / 2, "%s: a difference of %.3g could flip a greedy token",
                 what, worst_abs);
    bn_session_free(s);
    bn_model_free(m);
    return worst;
}

/* Converts one form to every type and compares each with transformers.
 * fallback_i2s: whether some projection's rows do not fit I2_S. */
static void check_hf_packed_form(const char *form, bool fallback_i2s) {
    char dir[1024], out[1024];
    snprintf(dir, sizeof dir, HF_PACKED_DIR "%s", form);
    hf_reference ref;
    hf_reference_load(dir, &ref);
    struct {
        bn_tensor_type type;
        double tol;
        bool fallback;
    } cases[] = {{BN_TYPE_F32, TOL_EXACT_SCALE, false},
                 {BN_TYPE_I2_S, TOL_EXACT_SCALE, fallback_i2s},
                 {BN_TYPE_TQ2_0, TOL_F16_SCALE, true}, /* every form has rows of 128 */
                 {BN_TYPE_TQ1_0, TOL_F16_SCALE, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[128], notes[1024] = "";
        snprintf(what, sizeof what, "%s -> %s", form, bn_tensor_type_name(cases[i].type));
        bn_test_out_path(out, sizeof out, "convert", "hf_packed");
        bn_convert_options opt = {.type = cases[i].type, .note = collect_note, .user = notes};
        bn_error err = {0};
        cr_assert_eq(bn_convert_hf(dir, out, &opt, &err), BN_STATUS_OK, "%s: %s", what,
                     err.message);
        cr_assert_eq(strstr(notes, "writing F32 ternary values (exact)") != NULL, cases[i].fallback,
                     "%s: notes: %s", what, notes);
        cr_assert_null(strstr(notes, "not converted"), "%s: %s", what, notes);
        /* Each projection in the type asked for, or F32 where its rows do not fit. */
        bn_gguf *g = bn_test_gguf_open(out);
        int64_t need = cases[i].type == BN_TYPE_I2_S ? 128 : cases[i].type == BN_TYPE_F32 ? 1 : 256;
        for (size_t t = 0; t < bn_gguf_tensor_count(g); t++) {
            const bn_gguf_tensor *gt = bn_gguf_tensor_at(g, t);
            if (bn_test_is_projection(gt->name))
                cr_assert_eq(gt->type, gt->ne[0] % need ? BN_TYPE_F32 : cases[i].type,
                             "%s: %s is %s", what, gt->name, bn_tensor_type_name(gt->type));
        }
        bn_gguf_close(g);
        compare_with_transformers(out, &ref, cases[i].tol, what);
        remove(out);
    }
    hf_reference_free(&ref);
}

Test(convert, packed_2b4t_autobitlinear_checkpoint_gives_transformers_logits) {
    check_hf_packed_form("bitnet-2b4t-autobitlinear", false);
}

Test(convert, packed_bitnet_bitlinear_checkpoint_divides_and_gives_transformers_logits) {
    check_hf_packed_form("bitnet-bitlinear", true);
}

Test(convert, packed_llama_bitlinear_checkpoint_gives_transformers_logits) {
    check_hf_packed_form("llama-bitlinear", false);
}
