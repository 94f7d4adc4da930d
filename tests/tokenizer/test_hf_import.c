/* test_hf_import.c: Hugging Face tokenizer import (tokenizer/hf_import.c and
 * the protobuf reader tokenizer/sp_model.c). */
#include <criterion/criterion.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

typedef struct imported {
    uint8_t *bytes;
    bn_gguf *gguf;
    bn_tokenizer *tok;
} imported;

static bn_status import(const char *path, imported *out, bn_error *err)
{
    bn_gguf_writer *w = NULL;
    size_t size = 0;
    memset(out, 0, sizeof *out);
    cr_assert_eq(bn_gguf_writer_new(&w, err), BN_STATUS_OK);
    bn_status st = bn_hf_tokenizer_import(path, w, err);
    if (st == BN_STATUS_OK) {
        cr_assert_eq(bn_gguf_writer_write_memory(w, &out->bytes, &size, err), BN_STATUS_OK);
        cr_assert_eq(bn_gguf_open_memory(out->bytes, size, &out->gguf, err), BN_STATUS_OK, "%s",
                     err->message);
        cr_assert_eq(bn_tokenizer_load(out->gguf, &out->tok, err), BN_STATUS_OK, "%s", err->message);
    }
    bn_gguf_writer_free(w);
    return st;
}

static void release(imported *im)
{
    bn_tokenizer_free(im->tok);
    bn_gguf_close(im->gguf);
    free(im->bytes);
}

/* Writes text to path (created or truncated). */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Makes dir (a mkdtemp template) a fresh model folder holding a link named
 * link_name to src, as a downloaded checkpoint would hold the file. */
static void make_model_dir(char *dir, const char *src, const char *link_name)
{
    cr_assert_not_null(mkdtemp(dir));
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, link_name);
    cr_assert_eq(symlink(src, p), 0);
}

/* Writes text to dir/name. */
static void write_in_dir(const char *dir, const char *name, const char *text)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_text(p, text);
}

/* Removes dir/names[0..n) and then dir. */
static void remove_model_dir(const char *dir, const char *const *names, size_t n)
{
    char p[1200];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        remove(p);
    }
    rmdir(dir);
}

Test(hf_import, tiny_bitnet_tokenizer_model_matches_its_gguf_vocab)
{
    char hf[1024], gpath[1024];
    if (!shared_path(hf, sizeof hf, "models/tiny-bitnet/hf/tokenizer.model") ||
        !shared_path(gpath, sizeof gpath, "models/tiny-bitnet/tiny-bitnet-I2_S.gguf"))
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    imported im;
    bn_error err = {0};
    cr_assert_eq(import(hf, &im, &err), BN_STATUS_OK, "%s", err.message);
    bn_gguf *g = NULL;
    bn_tokenizer *ref = NULL;
    cr_assert_eq(bn_gguf_open_file(gpath, NULL, &g, &err), BN_STATUS_OK);
    cr_assert_eq(bn_tokenizer_load(g, &ref, &err), BN_STATUS_OK);
    cr_assert_eq(bn_tokenizer_n_vocab(im.tok), bn_tokenizer_n_vocab(ref));
    for (int32_t i = 0; i < bn_tokenizer_n_vocab(ref); i++) {
        size_t a, b;
        const char *ta = bn_tokenizer_token_text(im.tok, i, &a), *tb = bn_tokenizer_token_text(ref, i, &b);
        cr_assert(a == b && memcmp(ta, tb, a) == 0, "token %d differs", i);
        cr_assert_eq(bn_tokenizer_token_type(im.tok, i), bn_tokenizer_token_type(ref, i), "type of %d", i);
    }
    /* Scores: compare the raw arrays. */
    float sa, sb;
    for (uint64_t i = 0; i < 2048; i++) {
        cr_assert_eq(bn_gguf_array_f32(im.gguf, "tokenizer.ggml.scores", i, &sa, &err), BN_STATUS_OK);
        cr_assert_eq(bn_gguf_array_f32(g, "tokenizer.ggml.scores", i, &sb, &err), BN_STATUS_OK);
        cr_assert_eq(sa, sb, "score of %llu", (unsigned long long)i);
    }
    cr_assert_eq(bn_tokenizer_bos(im.tok), 1);
    cr_assert_eq(bn_tokenizer_eos(im.tok), 2);
    cr_assert(bn_tokenizer_add_bos(im.tok));
    static const char *const prompts[] = {"Anna had a red kite.", "The little dog wanted to",
                                          "Mia and her mom baked a cake. It was", "Hi\nthere  \xe4\xb8\xad"};
    for (size_t p = 0; p < 4; p++) {
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        cr_assert_eq(bn_tokenizer_encode_alloc(im.tok, prompts[p], strlen(prompts[p]), true, false, &x, &nx, &err), BN_STATUS_OK);
        cr_assert_eq(bn_tokenizer_encode_alloc(ref, prompts[p], strlen(prompts[p]), true, false, &y, &ny, &err), BN_STATUS_OK);
        cr_assert_eq(nx, ny);
        cr_assert_arr_eq(x, y, nx * sizeof *x);
        free(x);
        free(y);
    }
    bn_tokenizer_free(ref);
    bn_gguf_close(g);
    release(&im);
}

Test(hf_import, directory_prefers_tokenizer_model_and_reads_sidecars)
{
    char dir[1024];
    if (!shared_path(dir, sizeof dir, "models/tiny-bitnet/hf"))
        cr_skip_test("../shared/models/tiny-bitnet/hf is absent");
    imported im;
    bn_error err = {0};
    cr_assert_eq(import(dir, &im, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_kind_of(im.tok), BN_TOKENIZER_SPM);
    bool b = false;
    cr_assert_eq(bn_gguf_get_bool(im.gguf, "tokenizer.ggml.add_eos_token", &b, &err), BN_STATUS_OK);
    cr_assert_not(b);
    uint32_t unk = 99;
    cr_assert_eq(bn_gguf_get_u32(im.gguf, "tokenizer.ggml.unknown_token_id", &unk, &err), BN_STATUS_OK);
    cr_assert_eq(unk, 0);
    release(&im);
}

Test(hf_import, reports_missing_and_unsupported_inputs)
{
    imported im;
    bn_error err = {0};
    cr_assert_eq(import("/nonexistent/tokenizer.json", &im, &err), BN_STATUS_IO);
    cr_assert(strstr(err.message, "/nonexistent"), "%s", err.message);
    char path[] = "/tmp/bn_test_hf_import_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char json[1100];
    snprintf(json, sizeof json, "%s.json", path);
    write_text(json, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    bn_error err2 = {0};
    cr_assert_eq(import(json, &im, &err2), BN_STATUS_UNSUPPORTED, "%s", err2.message);
    write_text(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                     " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
    bn_error err3 = {0};
    cr_assert_eq(import(json, &im, &err3), BN_STATUS_UNSUPPORTED, "%s", err3.message);
    write_text(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,");
    bn_error err4 = {0};
    cr_assert_eq(import(json, &im, &err4), BN_STATUS_FORMAT, "%s", err4.message);
    cr_assert(strstr(err4.message, "at byte"), "%s", err4.message);
    write_text(path, "\x0a\xff\xff\xff\x0f"); /* piece of a 4 GB length */
    bn_error err5 = {0};
    cr_assert_eq(import(path, &im, &err5), BN_STATUS_FORMAT, "%s", err5.message);
    remove(json);
    remove(path);
}

Test(hf_import, small_bpe_json_with_pair_merges_and_added_tokens)
{
    char path[] = "/tmp/bn_test_hf_bpe_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char json[1100];
    snprintf(json, sizeof json, "%s.json", path);
    write_text(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3,"
                     " \"\\u0120ab\": 4}, \"merges\": [[\"a\", \"b\"], \"\\u0120 ab\"]},"
                     " \"added_tokens\": [{\"id\": 6, \"content\": \"<|end|>\", \"special\": false},"
                     " {\"id\": 7, \"content\": \"<tool>\", \"special\": false}],"
                     " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": "
                     "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
                     "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}}}");
    imported im;
    bn_error err = {0};
    cr_assert_eq(import(json, &im, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_n_vocab(im.tok), 8);
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 5), BN_TOKEN_TYPE_UNUSED); /* [PAD5] */
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 6), BN_TOKEN_TYPE_CONTROL); /* looks special */
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 7), BN_TOKEN_TYPE_USER_DEFINED);
    int32_t ids[8];
    size_t n = 0;
    cr_assert_eq(bn_tokenizer_encode(im.tok, "ab ab<tool>", 11, false, false, ids, 8, &n, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 2);
    cr_assert_eq(ids[1], 4);
    cr_assert_eq(ids[2], 7); /* user-defined tokens split even without parse_special */
    release(&im);
    remove(json);
    remove(path);
}

Test(sp_model, rejects_truncation_without_reading_past_the_end)
{
    char p[1024];
    if (!shared_path(p, sizeof p, "models/tiny-bitnet/hf/tokenizer.model"))
        cr_skip_test("tokenizer.model is absent");
    size_t len = 0;
    char *bytes = read_whole_file(p, &len);
    bn_sp_model m;
    bn_error err = {0};
    cr_assert_eq(bn_sp_model_parse((const uint8_t *)bytes, len, &m, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(m.n_pieces, 2048);
    cr_assert(m.byte_fallback);
    cr_assert(m.add_dummy_prefix);
    cr_assert_eq(m.unk_id, 0);
    cr_assert_eq(m.bos_id, 1);
    cr_assert_eq(m.eos_id, 2);
    cr_assert_eq(m.pieces[13].len, 6);
    cr_assert_eq(m.pieces[13].type, 6);
    bn_sp_model_free(&m);
    /* Every cut inside the first 3000 bytes, then every 97th: a cut inside a
     * field must fail cleanly; a cut on a field boundary may parse. */
    for (size_t cut = 0; cut < len; cut += cut < 3000 ? 1 : 97) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, bytes, cut);
        bn_error e = {0};
        bn_status st = bn_sp_model_parse(copy, cut, &m, &e);
        cr_assert(st == BN_STATUS_OK || st == BN_STATUS_FORMAT, "cut %zu: status %d", cut, st);
        if (st == BN_STATUS_OK)
            bn_sp_model_free(&m);
        free(copy);
    }
    free(bytes);
}

Test(hf_import, llama3_directory_takes_ids_flags_and_template_from_sidecars)
{
    char src[1024];
    if (!shared_path(src, sizeof src, "data/tokenizer/llama3/tokenizer.json"))
        cr_skip_test("llama3/tokenizer.json is absent");
    char dir[] = "/tmp/bn_test_llama3_dir_XXXXXX";
    make_model_dir(dir, src, "tokenizer.json");
    write_in_dir(dir, "tokenizer_config.json",
                 "{\"add_bos_token\": true, \"bos_token\": \"<|begin_of_text|>\","
                 " \"eos_token\": {\"content\": \"<|eot_id|>\"},"
                 " \"chat_template\": \"{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}\","
                 " \"added_tokens_decoder\": {\"128009\": {\"content\": \"<|eot_id|>\", \"special\": true}}}");
    write_in_dir(dir, "config.json",
                 "{\"vocab_size\": 128256, \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128009],"
                 " \"pad_token_id\": 128004}");

    imported im;
    bn_error err = {0};
    cr_assert_eq(import(dir, &im, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_kind_of(im.tok), BN_TOKENIZER_BPE);
    cr_assert_eq(bn_tokenizer_bos(im.tok), 128000);
    cr_assert_eq(bn_tokenizer_eos(im.tok), 128009); /* tokenizer_config wins over config.json */
    cr_assert(bn_tokenizer_is_eog(im.tok, 128001));
    uint32_t pad = 0;
    cr_assert_eq(bn_gguf_get_u32(im.gguf, "tokenizer.ggml.padding_token_id", &pad, &err), BN_STATUS_OK);
    cr_assert_eq(pad, 128004);
    bn_gguf_string tmpl;
    cr_assert_eq(bn_gguf_get_string(im.gguf, "tokenizer.chat_template", &tmpl, &err), BN_STATUS_OK);
    cr_assert(tmpl.len > 10 && memcmp(tmpl.data, "{{ bos_token }}", 15) == 0);
    bn_gguf_string pre;
    cr_assert_eq(bn_gguf_get_string(im.gguf, "tokenizer.ggml.pre", &pre, &err), BN_STATUS_OK);
    cr_assert(pre.len == 9 && memcmp(pre.data, "llama-bpe", 9) == 0);
    release(&im);
    const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "config.json"};
    remove_model_dir(dir, names, 3);
}

Test(hf_import, spm_directory_adds_tokens_from_added_tokens_json_and_the_decoder_map)
{
    char src[1024];
    if (!shared_path(src, sizeof src, "models/tiny-bitnet/hf/tokenizer.model"))
        cr_skip_test("tiny-bitnet/hf is absent");
    char dir[] = "/tmp/bn_test_spm_dir_XXXXXX";
    make_model_dir(dir, src, "tokenizer.model");
    write_in_dir(dir, "added_tokens.json", "{\"<pad>\": 2048, \"\\u2581new\\u2581line\": 2050}");
    write_in_dir(dir, "tokenizer_config.json",
                 "{\"added_tokens_decoder\": {\"1\": {\"content\": \"<s>\", \"special\": true},"
                 " \"2049\": {\"content\": \"<|im_end|>\", \"special\": false}}}");
    imported im;
    bn_error err = {0};
    cr_assert_eq(import(dir, &im, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_n_vocab(im.tok), 2051);
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 1), BN_TOKEN_TYPE_CONTROL); /* kept */
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 2048), BN_TOKEN_TYPE_CONTROL); /* <pad> looks special */
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 2049), BN_TOKEN_TYPE_CONTROL); /* <|...|> */
    cr_assert_eq(bn_tokenizer_token_type(im.tok, 2050), BN_TOKEN_TYPE_USER_DEFINED);
    cr_assert_eq(bn_tokenizer_find(im.tok, " new line", 9), 2050); /* '▁' pre-normalised */
    cr_assert(bn_tokenizer_is_eog(im.tok, 2049));
    int32_t ids[16];
    size_t n = 0;
    cr_assert_eq(bn_tokenizer_encode(im.tok, "a new line", 10, false, false, ids, 16, &n, &err), BN_STATUS_OK);
    cr_assert_eq(ids[n - 1], 2050, "user-defined token split out of raw text");
    release(&im);
    const char *const names[] = {"tokenizer.model", "added_tokens.json", "tokenizer_config.json"};
    remove_model_dir(dir, names, 3);
}
