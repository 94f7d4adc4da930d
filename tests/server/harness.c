/* harness.c: see harness.h. */
#include "tests/server/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

char *test_server_log(const test_server *s)
{
    FILE *f = fopen(s->log_path, "rb");
    cr_assert(f, "cannot open %s", s->log_path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    cr_assert(buf);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

void test_server_start(test_server *s, const char *env_kernels, const char *const *args)
{
    memset(s, 0, sizeof *s);
    snprintf(s->log_path, sizeof s->log_path, "/tmp/bn-test-server-XXXXXX");
    int fd = mkstemp(s->log_path);
    cr_assert(fd >= 0, "mkstemp failed");
    close(fd);

    const char *argv[64];
    int n = 0;
    argv[n++] = BN_BUILD_DIR "/tools/bitnet-server";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "-t";
    argv[n++] = "1";
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    /* The environment, with BN_KERNELS replaced when asked. */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    cr_assert(envp);
    size_t k = 0;
    static char kernels[64];
    for (size_t i = 0; i < ne; i++)
        if (!env_kernels || strncmp(environ[i], "BN_KERNELS=", 11) != 0)
            envp[k++] = environ[i];
    if (env_kernels) {
        snprintf(kernels, sizeof kernels, "BN_KERNELS=%s", env_kernels);
        envp[k++] = kernels;
    }
    /* fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test
     * that fails an assertion exits at once, and its server must die with it. */
    pid_t parent = getpid();
    int logfd = open(s->log_path, O_WRONLY | O_APPEND);
    cr_assert(logfd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close(logfd);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    close(logfd);
    free(envp);
    int rc = pid > 0 ? 0 : -1;
    s->pid = pid;
    cr_assert_eq(rc, 0, "cannot start %s", argv[0]);

    /* The port from the "listening on" line, then /health == 200. */
    double end = now_s() + 20.0;
    while (now_s() < end && s->port == 0) {
        char *log = test_server_log(s);
        const char *p = strstr(log, "listening on http://127.0.0.1:");
        if (p)
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(log);
        int st;
        if (s->port == 0 && waitpid(s->pid, &st, WNOHANG) == s->pid) {
            char *l = test_server_log(s);
            s->pid = 0;
            cr_assert_fail("bitnet-server exited at start: %s", l);
        }
        if (s->port == 0)
            sleep_ms(20);
    }
    cr_assert(s->port > 0, "bitnet-server did not report its port");
    while (now_s() < end) {
        test_response r = test_http(s->port, "GET", "/health", NULL, NULL, 0);
        int status = r.status;
        test_response_free(&r);
        if (status == 200)
            return;
        sleep_ms(20);
    }
    cr_assert_fail("bitnet-server did not become ready");
}

int test_server_stop(test_server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    double end = now_s() + 20.0;
    int st = 0, code = -1;
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (now_s() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        sleep_ms(10);
    }
    s->pid = 0;
    unlink(s->log_path);
    return code;
}

int test_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
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

test_response test_http(int port, const char *method, const char *path, const char *extra_headers,
                        const char *body, size_t body_len)
{
    test_response r = {0};
    int fd = test_connect(port);
    if (fd < 0)
        return r;
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, extra_headers ? extra_headers : "", body ? body_len : 0);
    if (!send_all(fd, head, (size_t)hn) || (body && !send_all(fd, body, body_len))) {
        close(fd);
        return r;
    }
    size_t cap = 1 << 14, n = 0;
    char *buf = malloc(cap);
    cr_assert(buf);
    double end = now_s() + 30.0;
    while (now_s() < end) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert(buf);
        }
        ssize_t got = recv(fd, buf + n, cap - 1 - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !sep) {
        free(buf);
        return r;
    }
    r.status = atoi(buf + 9);
    *sep = '\0';
    r.headers = strdup(buf);
    r.body_len = n - (size_t)(sep + 4 - buf);
    r.body = malloc(r.body_len + 1);
    cr_assert(r.headers && r.body);
    memcpy(r.body, sep + 4, r.body_len);
    r.body[r.body_len] = '\0';
    free(buf);
    return r;
}

void test_response_free(test_response *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

size_t test_sse_events(const char *body, char ***out)
{
    size_t n = 0, cap = 16;
    char **ev = malloc(cap * sizeof *ev);
    cr_assert(ev);
    const char *p = body;
    while ((p = strstr(p, "data: ")) != NULL) {
        if (p != body && p[-1] != '\n') {
            p += 6;
            continue;
        }
        p += 6;
        const char *end = strstr(p, "\n\n");
        cr_assert(end, "an SSE event without its blank line");
        if (n == cap) {
            cap *= 2;
            ev = realloc(ev, cap * sizeof *ev);
            cr_assert(ev);
        }
        ev[n++] = strndup(p, (size_t)(end - p));
        p = end + 2;
    }
    *out = ev;
    return n;
}

void test_sse_free(char **events, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(events[i]);
    free(events);
}
