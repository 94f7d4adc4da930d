/* test_json.c: the strict JSON reader (loader/json.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/json.h"

static bn_json_doc *parse_ok(const char *text)
{
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    bn_status st = bn_json_parse(text, strlen(text), &doc, &err);
    cr_assert_eq(st, BN_STATUS_OK, "parse of %s failed: %s", text, err.message);
    return doc;
}

static bn_status parse_status(const char *text, size_t len, bn_error *err)
{
    bn_json_doc *doc = NULL;
    bn_status st = bn_json_parse(text, len, &doc, err);
    if (st == BN_STATUS_OK)
        cr_assert_not_null(doc);
    else
        cr_assert_null(doc);
    bn_json_free(doc);
    return st;
}

Test(json, parses_nested_document_and_looks_up_members)
{
    bn_json_doc *doc = parse_ok(
        " {\"a\": [1, -2.5e1, true, false, null, \"x\"], \"b\": {\"c\": \"d\"}, \"e\": 0} ");
    const bn_json_value *root = bn_json_root(doc);
    cr_assert(bn_json_is(root, BN_JSON_OBJECT));
    cr_assert_eq(bn_json_object_len(root), 3);
    const bn_json_value *a = bn_json_object_get(root, "a");
    cr_assert_eq(bn_json_array_len(a), 6);
    int64_t i;
    double d;
    bool b;
    cr_assert(bn_json_as_int64(bn_json_array_at(a, 0), &i));
    cr_assert_eq(i, 1);
    cr_assert(bn_json_as_double(bn_json_array_at(a, 1), &d));
    cr_assert_eq(d, -25.0);
    cr_assert(bn_json_as_int64(bn_json_array_at(a, 1), &i));
    cr_assert_eq(i, -25);
    cr_assert(bn_json_as_bool(bn_json_array_at(a, 2), &b) && b);
    cr_assert(bn_json_as_bool(bn_json_array_at(a, 3), &b) && !b);
    cr_assert(bn_json_is(bn_json_array_at(a, 4), BN_JSON_NULL));
    cr_assert_null(bn_json_array_at(a, 6));
    const char *s;
    size_t n;
    cr_assert(bn_json_as_string(bn_json_object_get(bn_json_object_get(root, "b"), "c"), &s, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(s, "d");
    cr_assert_null(bn_json_object_get(root, "zz"));
    cr_assert_null(bn_json_object_get(bn_json_object_get(root, "zz"), "c"));
    cr_assert_str_eq(bn_json_object_key_at(root, 2, NULL), "e");
    bn_json_free(doc);
}

/* Python's json (so transformers) and serde_json keep the last of two equal
 * keys; the published Llama3-8B-1.58 config.json repeats
 * "quantization_config", and only the last one is what transformers runs. */
Test(json, the_last_of_two_equal_keys_wins_as_in_python)
{
    bn_json_doc *doc = parse_ok("{\"q\": {\"m\": \"first\"}, \"x\": 1, \"q\": {\"m\": \"last\"}, "
                                "\"x\": 2, \"x\": 3}");
    const bn_json_value *root = bn_json_root(doc);
    const char *s;
    int64_t i;
    cr_assert(bn_json_as_string(bn_json_object_get(bn_json_object_get(root, "q"), "m"), &s, NULL));
    cr_assert_str_eq(s, "last");
    cr_assert(bn_json_as_int64(bn_json_object_get(root, "x"), &i));
    cr_assert_eq(i, 3);
    /* Iteration still sees every member, in file order. */
    cr_assert_eq(bn_json_object_len(root), 5);
    cr_assert(bn_json_as_int64(bn_json_object_value_at(root, 1), &i));
    cr_assert_eq(i, 1);
    bn_json_free(doc);
}

Test(json, decodes_every_escape_and_surrogate_pairs_to_utf8)
{
    bn_json_doc *doc =
        parse_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\"");
    const char *s;
    size_t n;
    cr_assert(bn_json_as_string(bn_json_root(doc), &s, &n));
    const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    cr_assert_eq(n, sizeof want - 1);
    cr_assert_eq(memcmp(s, want, n), 0);
    cr_assert_eq(s[n], 0);
    bn_json_free(doc);
}

Test(json, keeps_raw_utf8_in_strings)
{
    bn_json_doc *doc = parse_ok("{\"\xc4\xa0t\": \"\xe2\x96\x81\xe4\xb8\xad\"}");
    const char *s;
    cr_assert(bn_json_as_string(bn_json_object_get(bn_json_root(doc), "\xc4\xa0t"), &s, NULL));
    cr_assert_str_eq(s, "\xe2\x96\x81\xe4\xb8\xad");
    bn_json_free(doc);
}

Test(json, rejects_truncation_at_every_offset)
{
    const char *text = "{\"k\": [1, 2.5e-3, \"s\\u00e9\\n\", {\"x\": null, \"y\": true}], "
                       "\"z\": false, \"w\": -0}";
    size_t len = strlen(text);
    bn_error err = {0};
    cr_assert_eq(parse_status(text, len, &err), BN_STATUS_OK);
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap copy of exactly cut bytes so ASan catches any overread. */
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, text, cut);
        bn_error e = {0};
        cr_assert_eq(parse_status(copy, cut, &e), BN_STATUS_FORMAT, "cut at %zu parsed", cut);
        cr_assert(strstr(e.message, "at byte") != NULL, "message: %s", e.message);
        free(copy);
    }
}

Test(json, rejects_malformed_inputs_with_byte_offsets)
{
    const char *bad[] = {
        "", "   ", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]", "[-]",
        "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"a\tb\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "[1] 2", "{1:2}", "{\"a\" 1}",
        "tru", "nul", "[NaN]", "[Infinity]", "// c\n1", "{'a':1}", "[1 2]", "\"abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bn_error err = {0};
        cr_assert_eq(parse_status(bad[i], strlen(bad[i]), &err), BN_STATUS_FORMAT, "accepted %s",
                     bad[i]);
        cr_assert(strstr(err.message, "at byte") != NULL, "message: %s", err.message);
    }
    bn_error err = {0};
    parse_status("[1, 2, x]", 9, &err);
    cr_assert(strstr(err.message, "at byte 7") != NULL, "message: %s", err.message);
}

Test(json, limits_nesting_depth)
{
    char deep[2 * 300 + 1];
    for (int depth = 255; depth <= 300; depth += 45) {
        for (int i = 0; i < depth; i++) {
            deep[i] = '[';
            deep[depth + i] = ']';
        }
        bn_error err = {0};
        bn_status st = parse_status(deep, 2 * (size_t)depth, &err);
        cr_assert_eq(st, depth <= BN_JSON_MAX_DEPTH ? BN_STATUS_OK : BN_STATUS_FORMAT, "depth %d",
                     depth);
    }
    /* 100k unclosed brackets: must fail at the limit, not blow the stack. */
    size_t n = 100000;
    char *many = malloc(n);
    memset(many, '[', n);
    bn_error err = {0};
    cr_assert_eq(parse_status(many, n, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "nesting") != NULL, "message: %s", err.message);
    free(many);
}

Test(json, handles_huge_and_extreme_numbers)
{
    bn_json_doc *doc = parse_ok("[9223372036854775807, -9223372036854775808, 9223372036854775808,"
                                " 1e308, 1e-400, 123456789012345678901234567890, 2.5, 1e3]");
    const bn_json_value *a = bn_json_root(doc);
    int64_t i;
    cr_assert(bn_json_as_int64(bn_json_array_at(a, 0), &i));
    cr_assert_eq(i, INT64_MAX);
    cr_assert(bn_json_as_int64(bn_json_array_at(a, 1), &i));
    cr_assert_eq(i, INT64_MIN);
    cr_assert_not(bn_json_as_int64(bn_json_array_at(a, 2), &i));
    double d;
    cr_assert(bn_json_as_double(bn_json_array_at(a, 3), &d));
    cr_assert_eq(d, 1e308);
    cr_assert(bn_json_as_double(bn_json_array_at(a, 4), &d));
    cr_assert_eq(d, 0.0);
    cr_assert_not(bn_json_as_int64(bn_json_array_at(a, 5), &i));
    cr_assert_not(bn_json_as_int64(bn_json_array_at(a, 6), &i));
    cr_assert(bn_json_as_int64(bn_json_array_at(a, 7), &i));
    cr_assert_eq(i, 1000);
    bn_error err = {0};
    cr_assert_eq(bn_json_get_int64(bn_json_array_at(a, 6), "x", &i, &err), BN_STATUS_FORMAT);
    bn_json_free(doc);
    cr_assert_eq(parse_status("[1e400]", 7, &err), BN_STATUS_FORMAT);
    char big[5000];
    memset(big, '9', sizeof big);
    doc = NULL;
    cr_assert_eq(bn_json_parse(big, sizeof big, &doc, &err), BN_STATUS_FORMAT); /* 1e5000 */
}

Test(json, typed_getters_name_the_value_in_errors)
{
    bn_json_doc *doc = parse_ok("{\"n\": \"str\"}");
    const bn_json_value *root = bn_json_root(doc);
    bn_error err = {0};
    int64_t i;
    cr_assert_eq(bn_json_get_int64(bn_json_object_get(root, "n"), "config.json: n", &i, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "config.json: n") && strstr(err.message, "string"), "%s",
              err.message);
    bn_error err2 = {0};
    bool b;
    cr_assert_eq(bn_json_get_bool(bn_json_object_get(root, "m"), "m", &b, &err2),
                 BN_STATUS_NOT_FOUND);
    bn_json_free(doc);
}

Test(json, parses_the_llama3_tokenizer_json)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/tokenizer/llama3/tokenizer.json", BN_SHARED_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        cr_skip_test("%s is absent", path);
    fclose(f);
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_json_parse_file(path, &doc, &err), BN_STATUS_OK, "%s", err.message);
    const bn_json_value *model = bn_json_object_get(bn_json_root(doc), "model");
    cr_assert_eq(bn_json_object_len(bn_json_object_get(model, "vocab")), 128000);
    cr_assert_eq(bn_json_array_len(bn_json_object_get(model, "merges")), 280147);
    bn_json_free(doc);
}

Test(json, reports_missing_file_as_io_error)
{
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_json_parse_file("/nonexistent/x.json", &doc, &err), BN_STATUS_IO);
    cr_assert(strstr(err.message, "/nonexistent/x.json") != NULL);
}

Test(json, survives_random_mutations_without_reading_out_of_bounds)
{
    const char *seed = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"\\u0120b\": 1},"
                       " \"merges\": [\"a b\", [\"c\", \"d\"]]}, \"x\": [1.5e3, -0, true, null,"
                       " \"\\ud83d\\ude00\"]}";
    size_t len = strlen(seed);
    unsigned state = 12345;
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefE+-. \t\ntrue";
    for (int iter = 0; iter < 3000; iter++) {
        char *buf = malloc(len);
        memcpy(buf, seed, len);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            state = state * 1103515245u + 12345u;
            size_t at = (state >> 8) % len;
            state = state * 1103515245u + 12345u;
            buf[at] = (state >> 16) % 5 == 0 ? (char)(state >> 8)
                                              : alphabet[(state >> 8) % (sizeof alphabet - 1)];
        }
        bn_json_doc *doc = NULL;
        bn_error err = {0};
        bn_status st = bn_json_parse(buf, len, &doc, &err);
        cr_assert(st == BN_STATUS_OK || st == BN_STATUS_FORMAT, "iteration %d: status %d", iter, st);
        if (st == BN_STATUS_FORMAT)
            cr_assert(strstr(err.message, "at byte") != NULL, "%s", err.message);
        bn_json_free(doc);
        free(buf);
    }
}

Test(json, skips_a_leading_byte_order_mark_only)
{
    bn_json_doc *doc = parse_ok("\xef\xbb\xbf{\"a\": 1}");
    cr_assert_eq(bn_json_object_len(bn_json_root(doc)), 1);
    bn_json_free(doc);
    bn_error err = {0};
    cr_assert_eq(parse_status("[1, \xef\xbb\xbf 2]", 10, &err), BN_STATUS_FORMAT);
}
