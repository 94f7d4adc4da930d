/* test_spm.c: SentencePiece encoding (tokenizer/spm.c) against llama.cpp's
 * test vectors and the tiny-bitnet model's tokenizer. */
#include <criterion/criterion.h>

#include "loader/gguf.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

#define SPM_VOCAB BN_SHARED_DIR "/data/tokenizer/ggml-vocab-llama-spm.gguf"

static bn_tokenizer *load_tok(const char *path, bn_gguf **gguf_out)
{
    if (!file_exists(path))
        cr_skip_test("%s is absent", path);
    bn_gguf *gguf = NULL;
    bn_tokenizer *tok = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file(path, NULL, &gguf, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_load(gguf, &tok, &err), BN_STATUS_OK, "%s", err.message);
    if (gguf_out)
        *gguf_out = gguf;
    else
        bn_gguf_close(gguf);
    return tok;
}

static void expect_ids(const bn_tokenizer *tok, const char *text, size_t len, bool add_bos,
                       const int32_t *want, size_t n_want, const char *what)
{
    int32_t *ids = NULL;
    size_t n = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_encode_alloc(tok, text, len, add_bos, false, &ids, &n, &err),
                 BN_STATUS_OK, "%s", err.message);
    bool same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        char got[4096] = "", exp[4096] = "";
        for (size_t i = 0; i < n && strlen(got) < 4000; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
        for (size_t i = 0; i < n_want && strlen(exp) < 4000; i++)
            snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %d", want[i]);
        cr_expect(same, "%s: got [%s ] want [%s ]", what, got, exp);
    }
    free(ids);
}

/* Checks every case of a test-vector pair (no BOS) against the ids it
 * lists, after expecting exactly n_want cases. */
static void expect_vectors(const bn_tokenizer *tok, const char *inp, const char *out,
                           size_t n_want, const char *label)
{
    vector_case *v = NULL;
    size_t n = load_vectors(inp, out, &v);
    cr_assert_eq(n, n_want, "expected %zu vectors, read %zu", n_want, n);
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s %zu", label, i);
        expect_ids(tok, v[i].text, v[i].len, false, v[i].ids, v[i].n_ids, what);
    }
    free_vectors(v, n);
}

Test(spm, matches_every_llama_spm_test_vector)
{
    bn_tokenizer *tok = load_tok(SPM_VOCAB, NULL);
    expect_vectors(tok, SPM_VOCAB ".inp", SPM_VOCAB ".out", 46, "vector");
    bn_tokenizer_free(tok);
}

#include "tokenizer/tokenizer_internal.h"

Test(spm, segmented_merging_equals_one_queue_over_the_whole_text)
{
    char text_path[1024];
    snprintf(text_path, sizeof text_path, "%s/models/tiny-bitnet/reference/ppl-text.txt", BN_SHARED_DIR);
    bn_tokenizer *tok = load_tok(SPM_VOCAB, NULL);
    size_t len = 0;
    char *text = read_whole_file(text_path, &len);
    if (!text)
        cr_skip_test("%s is absent", text_path);
    cr_assert(tok->spm_split_at_space, "the LLaMA vocabulary allows segmenting at '\\xe2\\x96\\x81'");
    if (len > 200000)
        len = 200000;
    /* extra stress: whitespace runs, '▁' literals, invalid bytes */
    static const char odd[] = "  a   b\xe2\x96\x81\xe2\x96\x81x \xf0\xe2\x96\x81y\xff \t\n  ";
    const char *cases[] = {text, odd};
    size_t lens[] = {len, sizeof odd - 1};
    for (int c = 0; c < 2; c++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        bn_error err = {0};
        cr_assert_eq(bn_tokenizer_encode_alloc(tok, cases[c], lens[c], true, false, &a, &na, &err), BN_STATUS_OK);
        tok->spm_split_at_space = false;
        cr_assert_eq(bn_tokenizer_encode_alloc(tok, cases[c], lens[c], true, false, &b, &nb, &err), BN_STATUS_OK);
        tok->spm_split_at_space = true;
        cr_assert_eq(na, nb, "case %d: %zu vs %zu ids", c, na, nb);
        cr_assert_arr_eq(a, b, na * sizeof *a);
        free(a);
        free(b);
    }
    free(text);
    bn_tokenizer_free(tok);
}

Test(spm, matches_the_naive_reference_on_random_mixed_strings)
{
    /* tests/tokenizer/data/llama-spm-random.*: made by
     * tools/gen-tokenizer-vectors.py spm (an independent, naive rescan of all
     * pairs each step), 500 random strings of many scripts + invalid UTF-8. */
    char inp[1100], out[1100];
    snprintf(inp, sizeof inp, "%s/tests/tokenizer/data/llama-spm-random.inp", BN_SOURCE_DIR);
    snprintf(out, sizeof out, "%s/tests/tokenizer/data/llama-spm-random.out", BN_SOURCE_DIR);
    bn_tokenizer *tok = load_tok(SPM_VOCAB, NULL);
    expect_vectors(tok, inp, out, 501, "random vector");
    bn_tokenizer_free(tok);
}
