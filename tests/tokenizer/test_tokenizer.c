/* test_tokenizer.c: loading, the public encode/decode API and its edge
 * cases (tokenizer/tokenizer.c), on the tiny-bitnet model, the LLaMA SPM
 * test vocabulary and small vocabularies built in memory. */
#include <criterion/criterion.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "loader/json.h"
#include "tokenizer/tokenizer.h"
#include "vectors.h"

typedef struct loaded {
    uint8_t *bytes;
    bn_gguf *gguf;
    bn_tokenizer *tok;
} loaded;

static loaded load_path(const char *path)
{
    loaded l = {0};
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file(path, NULL, &l.gguf, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_tokenizer_load(l.gguf, &l.tok, &err), BN_STATUS_OK, "%s", err.message);
    return l;
}

static void unload(loaded *l)
{
    bn_tokenizer_free(l->tok);
    bn_gguf_close(l->gguf);
    free(l->bytes);
}

static loaded load_tiny(void)
{
    char p[1024];
    if (!shared_path(p, sizeof p, "models/tiny-bitnet/tiny-bitnet-I2_S.gguf"))
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    return load_path(p);
}

static loaded load_llama_spm(void)
{
    char p[1024];
    if (!shared_path(p, sizeof p, "data/tokenizer/ggml-vocab-llama-spm.gguf"))
        cr_skip_test("../shared/data/tokenizer is absent");
    return load_path(p);
}

/* Writes w to memory and loads the tokenizer; *st_out gets the load status. */
static loaded load_writer(bn_gguf_writer *w, bn_status *st_out, bn_error *err)
{
    loaded l = {0};
    size_t size = 0;
    cr_assert_eq(bn_gguf_writer_write_memory(w, &l.bytes, &size, err), BN_STATUS_OK);
    bn_gguf_writer_free(w);
    cr_assert_eq(bn_gguf_open_memory(l.bytes, size, &l.gguf, err), BN_STATUS_OK, "%s", err->message);
    *st_out = bn_tokenizer_load(l.gguf, &l.tok, err);
    return l;
}

static size_t enc(const bn_tokenizer *tok, const char *text, size_t len, bool bos, bool special,
                  int32_t **ids)
{
    size_t n = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_encode_alloc(tok, text, len, bos, special, ids, &n, &err),
                 BN_STATUS_OK, "%s", err.message);
    return n;
}

static char *dec(const bn_tokenizer *tok, const int32_t *ids, size_t n, size_t *len)
{
    char *text = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_decode_alloc(tok, ids, n, false, &text, len, &err), BN_STATUS_OK,
                 "%s", err.message);
    return text;
}

/* Encodes text (special texts not parsed) and expects its ids to decode
 * to want[0..want_len). */
static void expect_decodes_to(const bn_tokenizer *tok, const char *text, size_t len, bool bos,
                              const char *want, size_t want_len)
{
    int32_t *ids = NULL;
    size_t n = enc(tok, text, len, bos, false, &ids), back_len = 0;
    char *back = dec(tok, ids, n, &back_len);
    cr_expect(back_len == want_len && memcmp(back, want, want_len) == 0,
              "%zu bytes \"%.60s\" gave %zu bytes \"%.60s\", want %zu bytes", len, text,
              back_len, back, want_len);
    free(back);
    free(ids);
}

static void expect_round_trip(const bn_tokenizer *tok, const char *text, size_t len, bool bos)
{
    expect_decodes_to(tok, text, len, bos, text, len);
}

Test(tokenizer, encodes_tiny_bitnet_example_with_bos)
{
    loaded l = load_tiny();
    static const int32_t want[] = {1, 705, 367, 261, 1014, 1560, 1993};
    int32_t *ids = NULL;
    size_t n = enc(l.tok, "Anna had a red kite.", 20, bn_tokenizer_add_bos(l.tok), false, &ids);
    cr_assert_eq(n, 7);
    cr_assert_arr_eq(ids, want, sizeof want);
    free(ids);
    unload(&l);
}

Test(tokenizer, encodes_every_tiny_bitnet_reference_prompt)
{
    loaded l = load_tiny();
    char p[1024];
    if (!shared_path(p, sizeof p, "models/tiny-bitnet/reference/reference.json"))
        cr_skip_test("reference.json is absent");
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_json_parse_file(p, &doc, &err), BN_STATUS_OK, "%s", err.message);
    const bn_json_value *prompts = bn_json_object_get(bn_json_root(doc), "prompts");
    cr_assert_gt(bn_json_array_len(prompts), 0);
    for (size_t i = 0; i < bn_json_array_len(prompts); i++) {
        const bn_json_value *pr = bn_json_array_at(prompts, i);
        const char *text;
        size_t len;
        cr_assert(bn_json_as_string(bn_json_object_get(pr, "prompt"), &text, &len));
        const bn_json_value *want = bn_json_object_get(pr, "ids");
        int32_t *ids = NULL;
        size_t n = enc(l.tok, text, len, true, false, &ids);
        cr_assert_eq(n, bn_json_array_len(want), "prompt %zu: %zu ids", i, n);
        for (size_t k = 0; k < n; k++) {
            int64_t w;
            cr_assert(bn_json_as_int64(bn_json_array_at(want, k), &w));
            cr_assert_eq(ids[k], w, "prompt %zu id %zu: %d vs %lld", i, k, ids[k], (long long)w);
        }
        expect_round_trip(l.tok, text, len, true);
        free(ids);
    }
    bn_json_free(doc);
    unload(&l);
}

Test(tokenizer, reports_ids_flags_and_eog_of_tiny_bitnet)
{
    loaded l = load_tiny();
    cr_assert_eq(bn_tokenizer_kind_of(l.tok), BN_TOKENIZER_SPM);
    cr_assert_eq(bn_tokenizer_n_vocab(l.tok), 2048);
    cr_assert_eq(bn_tokenizer_bos(l.tok), 1);
    cr_assert_eq(bn_tokenizer_eos(l.tok), 2);
    cr_assert_eq(bn_tokenizer_eot(l.tok), -1);
    cr_assert(bn_tokenizer_is_eog(l.tok, 2));
    cr_assert_not(bn_tokenizer_is_eog(l.tok, 1));
    cr_assert_not(bn_tokenizer_is_eog(l.tok, -5));
    cr_assert_eq(bn_tokenizer_token_type(l.tok, 13), BN_TOKEN_TYPE_BYTE);
    cr_assert_eq(bn_tokenizer_token_type(l.tok, 1), BN_TOKEN_TYPE_CONTROL);
    cr_assert_eq(bn_tokenizer_token_type(l.tok, 99999), BN_TOKEN_TYPE_UNDEFINED);
    size_t len;
    const char *t = bn_tokenizer_token_text(l.tok, 13, &len);
    cr_assert_eq(len, 6);
    cr_assert_eq(memcmp(t, "<0x0A>", 6), 0);
    cr_assert_null(bn_tokenizer_token_text(l.tok, 2048, &len));
    cr_assert_eq(bn_tokenizer_find(l.tok, "</s>", 4), 2);
    unload(&l);
}

Test(tokenizer, newline_goes_through_byte_fallback_and_back)
{
    loaded l = load_tiny();
    int32_t *ids = NULL;
    size_t n = enc(l.tok, "Hi\nyou", 6, false, false, &ids);
    bool has_nl = false;
    for (size_t i = 0; i < n; i++)
        has_nl = has_nl || ids[i] == 13;
    cr_assert(has_nl, "newline should be the byte token <0x0A> = 13");
    free(ids);
    expect_round_trip(l.tok, "Hi\nyou\n\n  there\t!", strlen("Hi\nyou\n\n  there\t!"), true);
    unload(&l);
}

Test(tokenizer, round_trips_valid_utf8_on_llama_spm)
{
    loaded l = load_llama_spm();
    char inp[1024], out[1024];
    shared_path(inp, sizeof inp, "data/tokenizer/ggml-vocab-llama-spm.gguf.inp");
    shared_path(out, sizeof out, "data/tokenizer/ggml-vocab-llama-spm.gguf.out");
    vector_case *v = NULL;
    size_t n = load_vectors(inp, out, &v);
    cr_assert_eq(n, 46);
    for (size_t i = 0; i < n; i++) {
        expect_round_trip(l.tok, v[i].text, v[i].len, false);
        expect_round_trip(l.tok, v[i].text, v[i].len, true);
    }
    free_vectors(v, n);
    static const char *const extra[] = {
        "", " ", "   ", "\t\t\n\n \n", "0123456789012345678901234567890",
        "\xf0\x9f\x98\x80\xf0\x9f\x98\x81\xf0\x9f\xa6\x99 emoji \xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88",
        "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac\xa6\xe6\xb5\x8b\xe8\xaf\x95\xe3\x80\x82\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
        "<s> not special </s> <unk>",
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        expect_round_trip(l.tok, extra[i], strlen(extra[i]), true);
    /* The one exception, as in SentencePiece itself: a literal U+2581 is the
     * space marker, so it decodes as a space. */
    expect_decodes_to(l.tok, "x\xe2\x96\x81y", 5, false, "x y", 3);
    unload(&l);
}

Test(tokenizer, invalid_utf8_input_has_a_defined_result_on_spm)
{
    loaded l = load_llama_spm();
    /* Every byte of a character the vocab lacks goes through byte fallback, so
     * this invalid UTF-8 comes back byte for byte. (Not always: a lead byte
     * announcing more bytes than follow swallows the start of the next
     * character, which for a space is the '▁' that replaced it; then the
     * space comes back as E2 96 81, exactly as in llama.cpp.) */
    static const char bad[] = "a\xff" "b\xc3" "c\xe4\xb8" "d\x80\x80\xf0\x9f\x98";
    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = enc(l.tok, bad, sizeof bad - 1, false, false, &ids);
    size_t n2 = enc(l.tok, bad, sizeof bad - 1, false, false, &ids2);
    cr_assert_eq(n, n2);
    cr_assert_arr_eq(ids, ids2, n * sizeof *ids);
    free(ids);
    free(ids2);
    expect_round_trip(l.tok, bad, sizeof bad - 1, true);
    /* the swallowed-space case: defined, deterministic, no crash */
    static const char lead_space[] = "x\xe4 y";
    expect_decodes_to(l.tok, lead_space, sizeof lead_space - 1, false, "x\xe4\xe2\x96\x81y", 6);
    unload(&l);
}

Test(tokenizer, byte_tokens_that_are_not_utf8_decode_to_raw_bytes)
{
    loaded l = load_llama_spm();
    /* <0xE4> <0xB8> (a truncated 3-byte character), then "▁a" */
    int32_t e4 = bn_tokenizer_find(l.tok, "<0xE4>", 6), b8 = bn_tokenizer_find(l.tok, "<0xB8>", 6);
    int32_t a = bn_tokenizer_find(l.tok, "\xe2\x96\x81" "a", 4);
    cr_assert(e4 >= 0 && b8 >= 0 && a >= 0);
    int32_t ids[] = {e4, b8, a};
    size_t len = 0;
    char *text = dec(l.tok, ids, 3, &len);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(text, "\xe4\xb8 a", 4), 0);
    free(text);
    /* Streaming: one piece at a time gives the same bytes, with the space. */
    char buf[8];
    size_t pn = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_token_to_piece(l.tok, e4, false, buf, sizeof buf, &pn, &err), BN_STATUS_OK);
    cr_assert_eq(pn, 1);
    cr_assert_eq((unsigned char)buf[0], 0xE4);
    cr_assert_eq(bn_tokenizer_token_to_piece(l.tok, a, false, buf, sizeof buf, &pn, &err), BN_STATUS_OK);
    cr_assert_eq(pn, 2);
    cr_assert_eq(memcmp(buf, " a", 2), 0);
    unload(&l);
}

Test(tokenizer, control_tokens_render_only_when_asked)
{
    loaded l = load_llama_spm();
    char buf[16];
    size_t n = 99;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_token_to_piece(l.tok, 1, false, buf, sizeof buf, &n, &err), BN_STATUS_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(bn_tokenizer_token_to_piece(l.tok, 1, true, buf, sizeof buf, &n, &err), BN_STATUS_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(buf, "<s>", 3), 0);
    cr_assert_eq(bn_tokenizer_token_to_piece(l.tok, 32000, false, buf, sizeof buf, &n, &err),
                 BN_STATUS_INVALID_ARG);
    unload(&l);
}

Test(tokenizer, special_texts_split_only_with_parse_special)
{
    loaded l = load_llama_spm();
    int32_t *ids = NULL;
    size_t n = enc(l.tok, "<s>Hi</s>", 9, false, true, &ids);
    /* <s> ▁Hi </s>: the space prefix comes back after a special token */
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[2], 2);
    free(ids);
    n = enc(l.tok, "<s>Hi</s>", 9, false, false, &ids);
    for (size_t i = 0; i < n; i++)
        cr_assert(ids[i] != 1 && ids[i] != 2);
    free(ids);
    unload(&l);
}

Test(tokenizer, caller_buffer_too_small_reports_the_needed_count)
{
    loaded l = load_tiny();
    int32_t ids[3];
    size_t n = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tokenizer_encode(l.tok, "Anna had a red kite.", 20, true, false, ids, 3, &n, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(n, 7);
    cr_assert(strstr(err.message, "7") != NULL, "%s", err.message);
    cr_assert_eq(bn_tokenizer_encode(l.tok, "Anna", 4, false, false, NULL, 0, &n, NULL),
                 BN_STATUS_INVALID_ARG);
    int32_t big[16];
    cr_assert_eq(bn_tokenizer_encode(l.tok, "Anna had a red kite.", 20, true, false, big, 16, &n, NULL),
                 BN_STATUS_OK);
    cr_assert_eq(n, 7);
    char text[4];
    size_t tn = 0;
    cr_assert_eq(bn_tokenizer_decode(l.tok, big, 7, false, text, sizeof text, &tn, NULL),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(tn, 20);
    int32_t bad[] = {5, 4096};
    cr_assert_eq(bn_tokenizer_decode(l.tok, bad, 2, false, text, sizeof text, &tn, NULL),
                 BN_STATUS_INVALID_ARG);
    unload(&l);
}

Test(tokenizer, handles_a_megabyte_of_text_and_long_runs)
{
    loaded l = load_tiny();
    size_t len = 1 << 20;
    char *big = malloc(len);
    static const char chunk[] = "Once upon a time, 12345 \t\n  \xe4\xb8\xad\xf0\x9f\x98\x80 dog! ";
    for (size_t i = 0; i < len; i++)
        big[i] = chunk[i % (sizeof chunk - 1)];
    /* cut on a character boundary: the chunk's last byte is ASCII */
    size_t cut = len - len % (sizeof chunk - 1);
    expect_round_trip(l.tok, big, cut, true);
    memset(big, ' ', len);
    expect_round_trip(l.tok, big, 100000, false);
    memset(big, '7', len);
    expect_round_trip(l.tok, big, 100000, false);
    unload(&l);
    free(big);
}

Test(tokenizer, file_without_tokenizer_is_not_found)
{
    bn_gguf_writer *w = NULL;
    bn_error err = {0};
    bn_status st;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    bn_gguf_writer_set_string(w, "general.architecture", "bitnet", &err);
    loaded l = load_writer(w, &st, &err);
    cr_assert_eq(st, BN_STATUS_NOT_FOUND);
    cr_assert(strstr(err.message, "tokenizer.ggml.model"), "%s", err.message);
    cr_assert_null(l.tok);
    unload(&l);
}

static bn_gguf_writer *tiny_vocab_writer(const char *model)
{
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
    bn_gguf_writer *w = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    bn_gguf_writer_set_string(w, "tokenizer.ggml.model", model, &err);
    bn_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", toks, NULL, 6, &err);
    return w;
}

Test(tokenizer, rejects_unknown_models_and_bad_metadata)
{
    bn_error err = {0};
    bn_status st;
    loaded l = load_writer(tiny_vocab_writer("bert"), &st, &err);
    cr_assert_eq(st, BN_STATUS_UNSUPPORTED, "%s", err.message);
    unload(&l);

    bn_gguf_writer *w = tiny_vocab_writer("llama");
    float scores[3] = {0};
    bn_gguf_writer_set_array(w, "tokenizer.ggml.scores", BN_GGUF_FLOAT32, scores, 3, &err);
    bn_error err2 = {0};
    l = load_writer(w, &st, &err2);
    cr_assert_eq(st, BN_STATUS_FORMAT, "%s", err2.message);
    cr_assert(strstr(err2.message, "scores"), "%s", err2.message);
    unload(&l);

    /* an id past the vocabulary is ignored (llama.cpp keeps the default) */
    w = tiny_vocab_writer("llama");
    bn_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 6, &err);
    bn_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 6, &err);
    bn_error err3 = {0};
    l = load_writer(w, &st, &err3);
    cr_assert_eq(st, BN_STATUS_OK, "%s", err3.message);
    cr_assert_eq(bn_tokenizer_bos(l.tok), 1);
    unload(&l);

    /* but a string where an id belongs is malformed */
    w = tiny_vocab_writer("llama");
    bn_gguf_writer_set_string(w, "tokenizer.ggml.eos_token_id", "</s>", &err);
    bn_error err6 = {0};
    l = load_writer(w, &st, &err6);
    cr_assert_eq(st, BN_STATUS_FORMAT, "%s", err6.message);
    cr_assert(strstr(err6.message, "eos_token_id"), "%s", err6.message);
    unload(&l);

    w = tiny_vocab_writer("gpt2"); /* BPE needs merges */
    bn_error err4 = {0};
    l = load_writer(w, &st, &err4);
    cr_assert_eq(st, BN_STATUS_FORMAT, "%s", err4.message);
    unload(&l);

    w = tiny_vocab_writer("gpt2");
    static const char *const merges[] = {"a b"};
    bn_gguf_writer_set_string_array(w, "tokenizer.ggml.merges", merges, NULL, 1, &err);
    bn_gguf_writer_set_string(w, "tokenizer.ggml.pre", "qwen2", &err);
    bn_error err5 = {0};
    l = load_writer(w, &st, &err5);
    cr_assert_eq(st, BN_STATUS_UNSUPPORTED, "%s", err5.message);
    unload(&l);
}

Test(tokenizer, minimal_spm_vocab_merges_by_score)
{
    /* pieces without scores (all 0): "ab" still merges; unknown chars -> unk */
    bn_gguf_writer *w = tiny_vocab_writer("llama");
    bn_error err = {0};
    bn_status st;
    bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false, &err);
    loaded l = load_writer(w, &st, &err);
    cr_assert_eq(st, BN_STATUS_OK, "%s", err.message);
    int32_t *ids = NULL;
    size_t n = enc(l.tok, "abxa", 4, false, false, &ids);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], 5);
    cr_assert_eq(ids[1], 0); /* x: no piece, no byte token -> <unk> */
    cr_assert_eq(ids[2], 3);
    free(ids);
    unload(&l);
}

Test(tokenizer, utf8_pending_holds_back_only_incomplete_characters)
{
    cr_assert_eq(bn_tokenizer_utf8_pending("", 0), 0);
    cr_assert_eq(bn_tokenizer_utf8_pending("ab", 2), 0);
    cr_assert_eq(bn_tokenizer_utf8_pending("a\xe4", 2), 1);
    cr_assert_eq(bn_tokenizer_utf8_pending("a\xe4\xb8", 3), 2);
    cr_assert_eq(bn_tokenizer_utf8_pending("a\xe4\xb8\xad", 4), 0);
    cr_assert_eq(bn_tokenizer_utf8_pending("\xf0\x9f\x98", 3), 3);
    cr_assert_eq(bn_tokenizer_utf8_pending("\xf0\x9f\x98\x80", 4), 0);
    cr_assert_eq(bn_tokenizer_utf8_pending("a\x80", 2), 0);   /* stray continuation */
    cr_assert_eq(bn_tokenizer_utf8_pending("a\xff", 2), 0);   /* invalid lead */
    cr_assert_eq(bn_tokenizer_utf8_pending("\x80\x80\x80", 3), 0);
}
