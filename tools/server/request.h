/* request.h: a request body (JSON) to a validated request, for every
 * bitnet-server endpoint that takes a body.
 *
 * Owns the parsing and validation of the fields of OpenAI's
 * /v1/chat/completions and /v1/completions (with llama-server's extras),
 * and of llama-server's /tokenize and /detokenize. Everything the request
 * keeps is copied out of the JSON document, so the request outlives it.
 * Unknown fields are ignored; a JSON null counts as an absent field. A bad
 * body gives an srv_error carrying the HTTP status and OpenAI's error type,
 * param and code, ready to be written with srv_write_error.
 *
 * No HTTP and no model here: chat messages stay messages (the server renders
 * them with the model's template and tokenizes them), so the parser can be
 * fuzzed alone. Pure functions; thread-safe.
 */
#ifndef BN_SERVER_REQUEST_H
#define BN_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"
#include "runtime/chat_template.h"

typedef enum srv_endpoint {
    SRV_ENDPOINT_CHAT = 0,   /* POST /v1/chat/completions */
    SRV_ENDPOINT_COMPLETION, /* POST /v1/completions */
    SRV_ENDPOINT_TOKENIZE,   /* POST /tokenize */
    SRV_ENDPOINT_DETOKENIZE, /* POST /detokenize */
} srv_endpoint;

#define SRV_MAX_STOP 16          /* stop strings per request (OpenAI allows 4) */
#define SRV_MAX_STOP_BYTES 256   /* bytes per stop string */
#define SRV_MAX_MESSAGES 4096

/* An error to send: HTTP status, OpenAI's type/param/code, a message. */
typedef struct srv_error {
    int http_status;
    const char *type;  /* "invalid_request_error", "authentication_error", ... */
    const char *param; /* the field at fault, or NULL */
    const char *code;  /* e.g. "context_length_exceeded", or NULL */
    char message[384];
} srv_error;

void srv_error_set(srv_error *e, int http_status, const char *type, const char *param,
                   const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

typedef struct srv_message {
    bn_chat_role role;
    char *content;
} srv_message;

/* Limits the server imposes on request fields. */
typedef struct srv_request_limits {
    int32_t max_tokens;  /* the largest max_tokens a request may ask */
    int32_t n_vocab;     /* token ids of /detokenize and prompts must be below it */
} srv_request_limits;

typedef struct srv_request {
    srv_endpoint endpoint;
    /* chat */
    srv_message *messages;
    size_t n_messages;
    /* completion (prompt text, or prompt ids when given as numbers),
     * tokenize (content) */
    char *prompt;
    size_t prompt_len;
    int32_t *ids; /* completion prompt ids, or /detokenize's tokens */
    size_t n_ids;
    bool add_special;   /* /tokenize: add BOS (default false) */
    bool with_pieces;   /* /tokenize: also return each token's text */
    /* generation */
    int32_t max_tokens; /* -1 when absent */
    bn_sampler_params sampling;
    bool has_seed;
    char *stop[SRV_MAX_STOP];
    size_t n_stop;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    bool ignore_eos;    /* llama-server's: generate past end-of-generation tokens */
} srv_request;

/* Parses and validates body[0..len) for an endpoint. On failure err is set
 * (4xx) and *out is left empty (srv_request_free is still safe). Sampling
 * defaults are llama-server's (bn_sampler_params_default: temperature 0.8,
 * top_k 40, top_p 0.95, min_p 0.05, no repeat penalty); a random seed
 * unless one is given (seed -1 also means random). */
bool srv_request_parse(srv_endpoint endpoint, const char *body, size_t len,
                       const srv_request_limits *limits, srv_request *out, srv_error *err);
void srv_request_free(srv_request *req);

#endif
