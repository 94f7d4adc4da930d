/* test_server.c: bitnet-server end to end, on the bundled model, over
 * loopback: every endpoint, streaming, stop strings, auth, the bad-input
 * and fault cases (malformed bodies, limits, slow and vanished clients,
 * idle connections), concurrency, the queue limit, the prompt cache and
 * SIGTERM. Each test starts its own server and stops it; every wait is
 * bounded. Tests that need a slow server run the scalar reference kernels
 * (BN_KERNELS=ref, ~50 tokens/s on one thread) so that a request stays
 * busy for a second or so. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loader/json.h"
#include "tests/server/harness.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static test_response post(const test_server *s, const char *path, const char *body)
{
    return test_http(s->port, "POST", path, NULL, body, strlen(body));
}

static bn_json_doc *parse(const char *body)
{
    bn_json_doc *doc = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_json_parse(body, strlen(body), &doc, &err), BN_STATUS_OK,
                 "not JSON (%s): %s", err.message, body);
    return doc;
}

/* A string at a path of object keys and array indexes ("choices", "0",
 * "message", "content"), or NULL. */
static const bn_json_value *at(const bn_json_doc *doc, const char *const *path)
{
    const bn_json_value *v = bn_json_root(doc);
    for (int i = 0; path[i]; i++) {
        if (bn_json_is(v, BN_JSON_ARRAY))
            v = bn_json_array_at(v, (size_t)atoi(path[i]));
        else
            v = bn_json_object_get(v, path[i]);
    }
    return v;
}
#define AT(doc, ...) at(doc, (const char *const[]){__VA_ARGS__, NULL})

static char *str_at(const bn_json_doc *doc, const bn_json_value *v)
{
    (void)doc;
    const char *s;
    cr_assert(bn_json_as_string(v, &s, NULL), "expected a string");
    return strdup(s);
}

static int64_t int_at(const bn_json_value *v)
{
    int64_t x;
    cr_assert(bn_json_as_int64(v, &x), "expected an integer");
    return x;
}

/* Asserts an OpenAI error body with this status and (when not NULL) code. */
static void expect_error(test_response *r, int status, const char *code)
{
    cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status, status,
                 r->body ? r->body : "");
    bn_json_doc *doc = parse(r->body);
    const char *msg;
    cr_assert(bn_json_as_string(AT(doc, "error", "message"), &msg, NULL), "%s", r->body);
    cr_assert(strlen(msg) > 0);
    cr_assert(bn_json_is(AT(doc, "error", "type"), BN_JSON_STRING), "%s", r->body);
    if (code) {
        const char *got = "";
        bn_json_as_string(AT(doc, "error", "code"), &got, NULL);
        cr_assert_str_eq(got, code, "%s", r->body);
    }
    bn_json_free(doc);
}

static void expect_healthy(const test_server *s)
{
    test_response r = test_http(s->port, "GET", "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    test_response_free(&r);
}

/* The text of a non-streaming completion or chat completion. */
static char *completion_text(test_response *r, bool chat, char *finish, size_t finish_cap)
{
    cr_assert_eq(r->status, 200, "status %d: %s", r->status, r->body ? r->body : "");
    bn_json_doc *doc = parse(r->body);
    char *text = chat ? str_at(doc, AT(doc, "choices", "0", "message", "content"))
                      : str_at(doc, AT(doc, "choices", "0", "text"));
    if (finish) {
        char *f = str_at(doc, AT(doc, "choices", "0", "finish_reason"));
        snprintf(finish, finish_cap, "%s", f);
        free(f);
    }
    bn_json_free(doc);
    return text;
}

/* Concatenated content of a stream; checks the framing on the way. */
static char *stream_text(test_response *r, bool chat, char *finish, size_t finish_cap)
{
    cr_assert_eq(r->status, 200, "status %d: %s", r->status, r->body ? r->body : "");
    cr_assert(strstr(r->headers, "text/event-stream"), "%s", r->headers);
    char **ev;
    size_t n = test_sse_events(r->body, &ev);
    cr_assert(n >= 2, "%zu events", n);
    cr_assert_str_eq(ev[n - 1], "[DONE]");
    size_t cap = 1, len = 0;
    char *text = calloc(1, 1);
    for (size_t i = 0; i + 1 < n; i++) {
        bn_json_doc *doc = parse(ev[i]);
        const char *obj;
        cr_assert(bn_json_as_string(AT(doc, "object"), &obj, NULL));
        cr_assert_str_eq(obj, chat ? "chat.completion.chunk" : "text_completion");
        const bn_json_value *piece =
            chat ? AT(doc, "choices", "0", "delta", "content") : AT(doc, "choices", "0", "text");
        const char *s;
        if (bn_json_as_string(piece, &s, NULL)) {
            size_t l = strlen(s);
            cap = len + l + 1;
            text = realloc(text, cap);
            memcpy(text + len, s, l + 1);
            len += l;
        }
        const char *f;
        if (finish && bn_json_as_string(AT(doc, "choices", "0", "finish_reason"), &f, NULL))
            snprintf(finish, finish_cap, "%s", f);
        bn_json_free(doc);
    }
    test_sse_free(ev, n);
    return text;
}

static const char *const no_args[] = {NULL};

Test(server, health_models_and_metrics_answer)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    test_response r = test_http(s.port, "GET", "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"ok\""));
    test_response_free(&r);

    r = test_http(s.port, "GET", "/v1/models", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    bn_json_doc *doc = parse(r.body);
    char *id = str_at(doc, AT(doc, "data", "0", "id"));
    cr_assert_str_eq(id, "tiny-bitnet-I2_S.gguf");
    free(id);
    bn_json_free(doc);
    test_response_free(&r);

    r = post(&s, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4}");
    test_response_free(&r);
    r = test_http(s.port, "GET", "/metrics", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.headers, "text/plain"));
    static const char *const names[] = {"bitnet_requests_total 1",   "bitnet_tokens_predicted_total",
                                        "bitnet_prompt_tokens_total", "bitnet_queue_depth 0",
                                        "bitnet_slots_busy 0",        "bitnet_tokens_per_second",
                                        "# TYPE bitnet_requests_total counter"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        cr_assert(strstr(r.body, names[i]), "no %s in:\n%s", names[i], r.body);
    test_response_free(&r);

    char *log = test_server_log(&s);
    cr_assert(strstr(log, "POST /v1/completions 200 prompt=5 cached=0 gen=4"), "%s", log);
    free(log);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, chat_completion_has_openai_fields_and_usage)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    test_response r = post(&s, "/v1/chat/completions",
                           "{\"model\": \"x\", \"messages\": [{\"role\": \"system\", \"content\": "
                           "\"You tell stories.\"}, {\"role\": \"user\", \"content\": \"Tell me "
                           "a story\"}], \"max_tokens\": 12, \"temperature\": 0, \"unknown\": [1]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    bn_json_doc *doc = parse(r.body);
    const char *s1;
    cr_assert(bn_json_as_string(AT(doc, "object"), &s1, NULL));
    cr_assert_str_eq(s1, "chat.completion");
    cr_assert(bn_json_as_string(AT(doc, "id"), &s1, NULL) && strncmp(s1, "chatcmpl-", 9) == 0);
    cr_assert(bn_json_as_string(AT(doc, "choices", "0", "message", "role"), &s1, NULL));
    cr_assert_str_eq(s1, "assistant");
    cr_assert(bn_json_as_string(AT(doc, "choices", "0", "finish_reason"), &s1, NULL));
    cr_assert(strcmp(s1, "stop") == 0 || strcmp(s1, "length") == 0);
    int64_t pt = int_at(AT(doc, "usage", "prompt_tokens"));
    int64_t ct = int_at(AT(doc, "usage", "completion_tokens"));
    cr_assert(pt > 5 && ct >= 1 && ct <= 12);
    cr_assert_eq(int_at(AT(doc, "usage", "total_tokens")), pt + ct);
    bn_json_free(doc);
    test_response_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, greedy_completion_is_deterministic_and_streams_the_same_text)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    const char *body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"temperature\": 0, "
                       "\"ignore_eos\": true}";
    char f1[16], f2[16], f3[16];
    test_response r1 = post(&s, "/v1/completions", body);
    test_response r2 = post(&s, "/v1/completions", body);
    char *t1 = completion_text(&r1, false, f1, sizeof f1);
    char *t2 = completion_text(&r2, false, f2, sizeof f2);
    cr_assert_str_eq(t1, t2);
    cr_assert_str_eq(f1, "length");
    cr_assert(strlen(t1) > 20);
    test_response r3 = post(&s, "/v1/completions",
                            "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"temperature\": "
                            "0, \"ignore_eos\": true, \"stream\": true}");
    char *t3 = stream_text(&r3, false, f3, sizeof f3);
    cr_assert_str_eq(t3, t1);
    cr_assert_str_eq(f3, "length");
    free(t1);
    free(t2);
    free(t3);
    test_response_free(&r1);
    test_response_free(&r2);
    test_response_free(&r3);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, no_mmap_serves_the_same_greedy_text_as_the_mapped_model)
{
    const char *body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 16, \"temperature\": 0, "
                       "\"ignore_eos\": true}";
    const char *const read_args[] = {"--no-mmap", NULL};
    char *text[2];
    for (int i = 0; i < 2; i++) {
        test_server s;
        test_server_start(&s, NULL, i ? read_args : no_args);
        char fin[16];
        test_response r = post(&s, "/v1/completions", body);
        text[i] = completion_text(&r, false, fin, sizeof fin);
        test_response_free(&r);
        cr_assert_eq(test_server_stop(&s), 0);
    }
    cr_assert(strlen(text[0]) > 10);
    cr_assert_str_eq(text[1], text[0]);
    free(text[0]);
    free(text[1]);
}

Test(server, chat_stream_has_role_chunk_usage_chunk_and_done)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    test_response r = post(&s, "/v1/chat/completions",
                           "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], "
                           "\"max_tokens\": 6, \"stream\": true, \"stream_options\": "
                           "{\"include_usage\": true}, \"seed\": 7}");
    cr_assert_eq(r.status, 200);
    char **ev;
    size_t n = test_sse_events(r.body, &ev);
    cr_assert(n >= 4);
    cr_assert(strstr(ev[0], "\"role\":\"assistant\""), "%s", ev[0]);
    cr_assert(strstr(ev[n - 2], "\"usage\"") && strstr(ev[n - 2], "\"choices\":[]"), "%s",
              ev[n - 2]);
    cr_assert(strstr(ev[n - 3], "\"finish_reason\":\""), "%s", ev[n - 3]);
    cr_assert_str_eq(ev[n - 1], "[DONE]");
    test_sse_free(ev, n);
    test_response_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, stop_strings_cut_the_text_also_across_tokens_and_in_streams)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    const char *base = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, "
                       "\"ignore_eos\": true";
    char body[512];
    snprintf(body, sizeof body, "%s}", base);
    test_response r = post(&s, "/v1/completions", body);
    char *full = completion_text(&r, false, NULL, 0);
    test_response_free(&r);
    cr_assert(strlen(full) > 30);
    /* Six bytes from the middle: most likely spans two tokens. A stop
     * string of a JSON-safe piece. */
    char stop[8];
    size_t at = 15;
    while (full[at] == '"' || full[at] == '\\' || (unsigned char)full[at] < 0x20)
        at++;
    memcpy(stop, full + at, 6);
    stop[6] = '\0';
    cr_assert(!strchr(stop, '"') && !strchr(stop, '\\') && !strchr(stop, '\n'));
    size_t want_len = (size_t)(strstr(full, stop) - full);

    for (int stream = 0; stream < 2; stream++) {
        snprintf(body, sizeof body, "%s, \"stop\": [\"zzzz\", \"%s\"], \"stream\": %s}", base, stop,
                 stream ? "true" : "false");
        char finish[16];
        test_response q = post(&s, "/v1/completions", body);
        char *t = stream ? stream_text(&q, false, finish, sizeof finish)
                         : completion_text(&q, false, finish, sizeof finish);
        cr_assert_eq(strlen(t), want_len, "stop '%s' in '%s' gave '%s'", stop, full, t);
        cr_assert_eq(strncmp(t, full, want_len), 0);
        cr_assert_str_eq(finish, "stop");
        free(t);
        test_response_free(&q);
    }
    /* A single string works too. */
    snprintf(body, sizeof body, "%s, \"stop\": \"%s\"}", base, stop);
    r = post(&s, "/v1/completions", body);
    char *t = completion_text(&r, false, NULL, 0);
    cr_assert_eq(strlen(t), want_len);
    free(t);
    test_response_free(&r);
    free(full);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, tokenize_and_detokenize_round_trip)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    test_response r = post(&s, "/tokenize", "{\"content\": \"Hello world\", \"with_pieces\": false}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    bn_json_doc *doc = parse(r.body);
    const bn_json_value *toks = AT(doc, "tokens");
    size_t n = bn_json_array_len(toks);
    cr_assert(n >= 2);
    char body[512] = "{\"tokens\": [";
    for (size_t i = 0; i < n; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s%lld", i ? "," : "",
                 (long long)int_at(bn_json_array_at(toks, i)));
    strcat(body, "]}");
    bn_json_free(doc);
    test_response_free(&r);
    r = post(&s, "/detokenize", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    doc = parse(r.body);
    char *content = str_at(doc, AT(doc, "content"));
    cr_assert(strstr(content, "Hello world"), "'%s'", content);
    free(content);
    bn_json_free(doc);
    test_response_free(&r);

    r = post(&s, "/tokenize", "{\"content\": \"Hi\", \"add_special\": true, \"with_pieces\": true}");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "{\"tokens\":[{\"id\":1,\"piece\":\"\"}"), "%s", r.body);
    test_response_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, api_key_is_required_everywhere_but_health)
{
    test_server s;
    const char *const args[] = {"--api-key", "sekret", NULL};
    test_server_start(&s, NULL, args);
    const char *body = "{\"prompt\": \"Once\", \"max_tokens\": 2}";
    test_response r = test_http(s.port, "POST", "/v1/completions", NULL, body, strlen(body));
    expect_error(&r, 401, "invalid_api_key");
    test_response_free(&r);
    r = test_http(s.port, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", NULL, 0);
    expect_error(&r, 401, "invalid_api_key");
    test_response_free(&r);
    r = test_http(s.port, "GET", "/metrics", "Authorization: Bearer sekretX\r\n", NULL, 0);
    expect_error(&r, 401, "invalid_api_key");
    test_response_free(&r);
    r = test_http(s.port, "POST", "/v1/completions", "Authorization: Bearer sekret\r\n", body,
                  strlen(body));
    cr_assert_eq(r.status, 200, "%s", r.body);
    test_response_free(&r);
    r = test_http(s.port, "GET", "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    test_response_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, bad_requests_get_clear_4xx_errors_and_the_server_keeps_going)
{
    test_server s;
    const char *const args[] = {"--max-body", "4096", "--max-tokens", "100", NULL};
    test_server_start(&s, NULL, args);
    static const struct {
        const char *path, *body;
        int status;
        const char *code;
    } cases[] = {
        {"/v1/chat/completions", "{\"messages\": [", 400, "invalid_json"},
        {"/v1/chat/completions", "[1, 2]", 400, "invalid_json"},
        {"/v1/chat/completions", "", 400, "invalid_json"},
        {"/v1/chat/completions", "{}", 400, "missing_required_parameter"},
        {"/v1/chat/completions", "{\"messages\": []}", 400, "invalid_value"},
        {"/v1/chat/completions", "{\"messages\": \"hi\"}", 400, "invalid_type"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}",
         400, "invalid_value"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\"}]}", 400, "invalid_value"},
        {"/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400,
         "invalid_type"},
        {"/v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\": \"x\", \"temperature\": -1}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": -5}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1e300}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 101}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 2.5}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"top_k\": 99999999999999999999}", 400,
         "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"seed\": \"1\"}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\": \"x\", \"n\": 2}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"x\", \"stop\": 3}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\": \"x\", \"stream\": \"yes\"}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\": [1, 99999]}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": 42}", 400, "invalid_type"},
        {"/v1/completions", "{\"prompt\": \"a\\u0000b\"}", 400, "invalid_value"},
        {"/v1/completions", "{\"prompt\": \"\xff\xfe bad utf-8\"}", 400, "invalid_json"},
        {"/v1/completions", "{\"prompt\": \"\xc3\"}", 400, "invalid_json"},
        {"/detokenize", "{\"tokens\": [-1]}", 400, "invalid_value"},
        {"/detokenize", "{\"tokens\": \"1 2\"}", 400, "invalid_type"},
        {"/tokenize", "{\"text\": \"x\"}", 400, "missing_required_parameter"},
        {"/v1/nothing", "{}", 404, "not_found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_response r = post(&s, cases[i].path, cases[i].body);
        cr_assert_eq(r.status, cases[i].status, "case %zu (%s): %d %s", i, cases[i].body,
                     r.status, r.body ? r.body : "");
        expect_error(&r, cases[i].status, cases[i].code);
        test_response_free(&r);
    }
    /* A prompt longer than the context (256 positions). */
    char *big = malloc(20000);
    strcpy(big, "{\"prompt\": \"");
    for (int i = 0; i < 600; i++)
        strcat(big, "cat ");
    strcat(big, "\"}");
    test_response r = post(&s, "/v1/completions", big);
    expect_error(&r, 400, "context_length_exceeded");
    test_response_free(&r);
    /* A body over the limit (4096 bytes). */
    for (int i = 0; i < 1000; i++)
        strcat(big, "cat ");
    r = post(&s, "/v1/completions", big);
    expect_error(&r, 413, "body_too_large");
    test_response_free(&r);
    free(big);
    /* Wrong method. */
    r = test_http(s.port, "GET", "/v1/completions", NULL, NULL, 0);
    expect_error(&r, 405, "method_not_allowed");
    test_response_free(&r);

    expect_healthy(&s);
    r = post(&s, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 3}");
    cr_assert_eq(r.status, 200);
    test_response_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, a_client_that_never_finishes_its_request_is_timed_out)
{
    test_server s;
    const char *const args[] = {"--timeout", "1", NULL};
    test_server_start(&s, NULL, args);
    int fd = test_connect(s.port);
    cr_assert(fd >= 0);
    const char *part = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"pro";
    cr_assert(send(fd, part, strlen(part), MSG_NOSIGNAL) > 0);
    /* Meanwhile others are served. */
    test_response r = post(&s, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 3}");
    cr_assert_eq(r.status, 200);
    test_response_free(&r);
    /* The server closes it after about a second of silence. */
    double t0 = now_s();
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double waited = now_s() - t0;
    cr_assert(n <= 0 || waited < 5.0, "the slow connection was not closed");
    cr_assert(waited < 5.0, "closed only after %.1f s", waited);
    close(fd);

    /* A client that trickles its body, a byte every 200 ms, is cut too:
     * the whole request must arrive within --timeout. */
    fd = test_connect(s.port);
    cr_assert(fd >= 0);
    const char *head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    cr_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    t0 = now_s();
    bool cut = false;
    for (int i = 0; i < 50 && !cut; i++) { /* at most 10 s */
        usleep(200000);
        if (send(fd, " ", 1, MSG_NOSIGNAL) <= 0)
            cut = true;
        char b;
        if (recv(fd, &b, 1, MSG_DONTWAIT) == 0)
            cut = true;
    }
    cr_assert(cut, "a trickling client was not cut off");
    cr_assert(now_s() - t0 < 5.0, "cut only after %.1f s", now_s() - t0);
    close(fd);
    expect_healthy(&s);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, hundreds_of_idle_connections_do_not_block_requests)
{
    test_server s;
    const char *const args[] = {"--max-connections", "512", NULL};
    test_server_start(&s, NULL, args);
    enum { N = 300 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = test_connect(s.port);
        cr_assert(fds[i] >= 0, "connection %d refused", i);
    }
    test_response r = post(&s, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 3}");
    cr_assert_eq(r.status, 200);
    test_response_free(&r);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    expect_healthy(&s);
    cr_assert_eq(test_server_stop(&s), 0);
}

typedef struct job {
    int port;
    const char *body;
    test_response r;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->r = test_http(j->port, "POST", "/v1/completions", NULL, j->body, strlen(j->body));
    return NULL;
}

Test(server, concurrent_requests_are_batched_and_match_the_sequential_result)
{
    test_server s;
    const char *const args[] = {"-np", "4", NULL};
    test_server_start(&s, NULL, args);
    static const char *const prompts[] = {
        "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 0, \"ignore_eos\": true}",
        "{\"prompt\": \"The dog\", \"max_tokens\": 30, \"temperature\": 0, \"ignore_eos\": true}",
        "{\"prompt\": \"Lily and Ben went\", \"max_tokens\": 25, \"temperature\": 0, \"ignore_eos\": true}",
    };
    enum { N = 9 };
    char *want[3];
    for (int i = 0; i < 3; i++) {
        test_response r = post(&s, "/v1/completions", prompts[i]);
        want[i] = completion_text(&r, false, NULL, 0);
        test_response_free(&r);
    }
    job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){s.port, prompts[i % 3], {0}};
        cr_assert_eq(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        char *t = completion_text(&jobs[i].r, false, NULL, 0);
        cr_assert_str_eq(t, want[i % 3], "request %d", i);
        free(t);
        test_response_free(&jobs[i].r);
    }
    for (int i = 0; i < 3; i++)
        free(want[i]);
    cr_assert_eq(test_server_stop(&s), 0);
}

/* Reads from fd until `needle` arrives (or 30 s pass, or the peer closes);
 * keeps a sliding window of what was read, so streams of any length fit. */
static bool read_until(int fd, const char *needle)
{
    char buf[8192];
    size_t n = 0, keep = strlen(needle);
    double end = now_s() + 30.0; /* ASan + the reference kernels on a busy machine are slow */
    while (now_s() < end) {
        if (n + 1 >= sizeof buf) {
            memmove(buf, buf + n - keep, keep);
            n = keep;
        }
        ssize_t got = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (got <= 0)
            return false;
        n += (size_t)got;
        buf[n] = '\0';
        if (strstr(buf, needle))
            return true;
    }
    return false;
}

static int open_stream(int port, const char *body)
{
    int fd = test_connect(port);
    cr_assert(fd >= 0);
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/completions HTTP/1.0\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    cr_assert(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    cr_assert(send(fd, body, strlen(body), MSG_NOSIGNAL) > 0);
    cr_assert(read_until(fd, "data: "), "no first chunk");
    return fd;
}

static const char *const long_stream =
    "{\"prompt\": \"Once upon a time\", \"max_tokens\": 150, \"ignore_eos\": true, \"stream\": true}";

Test(server, a_full_queue_answers_503_with_retry_after)
{
    test_server s;
    const char *const args[] = {"-np", "1", "--queue", "0", NULL};
    test_server_start(&s, "ref", args);
    int fd = open_stream(s.port, long_stream); /* the one slot, busy for ~3 s */
    test_response r = post(&s, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 3}");
    expect_error(&r, 503, "queue_full");
    cr_assert(strstr(r.headers, "Retry-After:"), "%s", r.headers);
    test_response_free(&r);
    close(fd);
    /* The slot comes free once the server sees the client gone. */
    double end = now_s() + 10.0;
    int status = 0;
    while (now_s() < end && status != 200) {
        r = post(&s, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 3}");
        status = r.status;
        test_response_free(&r);
        if (status != 200)
            usleep(50000);
    }
    cr_assert_eq(status, 200);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, a_client_killed_mid_stream_frees_its_slot_and_others_keep_going)
{
    test_server s;
    const char *const args[] = {"-np", "2", NULL};
    test_server_start(&s, "ref", args);
    int gone = open_stream(s.port, long_stream);
    job other = {s.port,
                 "{\"prompt\": \"The dog\", \"max_tokens\": 20, \"ignore_eos\": true, \"stream\": true}",
                 {0}};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_job, &other), 0);
    /* An abortive close (RST), as when a client process is killed. */
    struct linger lg = {1, 0};
    setsockopt(gone, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(gone);
    pthread_join(th, NULL);
    char finish[16];
    char *t = stream_text(&other.r, false, finish, sizeof finish);
    cr_assert_str_eq(finish, "length");
    free(t);
    test_response_free(&other.r);
    /* The killed stream's slot is released well before its 150 tokens. */
    double end = now_s() + 10.0;
    bool freed = false;
    while (now_s() < end && !freed) {
        test_response m = test_http(s.port, "GET", "/metrics", NULL, NULL, 0);
        freed = m.body && strstr(m.body, "bitnet_slots_busy 0") &&
                strstr(m.body, "bitnet_requests_cancelled_total 1");
        test_response_free(&m);
        if (!freed)
            usleep(20000);
    }
    cr_assert(freed, "the slot of the vanished client was not freed");
    char *log = test_server_log(&s);
    cr_assert(strstr(log, "client-gone"), "%s", log);
    free(log);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, a_reply_stops_at_the_request_time_limit)
{
    test_server s;
    const char *const args[] = {"--request-timeout", "1", NULL};
    test_server_start(&s, "ref", args);
    double t0 = now_s();
    test_response r = post(&s, "/v1/completions",
                           "{\"prompt\": \"Once\", \"max_tokens\": 250, \"ignore_eos\": true}");
    double took = now_s() - t0;
    char finish[16];
    char *t = completion_text(&r, false, finish, sizeof finish);
    cr_assert_str_eq(finish, "length");
    cr_assert(took < 3.0, "took %.1f s", took);
    free(t);
    test_response_free(&r);
    char *log = test_server_log(&s);
    cr_assert(strstr(log, " timeout"), "%s", log);
    free(log);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, a_repeated_chat_turn_reuses_the_cached_prefix)
{
    test_server s;
    const char *const args[] = {"-np", "2", NULL};
    test_server_start(&s, NULL, args);
    const char *turn1 = "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story about "
                        "a cat and a dog who lived in a big house\"}], \"max_tokens\": 16, "
                        "\"temperature\": 0}";
    test_response r = post(&s, "/v1/chat/completions", turn1);
    char *reply = completion_text(&r, true, NULL, 0);
    test_response_free(&r);
    /* Another conversation in between takes the other slot. */
    r = post(&s, "/v1/chat/completions",
             "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 4}");
    test_response_free(&r);
    char body[2048];
    char esc[1024];
    size_t k = 0;
    for (const char *p = reply; *p && k + 8 < sizeof esc; p++) {
        if (*p == '"' || *p == '\\') {
            esc[k++] = '\\';
            esc[k++] = *p;
        } else if (*p == '\n') {
            esc[k++] = '\\';
            esc[k++] = 'n';
        } else if ((unsigned char)*p >= 0x20)
            esc[k++] = *p;
    }
    esc[k] = '\0';
    snprintf(body, sizeof body,
             "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story about a cat and "
             "a dog who lived in a big house\"}, {\"role\": \"assistant\", \"content\": \"%s\"}, "
             "{\"role\": \"user\", \"content\": \"And then?\"}], \"max_tokens\": 4}", esc);
    r = post(&s, "/v1/chat/completions", body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    test_response_free(&r);
    free(reply);
    char *log = test_server_log(&s);
    /* The third request's log line: most of its prompt came from the cache. */
    const char *line = log, *p;
    for (int i = 0; i < 3; i++) {
        p = strstr(line, "POST /v1/chat/completions 200 prompt=");
        cr_assert(p, "%s", log);
        line = p + 1;
    }
    int prompt = 0, cached = 0;
    cr_assert_eq(sscanf(p, "POST /v1/chat/completions 200 prompt=%d cached=%d", &prompt, &cached), 2);
    cr_assert(cached >= 20 && cached * 2 > prompt, "prompt %d, cached %d:\n%s", prompt, cached, log);
    free(log);
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, sigterm_finishes_running_streams_then_exits_0)
{
    test_server s;
    const char *const args[] = {"--shutdown-timeout", "60", NULL};
    test_server_start(&s, "ref", args);
    int fd = open_stream(s.port,
                         "{\"prompt\": \"Once\", \"max_tokens\": 20, \"ignore_eos\": true, "
                         "\"stream\": true}");
    kill(s.pid, SIGTERM);
    if (!read_until(fd, "data: [DONE]")) {
        char *log = test_server_log(&s);
        cr_log_error("server log:\n%s", log);
        free(log);
        cr_assert_fail("the running stream was cut");
    }
    close(fd);
    /* No new connections once it stopped. */
    pid_t pid = s.pid;
    (void)pid;
    cr_assert_eq(test_server_stop(&s), 0);
}

Test(server, prefill_in_one_token_chunks_still_gives_the_same_text)
{
    test_server s;
    const char *const args[] = {"-np", "3", "-b", "1", NULL}; /* -b is raised to the slots */
    test_server_start(&s, NULL, args);
    const char *body = "{\"prompt\": \"Once upon a time, in a big forest\", \"max_tokens\": 12, "
                       "\"temperature\": 0, \"ignore_eos\": true}";
    test_response r = post(&s, "/v1/completions", body);
    char *want = completion_text(&r, false, NULL, 0);
    test_response_free(&r);
    job jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (job){s.port, body, {0}};
        cr_assert_eq(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        char *t = completion_text(&jobs[i].r, false, NULL, 0);
        cr_assert_str_eq(t, want);
        free(t);
        test_response_free(&jobs[i].r);
    }
    free(want);
    cr_assert_eq(test_server_stop(&s), 0);
}

/* A counter from /metrics ("bitnet_steps_total 42"), or -1 when absent. */
static long long metric(const test_server *s, const char *name)
{
    test_response m = test_http(s->port, "GET", "/metrics", NULL, NULL, 0);
    long long v = -1;
    char key[96];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at_key = m.body ? strstr(m.body, key) : NULL;
    if (at_key)
        v = strtoll(at_key + strlen(key), NULL, 10);
    test_response_free(&m);
    return v;
}

/* A prompt that arrives while another stream generates goes in chunks of
 * --prefill-decoding tokens, one per step beside the running stream, so
 * that stream's token gaps stay one small step long: its prefill takes at
 * least ceil(prompt / 2) steps here, where a 512-token batch would take one. */
Test(server, a_prompt_beside_a_running_stream_is_prefilled_in_small_chunks)
{
    test_server s;
    const char *const args[] = {"-np", "2", "--prefill-decoding", "2", NULL};
    test_server_start(&s, "ref", args);
    int fd = open_stream(s.port, long_stream); /* decoding for ~3 s */
    long long before = metric(&s, "bitnet_steps_total");
    test_response r = post(&s, "/v1/completions",
                           "{\"prompt\": \"The little dog ran across the garden, chasing a red "
                           "ball that bounced over the fence\", \"max_tokens\": 1}");
    long long after = metric(&s, "bitnet_steps_total");
    cr_assert_eq(r.status, 200, "%s", r.body);
    bn_json_doc *doc = parse(r.body);
    int64_t pt = int_at(AT(doc, "usage", "prompt_tokens"));
    bn_json_free(doc);
    test_response_free(&r);
    close(fd);
    cr_assert(pt >= 12, "prompt of %lld tokens", (long long)pt);
    cr_assert(before >= 0 && after - before >= (pt + 1) / 2,
              "%lld steps for a %lld-token prompt in chunks of 2", after - before, (long long)pt);
    cr_assert_eq(test_server_stop(&s), 0);
}

/* ---- the command line ---- */

#include "tests/support/run_tool.h"

static bn_test_run run_server(char *const argv[])
{
    return bn_test_run_tool(BN_BUILD_DIR "/tools/bitnet-server", argv);
}

Test(server_cli, bad_flags_exit_2_with_usage)
{
    char *const cases[][4] = {
        {"bitnet-server", "--port", "99999", NULL},
        {"bitnet-server", "--parallel", "0", NULL},
        {"bitnet-server", "--frobnicate", NULL, NULL},
        {"bitnet-server", "--api-key", "", NULL},
        {"bitnet-server", "--chat-template", "nope", NULL},
        {"bitnet-server", "-m", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bn_test_run r = run_server(cases[i]);
        cr_assert_eq(r.status, 2, "case %zu: exit %d, stderr: %s", i, r.status, r.err);
        cr_assert(strstr(r.err, "usage: bitnet-server"), "case %zu: %s", i, r.err);
        bn_test_run_free(&r);
    }
}

Test(server_cli, a_model_that_does_not_load_exits_1_with_a_message)
{
    char *const argv[] = {"bitnet-server", "--port", "0", "-m", "/nonexistent/model.gguf", NULL};
    bn_test_run r = run_server(argv);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "bitnet-server: error: "), "%s", r.err);
    bn_test_run_free(&r);
    char *const bad_host[] = {"bitnet-server", "--host", "not-an-address", NULL};
    r = run_server(bad_host);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "is not an IPv4 or IPv6 address"), "%s", r.err);
    bn_test_run_free(&r);
}

Test(server_cli, a_port_in_use_exits_1)
{
    test_server s;
    test_server_start(&s, NULL, no_args);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    char *const argv[] = {"bitnet-server", "--port", port, NULL};
    bn_test_run r = run_server(argv);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "cannot listen"), "%s", r.err);
    bn_test_run_free(&r);
    cr_assert_eq(test_server_stop(&s), 0);
}
