/* test_bpe.c: byte-level BPE encoding (tokenizer/bpe.c) against llama.cpp's
 * Llama-3 test vectors, with the vocabulary imported from tokenizer.json by
 * our own importer (once per build, see setup). */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

static bn_gguf *g_gguf;
static bn_tokenizer *g_tok;

/* Criterion runs every test in its own process, so the 9 MB import would
 * run once per test. The first test that finds no fresh copy imports and
 * saves the GGUF next to the test binary; "fresh" means newer than the
 * binary itself, which is relinked whenever the import code changes, so a
 * stale vocabulary can never be tested. */
static bool cache_is_fresh(const char *cache)
{
    struct stat c, exe;
    return stat(cache, &c) == 0 && stat("/proc/self/exe", &exe) == 0 && c.st_mtime > exe.st_mtime;
}

static void setup(void)
{
    char path[1024], cache[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/data/tokenizer/llama3/tokenizer.json", BN_SHARED_DIR);
    if (!file_exists(path))
        return;
    snprintf(cache, sizeof cache, "%s/tests/tokenizer/llama3-vocab.test.gguf", BN_BUILD_DIR);
    bn_error err = {0};
    if (!cache_is_fresh(cache)) {
        bn_gguf_writer *w = NULL;
        cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
        cr_assert_eq(bn_hf_tokenizer_import(path, w, &err), BN_STATUS_OK, "%s", err.message);
        snprintf(tmp, sizeof tmp, "%s.%d", cache, (int)getpid());
        cr_assert_eq(bn_gguf_writer_write_file(w, tmp, &err), BN_STATUS_OK, "%s", err.message);
        bn_gguf_writer_free(w);
        cr_assert_eq(rename(tmp, cache), 0);
    }
    cr_assert_eq(bn_gguf_open_file(cache, NULL, &g_gguf, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_load(g_gguf, &g_tok, &err), BN_STATUS_OK, "%s", err.message);
}

static void teardown(void)
{
    bn_tokenizer_free(g_tok);
    bn_gguf_close(g_gguf);
    g_tok = NULL;
    g_gguf = NULL;
}

TestSuite(bpe, .init = setup, .fini = teardown);

static bn_tokenizer *tok_or_skip(void)
{
    if (!g_tok)
        cr_skip_test("../shared/data/tokenizer/llama3/tokenizer.json is absent");
    return g_tok;
}

static size_t encode(const char *text, size_t len, bool add_bos, bool special, int32_t **ids)
{
    size_t n = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_encode_alloc(tok_or_skip(), text, len, add_bos, special, ids, &n, &err),
                 BN_STATUS_OK, "%s", err.message);
    return n;
}

/* Encodes every case of a test-vector pair (no BOS, no special parsing) and
 * expects exactly n_want cases, each giving its ids. */
static void expect_vectors(const char *inp, const char *out, size_t n_want, const char *label)
{
    vector_case *v = NULL;
    size_t n = load_vectors(inp, out, &v);
    cr_assert_eq(n, n_want, "expected %zu vectors, read %zu", n_want, n);
    size_t pass = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t k = encode(v[i].text, v[i].len, false, false, &ids);
        bool same = k == v[i].n_ids && (k == 0 || memcmp(ids, v[i].ids, k * sizeof *ids) == 0);
        if (!same) {
            char got[2048] = "";
            for (size_t j = 0; j < k && strlen(got) < 2000; j++)
                snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[j]);
            cr_expect(same, "%s %zu (%s): got [%s ]", label, i, v[i].text, got);
        }
        pass += same;
        free(ids);
    }
    cr_assert_eq(pass, n);
    free_vectors(v, n);
}

Test(bpe, matches_every_llama_bpe_test_vector)
{
    tok_or_skip();
    char inp[1100], out[1100];
    snprintf(inp, sizeof inp, "%s/data/tokenizer/ggml-vocab-llama-bpe.gguf.inp", BN_SHARED_DIR);
    snprintf(out, sizeof out, "%s/data/tokenizer/ggml-vocab-llama-bpe.gguf.out", BN_SHARED_DIR);
    expect_vectors(inp, out, 46, "vector");
}

Test(bpe, matches_the_hf_reference_on_random_mixed_strings)
{
    /* tests/tokenizer/data/llama3-random.*: made by tools/gen-tokenizer-vectors.py
     * bpe (the HF regex run by Python's regex module with its own Unicode
     * tables, and a plain lowest-rank merge loop), 1000 random strings. */
    tok_or_skip();
    char inp[1100], out[1100];
    snprintf(inp, sizeof inp, "%s/tests/tokenizer/data/llama3-random.inp", BN_SOURCE_DIR);
    snprintf(out, sizeof out, "%s/tests/tokenizer/data/llama3-random.out", BN_SOURCE_DIR);
    expect_vectors(inp, out, 1000, "random vector");
}

Test(bpe, imported_vocab_has_llama3_specials_and_eog_set)
{
    bn_tokenizer *tok = tok_or_skip();
    cr_assert_eq(bn_tokenizer_n_vocab(tok), 128256);
    cr_assert_eq(bn_tokenizer_bos(tok), 128000);
    cr_assert_eq(bn_tokenizer_eos(tok), 128001);
    cr_assert_eq(bn_tokenizer_eot(tok), 128009);
    cr_assert(bn_tokenizer_add_bos(tok));
    cr_assert(bn_tokenizer_is_eog(tok, 128001));
    cr_assert(bn_tokenizer_is_eog(tok, 128009));
    /* this is the Llama-3 (not 3.1) vocabulary: 128008 is reserved, no <|eom_id|> */
    cr_assert_not(bn_tokenizer_is_eog(tok, 128008));
    cr_assert_not(bn_tokenizer_is_eog(tok, 128000));
    cr_assert_not(bn_tokenizer_is_eog(tok, 13));
    cr_assert_eq(bn_tokenizer_token_type(tok, 128006), BN_TOKEN_TYPE_CONTROL);
    cr_assert_eq(bn_tokenizer_token_type(tok, 9906), BN_TOKEN_TYPE_NORMAL);
    cr_assert_eq(bn_tokenizer_find(tok, "<|start_header_id|>", 19), 128006);
    cr_assert_eq(bn_tokenizer_find(tok, "no such token at all", 20), -1);
}

Test(bpe, splits_special_tokens_only_when_asked)
{
    const char *chat = "<|begin_of_text|>User: hi<|eot_id|>Assistant: ";
    int32_t *ids = NULL;
    size_t n = encode(chat, strlen(chat), false, true, &ids);
    /* <|begin_of_text|> User : hi <|eot_id|> Assistant : ␠ */
    cr_assert_geq(n, 5);
    cr_assert_eq(ids[0], 128000);
    bool has_eot = false;
    for (size_t i = 0; i < n; i++)
        has_eot = has_eot || ids[i] == 128009;
    cr_assert(has_eot);
    free(ids);
    n = encode(chat, strlen(chat), false, false, &ids);
    for (size_t i = 0; i < n; i++)
        cr_assert_lt(ids[i], 128000, "special id %d produced without parse_special", ids[i]);
    free(ids);
}

Test(bpe, adds_bos_when_asked_and_empty_text_gives_only_bos)
{
    int32_t *ids = NULL;
    size_t n = encode("", 0, true, false, &ids);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 128000);
    free(ids);
    n = encode("", 0, false, false, &ids);
    cr_assert_eq(n, 0);
    free(ids);
}

static void expect_round_trip(const char *text, size_t len)
{
    int32_t *ids = NULL;
    size_t n = encode(text, len, true, false, &ids), back_len = 0;
    char *back = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_decode_alloc(g_tok, ids, n, false, &back, &back_len, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_expect(back_len == len && memcmp(back, text, len) == 0,
              "round trip of %zu bytes \"%.60s\" gave %zu bytes \"%.60s\"", len, text, back_len, back);
    free(back);
    free(ids);
}

Test(bpe, round_trips_valid_utf8)
{
    tok_or_skip();
    char inp[1100], out[1100];
    snprintf(inp, sizeof inp, "%s/data/tokenizer/ggml-vocab-llama-bpe.gguf.inp", BN_SHARED_DIR);
    snprintf(out, sizeof out, "%s/data/tokenizer/ggml-vocab-llama-bpe.gguf.out", BN_SHARED_DIR);
    vector_case *v = NULL;
    size_t n = load_vectors(inp, out, &v);
    for (size_t i = 0; i < n; i++)
        expect_round_trip(v[i].text, v[i].len);
    free_vectors(v, n);
    static const char *const extra[] = {
        "", " ", "     ", "\t\t\n\n \r\n \n", "0123456789012345678901234567890",
        "\xf0\x9f\x98\x80\xf0\x9f\x98\x81\xf0\x9f\xa6\x99 emoji \xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88",
        "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac\xa6\xe6\xb5\x8b\xe8\xaf\x95\xe3\x80\x82\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
        "I'M HERE, you'LL see: 'tis 'Re 've", "\x01\x02\x7f\xc2\xa0\xc2\xad nbsp",
        "<|eot_id|> stays text", "x\xe2\x96\x81y",
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        expect_round_trip(extra[i], strlen(extra[i]));
}

Test(bpe, invalid_utf8_becomes_replacement_characters)
{
    tok_or_skip();
    /* As llama.cpp: each byte that does not start a well-formed sequence is
     * read as U+FFFD, so it decodes to EF BF BD. */
    static const char bad[] = "a\xff" "b\xc3" "c";
    int32_t *ids = NULL;
    size_t n = encode(bad, sizeof bad - 1, false, false, &ids), len = 0;
    char *back = NULL;
    cr_assert_eq(bn_tokenizer_decode_alloc(g_tok, ids, n, false, &back, &len, NULL), BN_STATUS_OK);
    static const char want[] = "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c";
    cr_assert_eq(len, sizeof want - 1, "%zu bytes: %s", len, back);
    cr_assert_eq(memcmp(back, want, len), 0);
    free(back);
    free(ids);
}

Test(bpe, handles_a_megabyte_of_text_and_long_runs)
{
    tok_or_skip();
    size_t len = 1 << 20;
    char *big = malloc(len);
    static const char chunk[] = "Once upon a time, 12345 \t\n  \xe4\xb8\xad\xf0\x9f\x98\x80 dog's! ";
    for (size_t i = 0; i < len; i++)
        big[i] = chunk[i % (sizeof chunk - 1)];
    expect_round_trip(big, len - len % (sizeof chunk - 1));
    memset(big, ' ', len);
    expect_round_trip(big, 100000);
    memset(big, '7', len);
    expect_round_trip(big, 100000);
    for (size_t i = 0; i + 4 <= 100000; i += 4)
        memcpy(big + i, "\xf0\x9f\x98\x80", 4);
    expect_round_trip(big, 100000);
    free(big);
}
