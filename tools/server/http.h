/* http.h: bitnet-server's HTTP side (libmicrohttpd): routing, auth, body
 * limits, the endpoints, streaming, and one log line per request.
 *
 * The daemon runs one thread per connection (bounded by max_connections,
 * idle connections closed after idle_timeout_s). A generation request is
 * parsed, rendered and tokenized on its connection's thread, then handed to
 * the engine; the thread waits for the engine's text (streaming it as SSE,
 * or collecting it) and watches the socket, so that a client that leaves
 * frees its slot at the next step. The model and engine are attached once
 * loaded (srv_http_set_ready): until then /health answers 503 and every
 * other endpoint 503 too; srv_http_set_stopping makes /health and new
 * generation requests answer 503 while running ones finish.
 */
#ifndef BN_SERVER_HTTP_H
#define BN_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"
#include "runtime/chat_template.h"
#include "tools/server/engine.h"

typedef struct srv_http_options {
    const char *host;          /* an IPv4/IPv6 literal or "localhost" */
    int port;                  /* 0: any free port */
    const char *api_key;       /* NULL: no auth */
    size_t max_body_bytes;
    int32_t max_tokens;        /* the largest max_tokens a request may ask */
    unsigned idle_timeout_s;   /* a connection that sends nothing for this long is closed */
    double request_timeout_s;  /* a reply ends ("length") after this long */
    unsigned max_connections;
} srv_http_options;

typedef struct srv_http srv_http;

/* Starts listening (state: loading). *port_out gets the bound port.
 * Returns NULL with a message in err on failure. */
srv_http *srv_http_start(const srv_http_options *opts, int *port_out, char *err, size_t err_cap);
/* Attaches the loaded model and the running engine: the server is ready.
 * model_name is what /v1/models and responses report. */
void srv_http_set_ready(srv_http *h, const bn_model *model, srv_engine *engine,
                        const char *model_name, bn_chat_template tmpl, int32_t n_ctx);
/* Stops accepting connections; /health and new requests answer 503. */
void srv_http_set_stopping(srv_http *h);
/* Waits (at most timeout_s) until every request that has started arriving
 * has been answered in full: the engine finishing a task is not the client
 * having read its last bytes. False on timeout. */
bool srv_http_wait_idle(srv_http *h, double timeout_s);
/* Closes every connection (after the engine finished its tasks) and frees. */
void srv_http_stop(srv_http *h);

#endif
