/* bitnet-server: an OpenAI-compatible HTTP server over the bitnet runtime
 * (llama-server's flags and endpoints where they exist).
 *
 *   bitnet-server [-m model.gguf] [--host 127.0.0.1] [--port 8080] [-np 4] ...
 *
 * Owns the command line, the start-up order and the signals: it listens
 * first (GET /health answers 503 while the model loads), then loads the
 * model and starts the engine, then waits for SIGTERM or SIGINT. On either
 * it stops accepting connections, lets the queued and running requests
 * finish (at most --shutdown-timeout seconds, then cancels them), closes the
 * connections and exits 0. Every signal is blocked in every thread but the
 * main one's sigwait; SIGPIPE is ignored.
 *
 * Exit codes: 0 after a signal, 1 when the model cannot be loaded or the
 * port cannot be bound, 2 for usage errors.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "runtime/chat_template.h"
#include "tools/cli_args.h"
#include "tools/default_model.h"
#include "tools/server/engine.h"
#include "tools/server/http.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitnet-server [options]\n"
            "\n"
            "  -m, --model FILE          model GGUF (default: the bundled models/" BN_DEFAULT_MODEL ")\n"
            "      --host ADDR           address to listen on (default 127.0.0.1)\n"
            "      --port N              port (default 8080; 0 = any free port)\n"
            "  -a, --alias NAME          model name in responses (default: the file's name)\n"
            "  -t, --threads N           threads for the forward pass (default: number of cores)\n"
            "  -c, --ctx-size N          KV positions per slot (default: min(training context, 4096))\n"
            "  -np, --parallel N         slots: requests decoded together (default 4)\n"
            "  -b, --batch-size N        tokens per forward step, all slots (default 512)\n"
            "      --prefill-decoding N  prompt tokens per step while other slots generate\n"
            "                            (default: -b); lower keeps their token gaps short\n"
            "      --queue N             requests that may wait for a slot (default 64; then 503)\n"
            "      --api-key KEY         require 'Authorization: Bearer KEY' (all but /health)\n"
            "      --max-body BYTES      request body limit (default 1048576)\n"
            "      --max-tokens N        largest max_tokens a request may ask (default 4096)\n"
            "      --timeout S           close connections idle for S seconds (default 30)\n"
            "      --request-timeout S   end a reply after S seconds (default 600)\n"
            "      --max-connections N   open connections at most (default 256)\n"
            "      --shutdown-timeout S  on SIGTERM, wait S seconds (plus the forward step under way)\n"
            "                            for running requests (default 10)\n"
            "      --chat-template NAME  bitnet, llama3, falcon3 or plain (default: from the model)\n"
            "      --lm-head-i8          int8 copy of the output layer (faster, less exact)\n"
            "      --no-mmap             read the model into memory instead of mapping it:\n"
            "                            huge pages, faster decode; slower load, not shared\n"
            "  -h, --help                this text\n"
            "\n"
            "endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,\n"
            "           GET /health, GET /metrics, POST /tokenize, POST /detokenize\n"
            "environment: BN_KERNELS=ref|avx2|avx512|avx512vbmi|neon|neon-dotprod picks the kernel table.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    return bn_cli_usage_error("bitnet-server", usage, fmt, arg);
}

typedef struct options {
    const char *model_path;
    const char *alias;
    const char *chat_template;
    int n_threads;
    int32_t n_ctx, n_parallel, n_batch, n_prefill_decoding, queue;
    double shutdown_timeout_s;
    bool lm_head_i8;
    bool no_mmap;
    srv_http_options http;
} options;

/* Returns 0, or the exit code (2 usage, -1 for --help). */
static int parse_args(int argc, char **argv, options *o)
{
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s1, s2) (strcmp(a, s1) == 0 || strcmp(a, s2) == 0)
#define NEED()                                                  \
    do {                                                        \
        if (!val)                                               \
            return usage_error("%s needs a value", a);          \
        i++;                                                    \
    } while (0)
#define NUM(lo, hi)                                                     \
    do {                                                                \
        NEED();                                                         \
        if (!bn_cli_parse_long(val, lo, hi, &v))                               \
            return usage_error("bad value for %s", a);                  \
    } while (0)
        if (IS("-h", "--help")) {
            usage(stdout);
            return -1;
        } else if (IS("-m", "--model")) {
            NEED();
            o->model_path = val;
        } else if (IS("--host", "--host")) {
            NEED();
            o->http.host = val;
        } else if (IS("--port", "--port")) {
            NUM(0, 65535);
            o->http.port = (int)v;
        } else if (IS("-a", "--alias")) {
            NEED();
            o->alias = val;
        } else if (IS("-t", "--threads")) {
            NUM(1, 1024);
            o->n_threads = (int)v;
        } else if (IS("-c", "--ctx-size")) {
            NUM(0, 1 << 20);
            o->n_ctx = (int32_t)v;
        } else if (IS("-np", "--parallel")) {
            NUM(1, 256);
            o->n_parallel = (int32_t)v;
        } else if (IS("-b", "--batch-size")) {
            NUM(1, 1 << 16);
            o->n_batch = (int32_t)v;
        } else if (IS("--prefill-decoding", "--prefill-decoding")) {
            NUM(1, 1 << 16);
            o->n_prefill_decoding = (int32_t)v;
        } else if (IS("--queue", "--queue")) {
            NUM(0, 1 << 20);
            o->queue = (int32_t)v;
        } else if (IS("--api-key", "--api-key")) {
            NEED();
            if (!*val)
                return usage_error("%s must not be empty", a);
            o->http.api_key = val;
        } else if (IS("--max-body", "--max-body")) {
            NUM(1, 1L << 30);
            o->http.max_body_bytes = (size_t)v;
        } else if (IS("--max-tokens", "--max-tokens")) {
            NUM(1, 1 << 20);
            o->http.max_tokens = (int32_t)v;
        } else if (IS("--timeout", "--timeout")) {
            NUM(1, 86400);
            o->http.idle_timeout_s = (unsigned)v;
        } else if (IS("--request-timeout", "--request-timeout")) {
            NUM(1, 86400);
            o->http.request_timeout_s = (double)v;
        } else if (IS("--max-connections", "--max-connections")) {
            NUM(1, 65536);
            o->http.max_connections = (unsigned)v;
        } else if (IS("--shutdown-timeout", "--shutdown-timeout")) {
            NUM(0, 86400);
            o->shutdown_timeout_s = (double)v;
        } else if (IS("--chat-template", "--chat-template")) {
            NEED();
            o->chat_template = val;
        } else if (IS("--lm-head-i8", "--lm-head-i8")) {
            o->lm_head_i8 = true;
        } else if (IS("--no-mmap", "--no-mmap")) {
            o->no_mmap = true;
        } else
            return usage_error("unknown option %s", a);
#undef IS
#undef NEED
#undef NUM
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.n_threads = ncpu > 0 ? (int)ncpu : 1;
    o.n_parallel = 4;
    o.n_batch = 512;
    o.queue = 64;
    o.shutdown_timeout_s = 10;
    o.http.host = "127.0.0.1";
    o.http.port = 8080;
    o.http.max_body_bytes = 1 << 20;
    o.http.max_tokens = 4096;
    o.http.idle_timeout_s = 30;
    o.http.request_timeout_s = 600;
    o.http.max_connections = 256;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;

    char path_buf[4096];
    if (!o.model_path) {
        o.model_path = bn_default_model_path(path_buf, sizeof path_buf);
        if (!o.model_path) {
            fprintf(stderr, "bitnet-server: error: no -m given and the bundled model models/%s "
                            "was not found\n", BN_DEFAULT_MODEL);
            return 1;
        }
    }
    bn_chat_template tmpl = BN_CHAT_TEMPLATE_PLAIN;
    bn_error err;
    bn_error_clear(&err);
    if (o.chat_template && bn_chat_template_from_name(o.chat_template, &tmpl, &err) != BN_STATUS_OK)
        return usage_error("%s", err.message);

    /* Signals: handled by sigwait in this thread only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int port = 0;
    char herr[256];
    srv_http *http = srv_http_start(&o.http, &port, herr, sizeof herr);
    if (!http) {
        fprintf(stderr, "bitnet-server: error: %s\n", herr);
        return 1;
    }
    fprintf(stderr, "bitnet-server: listening on http://%s%s%s:%d\n",
            strchr(o.http.host, ':') ? "[" : "", o.http.host, strchr(o.http.host, ':') ? "]" : "",
            port);

    bn_model *model = NULL;
    srv_engine *engine = NULL;
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = o.n_threads;
    mo.kernels = getenv("BN_KERNELS");
    mo.lm_head_i8 = o.lm_head_i8;
    mo.use_mmap = !o.no_mmap;
    if (bn_model_load(o.model_path, &mo, &model, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-server: error: %s\n", err.message);
        srv_http_stop(http);
        return 1;
    }
    if (!bn_model_has_tokenizer(model)) {
        fprintf(stderr, "bitnet-server: error: %s has no tokenizer\n", o.model_path);
        goto fail;
    }
    if (!o.chat_template) {
        bn_error derr;
        bn_error_clear(&derr);
        if (bn_chat_template_detect(bn_model_chat_template(model), &tmpl, &derr) != BN_STATUS_OK)
            tmpl = BN_CHAT_TEMPLATE_PLAIN;
    }
    int32_t n_ctx = o.n_ctx > 0 ? o.n_ctx : bn_model_n_ctx_train(model);
    if (o.n_ctx <= 0 && n_ctx > 4096)
        n_ctx = 4096;
    if (n_ctx < 2) {
        fprintf(stderr, "bitnet-server: error: a context of %d positions is too small\n", (int)n_ctx);
        goto fail;
    }
    /* Every decoding slot feeds one token per step: a step must hold them all. */
    if (o.n_batch < o.n_parallel)
        o.n_batch = o.n_parallel;
    if (o.n_prefill_decoding == 0 || o.n_prefill_decoding > o.n_batch)
        o.n_prefill_decoding = o.n_batch;
    srv_engine_options eo = {o.n_parallel, n_ctx, o.n_batch, o.n_prefill_decoding, o.queue,
                             o.n_threads};
    if (srv_engine_new(model, &eo, &engine, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-server: error: %s\n", err.message);
        goto fail;
    }
    const char *name = o.alias;
    if (!name) {
        const char *slash = strrchr(o.model_path, '/');
        name = slash ? slash + 1 : o.model_path;
    }
    srv_http_set_ready(http, model, engine, name, tmpl, n_ctx);
    fprintf(stderr,
            "bitnet-server: ready: %s, kernels %s, %d threads, %d slots x %d positions, batch %d "
            "(%d prompt tokens while decoding), queue %d, chat template %s%s\n",
            bn_model_description(model), bn_model_kernels_name(model), o.n_threads,
            (int)o.n_parallel, (int)n_ctx, (int)o.n_batch, (int)o.n_prefill_decoding, (int)o.queue,
            bn_chat_template_name(tmpl), o.http.api_key ? ", API key required" : "");

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "bitnet-server: %s: finishing running requests (at most %.0f s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", o.shutdown_timeout_s);
    srv_http_set_stopping(http);
    int cancelled = srv_engine_drain(engine, o.shutdown_timeout_s);
    /* The last bytes of finished replies still have to reach their clients
     * (bounded: a client that stops reading is cut after a few seconds). */
    srv_http_wait_idle(http, 5.0);
    srv_http_stop(http);
    srv_engine_free(engine);
    bn_model_free(model);
    fprintf(stderr, "bitnet-server: stopped%s\n", cancelled ? " (some requests were cut short)" : "");
    return 0;
fail:
    srv_http_stop(http);
    srv_engine_free(engine);
    bn_model_free(model);
    return 1;
}
