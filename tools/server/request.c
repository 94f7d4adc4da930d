/* request.c: JSON body -> srv_request, with OpenAI-style validation errors.
 * See request.h. Every field check names the field and the accepted range,
 * so a client sees what to fix. */
#include "tools/server/request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/json.h"

/* The one place that fills an srv_error; srv_error_set and bad() take their
 * arguments as "..." and pass them on here. */
static void error_vset(srv_error *e, int http_status, const char *type, const char *param,
                       const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));
static void error_vset(srv_error *e, int http_status, const char *type, const char *param,
                       const char *code, const char *fmt, va_list ap)
{
    e->http_status = http_status;
    e->type = type;
    e->param = param;
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
}

void srv_error_set(srv_error *e, int http_status, const char *type, const char *param,
                   const char *code, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    error_vset(e, http_status, type, param, code, fmt, ap);
    va_end(ap);
}

#define INVALID "invalid_request_error"

static bool bad(srv_error *e, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool bad(srv_error *e, const char *param, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(e, 400, INVALID, param, code, fmt, ap);
    va_end(ap);
    return false;
}

/* A field, or NULL when absent or null. */
static const bn_json_value *field(const bn_json_value *obj, const char *key)
{
    const bn_json_value *v = bn_json_object_get(obj, key);
    return bn_json_type_of(v) == BN_JSON_NULL ? NULL : v;
}

static bool get_double(const bn_json_value *obj, const char *key, double lo, double hi,
                       float *out, srv_error *e)
{
    const bn_json_value *v = field(obj, key);
    if (!v)
        return true;
    double d;
    if (!bn_json_as_double(v, &d))
        return bad(e, key, "invalid_type", "'%s' must be a number, not %s", key,
                   bn_json_type_name(bn_json_type_of(v)));
    if (!isfinite(d) || d < lo || d > hi)
        return bad(e, key, "invalid_value", "'%s' must be between %g and %g", key, lo, hi);
    *out = (float)d;
    return true;
}

static bool get_int(const bn_json_value *obj, const char *key, int64_t lo, int64_t hi,
                    int64_t *out, bool *present, srv_error *e)
{
    const bn_json_value *v = field(obj, key);
    if (present)
        *present = v != NULL;
    if (!v)
        return true;
    int64_t x;
    if (!bn_json_is(v, BN_JSON_NUMBER))
        return bad(e, key, "invalid_type", "'%s' must be an integer, not %s", key,
                   bn_json_type_name(bn_json_type_of(v)));
    if (!bn_json_as_int64(v, &x) || x < lo || x > hi)
        return bad(e, key, "invalid_value", "'%s' must be an integer between %lld and %lld", key,
                   (long long)lo, (long long)hi);
    *out = x;
    return true;
}

static bool get_bool(const bn_json_value *obj, const char *key, bool *out, srv_error *e)
{
    const bn_json_value *v = field(obj, key);
    if (!v)
        return true;
    if (!bn_json_as_bool(v, out))
        return bad(e, key, "invalid_type", "'%s' must be a boolean, not %s", key,
                   bn_json_type_name(bn_json_type_of(v)));
    return true;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static bool oom(srv_error *e)
{
    srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
    return false;
}

/* stop: a string or an array of strings. */
static bool parse_stop(const bn_json_value *obj, srv_request *r, srv_error *e)
{
    const bn_json_value *v = field(obj, "stop");
    if (!v)
        return true;
    const bn_json_value *one = v;
    size_t n = 1;
    if (bn_json_is(v, BN_JSON_ARRAY)) {
        n = bn_json_array_len(v);
        if (n > SRV_MAX_STOP)
            return bad(e, "stop", "invalid_value", "'stop' holds %zu strings, at most %d", n,
                       SRV_MAX_STOP);
    } else if (!bn_json_is(v, BN_JSON_STRING))
        return bad(e, "stop", "invalid_type", "'stop' must be a string or an array of strings");
    for (size_t i = 0; i < n; i++) {
        const bn_json_value *s = bn_json_is(v, BN_JSON_ARRAY) ? bn_json_array_at(v, i) : one;
        const char *str;
        size_t len;
        if (!bn_json_as_string(s, &str, &len))
            return bad(e, "stop", "invalid_type", "'stop' must be a string or an array of strings");
        if (len == 0)
            continue; /* an empty stop string would stop before anything */
        if (len > SRV_MAX_STOP_BYTES)
            return bad(e, "stop", "invalid_value", "a 'stop' string has %zu bytes, at most %d",
                       len, SRV_MAX_STOP_BYTES);
        if (memchr(str, '\0', len))
            return bad(e, "stop", "invalid_value", "a 'stop' string contains a NUL character");
        if (!(r->stop[r->n_stop] = dup_bytes(str, len)))
            return oom(e);
        r->n_stop++;
    }
    return true;
}

/* The fields every generation request shares. */
static bool parse_generation(const bn_json_value *obj, const srv_request_limits *lim,
                             srv_request *r, srv_error *e)
{
    int64_t x;
    bool present;
    bn_sampler_params *sp = &r->sampling;

    r->max_tokens = -1;
    /* max_tokens, OpenAI's newer max_completion_tokens, llama-server's n_predict */
    static const char *const max_keys[] = {"max_tokens", "max_completion_tokens", "n_predict"};
    for (size_t k = 0; k < 3; k++) {
        int64_t lo = k == 2 ? -1 : 1;
        if (!get_int(obj, max_keys[k], lo, lim->max_tokens, &x, &present, e)) {
            if (e->code && strcmp(e->code, "invalid_value") == 0)
                return bad(e, max_keys[k], "invalid_value",
                           "'%s' must be between 1 and %d (this server's limit)", max_keys[k],
                           (int)lim->max_tokens);
            return false;
        }
        if (present && x > 0 && r->max_tokens < 0)
            r->max_tokens = (int32_t)x;
    }
    if (!get_int(obj, "n", 1, 1, &x, NULL, e))
        return bad(e, "n", "invalid_value", "only 'n' = 1 is supported");
    if (!get_double(obj, "temperature", 0.0, 2.0, &sp->temp, e) ||
        !get_double(obj, "top_p", 0.0, 1.0, &sp->top_p, e) ||
        !get_double(obj, "min_p", 0.0, 1.0, &sp->min_p, e) ||
        !get_double(obj, "repeat_penalty", 0.0, 10.0, &sp->repeat_penalty, e))
        return false;
    if (sp->repeat_penalty <= 0.0f)
        return bad(e, "repeat_penalty", "invalid_value", "'repeat_penalty' must be above 0");
    if (!get_int(obj, "top_k", 0, INT32_MAX, &x, &present, e))
        return false;
    if (present)
        sp->top_k = (int32_t)x;
    if (!get_int(obj, "repeat_last_n", -1, 4096, &x, &present, e))
        return false;
    if (present)
        sp->repeat_last_n = (int32_t)x;
    if (!get_int(obj, "seed", INT64_MIN, INT64_MAX, &x, &present, e))
        return false;
    if (present && x != -1) {
        sp->seed = (uint64_t)x;
        r->has_seed = true;
    }
    if (!get_bool(obj, "stream", &r->stream, e) || !get_bool(obj, "ignore_eos", &r->ignore_eos, e))
        return false;
    const bn_json_value *so = field(obj, "stream_options");
    if (so) {
        if (!bn_json_is(so, BN_JSON_OBJECT))
            return bad(e, "stream_options", "invalid_type", "'stream_options' must be an object");
        if (!get_bool(so, "include_usage", &r->include_usage, e))
            return false;
    }
    return parse_stop(obj, r, e);
}

static bool parse_role(const char *s, bn_chat_role *out)
{
    if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0)
        *out = BN_CHAT_ROLE_SYSTEM;
    else if (strcmp(s, "user") == 0)
        *out = BN_CHAT_ROLE_USER;
    else if (strcmp(s, "assistant") == 0)
        *out = BN_CHAT_ROLE_ASSISTANT;
    else
        return false;
    return true;
}

/* content: a string, null (an assistant message), or an array of
 * {"type": "text", "text": ...} parts, joined. */
static bool parse_content(const bn_json_value *v, size_t i, srv_message *m, srv_error *e)
{
    const char *s;
    size_t len;
    if (!v) {
        if (m->role != BN_CHAT_ROLE_ASSISTANT)
            return bad(e, "messages", "invalid_value", "messages[%zu] has no 'content'", i);
        m->content = dup_bytes("", 0);
        return m->content ? true : oom(e);
    }
    if (bn_json_as_string(v, &s, &len)) {
        if (memchr(s, '\0', len))
            return bad(e, "messages", "invalid_value",
                       "messages[%zu].content contains a NUL character", i);
        m->content = dup_bytes(s, len);
        return m->content ? true : oom(e);
    }
    if (!bn_json_is(v, BN_JSON_ARRAY))
        return bad(e, "messages", "invalid_type",
                   "messages[%zu].content must be a string or an array of text parts", i);
    size_t total = 0, n = bn_json_array_len(v);
    for (size_t k = 0; k < n; k++) {
        const bn_json_value *part = bn_json_array_at(v, k);
        const char *type;
        if (!bn_json_as_string(bn_json_object_get(part, "type"), &type, NULL) ||
            strcmp(type, "text") != 0 ||
            !bn_json_as_string(bn_json_object_get(part, "text"), &s, &len))
            return bad(e, "messages", "invalid_value",
                       "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} "
                       "parts are supported", i, k);
        if (memchr(s, '\0', len))
            return bad(e, "messages", "invalid_value",
                       "messages[%zu].content contains a NUL character", i);
        total += len;
    }
    m->content = malloc(total + 1);
    if (!m->content)
        return oom(e);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        bn_json_as_string(bn_json_object_get(bn_json_array_at(v, k), "text"), &s, &len);
        memcpy(m->content + at, s, len);
        at += len;
    }
    m->content[at] = '\0';
    return true;
}

static bool parse_messages(const bn_json_value *obj, srv_request *r, srv_error *e)
{
    const bn_json_value *v = field(obj, "messages");
    if (!v)
        return bad(e, "messages", "missing_required_parameter", "'messages' is required");
    if (!bn_json_is(v, BN_JSON_ARRAY))
        return bad(e, "messages", "invalid_type", "'messages' must be an array");
    size_t n = bn_json_array_len(v);
    if (n == 0)
        return bad(e, "messages", "invalid_value", "'messages' is empty");
    if (n > SRV_MAX_MESSAGES)
        return bad(e, "messages", "invalid_value", "'messages' holds %zu messages, at most %d", n,
                   SRV_MAX_MESSAGES);
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages)
        return oom(e);
    for (size_t i = 0; i < n; i++) {
        const bn_json_value *m = bn_json_array_at(v, i);
        if (!bn_json_is(m, BN_JSON_OBJECT))
            return bad(e, "messages", "invalid_type", "messages[%zu] must be an object", i);
        const char *role;
        if (!bn_json_as_string(bn_json_object_get(m, "role"), &role, NULL))
            return bad(e, "messages", "invalid_value", "messages[%zu] has no 'role' string", i);
        if (!parse_role(role, &r->messages[i].role))
            return bad(e, "messages", "invalid_value",
                       "messages[%zu]: unknown role '%.40s' (system, developer, user or "
                       "assistant)", i, role);
        r->n_messages = i + 1;
        if (!parse_content(field(m, "content"), i, &r->messages[i], e))
            return false;
    }
    return true;
}

/* A JSON array of token ids in [0, n_vocab). */
static bool parse_ids(const bn_json_value *v, const char *key, int32_t n_vocab, srv_request *r,
                      srv_error *e)
{
    size_t n = bn_json_array_len(v);
    r->ids = malloc((n ? n : 1) * sizeof *r->ids);
    if (!r->ids)
        return oom(e);
    for (size_t i = 0; i < n; i++) {
        int64_t x;
        const bn_json_value *t = bn_json_array_at(v, i);
        if (!bn_json_as_int64(t, &x))
            return bad(e, key, "invalid_type", "'%s'[%zu] must be an integer token id", key, i);
        if (x < 0 || x >= n_vocab)
            return bad(e, key, "invalid_value", "'%s'[%zu] = %lld is not a token id (0..%d)", key,
                       i, (long long)x, (int)n_vocab - 1);
        r->ids[i] = (int32_t)x;
    }
    r->n_ids = n;
    return true;
}

/* prompt: a string, an array of one string, or an array of token ids. */
static bool parse_prompt(const bn_json_value *obj, const srv_request_limits *lim, srv_request *r,
                         srv_error *e)
{
    const bn_json_value *v = field(obj, "prompt");
    const char *s;
    size_t len;
    if (!v)
        return bad(e, "prompt", "missing_required_parameter", "'prompt' is required");
    if (bn_json_is(v, BN_JSON_ARRAY)) {
        size_t n = bn_json_array_len(v);
        const bn_json_value *first = bn_json_array_at(v, 0);
        if (n == 0)
            return bad(e, "prompt", "invalid_value", "'prompt' is empty");
        if (bn_json_is(first, BN_JSON_NUMBER))
            return parse_ids(v, "prompt", lim->n_vocab, r, e);
        if (n > 1)
            return bad(e, "prompt", "invalid_value", "only one prompt per request is supported");
        v = first;
    }
    if (!bn_json_as_string(v, &s, &len))
        return bad(e, "prompt", "invalid_type",
                   "'prompt' must be a string, an array of one string or of token ids");
    if (memchr(s, '\0', len))
        return bad(e, "prompt", "invalid_value", "'prompt' contains a NUL character");
    r->prompt = dup_bytes(s, len);
    r->prompt_len = len;
    return r->prompt ? true : oom(e);
}

void srv_request_free(srv_request *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_messages; i++)
        free(r->messages[i].content);
    free(r->messages);
    free(r->prompt);
    free(r->ids);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

bool srv_request_parse(srv_endpoint endpoint, const char *body, size_t len,
                       const srv_request_limits *lim, srv_request *r, srv_error *e)
{
    memset(r, 0, sizeof *r);
    r->endpoint = endpoint;
    bn_sampler_params_default(&r->sampling);
    r->max_tokens = -1;

    bn_error jerr;
    bn_error_clear(&jerr);
    bn_json_doc *doc = NULL;
    if (bn_json_parse(body, len, &doc, &jerr) != BN_STATUS_OK) {
        bad(e, NULL, "invalid_json", "the body is not valid JSON: %s", jerr.message);
        return false;
    }
    const bn_json_value *root = bn_json_root(doc);
    bool ok = false;
    if (!bn_json_is(root, BN_JSON_OBJECT)) {
        bad(e, NULL, "invalid_json", "the body must be a JSON object, not %s",
            bn_json_type_name(bn_json_type_of(root)));
        goto done;
    }
    switch (endpoint) {
    case SRV_ENDPOINT_CHAT:
        ok = parse_messages(root, r, e) && parse_generation(root, lim, r, e);
        break;
    case SRV_ENDPOINT_COMPLETION:
        ok = parse_prompt(root, lim, r, e) && parse_generation(root, lim, r, e);
        break;
    case SRV_ENDPOINT_TOKENIZE: {
        const bn_json_value *c = field(root, "content");
        const char *s;
        size_t n;
        if (!c)
            ok = bad(e, "content", "missing_required_parameter", "'content' is required");
        else if (!bn_json_as_string(c, &s, &n))
            ok = bad(e, "content", "invalid_type", "'content' must be a string");
        else if (memchr(s, '\0', n))
            ok = bad(e, "content", "invalid_value", "'content' contains a NUL character");
        else if (!(r->prompt = dup_bytes(s, n)))
            ok = oom(e);
        else {
            r->prompt_len = n;
            ok = get_bool(root, "add_special", &r->add_special, e) &&
                 get_bool(root, "with_pieces", &r->with_pieces, e);
        }
        break;
    }
    case SRV_ENDPOINT_DETOKENIZE: {
        const bn_json_value *t = field(root, "tokens");
        if (!t)
            ok = bad(e, "tokens", "missing_required_parameter", "'tokens' is required");
        else if (!bn_json_is(t, BN_JSON_ARRAY))
            ok = bad(e, "tokens", "invalid_type", "'tokens' must be an array of token ids");
        else
            ok = parse_ids(t, "tokens", lim->n_vocab, r, e);
        break;
    }
    default:
        ok = bad(e, NULL, NULL, "unknown endpoint");
    }
done:
    bn_json_free(doc);
    if (!ok)
        srv_request_free(r);
    return ok;
}
