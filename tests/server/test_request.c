/* test_request.c: the request parser and the response writer of
 * bitnet-server, without HTTP or a model. */
#include <criterion/criterion.h>
#include <string.h>

#include "tools/server/request.h"
#include "tools/server/response.h"

static const srv_request_limits lim = {100, 2048};

static bool parse_as(srv_endpoint ep, const char *body, srv_request *r, srv_error *e)
{
    return srv_request_parse(ep, body, strlen(body), &lim, r, e);
}

Test(server_request, parses_a_chat_request_with_every_field)
{
    srv_request r;
    srv_error e;
    cr_assert(parse_as(SRV_ENDPOINT_CHAT,
                       "{\"model\": \"m\", \"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
                       " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"},"
                       " {\"type\": \"text\", \"text\": \"b\"}]}, {\"role\": \"assistant\","
                       " \"content\": null}], \"max_tokens\": 7, \"temperature\": 0.5,"
                       " \"top_p\": 0.9, \"top_k\": 5, \"min_p\": 0.1, \"repeat_penalty\": 1.1,"
                       " \"seed\": 42, \"stop\": [\"x\", \"\", \"yz\"], \"stream\": true,"
                       " \"stream_options\": {\"include_usage\": true}, \"n\": 1, \"whatever\": {}}",
                       &r, &e),
              "%s", e.message);
    cr_assert_eq(r.n_messages, 3);
    cr_assert_eq(r.messages[0].role, BN_CHAT_ROLE_SYSTEM);
    cr_assert_str_eq(r.messages[1].content, "ab");
    cr_assert_str_eq(r.messages[2].content, "");
    cr_assert_eq(r.max_tokens, 7);
    cr_assert_float_eq(r.sampling.temp, 0.5f, 1e-6);
    cr_assert_eq(r.sampling.top_k, 5);
    cr_assert(r.has_seed && r.sampling.seed == 42);
    cr_assert_eq(r.n_stop, 2); /* the empty one is dropped */
    cr_assert_str_eq(r.stop[1], "yz");
    cr_assert(r.stream && r.include_usage);
    srv_request_free(&r);
}

Test(server_request, null_fields_count_as_absent_and_defaults_apply)
{
    srv_request r;
    srv_error e;
    cr_assert(parse_as(SRV_ENDPOINT_COMPLETION,
                       "{\"prompt\": [\"one\"], \"max_tokens\": null, \"stop\": null, \"seed\": -1}",
                       &r, &e), "%s", e.message);
    cr_assert_str_eq(r.prompt, "one");
    cr_assert_eq(r.max_tokens, -1);
    cr_assert(!r.has_seed);
    cr_assert_eq(r.n_stop, 0);
    cr_assert_float_eq(r.sampling.temp, 0.8f, 1e-6);
    srv_request_free(&r);
    cr_assert(parse_as(SRV_ENDPOINT_COMPLETION, "{\"prompt\": [1, 2, 3]}", &r, &e));
    cr_assert_eq(r.n_ids, 3);
    cr_assert_eq(r.ids[2], 3);
    srv_request_free(&r);
}

Test(server_request, rejects_bad_fields_with_openai_errors)
{
    static const struct {
        srv_endpoint ep;
        const char *body, *param, *code;
    } cases[] = {
        {SRV_ENDPOINT_CHAT, "{", NULL, "invalid_json"},
        {SRV_ENDPOINT_CHAT, "{\"messages\": []}", "messages", "invalid_value"},
        {SRV_ENDPOINT_CHAT, "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}", "messages", "invalid_value"},
        {SRV_ENDPOINT_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", "messages", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"top_p\": 1.5}", "top_p", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"max_tokens\": 0}", "max_tokens", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"max_completion_tokens\": 1000}", "max_completion_tokens", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"repeat_penalty\": 0}", "repeat_penalty", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"stop\": [1]}", "stop", "invalid_type"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": [\"a\", \"b\"]}", "prompt", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": [5000]}", "prompt", "invalid_value"},
        {SRV_ENDPOINT_COMPLETION, "{\"prompt\": \"x\", \"stream_options\": 1}", "stream_options", "invalid_type"},
        {SRV_ENDPOINT_DETOKENIZE, "{\"tokens\": [1.5]}", "tokens", "invalid_type"},
        {SRV_ENDPOINT_TOKENIZE, "{\"content\": \"x\", \"add_special\": 1}", "add_special", "invalid_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        srv_request r;
        srv_error e;
        cr_assert(!parse_as(cases[i].ep, cases[i].body, &r, &e), "case %zu accepted", i);
        cr_assert_eq(e.http_status, 400);
        cr_assert_str_eq(e.type, "invalid_request_error");
        cr_assert_str_eq(e.code, cases[i].code, "case %zu: %s", i, e.message);
        if (cases[i].param)
            cr_assert_str_eq(e.param, cases[i].param, "case %zu", i);
        cr_assert(strlen(e.message) > 5);
        srv_request_free(&r);
    }
}

Test(server_response, json_strings_are_escaped_and_invalid_utf8_replaced)
{
    srv_buf b = {0};
    srv_buf_json_string(&b, "a\"\\\n\x01 \xc3\xa9 \xff \xe2\x82", 13);
    cr_assert_str_eq(b.data, "\"a\\\"\\\\\\n\\u0001 \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\"");
    srv_buf_free(&b);
}

Test(server_response, holds_back_only_an_incomplete_utf8_tail)
{
    cr_assert_eq(srv_utf8_complete_prefix("ab\xe2\x82", 4), 2);
    cr_assert_eq(srv_utf8_complete_prefix("ab\xe2\x82\xac", 5), 5);
    cr_assert_eq(srv_utf8_complete_prefix("ab\xf0", 3), 2);
    cr_assert_eq(srv_utf8_complete_prefix("ab\xff", 3), 3); /* invalid: sent, replaced */
    cr_assert_eq(srv_utf8_complete_prefix("", 0), 0);
}

Test(server_response, error_body_has_message_type_param_and_code)
{
    srv_buf b = {0};
    srv_write_error(&b, "bad \"x\"", "invalid_request_error", NULL, "c");
    cr_assert_str_eq(b.data, "{\"error\":{\"message\":\"bad \\\"x\\\"\",\"type\":\"invalid_request_"
                             "error\",\"param\":null,\"code\":\"c\"}}");
    srv_buf_free(&b);
}
