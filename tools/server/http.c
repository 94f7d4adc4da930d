/* http.c: libmicrohttpd glue and the endpoints. See http.h.
 *
 * Per request, a srv_conn (MHD's con_cls) collects the body (bounded by
 * max_body_bytes), remembers the status sent and the token counts, and is
 * logged and freed in the request-completed callback. A streaming reply has
 * its own srv_stream, shared by the response's reader callback and the
 * srv_conn through a reference count, since MHD may free the response
 * before or after it reports the request complete.
 *
 * Disconnects: a non-streaming request waits for its task on the
 * connection's thread and peeks at the socket every 100 ms; a streaming one
 * learns it when a write fails (MHD then frees the response) or by the same
 * peek while no token arrives. Either way the task is cancelled and the
 * engine frees the slot at its next step.
 */
#include "tools/server/http.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/server/request.h"
#include "tools/server/response.h"

enum { STATE_LOADING = 0, STATE_READY, STATE_STOPPING };

#define MAX_CHAT_STOP_IDS 4

struct srv_http {
    srv_http_options o;
    struct MHD_Daemon *daemon;
    MHD_socket quiesced_fd;
    atomic_int state;
    /* set once by srv_http_set_ready, before state becomes READY */
    const bn_model *model;
    srv_engine *engine;
    char model_name[256];
    bn_chat_template tmpl;
    int32_t n_ctx;
    int32_t chat_stop_ids[MAX_CHAT_STOP_IDS];
    size_t n_chat_stop_ids;
    int64_t started;
    atomic_uint_fast64_t seq;         /* ids and default seeds */
    atomic_uint_fast64_t http_requests, http_errors_4xx, http_errors_5xx;
    atomic_int in_flight;             /* requests between their first call and completion */
    /* the watchdog over slow senders */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    struct srv_watch *watch_head;
    pthread_t watchdog;
    bool watchdog_started, watchdog_quit;
};

/* A connection, as the watchdog sees it: while a request is arriving
 * (receiving), it must be complete within idle_timeout_s of its start. MHD's
 * own timeout only closes connections that send nothing at all; a client
 * that trickles a byte now and then would hold a thread forever. */
typedef struct srv_watch {
    int fd;
    double t;
    bool receiving;
    struct srv_watch *prev, *next;
} srv_watch;

typedef enum route {
    ROUTE_NOT_FOUND = 0,
    ROUTE_HEALTH,
    ROUTE_MODELS,
    ROUTE_METRICS,
    ROUTE_CHAT,
    ROUTE_COMPLETION,
    ROUTE_TOKENIZE,
    ROUTE_DETOKENIZE,
} route;

/* What a streaming reply and its request share. */
typedef struct srv_stream {
    atomic_int refs;
    srv_http *h;
    srv_task *task;
    int fd;
    srv_completion_info ci;
    char id[48];
    bool include_usage, first_sent, finished;
    srv_buf pending;
    size_t pending_off;
    size_t offset;
    char *text;
    size_t text_len;
    double last_write;
    srv_task_state st; /* the last state seen, for the log */
} srv_stream;

typedef struct srv_conn {
    double t0;
    route r;
    char method[16];
    char path[96];
    srv_buf body;
    bool too_large;
    bool responded;
    int status;
    srv_stream *stream;
    srv_task_state st;
    bool have_st;
    bool client_gone;
} srv_conn;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- responses ---- */

static enum MHD_Result send_body(srv_conn *k, struct MHD_Connection *c, int status,
                                 const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (status == 503)
        MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    k->responded = true;
    k->status = status;
    return r;
}

static enum MHD_Result send_json(srv_conn *k, struct MHD_Connection *c, int status, srv_buf *b)
{
    if (b->oom)
        return send_body(k, c, 500, "application/json",
                         "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                         "\"param\":null,\"code\":null}}", 77);
    return send_body(k, c, status, "application/json", b->data ? b->data : "", b->len);
}

static enum MHD_Result send_error(srv_conn *k, struct MHD_Connection *c, const srv_error *e)
{
    srv_buf b = {0};
    srv_write_error(&b, e->message, e->type, e->param, e->code);
    enum MHD_Result r = send_json(k, c, e->http_status, &b);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result fail(srv_conn *k, struct MHD_Connection *c, int status, const char *type,
                            const char *code, const char *msg)
{
    srv_error e;
    srv_error_set(&e, status, type, NULL, code, "%s", msg);
    return send_error(k, c, &e);
}

/* ---- socket liveness ---- */

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

/* False once the peer closed its side (or the socket failed). */
static bool client_alive(int fd)
{
    if (fd < 0)
        return true;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return false;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return false;
    return true;
}

/* ---- streaming ---- */

static void stream_unref(srv_stream *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->task) {
        srv_task_cancel(s->task); /* no-op for a finished task */
        srv_task_release(s->task);
    }
    srv_buf_free(&s->pending);
    free(s->text);
    free(s);
}

static void stream_free_cb(void *cls)
{
    stream_unref(cls);
}

static ssize_t stream_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    srv_stream *s = cls;
    /* Bounded: the engine ends every task by its deadline; the loop waits
     * at most 100 ms per turn and checks the client each time. */
    for (;;) {
        if (s->pending_off < s->pending.len) {
            size_t n = s->pending.len - s->pending_off;
            if (n > max)
                n = max;
            memcpy(buf, s->pending.data + s->pending_off, n);
            s->pending_off += n;
            s->last_write = now_s();
            return (ssize_t)n;
        }
        if (s->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        srv_buf_reset(&s->pending);
        s->pending_off = 0;
        if (s->pending.oom)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (!s->first_sent && s->ci.chat) {
            srv_write_chunk(&s->pending, &s->ci, true, "", 0, NULL);
            s->first_sent = true;
            continue;
        }
        s->text_len = 0;
        if (!srv_task_wait(s->task, 100, &s->offset, &s->text, &s->text_len, &s->st))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->text_len > 0)
            srv_write_chunk(&s->pending, &s->ci, false, s->text, s->text_len, NULL);
        if (s->st.done) {
            if (s->st.error) {
                srv_buf_puts(&s->pending, "data: ");
                srv_write_error(&s->pending, s->st.error, "server_error", NULL, NULL);
                srv_buf_puts(&s->pending, "\n\n");
            } else {
                srv_write_chunk(&s->pending, &s->ci, false, s->ci.chat ? NULL : "", 0,
                                s->st.finish_reason ? s->st.finish_reason : "stop");
                if (s->include_usage)
                    srv_write_usage_chunk(&s->pending, &s->ci, s->st.n_prompt, s->st.n_gen);
            }
            srv_buf_puts(&s->pending, "data: [DONE]\n\n");
            s->finished = true;
            continue;
        }
        if (s->pending.len > 0)
            continue;
        if (!client_alive(s->fd)) {
            srv_task_cancel(s->task);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        /* An SSE comment now and then, while a long prompt is evaluated, so
         * that proxies and the idle timeout see a live connection. */
        if (now_s() - s->last_write > 5.0)
            srv_buf_puts(&s->pending, ": keep-alive\n\n");
    }
}

/* ---- the generation endpoints ---- */

static bool tokenize_text(const srv_http *h, const char *text, size_t len, bool add_bos,
                          int32_t **ids, size_t *n, srv_error *e)
{
    bn_error err;
    bn_error_clear(&err);
    size_t need = 0;
    *ids = NULL;
    *n = 0;
    bn_status st = bn_model_tokenize(h->model, text, len, add_bos, true, NULL, 0, &need, &err);
    if (st != BN_STATUS_OK && st != BN_STATUS_INVALID_ARG) {
        srv_error_set(e, 400, "invalid_request_error", NULL, NULL, "tokenizer: %s", err.message);
        return false;
    }
    *ids = malloc((need ? need : 1) * sizeof **ids);
    if (!*ids) {
        srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    bn_error_clear(&err);
    if (need > 0 &&
        bn_model_tokenize(h->model, text, len, add_bos, true, *ids, need, n, &err) != BN_STATUS_OK) {
        free(*ids);
        *ids = NULL;
        srv_error_set(e, 400, "invalid_request_error", NULL, NULL, "tokenizer: %s", err.message);
        return false;
    }
    *n = need;
    return true;
}

/* The prompt ids of a chat or completion request. */
static bool prompt_ids(const srv_http *h, const srv_request *req, int32_t **ids, size_t *n,
                       srv_error *e)
{
    if (req->endpoint == SRV_ENDPOINT_COMPLETION && req->ids) {
        *ids = malloc(req->n_ids * sizeof **ids);
        if (!*ids) {
            srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
        memcpy(*ids, req->ids, req->n_ids * sizeof **ids);
        *n = req->n_ids;
        return true;
    }
    if (req->endpoint == SRV_ENDPOINT_COMPLETION)
        return tokenize_text(h, req->prompt, req->prompt_len, bn_model_add_bos(h->model), ids, n,
                             e);
    bn_chat_message *msgs = malloc(req->n_messages * sizeof *msgs);
    if (!msgs) {
        srv_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < req->n_messages; i++)
        msgs[i] = (bn_chat_message){req->messages[i].role, req->messages[i].content};
    char *text = NULL;
    size_t len = 0;
    bn_error err;
    bn_error_clear(&err);
    bn_status st = bn_chat_template_render(h->tmpl, msgs, req->n_messages, 0, true, &text, &len,
                                           &err);
    free(msgs);
    if (st != BN_STATUS_OK) {
        srv_error_set(e, 400, "invalid_request_error", "messages", NULL, "chat template: %s",
                      err.message);
        return false;
    }
    bool ok = tokenize_text(h, text, len, bn_model_add_bos(h->model), ids, n, e);
    free(text);
    return ok;
}

static enum MHD_Result handle_generate(srv_http *h, srv_conn *k, struct MHD_Connection *c,
                                       srv_request *req)
{
    srv_error e;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (!prompt_ids(h, req, &ids, &n_ids, &e))
        return send_error(k, c, &e);
    if (n_ids == 0) {
        free(ids);
        return fail(k, c, 400, "invalid_request_error", "invalid_value",
                    "the prompt is empty (no tokens)");
    }
    if (n_ids >= (size_t)h->n_ctx) {
        free(ids);
        srv_error_set(&e, 400, "invalid_request_error", req->endpoint == SRV_ENDPOINT_CHAT ?
                      "messages" : "prompt", "context_length_exceeded",
                      "the prompt has %zu tokens; this server's context holds %d per request "
                      "(at most %d prompt tokens)", n_ids, (int)h->n_ctx, (int)h->n_ctx - 1);
        return send_error(k, c, &e);
    }
    srv_task_params p = {0};
    p.prompt = ids;
    p.n_prompt = (int32_t)n_ids;
    p.sampling = req->sampling;
    uint64_t seq = atomic_fetch_add(&h->seq, 1);
    if (!req->has_seed)
        p.sampling.seed = (uint64_t)time(NULL) * 6364136223846793005ull + seq * 1442695040888963407ull;
    int32_t room = h->n_ctx - p.n_prompt;
    p.max_tokens = req->max_tokens > 0 ? req->max_tokens : (h->o.max_tokens < room ? h->o.max_tokens : room);
    p.stop = (const char *const *)req->stop;
    p.n_stop = req->n_stop;
    if (req->endpoint == SRV_ENDPOINT_CHAT) {
        p.stop_ids = h->chat_stop_ids;
        p.n_stop_ids = h->n_chat_stop_ids;
    }
    p.time_limit_s = h->o.request_timeout_s;
    p.ignore_eos = req->ignore_eos;

    srv_task *task = NULL;
    srv_submit_result sr = atomic_load(&h->state) == STATE_READY ? srv_engine_submit(h->engine, &p, &task)
                                                                 : SRV_SUBMIT_STOPPING;
    free(ids);
    if (sr == SRV_SUBMIT_QUEUE_FULL)
        return fail(k, c, 503, "server_error", "queue_full",
                    "every slot is busy and the wait queue is full; retry later");
    if (sr == SRV_SUBMIT_STOPPING)
        return fail(k, c, 503, "server_error", "shutting_down", "the server is shutting down");
    if (sr != SRV_SUBMIT_OK)
        return fail(k, c, 500, "server_error", NULL, "out of memory");

    bool chat = req->endpoint == SRV_ENDPOINT_CHAT;
    char id[48];
    snprintf(id, sizeof id, "%s-%llx%llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)h->started, (unsigned long long)seq);
    srv_completion_info ci = {chat, NULL, h->model_name, (int64_t)time(NULL)};

    if (req->stream) {
        srv_stream *s = calloc(1, sizeof *s);
        if (!s) {
            srv_task_cancel(task);
            srv_task_release(task);
            return fail(k, c, 500, "server_error", NULL, "out of memory");
        }
        atomic_init(&s->refs, 2); /* the response and the srv_conn */
        s->h = h;
        s->task = task;
        s->fd = conn_fd(c);
        memcpy(s->id, id, sizeof id);
        s->ci = ci;
        s->ci.id = s->id;
        s->include_usage = req->include_usage;
        s->last_write = now_s();
        k->stream = s;
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read_cb, s,
                                              stream_free_cb);
        if (!resp) {
            stream_unref(s); /* the response's reference, never taken */
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        enum MHD_Result r = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        k->responded = true;
        k->status = 200;
        return r;
    }

    /* Not streaming: collect the whole reply on this thread. Bounded: the
     * engine ends the task by its deadline, or at the next step once
     * cancelled. */
    int fd = conn_fd(c);
    size_t offset = 0, len = 0;
    char *text = NULL;
    srv_task_state st;
    for (;;) {
        if (!srv_task_wait(task, 100, &offset, &text, &len, &st)) {
            srv_task_cancel(task);
            break;
        }
        if (st.done)
            break;
        if (!k->client_gone && !client_alive(fd)) {
            k->client_gone = true;
            srv_task_cancel(task);
        }
    }
    k->st = st;
    k->have_st = true;
    enum MHD_Result r;
    if (k->client_gone) {
        r = MHD_NO;
    } else if (st.error) {
        r = fail(k, c, 500, "server_error", NULL, st.error);
    } else {
        srv_buf b = {0};
        ci.id = id;
        srv_write_completion(&b, &ci, text ? text : "", len,
                             st.finish_reason ? st.finish_reason : "stop", st.n_prompt, st.n_gen);
        r = send_json(k, c, 200, &b);
        srv_buf_free(&b);
    }
    free(text);
    srv_task_release(task);
    return r;
}

static enum MHD_Result handle_tokenize(srv_http *h, srv_conn *k, struct MHD_Connection *c,
                                       const srv_request *req)
{
    srv_error e;
    int32_t *ids = NULL;
    size_t n = 0;
    if (!tokenize_text(h, req->prompt, req->prompt_len, req->add_special, &ids, &n, &e))
        return send_error(k, c, &e);
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"tokens\":[");
    char piece[256];
    for (size_t i = 0; i < n; i++) {
        if (i)
            srv_buf_puts(&b, ",");
        if (req->with_pieces) {
            size_t pn = 0;
            bn_error err;
            bn_error_clear(&err);
            if (bn_model_token_to_piece(h->model, ids[i], piece, sizeof piece, &pn, &err) !=
                BN_STATUS_OK)
                pn = 0;
            srv_buf_printf(&b, "{\"id\":%d,\"piece\":", (int)ids[i]);
            srv_buf_json_string(&b, piece, pn);
            srv_buf_puts(&b, "}");
        } else
            srv_buf_printf(&b, "%d", (int)ids[i]);
    }
    srv_buf_puts(&b, "]}");
    free(ids);
    enum MHD_Result r = send_json(k, c, 200, &b);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result handle_detokenize(srv_http *h, srv_conn *k, struct MHD_Connection *c,
                                         const srv_request *req)
{
    bn_error err;
    bn_error_clear(&err);
    size_t need = 0;
    bn_status st = bn_model_detokenize(h->model, req->ids, req->n_ids, NULL, 0, &need, &err);
    if (st != BN_STATUS_OK && st != BN_STATUS_INVALID_ARG)
        return fail(k, c, 400, "invalid_request_error", NULL, err.message);
    char *text = malloc(need + 1);
    if (!text)
        return fail(k, c, 500, "server_error", NULL, "out of memory");
    bn_error_clear(&err);
    size_t n = 0;
    if (bn_model_detokenize(h->model, req->ids, req->n_ids, text, need + 1, &n, &err) !=
        BN_STATUS_OK) {
        free(text);
        return fail(k, c, 400, "invalid_request_error", NULL, err.message);
    }
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"content\":");
    srv_buf_json_string(&b, text, n);
    srv_buf_puts(&b, "}");
    free(text);
    enum MHD_Result r = send_json(k, c, 200, &b);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result handle_metrics(srv_http *h, srv_conn *k, struct MHD_Connection *c)
{
    srv_metrics m;
    srv_engine_metrics(h->engine, &m);
    srv_buf b = {0};
#define METRIC(name, type, help, fmt, value)                                              \
    srv_buf_printf(&b, "# HELP bitnet_" name " " help "\n# TYPE bitnet_" name " " type "\n" \
                   "bitnet_" name " " fmt "\n", value)
    METRIC("http_requests_total", "counter", "HTTP requests answered.", "%llu",
           (unsigned long long)atomic_load(&h->http_requests));
    METRIC("http_client_errors_total", "counter", "HTTP requests answered with a 4xx status.",
           "%llu", (unsigned long long)atomic_load(&h->http_errors_4xx));
    METRIC("http_server_errors_total", "counter", "HTTP requests answered with a 5xx status.",
           "%llu", (unsigned long long)atomic_load(&h->http_errors_5xx));
    METRIC("requests_total", "counter", "Generation requests finished.", "%llu",
           (unsigned long long)m.requests_total);
    METRIC("requests_cancelled_total", "counter", "Generation requests whose client left.",
           "%llu", (unsigned long long)m.requests_cancelled);
    METRIC("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", "%llu",
           (unsigned long long)m.prompt_tokens_total);
    METRIC("prompt_tokens_cached_total", "counter",
           "Prompt tokens reused from a slot's KV cache.", "%llu",
           (unsigned long long)m.prompt_tokens_cached);
    METRIC("prompt_tokens_evaluated_total", "counter", "Prompt tokens run through the model.",
           "%llu", (unsigned long long)m.prompt_tokens_evaluated);
    METRIC("tokens_predicted_total", "counter", "Generated tokens.", "%llu",
           (unsigned long long)m.gen_tokens_total);
    METRIC("steps_total", "counter", "Forward steps (one bn_batch_eval each).", "%llu",
           (unsigned long long)m.steps_total);
    METRIC("prompt_seconds_total", "counter", "Time in steps that evaluated prompt chunks.",
           "%.6f", m.prompt_seconds);
    METRIC("decode_seconds_total", "counter", "Time in steps that only decoded.", "%.6f",
           m.gen_seconds);
    METRIC("queue_depth", "gauge", "Requests waiting for a slot.", "%d", (int)m.queue_depth);
    METRIC("slots_busy", "gauge", "Slots running a request.", "%d", (int)m.busy_slots);
    METRIC("slots_total", "gauge", "Slots (--parallel).", "%d", (int)m.n_slots);
    METRIC("tokens_per_second", "gauge", "Generated tokens per second over the last 10 s.",
           "%.3f", m.gen_tokens_per_s);
#undef METRIC
    enum MHD_Result r = b.oom ? fail(k, c, 500, "server_error", NULL, "out of memory")
                              : send_body(k, c, 200, "text/plain; version=0.0.4", b.data, b.len);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result handle_models(srv_http *h, srv_conn *k, struct MHD_Connection *c)
{
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    srv_buf_json_string(&b, h->model_name, strlen(h->model_name));
    srv_buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"bitnet\"}]}",
                   (long long)h->started);
    enum MHD_Result r = send_json(k, c, 200, &b);
    srv_buf_free(&b);
    return r;
}

/* ---- routing ---- */

static route route_of(const char *url, const char **want_method)
{
    static const struct {
        const char *path;
        const char *method;
        route r;
    } table[] = {
        {"/health", "GET", ROUTE_HEALTH},
        {"/v1/health", "GET", ROUTE_HEALTH},
        {"/v1/models", "GET", ROUTE_MODELS},
        {"/models", "GET", ROUTE_MODELS},
        {"/metrics", "GET", ROUTE_METRICS},
        {"/v1/chat/completions", "POST", ROUTE_CHAT},
        {"/chat/completions", "POST", ROUTE_CHAT},
        {"/v1/completions", "POST", ROUTE_COMPLETION},
        {"/completions", "POST", ROUTE_COMPLETION},
        {"/tokenize", "POST", ROUTE_TOKENIZE},
        {"/detokenize", "POST", ROUTE_DETOKENIZE},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (strcmp(url, table[i].path) == 0) {
            *want_method = table[i].method;
            return table[i].r;
        }
    *want_method = NULL;
    return ROUTE_NOT_FOUND;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static bool authorized(const srv_http *h, struct MHD_Connection *c)
{
    if (!h->o.api_key)
        return true;
    const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!got || strncmp(got, "Bearer ", 7) != 0)
        return false;
    got += 7;
    size_t n = strlen(h->o.api_key), m = strlen(got);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(h->o.api_key[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

static enum MHD_Result handle(srv_http *h, srv_conn *k, struct MHD_Connection *c)
{
    int state = atomic_load(&h->state);
    if (k->r == ROUTE_HEALTH) {
        if (state == STATE_READY) {
            srv_buf b = {0};
            srv_buf_puts(&b, "{\"status\":\"ok\"}");
            enum MHD_Result r = send_json(k, c, 200, &b);
            srv_buf_free(&b);
            return r;
        }
        return fail(k, c, 503, "unavailable_error", state == STATE_LOADING ? "loading" : "shutting_down",
                    state == STATE_LOADING ? "the model is loading" : "the server is shutting down");
    }
    if (state == STATE_LOADING)
        return fail(k, c, 503, "unavailable_error", "loading", "the model is loading");
    if (k->r == ROUTE_MODELS)
        return handle_models(h, k, c);
    if (k->r == ROUTE_METRICS)
        return handle_metrics(h, k, c);

    srv_endpoint ep = k->r == ROUTE_CHAT         ? SRV_ENDPOINT_CHAT
                      : k->r == ROUTE_COMPLETION ? SRV_ENDPOINT_COMPLETION
                      : k->r == ROUTE_TOKENIZE   ? SRV_ENDPOINT_TOKENIZE
                                                 : SRV_ENDPOINT_DETOKENIZE;
    srv_request_limits lim = {h->o.max_tokens, bn_model_n_vocab(h->model)};
    srv_request req;
    srv_error e;
    if (!srv_request_parse(ep, k->body.data ? k->body.data : "", k->body.len, &lim, &req, &e))
        return send_error(k, c, &e);
    enum MHD_Result r;
    if (ep == SRV_ENDPOINT_TOKENIZE)
        r = handle_tokenize(h, k, c, &req);
    else if (ep == SRV_ENDPOINT_DETOKENIZE)
        r = handle_detokenize(h, k, c, &req);
    else
        r = handle_generate(h, k, c, &req);
    srv_request_free(&req);
    return r;
}

/* ---- the slow-sender watchdog ---- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    srv_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        srv_watch *w = calloc(1, sizeof *w);
        if (!w)
            return; /* not watched: MHD's idle timeout still applies */
        w->fd = conn_fd(c);
        w->t = now_s();
        w->receiving = true;
        pthread_mutex_lock(&h->watch_mu);
        w->next = h->watch_head;
        if (h->watch_head)
            h->watch_head->prev = w;
        h->watch_head = w;
        pthread_mutex_unlock(&h->watch_mu);
        *socket_context = w;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        srv_watch *w = *socket_context;
        if (!w)
            return;
        pthread_mutex_lock(&h->watch_mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            h->watch_head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&h->watch_mu);
        free(w);
        *socket_context = NULL;
    }
}

/* receiving: a new request may start arriving (after a response); else the
 * request is complete and being answered. */
static void watch_set(srv_http *h, struct MHD_Connection *c, bool receiving)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_watch *w = ci ? (srv_watch *)ci->socket_context : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&h->watch_mu);
    w->receiving = receiving;
    w->t = now_s();
    pthread_mutex_unlock(&h->watch_mu);
}

static void *watchdog_main(void *arg)
{
    srv_http *h = arg;
    pthread_mutex_lock(&h->watch_mu);
    while (!h->watchdog_quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->watch_cv, &h->watch_mu, &ts);
        double now = now_s();
        for (srv_watch *w = h->watch_head; w; w = w->next)
            if (w->receiving && w->fd >= 0 && now - w->t > (double)h->o.idle_timeout_s) {
                /* MHD's thread sees the socket fail and closes it. */
                shutdown(w->fd, SHUT_RDWR);
                w->t = now;
            }
    }
    pthread_mutex_unlock(&h->watch_mu);
    return NULL;
}

/* The first call of a request: headers only. Refuses early what needs no
 * body (auth, unknown path, wrong method, a declared body over the limit). */
static enum MHD_Result first_call(srv_http *h, srv_conn *k, struct MHD_Connection *c,
                                  const char *method, const char *want)
{
    if (k->r != ROUTE_HEALTH && !authorized(h, c))
        return fail(k, c, 401, "authentication_error", "invalid_api_key",
                    "a valid API key is required (Authorization: Bearer KEY)");
    if (k->r == ROUTE_NOT_FOUND)
        return fail(k, c, 404, "invalid_request_error", "not_found", "no such endpoint");
    if (strcmp(method, want) != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "this endpoint takes %s", want);
        return fail(k, c, 405, "invalid_request_error", "method_not_allowed", msg);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || end == cl || v > h->o.max_body_bytes) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body is larger than this server's limit of %zu bytes",
                     h->o.max_body_bytes);
            return fail(k, c, 413, "invalid_request_error", "body_too_large", msg);
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv_http *h = cls;
    srv_conn *k = *con_cls;
    if (!k) {
        /* First call: headers only. Refuse early what needs no body. */
        k = calloc(1, sizeof *k);
        if (!k)
            return MHD_NO;
        *con_cls = k;
        atomic_fetch_add(&h->in_flight, 1);
        k->t0 = now_s();
        snprintf(k->method, sizeof k->method, "%s", method);
        snprintf(k->path, sizeof k->path, "%s", url);
        const char *want = NULL;
        k->r = route_of(url, &want);
        return first_call(h, k, c, method, want);
    }
    if (*upload_size > 0) {
        /* Body bytes: kept up to the limit, the rest read and dropped. */
        if (!k->responded) {
            if (k->body.len + *upload_size > h->o.max_body_bytes)
                k->too_large = true;
            else
                srv_buf_append(&k->body, upload_data, *upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (k->responded)
        return MHD_YES;
    watch_set(h, c, false);
    if (k->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than this server's limit of %zu bytes",
                 h->o.max_body_bytes);
        return fail(k, c, 413, "invalid_request_error", "body_too_large", msg);
    }
    if (k->body.oom)
        return fail(k, c, 500, "server_error", NULL, "out of memory");
    return handle(h, k, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    srv_http *h = cls;
    watch_set(h, c, true); /* the next request on this connection, if any */
    srv_conn *k = *con_cls;
    if (!k)
        return;
    *con_cls = NULL;
    const srv_task_state *st = k->have_st ? &k->st : NULL;
    if (k->stream)
        st = &k->stream->st;
    bool gone = k->client_gone || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    atomic_fetch_add(&h->http_requests, 1);
    if (k->status >= 400 && k->status < 500)
        atomic_fetch_add(&h->http_errors_4xx, 1);
    else if (k->status >= 500)
        atomic_fetch_add(&h->http_errors_5xx, 1);
    double ms = (now_s() - k->t0) * 1e3;
    if (st && (k->have_st || k->stream))
        fprintf(stderr,
                "bitnet-server: %s %s %d prompt=%d cached=%d gen=%d queue=%.1fms "
                "first=%.1fms total=%.1fms%s%s%s\n",
                k->method, k->path, k->status, (int)st->n_prompt, (int)st->n_cached,
                (int)st->n_gen, st->queue_ms, st->prompt_ms, ms,
                st->finish_reason ? " finish=" : "", st->finish_reason ? st->finish_reason : "",
                gone ? " client-gone" : (st->timed_out ? " timeout" : ""));
    else
        fprintf(stderr, "bitnet-server: %s %s %d total=%.1fms%s\n", k->method, k->path,
                k->status, ms, gone && k->status == 0 ? " client-gone" : "");
    stream_unref(k->stream);
    srv_buf_free(&k->body);
    free(k);
    atomic_fetch_sub(&h->in_flight, 1);
}

/* ---- life cycle ---- */

srv_http *srv_http_start(const srv_http_options *opts, int *port_out, char *err, size_t err_cap)
{
    srv_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    h->o = *opts;
    h->quiesced_fd = MHD_INVALID_SOCKET;
    h->started = (int64_t)time(NULL);
    atomic_init(&h->state, STATE_LOADING);
    atomic_init(&h->in_flight, 0);
    pthread_mutex_init(&h->watch_mu, NULL);
    pthread_cond_init(&h->watch_cv, NULL);

    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    const char *host = strcmp(opts->host, "localhost") == 0 ? "127.0.0.1" : opts->host;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)opts->port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)opts->port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, err_cap, "--host %s is not an IPv4 or IPv6 address", opts->host);
        free(h);
        return NULL;
    }
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, &on_request, h, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        opts->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        MHD_OPTION_NOTIFY_COMPLETED, &on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        &on_connection, h, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)1024 * 1024, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, err_cap, "cannot listen on %s port %d (%s)", opts->host, opts->port,
                 errno ? strerror(errno) : "in use?");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? (int)di->port : opts->port;
    h->watchdog_started = pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0;
    return h;
}

void srv_http_set_ready(srv_http *h, const bn_model *model, srv_engine *engine,
                        const char *model_name, bn_chat_template tmpl, int32_t n_ctx)
{
    h->model = model;
    h->engine = engine;
    snprintf(h->model_name, sizeof h->model_name, "%s", model_name);
    h->tmpl = tmpl;
    h->n_ctx = n_ctx;
    /* The format's end-of-turn specials that the model does not already
     * count as end of generation (as chat.c collects them). */
    const char *const *texts = bn_chat_template_stop_texts(tmpl);
    for (int i = 0; texts && texts[i] && h->n_chat_stop_ids < MAX_CHAT_STOP_IDS; i++) {
        int32_t id[2], plain[2];
        size_t n = 0, n_plain = 0;
        size_t len = strlen(texts[i]);
        if (bn_model_tokenize(model, texts[i], len, false, true, id, 2, &n, NULL) != BN_STATUS_OK ||
            n != 1)
            continue;
        if (bn_model_tokenize(model, texts[i], len, false, false, plain, 2, &n_plain, NULL) ==
                BN_STATUS_OK &&
            n_plain == 1 && plain[0] == id[0])
            continue;
        h->chat_stop_ids[h->n_chat_stop_ids++] = id[0];
    }
    atomic_store(&h->state, STATE_READY);
}

void srv_http_set_stopping(srv_http *h)
{
    atomic_store(&h->state, STATE_STOPPING);
    if (h->daemon)
        h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
}

bool srv_http_wait_idle(srv_http *h, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (atomic_load(&h->in_flight) > 0) {
        if (now_s() > end)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return true;
}

void srv_http_stop(srv_http *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    if (h->watchdog_started) {
        pthread_mutex_lock(&h->watch_mu);
        h->watchdog_quit = true;
        pthread_cond_signal(&h->watch_cv);
        pthread_mutex_unlock(&h->watch_mu);
        pthread_join(h->watchdog, NULL);
    }
    pthread_mutex_destroy(&h->watch_mu);
    pthread_cond_destroy(&h->watch_cv);
    free(h);
}
