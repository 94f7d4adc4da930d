/* test_model.c: runtime/model.c and runtime/hparams.c: binding, shape
 * checks, clear errors for broken files, getters and token wrappers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "tests/support/tiny_model.h"

static char path[256];

static void fresh_path(const char *tag)
{
    snprintf(path, sizeof path, "/tmp/bn-test-model-%d-%s.gguf", (int)getpid(), tag);
}

/* Writes spec, loads it, returns the status and the message in err. */
static bn_status try_load(const bn_tiny_model_spec *spec, const char *tag, bn_model **out,
                          bn_error *err)
{
    fresh_path(tag);
    bn_error werr;
    bn_error_clear(&werr);
    cr_assert_eq(bn_tiny_model_write(spec, path, &werr), BN_STATUS_OK, "%s", werr.message);
    bn_error_clear(err);
    bn_model *m = NULL;
    bn_status st = bn_model_load(path, NULL, &m, err);
    unlink(path);
    if (out)
        *out = m;
    else
        bn_model_free(m);
    return st;
}

Test(model, loads_a_valid_model_and_reports_its_shape)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.with_tokenizer = true;
    bn_model *m = NULL;
    bn_error err;
    cr_assert_eq(try_load(&s, "ok", &m, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(bn_model_arch(m), "bitnet-b1.58");
    cr_assert_eq(bn_model_n_vocab(m), 320);
    cr_assert_eq(bn_model_n_embd(m), 256);
    cr_assert_eq(bn_model_n_layer(m), 2);
    cr_assert_eq(bn_model_n_ctx_train(m), 128);
    cr_assert(bn_model_bytes_per_token(m) > 0);
    cr_assert(bn_model_file_bytes(m) > bn_model_bytes_per_token(m) / 2);
    cr_assert_not_null(strstr(bn_model_description(m), "I2_S"));
    cr_assert_not_null(bn_model_kernels_name(m));
    cr_assert(bn_model_has_tokenizer(m));
    cr_assert_eq(bn_model_bos(m), 1);
    cr_assert_eq(bn_model_eos(m), 2);
    cr_assert(bn_model_is_eog(m, 2));
    cr_assert(!bn_model_is_eog(m, 100));
    bn_model_free(m);
}

Test(model, rejects_an_unknown_architecture_by_name)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "gpt-neox";
    bn_error err;
    cr_assert_eq(try_load(&s, "arch", NULL, &err), BN_STATUS_UNSUPPORTED);
    cr_assert_not_null(strstr(err.message, "gpt-neox"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "bitnet-b1.58"), "%s", err.message);
}

Test(model, names_a_missing_tensor)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.omit_tensor = "blk.1.ffn_sub_norm.weight";
    bn_error err;
    cr_assert_eq(try_load(&s, "missing", NULL, &err), BN_STATUS_NOT_FOUND);
    cr_assert_not_null(strstr(err.message, "blk.1.ffn_sub_norm.weight"), "%s", err.message);
    s.omit_tensor = "token_embd.weight";
    cr_assert_neq(try_load(&s, "missing2", NULL, &err), BN_STATUS_OK);
    cr_assert_not_null(strstr(err.message, "token_embd"), "%s", err.message);
    s.omit_tensor = "blk.0.attn_v.weight";
    cr_assert_eq(try_load(&s, "missing3", NULL, &err), BN_STATUS_NOT_FOUND);
    cr_assert_not_null(strstr(err.message, "blk.0.attn_v.weight"), "%s", err.message);
}

Test(model, names_a_tensor_of_the_wrong_shape_with_both_shapes)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.bad_shape_tensor = "blk.1.attn_k.weight";
    bn_error err;
    cr_assert_eq(try_load(&s, "shape", NULL, &err), BN_STATUS_FORMAT);
    cr_assert_not_null(strstr(err.message, "blk.1.attn_k.weight"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "[256, 129]"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "[256, 128]"), "%s", err.message);
    s.bad_shape_tensor = "blk.0.attn_norm.weight";
    cr_assert_eq(try_load(&s, "shape2", NULL, &err), BN_STATUS_FORMAT);
    cr_assert_not_null(strstr(err.message, "attn_norm"), "%s", err.message);
}

Test(model, llama_arch_needs_no_sub_norms)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "llama";
    s.untied = true;
    bn_model *m = NULL;
    bn_error err;
    cr_assert_eq(try_load(&s, "llama", &m, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(bn_model_arch(m), "llama");
    bn_model_free(m);
}

Test(model, bitnet_arch_requires_sub_norms)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "bitnet";
    s.omit_tensor = "blk.0.attn_sub_norm.weight";
    bn_error err;
    cr_assert_eq(try_load(&s, "bitnet-sub", NULL, &err), BN_STATUS_NOT_FOUND);
    cr_assert_not_null(strstr(err.message, "attn_sub_norm"), "%s", err.message);
}

Test(model, rejects_an_unknown_hidden_activation)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "bitnet";
    s.hidden_activation = "gelu";
    bn_error err;
    cr_assert_eq(try_load(&s, "act", NULL, &err), BN_STATUS_UNSUPPORTED);
    cr_assert_not_null(strstr(err.message, "gelu"), "%s", err.message);
}

Test(model, a_model_without_tokenizer_loads_but_cannot_tokenize)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    bn_model *m = NULL;
    bn_error err;
    cr_assert_eq(try_load(&s, "notok", &m, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert(!bn_model_has_tokenizer(m));
    int32_t ids[8];
    size_t n = 0;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_tokenize(m, "hi", 2, true, false, ids, 8, &n, &err),
                 BN_STATUS_NOT_FOUND);
    cr_assert_not_null(strstr(err.message, "tokenizer"), "%s", err.message);
    cr_assert_eq(bn_model_bos(m), -1);
    bn_model_free(m);
}

Test(model, tokenizes_and_detokenizes_through_the_model)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.with_tokenizer = true;
    bn_model *m = NULL;
    bn_error err;
    cr_assert_eq(try_load(&s, "tok", &m, &err), BN_STATUS_OK, "%s", err.message);
    int32_t ids[64];
    size_t n = 0;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_tokenize(m, "ab ba", 5, true, false, ids, 64, &n, &err), BN_STATUS_OK,
                 "%s", err.message);
    cr_assert(n >= 2);
    cr_assert_eq(ids[0], 1);
    char text[64];
    size_t nb = 0;
    cr_assert_eq(bn_model_detokenize(m, ids + 1, n - 1, text, sizeof text, &nb, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(text, "ab ba");
    bn_model_free(m);
}

Test(model, missing_file_is_an_io_error_naming_it)
{
    bn_model *m = (bn_model *)1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load("/nonexistent/model.gguf", NULL, &m, &err), BN_STATUS_IO);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, "/nonexistent/model.gguf"), "%s", err.message);
}

Test(model, unknown_kernel_table_is_refused)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    fresh_path("kern");
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(&s, path, &err), BN_STATUS_OK, "%s", err.message);
    bn_model_options o;
    bn_model_options_default(&o);
    o.kernels = "sse9";
    bn_model *m = NULL;
    cr_assert_neq(bn_model_load(path, &o, &m, &err), BN_STATUS_OK);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, "sse9"), "%s", err.message);
    unlink(path);
}

Test(model, free_accepts_null)
{
    bn_model_free(NULL);
    bn_session_free(NULL);
}

/* Corrupts one byte at a time across the header, metadata and tensor table
 * (and truncates): every load either fails with a message or gives a model
 * that evaluates without crashing. */
Test(model, corrupted_or_truncated_files_fail_cleanly_or_run)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.n_layer = 1;
    s.with_tokenizer = true;
    fresh_path("corrupt-src");
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(&s, path, &err), BN_STATUS_OK, "%s", err.message);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    unlink(path);

    char bad[256];
    snprintf(bad, sizeof bad, "/tmp/bn-test-model-%d-corrupt.gguf", (int)getpid());
    /* the first 12 KB hold the header, the vocabulary and the tensor table */
    long span = size < 12288 ? size : 12288;
    uint32_t rng = 12345;
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < 300; iter++) {
        rng = rng * 1664525u + 1013904223u;
        long at = (long)(rng >> 8) % span;
        long len = size;
        unsigned char saved = bytes[at];
        if (iter % 10 == 9)
            len = at; /* truncate instead */
        else
            bytes[at] = (unsigned char)(saved ^ (1u << ((rng >> 4) & 7)) ^ ((rng >> 16) & 0xff));
        f = fopen(bad, "wb");
        cr_assert_not_null(f);
        fwrite(bytes, 1, (size_t)len, f);
        fclose(f);
        bytes[at] = saved;
        bn_model *m = NULL;
        bn_error_clear(&err);
        if (bn_model_load(bad, NULL, &m, &err) != BN_STATUS_OK) {
            cr_assert(err.message[0] != '\0', "a refused file needs a message");
            cr_assert_null(m);
            refused++;
            continue;
        }
        loaded++;
        bn_session_options so;
        bn_session_options_default(&so);
        so.n_ctx = 8;
        bn_session *ss = NULL;
        if (bn_session_new(m, &so, &ss, &err) == BN_STATUS_OK) {
            int32_t tok[4] = {1, 5, 9, 2};
            bn_session_eval(ss, tok, 4, false, &err);
            bn_session_free(ss);
        }
        bn_model_free(m);
    }
    unlink(bad);
    free(bytes);
    cr_log_info("corruption sweep: %d loaded, %d refused", loaded, refused);
    cr_assert(refused > 0);
}

/* ---- released source pages ------------------------------------------------
 *
 * A mapped file's repacked projections have their file pages released after
 * load (bn_gguf_release); a file read into memory keeps them. The logits
 * must not care: same bits either way, for every stored type, both kernel
 * families, and two kernel sets. */

/* Logits of 5 tokens (all rows) of the model at `file`; caller frees. */
static float *logits_of(const char *file, bool use_mmap, bn_kernel_choice prompt,
                        bn_kernel_choice decode, int threads, size_t *n_out)
{
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.use_mmap = use_mmap;
    mo.prompt_kernels = prompt;
    mo.decode_kernels = decode;
    mo.n_threads = threads;
    bn_model *m = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(file, &mo, &m, &err), BN_STATUS_OK, "%s: %s", file, err.message);
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 16;
    so.n_threads = threads;
    bn_session *s = NULL;
    cr_assert_eq(bn_session_new(m, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    const int32_t toks[5] = {1, 17, 42, 99, 7};
    size_t nv = (size_t)bn_model_n_vocab(m);
    float *out = malloc(sizeof(float) * nv * 6);
    cr_assert_eq(bn_session_eval(s, toks, 4, true, &err), BN_STATUS_OK, "%s", err.message);
    for (int i = 0; i < 4; i++)
        memcpy(out + (size_t)i * nv, bn_session_logits(s, i), sizeof(float) * nv);
    cr_assert_eq(bn_session_eval(s, toks + 4, 1, false, &err), BN_STATUS_OK, "%s", err.message);
    memcpy(out + 4 * nv, bn_session_logits(s, 0), sizeof(float) * nv);
    bn_session_free(s);
    bn_model_free(m);
    *n_out = nv * 5;
    return out;
}

static void same_logits_mapped_and_read(const char *file)
{
    const bn_kernel_choice sets[3][2] = {
        {BN_KERNEL_CHOICE_AUTO, BN_KERNEL_CHOICE_AUTO},
        {BN_KERNEL_CHOICE_LUT, BN_KERNEL_CHOICE_LUT},
        {BN_KERNEL_CHOICE_LUT, BN_KERNEL_CHOICE_MAD}, /* two sets of one tensor */
    };
    for (int c = 0; c < 3; c++) {
        size_t n1, n2;
        float *mapped = logits_of(file, true, sets[c][0], sets[c][1], 2, &n1);
        float *read = logits_of(file, false, sets[c][0], sets[c][1], 1, &n2);
        cr_assert_eq(n1, n2);
        cr_assert(memcmp(mapped, read, sizeof(float) * n1) == 0,
                  "%s, kernel sets %d/%d: logits differ after releasing the source pages", file,
                  (int)sets[c][0], (int)sets[c][1]);
        free(mapped);
        free(read);
    }
}

Test(model, released_source_pages_change_no_logit_for_any_stored_type)
{
    const bn_tensor_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN,
                                    BN_TYPE_IQ1_BN};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        bn_tiny_model_spec s;
        bn_tiny_model_spec_default(&s);
        s.ternary_type = types[i];
        s.n_embd = 512;  /* 128 KiB projections: whole pages to release */
        s.n_ff = 1024;
        s.n_head = 8;
        s.n_head_kv = 4;
        fresh_path("release");
        bn_error werr;
        bn_error_clear(&werr);
        cr_assert_eq(bn_tiny_model_write(&s, path, &werr), BN_STATUS_OK, "%s", werr.message);
        same_logits_mapped_and_read(path);
        unlink(path);
    }
}

Test(model, released_source_pages_change_no_logit_of_the_shared_tq1_0_file)
{
    char file[1024];
    snprintf(file, sizeof file, "%s/models/tiny-bitnet/tiny-bitnet-TQ1_0.gguf", BN_SHARED_DIR);
    if (access(file, R_OK) != 0)
        cr_skip_test("%s is absent", file);
    same_logits_mapped_and_read(file);
}

/* ik_llama.cpp's IQ2_BN_R4 (4 rows interleaved) is repacked at load like
 * IQ2_BN: the R4 file of the same weights gives the same logits, bit for
 * bit, with every kernel set (and so the same layouts). */
Test(model, iq2_bn_r4_file_gives_the_logits_of_its_iq2_bn_twin)
{
    char paths[2][1024];
    const bn_tensor_type types[2] = {BN_TYPE_IQ2_BN, BN_TYPE_IQ2_BN_R4};
    for (int i = 0; i < 2; i++) {
        bn_tiny_model_spec s;
        bn_tiny_model_spec_default(&s);
        s.ternary_type = types[i];
        fresh_path(i ? "r4" : "iq2bn");
        snprintf(paths[i], sizeof paths[i], "%s", path);
        bn_error werr;
        bn_error_clear(&werr);
        cr_assert_eq(bn_tiny_model_write(&s, paths[i], &werr), BN_STATUS_OK, "%s", werr.message);
    }
    const bn_kernel_choice sets[3][2] = {
        {BN_KERNEL_CHOICE_AUTO, BN_KERNEL_CHOICE_AUTO},
        {BN_KERNEL_CHOICE_LUT, BN_KERNEL_CHOICE_LUT},
        {BN_KERNEL_CHOICE_MAD, BN_KERNEL_CHOICE_MAD},
    };
    for (int c = 0; c < 3; c++) {
        size_t n1, n2;
        float *a = logits_of(paths[0], true, sets[c][0], sets[c][1], 2, &n1);
        float *b = logits_of(paths[1], true, sets[c][0], sets[c][1], 2, &n2);
        cr_assert_eq(n1, n2);
        cr_assert(memcmp(a, b, sizeof(float) * n1) == 0,
                  "kernel sets %d/%d: IQ2_BN_R4 logits differ from IQ2_BN", (int)sets[c][0],
                  (int)sets[c][1]);
        free(a);
        free(b);
    }
    unlink(paths[0]);
    unlink(paths[1]);
}
