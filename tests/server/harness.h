/* harness.h: starts bitnet-server for the integration tests and talks
 * HTTP/1.0 to it over loopback with plain sockets.
 *
 * Test support only. Every wait is bounded (start-up 20 s, a request 30 s,
 * shutdown 20 s, then SIGKILL), so a broken server fails a test instead of
 * hanging it. The server's stderr goes to a file in /tmp that the tests read
 * (its log lines) and that is removed at stop.
 */
#ifndef BN_TEST_SERVER_HARNESS_H
#define BN_TEST_SERVER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct test_server {
    pid_t pid;
    int port;
    char log_path[64];
} test_server;

/* Starts build/tools/bitnet-server --port 0 -t 1 with the extra arguments
 * (NULL-terminated) and env_kernels as BN_KERNELS (NULL: unchanged); waits
 * until /health answers 200. Fails the test otherwise. */
void test_server_start(test_server *s, const char *env_kernels, const char *const *args);
/* SIGTERM, then waits; returns the exit code (-1 if it had to be killed). */
int test_server_stop(test_server *s);
/* The server's log so far (malloc'd, NUL-terminated). */
char *test_server_log(const test_server *s);

typedef struct test_response {
    int status;          /* 0 when no response came */
    char *headers;       /* raw header block */
    char *body;          /* NUL-terminated */
    size_t body_len;
} test_response;

/* One request (HTTP/1.0, Connection: close). extra_headers: "Name: v\r\n"
 * lines or NULL; body may be NULL. */
test_response test_http(int port, const char *method, const char *path, const char *extra_headers,
                        const char *body, size_t body_len);
void test_response_free(test_response *r);

/* A connected loopback socket to the server, or -1. */
int test_connect(int port);

/* The SSE data payloads of a stream body ("data: X\n\n" -> X), in order;
 * returns the count, *out malloc'd array of malloc'd strings. */
size_t test_sse_events(const char *body, char ***out);
void test_sse_free(char **events, size_t n);

#endif
