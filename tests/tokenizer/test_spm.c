/* test_spm.c: SentencePiece encoding (tokenizer/spm.c) against llama.cpp's
 * test vectors and the tiny-bitnet model's tokenizer. */
#include <criterion/criterion.h>

#include "loader/gguf.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

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

Test(spm, matches_every_llama_spm_test_vector)
{
    char gguf_path[1024], inp[1100], out[1100];
    snprintf(gguf_path, sizeof gguf_path, "%s/data/tokenizer/ggml-vocab-llama-spm.gguf", BN_SHARED_DIR);
    snprintf(inp, sizeof inp, "%s.inp", gguf_path);
    snprintf(out, sizeof out, "%s.out", gguf_path);
    bn_tokenizer *tok = load_tok(gguf_path, NULL);
    vector_case *v = NULL;
    size_t n = load_vectors(inp, out, &v);
    cr_assert_eq(n, 46, "expected 46 vectors, read %zu", n);
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "vector %zu", i);
        expect_ids(tok, v[i].text, v[i].len, false, v[i].ids, v[i].n_ids, what);
    }
    free_vectors(v, n);
    bn_tokenizer_free(tok);
}
