/* response.h: bitnet-server's output side: a growable byte buffer, JSON
 * string escaping, and the OpenAI response bodies (completions, stream
 * chunks, errors) built into such a buffer.
 *
 * Owns no state beyond the buffer. JSON strings written here are always
 * valid UTF-8: bytes that are not (a model can emit any byte through its
 * byte-fallback tokens) become U+FFFD. No HTTP dependency; thread-safe (each
 * caller has its own buffer). A buffer whose allocation failed stays in a
 * failed state (oom set) and further appends do nothing, so callers check
 * once at the end.
 */
#ifndef BN_SERVER_RESPONSE_H
#define BN_SERVER_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct srv_buf {
    char *data; /* NUL-terminated when not NULL */
    size_t len, cap;
    bool oom;
} srv_buf;

void srv_buf_free(srv_buf *b);
void srv_buf_reset(srv_buf *b); /* len = 0, memory kept */
void srv_buf_append(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..n) as a quoted JSON string; invalid UTF-8 becomes U+FFFD. */
void srv_buf_json_string(srv_buf *b, const char *s, size_t n);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence that later bytes could still complete (at most 3 bytes held back). */
size_t srv_utf8_complete_prefix(const char *s, size_t n);

/* What the response bodies have in common. */
typedef struct srv_completion_info {
    bool chat;              /* chat.completion(.chunk) vs text_completion */
    const char *id;         /* "chatcmpl-..." / "cmpl-..." */
    const char *model;      /* model name */
    int64_t created;        /* unix seconds */
} srv_completion_info;

/* The whole non-streaming body, with usage. */
void srv_write_completion(srv_buf *b, const srv_completion_info *ci, const char *text, size_t len,
                          const char *finish_reason, int32_t n_prompt, int32_t n_gen);
/* One "data: {...}\n\n" event. text may be NULL (no content field: the first
 * chat chunk carries the role, the last one the finish reason). */
void srv_write_chunk(srv_buf *b, const srv_completion_info *ci, bool first, const char *text,
                     size_t len, const char *finish_reason);
/* The usage-only chunk (stream_options.include_usage): choices [] and usage. */
void srv_write_usage_chunk(srv_buf *b, const srv_completion_info *ci, int32_t n_prompt,
                           int32_t n_gen);
/* OpenAI's error body: {"error": {"message", "type", "param", "code"}}.
 * param and code may be NULL (written as null). */
void srv_write_error(srv_buf *b, const char *message, const char *type, const char *param,
                     const char *code);

#endif
