/* response.c: the byte buffer, JSON escaping and the OpenAI bodies. See
 * response.h. Field order and names follow OpenAI's API reference, so that
 * the official SDK's models parse them unchanged. */
#include "tools/server/response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srv_buf_free(srv_buf *b)
{
    if (!b)
        return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

void srv_buf_reset(srv_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static bool reserve(srv_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    if (extra > ((size_t)-1) / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void srv_buf_append(srv_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void srv_buf_puts(srv_buf *b, const char *s)
{
    srv_buf_append(b, s, strlen(s));
}

void srv_buf_printf(srv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        srv_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if the bytes
 * there do not start one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF);
 * -1 if they are a valid but incomplete start. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    else if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned d = s[i];
        if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xBF))
            return 0;
    }
    return len;
}

size_t srv_utf8_complete_prefix(const char *s, size_t n)
{
    /* Only the last three bytes can start an incomplete sequence. */
    size_t start = n > 3 ? n - 3 : 0;
    for (size_t i = start; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c >= 0xC0 && utf8_seq((const unsigned char *)s + i, n - i) == -1)
            return i;
    }
    return n;
}

void srv_buf_json_string(srv_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    srv_buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c >= 0x80) {
            int len = utf8_seq(u + i, n - i);
            if (len <= 0) {
                srv_buf_append(b, "\xEF\xBF\xBD", 3); /* U+FFFD for one bad byte */
                i++;
            } else {
                srv_buf_append(b, s + i, (size_t)len);
                i += (size_t)len;
            }
            continue;
        }
        /* A run of bytes that need no escape, in one append. */
        size_t j = i;
        while (j < n && u[j] >= 0x20 && u[j] < 0x80 && u[j] != '"' && u[j] != '\\')
            j++;
        if (j > i) {
            srv_buf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        char esc[7];
        switch (c) {
        case '"': srv_buf_append(b, "\\\"", 2); break;
        case '\\': srv_buf_append(b, "\\\\", 2); break;
        case '\n': srv_buf_append(b, "\\n", 2); break;
        case '\r': srv_buf_append(b, "\\r", 2); break;
        case '\t': srv_buf_append(b, "\\t", 2); break;
        default:
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            srv_buf_append(b, esc, 6);
        }
        i++;
    }
    srv_buf_append(b, "\"", 1);
}

static void write_head(srv_buf *b, const srv_completion_info *ci, bool chunk)
{
    srv_buf_puts(b, "{\"id\":");
    srv_buf_json_string(b, ci->id, strlen(ci->id));
    srv_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":",
                   ci->chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                            : "text_completion",
                   (long long)ci->created);
    srv_buf_json_string(b, ci->model, strlen(ci->model));
    srv_buf_puts(b, ",\"system_fingerprint\":\"bitnet\"");
}

static void write_usage(srv_buf *b, int32_t n_prompt, int32_t n_gen)
{
    srv_buf_printf(b,
                   "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}",
                   (int)n_prompt, (int)n_gen, (int)(n_prompt + n_gen));
}

void srv_write_completion(srv_buf *b, const srv_completion_info *ci, const char *text, size_t len,
                          const char *finish_reason, int32_t n_prompt, int32_t n_gen)
{
    write_head(b, ci, false);
    srv_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (ci->chat) {
        srv_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        srv_buf_json_string(b, text, len);
        srv_buf_puts(b, "},");
    } else {
        srv_buf_puts(b, "\"text\":");
        srv_buf_json_string(b, text, len);
        srv_buf_puts(b, ",");
    }
    srv_buf_printf(b, "\"logprobs\":null,\"finish_reason\":\"%s\"}],", finish_reason);
    write_usage(b, n_prompt, n_gen);
    srv_buf_puts(b, "}");
}

void srv_write_chunk(srv_buf *b, const srv_completion_info *ci, bool first, const char *text,
                     size_t len, const char *finish_reason)
{
    srv_buf_puts(b, "data: ");
    write_head(b, ci, true);
    srv_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (ci->chat) {
        srv_buf_puts(b, "\"delta\":{");
        if (first)
            srv_buf_puts(b, "\"role\":\"assistant\"");
        if (text) {
            if (first)
                srv_buf_puts(b, ",");
            srv_buf_puts(b, "\"content\":");
            srv_buf_json_string(b, text, len);
        }
        srv_buf_puts(b, "},");
    } else {
        srv_buf_puts(b, "\"text\":");
        srv_buf_json_string(b, text ? text : "", text ? len : 0);
        srv_buf_puts(b, ",");
    }
    if (finish_reason)
        srv_buf_printf(b, "\"logprobs\":null,\"finish_reason\":\"%s\"}]}\n\n", finish_reason);
    else
        srv_buf_puts(b, "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

void srv_write_usage_chunk(srv_buf *b, const srv_completion_info *ci, int32_t n_prompt,
                           int32_t n_gen)
{
    srv_buf_puts(b, "data: ");
    write_head(b, ci, true);
    srv_buf_puts(b, ",\"choices\":[],");
    write_usage(b, n_prompt, n_gen);
    srv_buf_puts(b, "}\n\n");
}

void srv_write_error(srv_buf *b, const char *message, const char *type, const char *param,
                     const char *code)
{
    srv_buf_puts(b, "{\"error\":{\"message\":");
    srv_buf_json_string(b, message, strlen(message));
    srv_buf_puts(b, ",\"type\":");
    srv_buf_json_string(b, type, strlen(type));
    srv_buf_puts(b, ",\"param\":");
    if (param)
        srv_buf_json_string(b, param, strlen(param));
    else
        srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"code\":");
    if (code)
        srv_buf_json_string(b, code, strlen(code));
    else
        srv_buf_puts(b, "null");
    srv_buf_puts(b, "}}");
}
