/* json.c: the strict JSON reader behind json.h.
 *
 * A recursive-descent parser over a bounds-checked cursor. Every value lives
 * in one arena (a chain of large malloc'd blocks) so that a 9 MB
 * tokenizer.json with ~400k values costs a handful of allocations and one
 * free. Children of a container are collected on a scratch stack while the
 * container is open and copied into the arena as one contiguous array when
 * it closes, so arrays and objects index in O(1).
 *
 * The cursor never reads at or past `end`; every error names the byte offset
 * where the parser stopped. The depth limit bounds the C stack.
 */
#include "loader/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/file_read.h"
#include "runtime/error.h"

typedef struct bn_json_member bn_json_member;

struct bn_json_value {
    bn_json_type type;
    bool boolean;
    bool is_int;    /* number written as an integer literal that fits int64 */
    size_t len;     /* string bytes, array items, object members */
    int64_t i64;    /* exact value when is_int */
    union {
        double num;
        const char *str;            /* NUL-terminated, len bytes before it */
        bn_json_value *items;       /* (len) */
        bn_json_member *members;    /* (len) */
    } u;
};

struct bn_json_member {
    const char *key; /* NUL-terminated */
    size_t key_len;
    bn_json_value value;
};

/* ---- arena ---- */

typedef struct bn_json_block {
    struct bn_json_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} bn_json_block;

struct bn_json_doc {
    bn_json_block *blocks; /* newest first */
    bn_json_value root;
};

#define BN_JSON_BLOCK_BYTES ((size_t)1 << 20)

static void *arena_alloc(bn_json_doc *doc, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    bn_json_block *b = doc->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > BN_JSON_BLOCK_BYTES ? n : BN_JSON_BLOCK_BYTES;
        b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = doc->blocks;
        doc->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* Gives back the tail of the most recent allocation (it was `had` bytes,
 * only `keep` are used). */
static void arena_shrink_last(bn_json_doc *doc, void *p, size_t had, size_t keep)
{
    bn_json_block *b = doc->blocks;
    had = (had + 15) & ~(size_t)15;
    keep = (keep + 15) & ~(size_t)15;
    if (b && (unsigned char *)p + had == b->data + b->used)
        b->used -= had - keep;
}

/* ---- parser state ---- */

typedef struct parser {
    const unsigned char *start, *p, *end;
    bn_json_doc *doc;
    bn_error *err;
    bn_status status;
    /* scratch stacks for the children of open containers */
    bn_json_value *vals;
    size_t n_vals, cap_vals;
    bn_json_member *mems;
    size_t n_mems, cap_mems;
} parser;

static size_t offset_of(const parser *ps) { return (size_t)(ps->p - ps->start); }

static bn_status fail(parser *ps, bn_status st, const char *what)
{
    if (ps->status == BN_STATUS_OK) {
        ps->status = st;
        if (st == BN_STATUS_NO_MEMORY)
            bn_error_set(ps->err, st, "JSON: out of memory at byte %zu", offset_of(ps));
        else if (ps->p >= ps->end)
            bn_error_set(ps->err, st, "JSON: %s at byte %zu (unexpected end of input)", what,
                         offset_of(ps));
        else
            bn_error_set(ps->err, st, "JSON: %s at byte %zu", what, offset_of(ps));
    }
    return st;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool push_val(parser *ps, const bn_json_value *v)
{
    if (ps->n_vals == ps->cap_vals) {
        size_t cap = ps->cap_vals ? ps->cap_vals * 2 : 256;
        bn_json_value *nv = realloc(ps->vals, cap * sizeof *nv);
        if (!nv)
            return false;
        ps->vals = nv;
        ps->cap_vals = cap;
    }
    ps->vals[ps->n_vals++] = *v;
    return true;
}

static bool push_mem(parser *ps, const bn_json_member *m)
{
    if (ps->n_mems == ps->cap_mems) {
        size_t cap = ps->cap_mems ? ps->cap_mems * 2 : 256;
        bn_json_member *nm = realloc(ps->mems, cap * sizeof *nm);
        if (!nm)
            return false;
        ps->mems = nm;
        ps->cap_mems = cap;
    }
    ps->mems[ps->n_mems++] = *m;
    return true;
}

static bn_status parse_value(parser *ps, bn_json_value *out, int depth);

/* Length of a valid UTF-8 sequence starting at p (1..4), or 0 if invalid
 * (overlong, surrogate, > U+10FFFF, truncated). */
static size_t utf8_valid_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static size_t utf8_put(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    if (end - p < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        v = (v << 4) | d;
    }
    *out = v;
    return 1;
}

/* ps->p at the opening quote. Decoded bytes never outnumber raw bytes
 * (an escape of 2..12 bytes yields 1..4), so the raw span bounds the buffer. */
static bn_status parse_string(parser *ps, const char **out, size_t *out_len)
{
    ps->p++; /* opening quote */
    const unsigned char *q = ps->p;
    /* Find the closing quote first: size the buffer, fail fast on truncation. */
    while (q < ps->end && *q != '"') {
        if (*q == '\\') {
            q++;
            if (q >= ps->end)
                break;
        }
        q++;
    }
    if (q >= ps->end) {
        ps->p = ps->end;
        return fail(ps, BN_STATUS_FORMAT, "unterminated string");
    }
    size_t raw = (size_t)(q - ps->p);
    unsigned char *buf = arena_alloc(ps->doc, raw + 1);
    if (!buf)
        return fail(ps, BN_STATUS_NO_MEMORY, "");
    unsigned char *o = buf;
    while (ps->p < q) {
        unsigned c = *ps->p;
        if (c == '\\') {
            unsigned e = ps->p[1]; /* ps->p + 1 < q: q is a quote not preceded by this escape */
            ps->p += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(ps->p, q, &cp)) {
                    return fail(ps, BN_STATUS_FORMAT, "bad \\u escape (need 4 hex digits)");
                }
                ps->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    ps->p -= 6;
                    return fail(ps, BN_STATUS_FORMAT, "unpaired low surrogate in \\u escape");
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (q - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                        !hex4(ps->p + 2, q, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        ps->p -= 6;
                        return fail(ps, BN_STATUS_FORMAT, "unpaired high surrogate in \\u escape");
                    }
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += utf8_put(o, cp);
                break;
            }
            default:
                ps->p -= 2;
                return fail(ps, BN_STATUS_FORMAT, "bad escape in string");
            }
        } else if (c < 0x20) {
            return fail(ps, BN_STATUS_FORMAT, "control character in string");
        } else if (c < 0x80) {
            *o++ = (unsigned char)c;
            ps->p++;
        } else {
            size_t n = utf8_valid_len(ps->p, q);
            if (n == 0)
                return fail(ps, BN_STATUS_FORMAT, "invalid UTF-8 in string");
            memcpy(o, ps->p, n);
            o += n;
            ps->p += n;
        }
    }
    ps->p = q + 1;
    size_t len = (size_t)(o - buf);
    *o = 0;
    arena_shrink_last(ps->doc, buf, raw + 1, len + 1);
    *out = (const char *)buf;
    *out_len = len;
    return BN_STATUS_OK;
}

static bool is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static bn_status parse_number(parser *ps, bn_json_value *out)
{
    const unsigned char *s = ps->p, *p = ps->p;
    bool neg = false, integral = true;
    if (p < ps->end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= ps->end || !is_digit(*p)) {
        ps->p = p;
        return fail(ps, BN_STATUS_FORMAT, "bad number (expected a digit)");
    }
    if (*p == '0') {
        p++;
        if (p < ps->end && is_digit(*p)) {
            ps->p = p;
            return fail(ps, BN_STATUS_FORMAT, "bad number (leading zero)");
        }
    } else {
        while (p < ps->end && is_digit(*p))
            p++;
    }
    const unsigned char *int_end = p;
    if (p < ps->end && *p == '.') {
        integral = false;
        p++;
        if (p >= ps->end || !is_digit(*p)) {
            ps->p = p;
            return fail(ps, BN_STATUS_FORMAT, "bad number (expected a digit after '.')");
        }
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !is_digit(*p)) {
            ps->p = p;
            return fail(ps, BN_STATUS_FORMAT, "bad number (expected a digit in the exponent)");
        }
        while (p < ps->end && is_digit(*p))
            p++;
    }

    out->type = BN_JSON_NUMBER;
    out->is_int = false;
    if (integral) {
        /* Exact int64, accumulated negatively so INT64_MIN fits. */
        int64_t v = 0;
        bool fits = true;
        for (const unsigned char *d = neg ? s + 1 : s; d < int_end; d++) {
            int digit = *d - '0';
            if (v < (INT64_MIN + digit) / 10) {
                fits = false;
                break;
            }
            v = v * 10 - digit;
        }
        if (fits && !neg && v == INT64_MIN)
            fits = false;
        if (fits) {
            out->is_int = true;
            out->i64 = neg ? v : -v;
        }
    }

    /* strtod needs a NUL-terminated copy: the input is not terminated. */
    size_t n = (size_t)(p - s);
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp)
        return fail(ps, BN_STATUS_NO_MEMORY, "");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    errno = 0;
    double d = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    if (isinf(d) || isnan(d)) {
        return fail(ps, BN_STATUS_FORMAT, "number out of the range of a double");
    }
    out->u.num = d;
    ps->p = p;
    return BN_STATUS_OK;
}

static bn_status expect_word(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, BN_STATUS_FORMAT, "unexpected character");
    ps->p += n;
    return BN_STATUS_OK;
}

/* Reads what follows an element of an array or object: a ',' (*more = true,
 * another element follows) or the closing byte `close` (*more = false);
 * anything else fails with the message `what`. */
static bn_status next_element(parser *ps, char close, const char *what, bool *more)
{
    skip_ws(ps);
    if (ps->p < ps->end && (*ps->p == ',' || *ps->p == close)) {
        *more = *ps->p == ',';
        ps->p++;
        return BN_STATUS_OK;
    }
    return fail(ps, BN_STATUS_FORMAT, what);
}

/* A copy in the arena of the n_bytes (> 0) of children a container
 * collected on its scratch stack; NULL when out of memory. */
static void *arena_copy(bn_json_doc *doc, const void *src, size_t n_bytes)
{
    void *dst = arena_alloc(doc, n_bytes);
    if (dst)
        memcpy(dst, src, n_bytes);
    return dst;
}

static bn_status parse_array(parser *ps, bn_json_value *out, int depth)
{
    size_t base = ps->n_vals;
    ps->p++; /* [ */
    skip_ws(ps);
    bool more = true;
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        more = false;
    }
    while (more) {
        bn_json_value item;
        if (parse_value(ps, &item, depth + 1) != BN_STATUS_OK)
            return ps->status;
        if (!push_val(ps, &item))
            return fail(ps, BN_STATUS_NO_MEMORY, "");
        bn_status st = next_element(ps, ']', "expected ',' or ']' in array", &more);
        if (st != BN_STATUS_OK)
            return st;
    }
    size_t count = ps->n_vals - base;
    out->type = BN_JSON_ARRAY;
    out->len = count;
    out->u.items = NULL;
    if (count &&
        !(out->u.items = arena_copy(ps->doc, ps->vals + base, count * sizeof(bn_json_value))))
        return fail(ps, BN_STATUS_NO_MEMORY, "");
    ps->n_vals = base;
    return BN_STATUS_OK;
}

static bn_status parse_object(parser *ps, bn_json_value *out, int depth)
{
    size_t base = ps->n_mems;
    ps->p++; /* { */
    skip_ws(ps);
    bool more = true;
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = false;
    }
    while (more) {
        bn_json_member m;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return fail(ps, BN_STATUS_FORMAT, "expected a string key in object");
        if (parse_string(ps, &m.key, &m.key_len) != BN_STATUS_OK)
            return ps->status;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail(ps, BN_STATUS_FORMAT, "expected ':' after object key");
        ps->p++;
        if (parse_value(ps, &m.value, depth + 1) != BN_STATUS_OK)
            return ps->status;
        if (!push_mem(ps, &m))
            return fail(ps, BN_STATUS_NO_MEMORY, "");
        bn_status st = next_element(ps, '}', "expected ',' or '}' in object", &more);
        if (st != BN_STATUS_OK)
            return st;
    }
    size_t count = ps->n_mems - base;
    out->type = BN_JSON_OBJECT;
    out->len = count;
    out->u.members = NULL;
    if (count &&
        !(out->u.members = arena_copy(ps->doc, ps->mems + base, count * sizeof(bn_json_member))))
        return fail(ps, BN_STATUS_NO_MEMORY, "");
    ps->n_mems = base;
    return BN_STATUS_OK;
}

static bn_status parse_value(parser *ps, bn_json_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    if (depth > BN_JSON_MAX_DEPTH)
        return fail(ps, BN_STATUS_FORMAT, "nesting deeper than the limit of 256");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, BN_STATUS_FORMAT, "expected a value");
    switch (*ps->p) {
    case '{': return parse_object(ps, out, depth);
    case '[': return parse_array(ps, out, depth);
    case '"':
        out->type = BN_JSON_STRING;
        return parse_string(ps, &out->u.str, &out->len);
    case 't':
        out->type = BN_JSON_BOOL;
        out->boolean = true;
        return expect_word(ps, "true");
    case 'f':
        out->type = BN_JSON_BOOL;
        return expect_word(ps, "false");
    case 'n':
        out->type = BN_JSON_NULL;
        return expect_word(ps, "null");
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return parse_number(ps, out);
        return fail(ps, BN_STATUS_FORMAT, "unexpected character (expected a value)");
    }
}

bn_status bn_json_parse(const char *text, size_t len, bn_json_doc **out, bn_error *err)
{
    parser ps = {0};
    bn_json_doc *doc = NULL;
    if (!out || (!text && len)) {
        bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_json_parse: NULL argument");
        ps.status = BN_STATUS_INVALID_ARG;
        goto fail;
    }
    *out = NULL;
    doc = calloc(1, sizeof *doc);
    if (!doc) {
        ps.status = bn_error_set(err, BN_STATUS_NO_MEMORY, "JSON: out of memory");
        goto fail;
    }
    static const char empty[1] = "";
    ps.start = ps.p = (const unsigned char *)(text ? text : empty);
    ps.end = ps.start + len;
    /* RFC 8259 8.1 lets a parser ignore a leading UTF-8 byte order mark;
     * some Windows-edited tokenizer_config.json files start with one. */
    if (len >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
        ps.p += 3;
    ps.doc = doc;
    ps.err = err;
    ps.status = BN_STATUS_OK;
    if (parse_value(&ps, &doc->root, 1) != BN_STATUS_OK)
        goto fail;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, BN_STATUS_FORMAT, "unexpected data after the top-level value");
        goto fail;
    }
    free(ps.vals);
    free(ps.mems);
    *out = doc;
    return BN_STATUS_OK;
fail:
    free(ps.vals);
    free(ps.mems);
    bn_json_free(doc);
    return ps.status;
}

bn_status bn_json_parse_file(const char *path, bn_json_doc **out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!path || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_json_parse_file: NULL argument");
        goto fail;
    }
    *out = NULL;
    if ((st = bn_file_read_all(path, &buf, &len, err)) != BN_STATUS_OK)
        goto fail;
    bn_error sub = {0};
    st = bn_json_parse((const char *)buf, len, out, &sub);
    if (st != BN_STATUS_OK) {
        bn_error_set(err, st, "%s: %s", path, sub.message);
        goto fail;
    }
    free(buf);
    return BN_STATUS_OK;
fail:
    free(buf);
    return st;
}

void bn_json_free(bn_json_doc *doc)
{
    if (!doc)
        return;
    bn_json_block *b = doc->blocks;
    while (b) {
        bn_json_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc);
}

const bn_json_value *bn_json_root(const bn_json_doc *doc) { return doc ? &doc->root : NULL; }

bn_json_type bn_json_type_of(const bn_json_value *v) { return v ? v->type : BN_JSON_NULL; }

bool bn_json_is(const bn_json_value *v, bn_json_type type) { return v && v->type == type; }

const char *bn_json_type_name(bn_json_type type)
{
    switch (type) {
    case BN_JSON_NULL: return "null";
    case BN_JSON_BOOL: return "boolean";
    case BN_JSON_NUMBER: return "number";
    case BN_JSON_STRING: return "string";
    case BN_JSON_ARRAY: return "array";
    case BN_JSON_OBJECT: return "object";
    }
    return "unknown";
}

size_t bn_json_array_len(const bn_json_value *v)
{
    return bn_json_is(v, BN_JSON_ARRAY) ? v->len : 0;
}

const bn_json_value *bn_json_array_at(const bn_json_value *v, size_t i)
{
    if (!bn_json_is(v, BN_JSON_ARRAY) || i >= v->len)
        return NULL;
    return &v->u.items[i];
}

size_t bn_json_object_len(const bn_json_value *v)
{
    return bn_json_is(v, BN_JSON_OBJECT) ? v->len : 0;
}

const char *bn_json_object_key_at(const bn_json_value *v, size_t i, size_t *key_len)
{
    if (!bn_json_is(v, BN_JSON_OBJECT) || i >= v->len)
        return NULL;
    if (key_len)
        *key_len = v->u.members[i].key_len;
    return v->u.members[i].key;
}

const bn_json_value *bn_json_object_value_at(const bn_json_value *v, size_t i)
{
    if (!bn_json_is(v, BN_JSON_OBJECT) || i >= v->len)
        return NULL;
    return &v->u.members[i].value;
}

const bn_json_value *bn_json_object_get(const bn_json_value *v, const char *key)
{
    if (!bn_json_is(v, BN_JSON_OBJECT) || !key)
        return NULL;
    /* From the end: of two equal keys the last wins, as in Python's json
     * (and so transformers) and serde_json; the published Llama3-8B-1.58
     * config.json has "quantization_config" twice. */
    size_t n = strlen(key);
    for (size_t i = v->len; i-- > 0;) {
        const bn_json_member *m = &v->u.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->value;
    }
    return NULL;
}

bool bn_json_as_string(const bn_json_value *v, const char **s, size_t *len)
{
    if (!bn_json_is(v, BN_JSON_STRING))
        return false;
    if (s)
        *s = v->u.str;
    if (len)
        *len = v->len;
    return true;
}

bool bn_json_as_double(const bn_json_value *v, double *out)
{
    if (!bn_json_is(v, BN_JSON_NUMBER))
        return false;
    if (out)
        *out = v->u.num;
    return true;
}

bool bn_json_as_int64(const bn_json_value *v, int64_t *out)
{
    if (!bn_json_is(v, BN_JSON_NUMBER))
        return false;
    int64_t r;
    if (v->is_int) {
        r = v->i64;
    } else {
        double d = v->u.num;
        /* 2^53: beyond it a double no longer names one integer exactly. */
        if (!(fabs(d) <= 9007199254740992.0) || d != floor(d))
            return false;
        r = (int64_t)d;
    }
    if (out)
        *out = r;
    return true;
}

bool bn_json_as_bool(const bn_json_value *v, bool *out)
{
    if (!bn_json_is(v, BN_JSON_BOOL))
        return false;
    if (out)
        *out = v->boolean;
    return true;
}

static bn_status type_error(const bn_json_value *v, const char *what, const char *want,
                            bn_error *err)
{
    if (!v)
        return bn_error_set(err, BN_STATUS_NOT_FOUND, "%s: missing (expected a %s)",
                            what ? what : "JSON value", want);
    return bn_error_set(err, BN_STATUS_FORMAT, "%s: expected a %s, got a %s",
                        what ? what : "JSON value", want, bn_json_type_name(v->type));
}

bn_status bn_json_get_string(const bn_json_value *v, const char *what, const char **s, size_t *len,
                             bn_error *err)
{
    if (!bn_json_as_string(v, s, len))
        return type_error(v, what, "string", err);
    return BN_STATUS_OK;
}

bn_status bn_json_get_double(const bn_json_value *v, const char *what, double *out, bn_error *err)
{
    if (!bn_json_as_double(v, out))
        return type_error(v, what, "number", err);
    return BN_STATUS_OK;
}

bn_status bn_json_get_int64(const bn_json_value *v, const char *what, int64_t *out, bn_error *err)
{
    if (!bn_json_is(v, BN_JSON_NUMBER))
        return type_error(v, what, "number", err);
    if (!bn_json_as_int64(v, out))
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: %g is not an integer in the exact range of int64",
                            what ? what : "JSON value", v->u.num);
    return BN_STATUS_OK;
}

bn_status bn_json_get_bool(const bn_json_value *v, const char *what, bool *out, bn_error *err)
{
    if (!bn_json_as_bool(v, out))
        return type_error(v, what, "boolean", err);
    return BN_STATUS_OK;
}
