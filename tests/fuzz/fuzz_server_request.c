/* fuzz_server_request.c: libFuzzer target for bitnet-server's request
 * parser (tools/server/request.c: JSON body -> srv_request) and the response
 * writer it feeds (tools/server/response.c).
 *
 * The first input byte picks the endpoint (chat, completion, tokenize,
 * detokenize); the rest is the body. An accepted request must satisfy the
 * parser's promises (messages present for chat, non-empty NUL-free stop
 * strings, ids inside the vocabulary, max_tokens within the limit), and its
 * text is written back through the JSON writer, whose output must parse as
 * JSON again. A rejected one must carry a 4xx status, a type and a message.
 * Built only with -DBN_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/json.h"
#include "tools/server/request.h"
#include "tools/server/response.h"

static void must_be_json(const srv_buf *b)
{
    if (b->oom)
        return;
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    if (bn_json_parse(b->data, b->len, &doc, &err) != BN_STATUS_OK)
        abort(); /* the writer produced invalid JSON */
    bn_json_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    srv_endpoint ep = (srv_endpoint)(data[0] % 4);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    const srv_request_limits lim = {4096, 32000};
    srv_request r;
    srv_error e;
    memset(&e, 0, sizeof e);
    if (!srv_request_parse(ep, body, len, &lim, &r, &e)) {
        if (e.http_status < 400 || e.http_status > 599 || !e.type || !e.message[0])
            abort();
        srv_buf b = {0};
        srv_write_error(&b, e.message, e.type, e.param, e.code);
        must_be_json(&b);
        srv_buf_free(&b);
        srv_request_free(&r);
        return 0;
    }
    if (ep == SRV_ENDPOINT_CHAT && (r.n_messages == 0 || !r.messages))
        abort();
    if (r.max_tokens != -1 && (r.max_tokens < 1 || r.max_tokens > lim.max_tokens))
        abort();
    for (size_t i = 0; i < r.n_stop; i++)
        if (!r.stop[i] || !r.stop[i][0] || strlen(r.stop[i]) > SRV_MAX_STOP_BYTES)
            abort();
    for (size_t i = 0; i < r.n_ids; i++)
        if (r.ids[i] < 0 || r.ids[i] >= lim.n_vocab)
            abort();

    /* Everything the request carries, written back as JSON text. */
    srv_buf b = {0};
    srv_completion_info ci = {ep == SRV_ENDPOINT_CHAT, "cmpl-fuzz", "model", 0};
    for (size_t i = 0; i < r.n_messages; i++) {
        const char *c = r.messages[i].content;
        srv_buf_reset(&b);
        srv_write_completion(&b, &ci, c, strlen(c), "stop", 1, 1);
        must_be_json(&b);
    }
    if (r.prompt) {
        size_t keep = srv_utf8_complete_prefix(r.prompt, r.prompt_len);
        if (keep > r.prompt_len || r.prompt_len - keep > 3)
            abort();
        srv_buf_reset(&b);
        srv_write_completion(&b, &ci, r.prompt, keep, "length", 1, 1);
        must_be_json(&b);
    }
    srv_buf_free(&b);
    srv_request_free(&r);
    return 0;
}
