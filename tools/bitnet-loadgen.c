/* bitnet-loadgen: a load generator for OpenAI-compatible servers
 * (bitnet-server, llama-server), over plain loopback sockets.
 *
 *   bitnet-loadgen --port 8080 --streams 8 --requests 64 --max-tokens 32
 *                  [--host 127.0.0.1] [--pid SERVER_PID] [--json]
 *   bitnet-loadgen --port 8080 --prefix-test 1000 [--pid SERVER_PID]
 *
 * Load mode: N client threads send streaming /v1/completions requests
 * (fixed prompts, greedy, ignore_eos, max_tokens fixed, a bounded count)
 * back to back and time every server-sent event. Reports the aggregate
 * generated tokens/s (completion tokens of all requests over the wall time),
 * time to first token and inter-token latency (p50, p99), errors, and with
 * --pid the server's peak RSS (VmHWM) plus its RSS after the first tenth of
 * the requests and at the end (the soak's flatness check).
 *
 * Prefix mode: a chat whose first turn carries about TOKENS tokens of
 * history, then the same history plus the reply and one more user message;
 * reports both times to first token and their ratio (a prompt cache makes
 * the second small).
 *
 * A client, so parsing the servers' SSE output here is fine: HTTP/1.1 with
 * Connection: close, chunked or not. Every socket has a 120 s timeout and
 * the whole run stops after --time-limit seconds (default 1800).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli_args.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct config {
    const char *host;
    int port;
    int streams, requests, max_tokens, prefix_tokens;
    int pid;
    double time_limit_s;
    bool json;
    const char *api_key;
} config;

/* Latency samples, appended by all threads under a lock. */
typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static samples g_ttft, g_itl;
static atomic_int g_next, g_done, g_errors;
static atomic_long g_tokens;
static double g_deadline;
static long g_rss_warm_kb;

static void add_sample(samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i < s->n ? i : s->n - 1];
}

static long proc_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            kb = atol(line + fl + 1);
    fclose(f);
    return kb;
}

static int connect_to(const config *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {120, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->port);
    if (inet_pton(AF_INET, c->host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One streaming request. Returns the completion tokens (usage, else the
 * count of content events), or -1 on error; fills the first-event time and
 * the gaps between content events. */
typedef struct stream_result {
    double t_first;      /* seconds from send to the first content event */
    int n_events;
    int usage_tokens;    /* -1 if the server sent no usage */
    bool done;           /* saw data: [DONE] */
    int status;
} stream_result;

/* The body decoder: HTTP chunked framing (when chunked) -> SSE lines. */
typedef struct decoder {
    bool chunked;
    long chunk_left;     /* bytes left in the current chunk; -1: reading a size line */
    char line[1 << 16];  /* the SSE line being assembled */
    size_t line_len;
    char size_line[32];
    size_t size_len;
    int crlf_skip;       /* CRLF after a chunk's data */
} decoder;

static void sse_line(const char *line, double t0, double *t_last, samples *gaps,
                     stream_result *r)
{
    if (strncmp(line, "data: ", 6) != 0)
        return;
    const char *d = line + 6;
    if (strcmp(d, "[DONE]") == 0) {
        r->done = true;
        return;
    }
    const char *u = strstr(d, "\"completion_tokens\":");
    if (u)
        r->usage_tokens = atoi(u + 20);
    /* A content event: a non-empty "text" or "content" value. */
    const char *t = strstr(d, "\"text\":\"");
    if (!t)
        t = strstr(d, "\"content\":\"");
    if (!t)
        return;
    t = strchr(t, ':') + 2;
    if (*t == '"')
        return;
    double now = now_s();
    if (r->n_events == 0)
        r->t_first = now - t0;
    else
        add_sample(gaps, now - *t_last);
    *t_last = now;
    r->n_events++;
}

static void feed(decoder *dc, const char *p, size_t n, double t0, double *t_last, samples *gaps,
                 stream_result *r)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (dc->chunked) {
            if (dc->crlf_skip > 0) {
                dc->crlf_skip--;
                continue;
            }
            if (dc->chunk_left < 0) {
                if (ch == '\n') {
                    dc->size_line[dc->size_len] = '\0';
                    dc->chunk_left = strtol(dc->size_line, NULL, 16);
                    dc->size_len = 0;
                    if (dc->chunk_left == 0)
                        dc->chunk_left = -2; /* the last chunk */
                } else if (ch != '\r' && dc->size_len + 1 < sizeof dc->size_line)
                    dc->size_line[dc->size_len++] = ch;
                continue;
            }
            if (dc->chunk_left == -2)
                continue;
            if (--dc->chunk_left == 0) {
                dc->chunk_left = -1;
                dc->crlf_skip = 2;
            }
        }
        if (ch == '\n') {
            dc->line[dc->line_len] = '\0';
            sse_line(dc->line, t0, t_last, gaps, r);
            dc->line_len = 0;
        } else if (ch != '\r' && dc->line_len + 1 < sizeof dc->line)
            dc->line[dc->line_len++] = ch;
    }
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static stream_result run_stream(const config *c, const char *path, const char *body,
                                samples *gaps)
{
    stream_result r = {0};
    r.usage_tokens = -1;
    int fd = connect_to(c);
    if (fd < 0)
        return r;
    char head[512];
    char auth[300] = "";
    if (c->api_key)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", c->api_key);
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      path, c->host, c->port, auth, strlen(body));
    double t0 = now_s(), t_last = t0;
    if (!send_all(fd, head, (size_t)hn) || !send_all(fd, body, strlen(body))) {
        close(fd);
        return r;
    }
    decoder *dc = calloc(1, sizeof *dc);
    char buf[16384], hdr[8192];
    size_t hlen = 0;
    bool in_body = false;
    if (!dc) {
        close(fd);
        return r;
    }
    dc->chunk_left = -1;
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t off = 0;
        if (!in_body) {
            size_t take = (size_t)got < sizeof hdr - 1 - hlen ? (size_t)got : sizeof hdr - 1 - hlen;
            memcpy(hdr + hlen, buf, take);
            hlen += take;
            hdr[hlen] = '\0';
            char *end = strstr(hdr, "\r\n\r\n");
            if (!end) {
                if (hlen >= sizeof hdr - 1)
                    break;
                continue;
            }
            in_body = true;
            r.status = atoi(hdr + 9);
            for (char *p = hdr; p < end; p++)
                if (strncasecmp(p, "transfer-encoding: chunked", 26) == 0)
                    dc->chunked = true;
            size_t header_bytes = (size_t)(end + 4 - hdr);
            off = header_bytes - (hlen - take);
        }
        feed(dc, buf + off, (size_t)got - off, t0, &t_last, gaps, &r);
        if (r.done)
            break;
    }
    free(dc);
    close(fd);
    return r;
}

static const char *const prompts[] = {
    "Once upon a time, in a small village at the edge of a great forest, there lived a girl who loved to",
    "The little dog ran across the garden, chasing a red ball that bounced over the fence and into the",
    "Tom and his sister found an old map in the attic. It showed a path through the hills to a hidden",
    "Every morning the baker opened his shop before sunrise, and the smell of fresh bread filled the",
    "The ship sailed for many days across the calm blue sea until one night a storm came and the captain",
    "In the middle of the city there was a park with a big pond, where the ducks swam and the children",
    "The robot woke up in a quiet room full of dusty books. It did not remember how it got there, but it",
    "Grandma told the children a story about a dragon who was afraid of the dark and lived in a cave by the",
};

static void *worker(void *arg)
{
    const config *c = arg;
    samples gaps = {0};
    char body[1024];
    for (;;) {
        int i = atomic_fetch_add(&g_next, 1);
        if (i >= c->requests || now_s() > g_deadline)
            break;
        snprintf(body, sizeof body,
                 "{\"model\": \"m\", \"prompt\": \"%s\", \"max_tokens\": %d, \"temperature\": 0, "
                 "\"ignore_eos\": true, \"stream\": true, \"stream_options\": {\"include_usage\": "
                 "true}}",
                 prompts[(size_t)i % (sizeof prompts / sizeof *prompts)], c->max_tokens);
        gaps.n = 0;
        stream_result r = run_stream(c, "/v1/completions", body, &gaps);
        int tokens = r.usage_tokens >= 0 ? r.usage_tokens : r.n_events;
        bool ok = r.status == 200 && r.done && r.n_events > 0;
        pthread_mutex_lock(&g_mu);
        if (ok) {
            add_sample(&g_ttft, r.t_first);
            for (size_t k = 0; k < gaps.n; k++)
                add_sample(&g_itl, gaps.v[k]);
        }
        pthread_mutex_unlock(&g_mu);
        if (ok)
            atomic_fetch_add(&g_tokens, tokens);
        else
            atomic_fetch_add(&g_errors, 1);
        int done = atomic_fetch_add(&g_done, 1) + 1;
        if (c->pid > 0 && done == (c->requests + 9) / 10)
            g_rss_warm_kb = proc_kb(c->pid, "VmRSS");
    }
    free(gaps.v);
    return NULL;
}

static int run_load(const config *c)
{
    pthread_t *th = calloc((size_t)c->streams, sizeof *th);
    if (!th)
        return 1;
    g_deadline = now_s() + c->time_limit_s;
    double t0 = now_s();
    int started = 0;
    for (int i = 0; i < c->streams; i++) {
        if (pthread_create(&th[i], NULL, worker, (void *)c) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double wall = now_s() - t0;
    free(th);
    long tokens = atomic_load(&g_tokens);
    int errors = atomic_load(&g_errors), done = atomic_load(&g_done);
    double tps = wall > 0 ? (double)tokens / wall : 0;
    double ttft50 = percentile(&g_ttft, 50) * 1e3, ttft99 = percentile(&g_ttft, 99) * 1e3;
    double itl50 = percentile(&g_itl, 50) * 1e3, itl99 = percentile(&g_itl, 99) * 1e3;
    long hwm = c->pid > 0 ? proc_kb(c->pid, "VmHWM") : -1;
    long rss = c->pid > 0 ? proc_kb(c->pid, "VmRSS") : -1;
    if (c->json)
        printf("{\"streams\": %d, \"requests\": %d, \"errors\": %d, \"max_tokens\": %d, "
               "\"wall_s\": %.3f, \"tokens\": %ld, \"tokens_per_s\": %.2f, \"ttft_p50_ms\": %.1f, "
               "\"ttft_p99_ms\": %.1f, \"itl_p50_ms\": %.2f, \"itl_p99_ms\": %.2f, "
               "\"peak_rss_mib\": %.1f, \"rss_warm_mib\": %.1f, \"rss_end_mib\": %.1f}\n",
               c->streams, done, errors, c->max_tokens, wall, tokens, tps, ttft50, ttft99, itl50,
               itl99, hwm / 1024.0, g_rss_warm_kb / 1024.0, rss / 1024.0);
    else
        printf("streams %d: %d requests, %d errors, %ld tokens in %.2f s = %.2f tokens/s; "
               "TTFT p50 %.1f ms p99 %.1f ms; ITL p50 %.2f ms p99 %.2f ms; peak RSS %.1f MiB "
               "(RSS after warm-up %.1f MiB, at end %.1f MiB)\n",
               c->streams, done, errors, tokens, wall, tps, ttft50, ttft99, itl50, itl99,
               hwm / 1024.0, g_rss_warm_kb / 1024.0, rss / 1024.0);
    return errors ? 1 : 0;
}

/* Appends a JSON-safe filler text of about n tokens (short common words). */
static void filler(char *out, size_t cap, int n_tokens)
{
    static const char *const words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "the",
                                        "dog", "ran", "to", "the", "big", "red", "house"};
    size_t len = strlen(out);
    for (int i = 0; i < n_tokens && len + 8 < cap; i++) {
        const char *w = words[i % (int)(sizeof words / sizeof *words)];
        len += (size_t)snprintf(out + len, cap - len, " %s", w);
    }
}

/* Tokens of text by the server's /tokenize (llama-server's and ours); -1
 * when it cannot tell. */
static int count_tokens(const config *c, const char *text)
{
    size_t cap = strlen(text) + 256;
    char *body = malloc(cap);
    int fd = connect_to(c);
    if (!body || fd < 0) {
        free(body);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int bn = snprintf(body, cap, "{\"content\": \"%s\"}", text);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /tokenize HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n", c->host, bn);
    int count = -1;
    if (send_all(fd, head, (size_t)hn) && send_all(fd, body, (size_t)bn)) {
        /* Count the commas of the "tokens" array: ids only, no nesting. */
        char buf[65536];
        bool in_tokens = false;
        int commas = 0, digits = 0;
        ssize_t got;
        while ((got = recv(fd, buf, sizeof buf, 0)) > 0)
            for (ssize_t i = 0; i < got; i++) {
                if (!in_tokens && buf[i] == '[')
                    in_tokens = true;
                else if (in_tokens && buf[i] == ',')
                    commas++;
                else if (in_tokens && buf[i] >= '0' && buf[i] <= '9')
                    digits++;
            }
        if (in_tokens)
            count = digits ? commas + 1 : 0;
    }
    free(body);
    close(fd);
    return count;
}

static int run_prefix(const config *c)
{
    size_t cap = (size_t)c->prefix_tokens * 8 + 4096;
    char *history = calloc(1, cap), *body = malloc(cap * 2);
    if (!history || !body)
        return 1;
    filler(history, cap, c->prefix_tokens);
    int n = count_tokens(c, history);
    if (n > c->prefix_tokens) { /* several tokens a word: fewer words */
        history[0] = '\0';
        filler(history, cap, (int)((long)c->prefix_tokens * c->prefix_tokens / n));
        n = count_tokens(c, history);
    }
    double t[2];
    for (int turn = 0; turn < 2; turn++) {
        if (turn == 0)
            snprintf(body, cap * 2,
                     "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"%s\"}], "
                     "\"max_tokens\": 8, \"temperature\": 0, \"stream\": true}", history);
        else
            snprintf(body, cap * 2,
                     "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"%s\"}, "
                     "{\"role\": \"assistant\", \"content\": \"The end.\"}, {\"role\": \"user\", "
                     "\"content\": \"Tell me more.\"}], \"max_tokens\": 8, \"temperature\": 0, "
                     "\"stream\": true}", history);
        samples gaps = {0};
        stream_result r = run_stream(c, "/v1/chat/completions", body, &gaps);
        free(gaps.v);
        if (r.status != 200 || !r.done || r.n_events == 0) {
            fprintf(stderr, "bitnet-loadgen: prefix turn %d failed (status %d)\n", turn + 1,
                    r.status);
            free(history);
            free(body);
            return 1;
        }
        t[turn] = r.t_first;
    }
    printf("prefix %d tokens of history: TTFT first turn %.1f ms, repeated turn %.1f ms (%.1f%%)\n",
           n, t[0] * 1e3, t[1] * 1e3, 100.0 * t[1] / t[0]);
    free(history);
    free(body);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bitnet-loadgen --port N [--host 127.0.0.1] [--streams 8] [--requests 64]\n"
               "                      [--max-tokens 32] [--pid SERVER_PID] [--api-key KEY] [--json]\n"
               "                      [--time-limit 1800] [--prefix-test TOKENS]\n");
}

/* A whole number flag in [lo, hi] into *out; false for anything else. */
static bool int_arg(const char *v, long lo, long hi, int *out)
{
    long n;
    if (!bn_cli_parse_long(v, lo, hi, &n))
        return false;
    *out = (int)n;
    return true;
}

int main(int argc, char **argv)
{
    config c = {"127.0.0.1", 0, 8, 64, 32, 0, 0, 1800, false, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--json") != 0 && strcmp(a, "-h") != 0 && strcmp(a, "--help") != 0;
        if (takes && !v) {
            fprintf(stderr, "bitnet-loadgen: %s needs a value\n", a);
            return 2;
        }
        bool ok = true;
        if (strcmp(a, "--host") == 0)
            c.host = v;
        else if (strcmp(a, "--port") == 0)
            ok = int_arg(v, 1, 65535, &c.port);
        else if (strcmp(a, "--streams") == 0)
            ok = int_arg(v, 1, 1024, &c.streams);
        else if (strcmp(a, "--requests") == 0)
            ok = int_arg(v, 1, 10000000, &c.requests);
        else if (strcmp(a, "--max-tokens") == 0)
            ok = int_arg(v, 1, 1000000, &c.max_tokens);
        else if (strcmp(a, "--pid") == 0)
            ok = int_arg(v, 0, INT_MAX, &c.pid);
        else if (strcmp(a, "--api-key") == 0)
            c.api_key = v;
        else if (strcmp(a, "--time-limit") == 0)
            ok = bn_cli_parse_double(v, 1e-3, 1e7, &c.time_limit_s);
        else if (strcmp(a, "--prefix-test") == 0)
            ok = int_arg(v, 0, 1000000, &c.prefix_tokens);
        else if (strcmp(a, "--json") == 0) {
            c.json = true;
            continue;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bitnet-loadgen: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok)
            return bn_cli_usage_error("bitnet-loadgen", usage, "bad value for %s", a);
        i++;
    }
    if (c.port <= 0 || c.port > 65535 || c.streams < 1 || c.streams > 1024 || c.requests < 1 ||
        c.max_tokens < 1 || c.time_limit_s <= 0) {
        usage(stderr);
        return 2;
    }
    return c.prefix_tokens > 0 ? run_prefix(&c) : run_load(&c);
}
