/* test_quantize.c: GGUF -> GGUF requantization keeps every ternary value,
 * reproduces llama.cpp's TQ bytes, quantizes latent floats with absmean, and
 * reports honest statistics. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/convert.h"
#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "loader/half.h"
#include "loader/quantize.h"
#include "loader/ternarize.h"
#include "loader/ternary_codec.h"
#include "tests/support/model_files.h"

static void require_tiny(void) { bn_test_require_tiny("tiny-bitnet-I2_S.gguf"); }

static void path_of(char *buf, size_t size, const char *tag) {
    bn_test_out_path(buf, size, "quantize", tag);
}

static void quantize_ok(const char *in, const char *out, bn_tensor_type type, int group,
                        bn_quantize_stats *total) {
    bn_quantize_options opt = {.type = type, .group_size = group};
    bn_error err = {0};
    cr_assert_eq(bn_quantize_gguf(in, out, &opt, total, &err), BN_STATUS_OK, "%s", err.message);
}

static bool is_projection(const char *name) {
    return strstr(name, "attn_q.") || strstr(name, "attn_k.") || strstr(name, "attn_v.") ||
           strstr(name, "attn_output.") || strstr(name, "ffn_");
}

/* Decoded values of every projection of `a` equal those of `b`; returns the
 * largest relative difference of the per-weight scales. */
static double compare_values(bn_gguf *a, bn_gguf *b, bn_tensor_type want_b) {
    double worst = 0;
    int n = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(a); i++) {
        const bn_gguf_tensor *ta = bn_gguf_tensor_at(a, i);
        if (!is_projection(ta->name) || ta->n_dims != 2)
            continue;
        const bn_gguf_tensor *tb = bn_gguf_find_tensor(b, ta->name);
        cr_assert(tb, "%s", ta->name);
        cr_assert_eq(tb->type, want_b, "%s is %s", ta->name, bn_tensor_type_name(tb->type));
        int64_t K = ta->ne[0], rows = ta->ne[1];
        int8_t *va = malloc((size_t)(K * rows)), *vb = malloc((size_t)(K * rows));
        float *sa = malloc((size_t)(rows + K * rows / 256 + 1) * sizeof(float));
        float *sb = malloc((size_t)(rows + K * rows / 256 + 1) * sizeof(float));
        bn_ternary_scale_kind ka, kb;
        bn_error err = {0};
        cr_assert_eq(bn_ternary_decode(ta->type, ta->data, ta->n_bytes, K, rows, va, sa, &ka, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(bn_ternary_decode(tb->type, tb->data, tb->n_bytes, K, rows, vb, sb, &kb, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(memcmp(va, vb, (size_t)(K * rows)), 0, "%s: ternary values changed",
                     ta->name);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < K; k += 64) {
                int64_t idx = r * K + k;
                float x = ka == BN_TERNARY_SCALE_TENSOR ? sa[0] : ka == BN_TERNARY_SCALE_ROW ? sa[r] : sa[idx / 256];
                float y = kb == BN_TERNARY_SCALE_TENSOR ? sb[0] : kb == BN_TERNARY_SCALE_ROW ? sb[r] : sb[idx / 256];
                if (x != 0 && y != 0 && fabs((double)x - y) / x > worst)
                    worst = fabs((double)x - y) / x;
            }
        free(va);
        free(vb);
        free(sa);
        free(sb);
        n++;
    }
    cr_assert_eq(n, 42);
    return worst;
}

/* src requantized three times in a row (src -> out[0] -> out[1] -> out[2]),
 * with all four files open: g[0] is src, g[i + 1] is out[i]. */
typedef struct quant_chain {
    char out[3][1024];
    bn_gguf *g[4];
} quant_chain;

/* Runs the chain; tags name the output files, and total (may be NULL)
 * receives the statistics of the first step. */
static void chain_run(quant_chain *c, const char *src, const bn_tensor_type types[3],
                      const char *const tags[3], bn_quantize_stats *total) {
    const char *in = src;
    for (int i = 0; i < 3; i++) {
        path_of(c->out[i], sizeof c->out[i], tags[i]);
        quantize_ok(in, c->out[i], types[i], 0, i == 0 ? total : NULL);
        in = c->out[i];
    }
    c->g[0] = bn_test_gguf_open(src);
    for (int i = 0; i < 3; i++)
        c->g[i + 1] = bn_test_gguf_open(c->out[i]);
}

/* Closes the four files and removes the three outputs. */
static void chain_free(quant_chain *c) {
    for (int i = 0; i < 4; i++)
        bn_gguf_close(c->g[i]);
    for (int i = 0; i < 3; i++)
        remove(c->out[i]);
}

Test(quantize, i2_s_to_tq2_0_to_tq1_0_to_i2_s_keeps_every_ternary_value) {
    require_tiny();
    char src[1100];
    bn_test_tiny_path(src, sizeof src, "tiny-bitnet-I2_S.gguf");
    const bn_tensor_type types[3] = {BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_I2_S};
    const char *const tags[3] = {"tq2", "tq1", "i2s"};
    quant_chain ch;
    chain_run(&ch, src, types, tags, NULL);
    bn_gguf *g0 = ch.g[0], *g1 = ch.g[1], *g2 = ch.g[2], *g3 = ch.g[3];
    /* Scales only move by the f16 rounding of the TQ block scales. */
    cr_assert_leq(compare_values(g0, g1, BN_TYPE_TQ2_0), 1.0 / 2048);
    cr_assert_leq(compare_values(g0, g2, BN_TYPE_TQ1_0), 1.0 / 2048);
    cr_assert_leq(compare_values(g0, g3, BN_TYPE_I2_S), 1.0 / 2048);
    /* Everything else is copied: the F32 embedding, norms and metadata. */
    const bn_gguf_tensor *e0 = bn_gguf_find_tensor(g0, "token_embd.weight");
    const bn_gguf_tensor *e3 = bn_gguf_find_tensor(g3, "token_embd.weight");
    cr_assert_eq(e3->type, e0->type);
    cr_assert_eq(memcmp(e0->data, e3->data, e0->n_bytes), 0);
    cr_assert_eq(bn_gguf_kv_count(g3), bn_gguf_kv_count(g0));
    uint64_t n0, n3;
    bn_gguf_value_type t;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_get_array(g3, "tokenizer.ggml.tokens", &t, &n3, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_get_array(g0, "tokenizer.ggml.tokens", &t, &n0, &err), BN_STATUS_OK);
    cr_assert_eq(n0, n3);
    bn_gguf_string s0, s3;
    cr_assert_eq(bn_gguf_array_string(g3, "tokenizer.ggml.tokens", 300, &s3, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_array_string(g0, "tokenizer.ggml.tokens", 300, &s0, &err), BN_STATUS_OK);
    cr_assert_eq(s0.len, s3.len);
    cr_assert_eq(memcmp(s0.data, s3.data, s0.len), 0);
    uint32_t ft;
    cr_assert_eq(bn_gguf_get_u32(g1, "general.file_type", &ft, &err), BN_STATUS_OK);
    cr_assert_eq(ft, 37);
    chain_free(&ch);
}

Test(quantize, i2_s_to_tq2_0_reproduces_llama_cpp_bytes) {
    require_tiny();
    char src[1100], ref[1100], out[1024];
    bn_test_tiny_path(src, sizeof src, "tiny-bitnet-I2_S.gguf");
    bn_test_tiny_path(ref, sizeof ref, "tiny-bitnet-TQ2_0.gguf");
    path_of(out, sizeof out, "llama_bytes");
    quantize_ok(src, out, BN_TYPE_TQ2_0, 0, NULL);
    bn_gguf *r = bn_test_gguf_open(ref), *g = bn_test_gguf_open(out);
    int n = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(r); i++) {
        const bn_gguf_tensor *a = bn_gguf_tensor_at(r, i);
        if (!is_projection(a->name) || a->n_dims != 2)
            continue;
        const bn_gguf_tensor *b = bn_gguf_find_tensor(g, a->name);
        cr_assert_eq(a->n_bytes, b->n_bytes);
        cr_assert_eq(memcmp(a->data, b->data, a->n_bytes), 0, "%s", a->name);
        n++;
    }
    cr_assert_eq(n, 42);
    bn_gguf_close(r);
    bn_gguf_close(g);
    remove(out);
}

Test(quantize, ternary_f32_to_i2_s_is_lossless_and_iq_types_round_trip) {
    require_tiny();
    char src[1100];
    bn_test_tiny_path(src, sizeof src, "tiny-bitnet-f32.gguf");
    const bn_tensor_type types[3] = {BN_TYPE_I2_S, BN_TYPE_IQ2_BN, BN_TYPE_IQ1_BN};
    const char *const tags[3] = {"f32_i2s", "iq2", "iq1"};
    bn_quantize_stats total;
    quant_chain ch;
    chain_run(&ch, src, types, tags, &total);
    cr_assert_eq(total.n_elements, 4521984);
    cr_assert_eq(total.sum_sq_err, 0.0, "I2_S stores the f32 scale exactly");
    cr_assert_gt(total.sum_sq_ref, 0.0);
    cr_assert_float_eq(bn_quantize_stats_ratio(&total, BN_TYPE_F32), 4.0 * 4521984 / (4521984 / 4 + 42 * 32), 1e-9);
    double zeros = (double)total.n_zeros / (double)total.n_elements;
    cr_assert(zeros > 0.2 && zeros < 0.5, "zero fraction %g", zeros);
    cr_assert_eq(compare_values(ch.g[0], ch.g[1], BN_TYPE_I2_S), 0.0);
    cr_assert_eq(compare_values(ch.g[0], ch.g[2], BN_TYPE_IQ2_BN), 0.0,
                 "IQ2_BN's row scale is f32");
    cr_assert_leq(compare_values(ch.g[0], ch.g[3], BN_TYPE_IQ1_BN), 1.0 / 2048);
    chain_free(&ch);
}

/* A small float GGUF: one latent projection [K=512, rows=8] of smooth noise
 * and a norm, plus metadata of several types. */
static void write_latent(const char *path, float *w /* (8, 512) */) {
    bn_gguf_writer *wr = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_writer_new(&wr, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_string(wr, "general.architecture", "bitnet", &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_u32(wr, "bitnet.block_count", 1, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_f32(wr, "bitnet.rope.freq_base", 10000.0f, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_bool(wr, "tokenizer.ggml.add_bos_token", true, &err), BN_STATUS_OK);
    int32_t arr[3] = {1, -2, 3};
    cr_assert_eq(bn_gguf_writer_set_array(wr, "x.ints", BN_GGUF_INT32, arr, 3, &err), BN_STATUS_OK);
    uint32_t seed = 42;
    for (int i = 0; i < 8 * 512; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = (float)(seed >> 8) / (float)(1u << 24) - 0.5f;
        w[i] = u * (1.0f + (float)((i / 256) % 5)); /* block magnitudes differ */
    }
    static float norm[512];
    for (int i = 0; i < 512; i++)
        norm[i] = 1.0f + (float)i / 512.0f;
    int64_t ne[2] = {512, 8}, ne1[1] = {512};
    cr_assert_eq(bn_gguf_writer_add_tensor(wr, "blk.0.attn_norm.weight", BN_TYPE_F32, 1, ne1, norm,
                                           sizeof norm, &err),
                 BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_add_tensor(wr, "blk.0.attn_q.weight", BN_TYPE_F32, 2, ne, w,
                                           8 * 512 * sizeof(float), &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_gguf_writer_write_file(wr, path, &err), BN_STATUS_OK, "%s", err.message);
    bn_gguf_writer_free(wr);
}

Test(quantize, latent_floats_use_absmean_and_groups_lower_the_error) {
    static float w[8 * 512];
    char in[1024], out[1024];
    path_of(in, sizeof in, "latent_in");
    path_of(out, sizeof out, "latent_out");
    write_latent(in, w);
    bn_quantize_stats tensor_total, group_total;
    quantize_ok(in, out, BN_TYPE_TQ2_0, 0, &tensor_total);
    bn_gguf *g = bn_test_gguf_open(out);
    const bn_gguf_tensor *t = bn_gguf_find_tensor(g, "blk.0.attn_q.weight");
    int8_t v[8 * 512], want[8 * 512];
    float sc[16];
    bn_ternary_scale_kind kind;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_decode(t->type, t->data, t->n_bytes, 512, 8, v, sc, &kind, &err),
                 BN_STATUS_OK);
    float s = bn_absmean_scale(w, 8 * 512);
    bn_ternarize(w, 8 * 512, s, want);
    cr_assert_eq(memcmp(v, want, sizeof v), 0, "per-tensor absmean trits");
    cr_assert_eq(sc[0], bn_f16_to_f32(bn_f32_to_f16(s)));
    /* The norm and the metadata are copied. */
    const bn_gguf_tensor *nrm = bn_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    cr_assert_eq(nrm->type, BN_TYPE_F32);
    cr_assert_float_eq(((const float *)nrm->data)[511], 1.0f + 511.0f / 512.0f, 1e-7f);
    bool bos = false;
    cr_assert_eq(bn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &bos, &err), BN_STATUS_OK);
    cr_assert(bos);
    int64_t x;
    cr_assert_eq(bn_gguf_array_i64(g, "x.ints", 1, &x, &err), BN_STATUS_OK);
    cr_assert_eq(x, -2);
    bn_gguf_close(g);
    double rel = bn_quantize_stats_rel_err(&tensor_total);
    cr_assert(rel > 0.2 && rel < 0.9, "ternary relative error %g", rel);
    cr_assert_float_eq(bn_quantize_stats_mse(&tensor_total), tensor_total.sum_sq_err / 4096.0, 1e-15);
    /* Per-group scales fit these magnitude-varying groups better. */
    quantize_ok(in, out, BN_TYPE_TQ2_0, 64, &group_total);
    cr_assert_lt(group_total.sum_sq_err, tensor_total.sum_sq_err * 0.9, "group %g vs tensor %g",
                 group_total.sum_sq_err, tensor_total.sum_sq_err);
    quantize_ok(in, out, BN_TYPE_TQ1_0, 256, &group_total);
    cr_assert_lt(group_total.sum_sq_err, tensor_total.sum_sq_err);
    remove(in);
    remove(out);
}

Test(quantize, refuses_bad_options_and_bad_files) {
    char in[1024], out[1024];
    path_of(in, sizeof in, "bad_in");
    path_of(out, sizeof out, "bad_out");
    static float w[8 * 512];
    write_latent(in, w);
    bn_quantize_options opt = {.type = BN_TYPE_I2_S, .group_size = 64};
    bn_error err = {0};
    cr_assert_eq(bn_quantize_gguf(in, out, &opt, NULL, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "TQ1_0 or TQ2_0"), "%s", err.message);
    opt.type = BN_TYPE_TQ2_0;
    opt.group_size = 100;
    bn_error_clear(&err);
    cr_assert_eq(bn_quantize_gguf(in, out, &opt, NULL, &err), BN_STATUS_INVALID_ARG);
    opt.group_size = 0;
    opt.type = BN_TYPE_Q8_0;
    bn_error_clear(&err);
    cr_assert_eq(bn_quantize_gguf(in, out, &opt, NULL, &err), BN_STATUS_INVALID_ARG);
    opt.type = BN_TYPE_TQ2_0;
    bn_error_clear(&err);
    cr_assert_eq(bn_quantize_gguf("/nonexistent/x.gguf", out, &opt, NULL, &err), BN_STATUS_IO);
    FILE *f = fopen(in, "wb");
    fputs("GGUF garbage", f);
    fclose(f);
    bn_error_clear(&err);
    cr_assert_eq(bn_quantize_gguf(in, out, &opt, NULL, &err), BN_STATUS_FORMAT);
    cr_assert(err.message[0]);
    remove(in);
    remove(out);
}

Test(quantize, latent_master_weights_quantize_to_llama_cpp_tq2_0_bytes) {
    require_tiny();
    char hf[1100], latent[1024], out[1024], ref[1100];
    bn_test_tiny_path(hf, sizeof hf, "hf");
    path_of(latent, sizeof latent, "latent_master");
    path_of(out, sizeof out, "latent_tq2");
    bn_test_tiny_path(ref, sizeof ref, "tiny-bitnet-TQ2_0.gguf");
    bn_convert_options copt = {.type = BN_TYPE_F32, .keep_latent = true, .skip_tokenizer = true};
    bn_error err = {0};
    cr_assert_eq(bn_convert_hf(hf, latent, &copt, &err), BN_STATUS_OK, "%s", err.message);
    bn_quantize_stats total;
    quantize_ok(latent, out, BN_TYPE_TQ2_0, 0, &total);
    double rel = bn_quantize_stats_rel_err(&total);
    cr_assert(rel > 0.3 && rel < 0.8, "ternary vs latent relative error %g", rel);
    bn_gguf *r = bn_test_gguf_open(ref), *g = bn_test_gguf_open(out);
    int n = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(r); i++) {
        const bn_gguf_tensor *a = bn_gguf_tensor_at(r, i);
        if (!is_projection(a->name) || a->n_dims != 2)
            continue;
        const bn_gguf_tensor *b = bn_gguf_find_tensor(g, a->name);
        cr_assert_eq(memcmp(a->data, b->data, a->n_bytes), 0, "%s", a->name);
        n++;
    }
    cr_assert_eq(n, 42);
    bn_gguf_close(r);
    bn_gguf_close(g);
    remove(latent);
    remove(out);
}

static bn_quantize_stats embd_stats;

static void grab_embd(void *user, const bn_quantize_stats *s, size_t index, size_t count) {
    (void)user;
    (void)index;
    (void)count;
    if (strcmp(s->name, "token_embd.weight") == 0)
        embd_stats = *s;
}

Test(quantize, token_embedding_type_rewrites_the_embedding_only) {
    require_tiny();
    char src[1100], out[1024];
    bn_test_tiny_path(src, sizeof src, "tiny-bitnet-I2_S.gguf");
    path_of(out, sizeof out, "embd_q6k");
    bn_quantize_options opt = {.type = BN_TYPE_I2_S, .embd_type = BN_TYPE_Q6_K,
                               .embd_type_set = true, .on_tensor = grab_embd};
    bn_quantize_stats total;
    bn_error err = {0};
    cr_assert_eq(bn_quantize_gguf(src, out, &opt, &total, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(total.n_elements, 4521984, "the total covers the ternary tensors only");
    cr_assert(embd_stats.quantized);
    cr_assert_eq(embd_stats.out_type, BN_TYPE_Q6_K);
    cr_assert_eq(embd_stats.out_bytes, 2048 * 210);
    double rel = bn_quantize_stats_rel_err(&embd_stats);
    cr_assert(rel > 0 && rel < 0.03, "Q6_K relative error %g", rel);
    bn_gguf *g = bn_test_gguf_open(out);
    cr_assert_eq(bn_gguf_find_tensor(g, "token_embd.weight")->type, BN_TYPE_Q6_K);
    bn_gguf_close(g);
    remove(out);
}
