/* gguf.c: the validating GGUF v2/v3 reader.
 *
 * Owns: getting the file's bytes (a read-only private mmap, or a read into
 * memory when mapping is impossible or not wanted), one pass over the
 * header, metadata and tensor table with a bounds-checked cursor, and the
 * lookups afterwards. Every check of FORMATS.md 1.4 (items 1-9) happens in
 * bn_gguf_parse before bn_gguf_open_* returns, so the getters never touch an
 * unchecked byte: a kv records where its value starts, and a string array
 * records where each of its strings starts. Also the hint that a tensor's
 * (or the metadata's) pages may leave memory once the caller has copied
 * what it needs (bn_gguf_release, bn_gguf_release_metadata).
 *
 * Not here: what the keys mean or which tensors a model needs (runtime/).
 * Thread safety: a bn_gguf is immutable after open.
 *
 * All multi-byte values are read byte by byte as little-endian, so the
 * parser does not depend on host byte order or on alignment of the input.
 */
#include "loader/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/page_advice.h"
#include "runtime/error.h"

#define BN_GGUF_HEADER_BYTES 24u  /* magic, version, tensor_count, kv_count */
#define BN_GGUF_MAX_KEY 65535u
#define BN_GGUF_MAX_NAME 64u      /* GGUF spec; ggml itself keeps 63 + NUL */
/* Smallest possible encodings, used to refuse absurd counts before
 * allocating anything: a kv is a key length (8), a key byte, a type tag (4)
 * and at least one value byte; a tensor info is a name length (8), a name
 * byte, n_dims (4), one dim (8), a type (4) and an offset (8). */
#define BN_GGUF_MIN_KV_BYTES 14u
#define BN_GGUF_MIN_TENSOR_BYTES 33u

typedef struct bn_gguf_kv {
    char *key;                 /* NUL-terminated copy */
    bn_gguf_value_type type;
    uint64_t value_pos;        /* file offset of the value (after the type tag) */
    /* arrays only */
    bn_gguf_value_type elem_type;
    uint64_t count;
    uint64_t elems_pos;        /* file offset of element 0 */
    uint64_t *str_pos;         /* (count) string arrays: offset of each string's length */
} bn_gguf_kv;

/* Open-addressing hash from a name to an index; slots hold index + 1. */
typedef struct bn_name_index {
    size_t *slots;             /* (n_slots), 0 = empty */
    size_t n_slots;            /* power of two, >= 2 * entries */
} bn_name_index;

struct bn_gguf {
    const uint8_t *base;       /* (size) the whole file */
    uint64_t size;
    void *map;                 /* mmap base when mapped */
    uint8_t *owned;            /* malloc'd copy when read */
    bool mmapped;

    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;

    bn_gguf_kv *kvs;           /* (n_kvs) */
    size_t n_kvs;
    bn_name_index kv_index;
    bn_gguf_tensor *tensors;   /* (n_tensors) */
    size_t n_tensors;
    bn_name_index tensor_index;
};

/* ---- little-endian reads of already bounds-checked bytes ---- */

static uint16_t bn_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t bn_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t bn_rd64(const uint8_t *p)
{
    return (uint64_t)bn_rd32(p) | (uint64_t)bn_rd32(p + 4) << 32;
}

/* ---- the cursor: every read checks the remaining bytes first; the first
 * failure sticks and names the byte offset and what was being read ---- */

typedef struct bn_cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    bn_error *err;
    bool failed;
    char what[192];            /* "key 'general.name'", for messages */
} bn_cursor;

static bool bn_cursor_need(bn_cursor *c, uint64_t n, const char *field)
{
    if (c->failed)
        return false;
    if (n > c->size - c->pos) {
        bn_error_set(c->err, BN_STATUS_FORMAT,
                     "truncated GGUF at byte %" PRIu64 " while reading %s of %s "
                     "(needs %" PRIu64 " bytes, %" PRIu64 " left in the %" PRIu64 "-byte file)",
                     c->pos, field, c->what, n, c->size - c->pos, c->size);
        c->failed = true;
        return false;
    }
    return true;
}

static bool bn_cursor_u32(bn_cursor *c, uint32_t *out, const char *field)
{
    if (!bn_cursor_need(c, 4, field))
        return false;
    *out = bn_rd32(c->base + c->pos);
    c->pos += 4;
    return true;
}

static bool bn_cursor_u64(bn_cursor *c, uint64_t *out, const char *field)
{
    if (!bn_cursor_need(c, 8, field))
        return false;
    *out = bn_rd64(c->base + c->pos);
    c->pos += 8;
    return true;
}

/* A GGUF string: u64 length then bytes. Checks the length against the
 * remaining bytes before anything reads them. */
static bool bn_cursor_string(bn_cursor *c, uint64_t *pos, uint64_t *len, const char *field)
{
    if (!bn_cursor_u64(c, len, field))
        return false;
    if (!bn_cursor_need(c, *len, field))
        return false;
    *pos = c->pos;
    c->pos += *len;
    return true;
}

static bool bn_cursor_fail(bn_cursor *c, bn_status status, const char *fmt, ...)
    BN_PRINTF_LIKE(3, 4);

static bool bn_cursor_fail(bn_cursor *c, bn_status status, const char *fmt, ...)
{
    if (!c->failed) {
        char msg[BN_ERROR_MESSAGE_BYTES];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        bn_error_set(c->err, status, "%s", msg);
        c->failed = true;
    }
    return false;
}

/* ---- name index ---- */

static uint64_t bn_name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool bn_name_index_init(bn_name_index *ix, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    ix->slots = calloc(slots, sizeof *ix->slots);
    ix->n_slots = ix->slots ? slots : 0;
    return ix->slots != NULL;
}

/* Index of name, or SIZE_MAX. name_of(ctx, i) gives entry i's name. */
static size_t bn_name_index_find(const bn_name_index *ix, const char *name,
                                 const char *(*name_of)(const void *, size_t), const void *ctx)
{
    if (!ix->n_slots || !name)
        return SIZE_MAX;
    size_t mask = ix->n_slots - 1;
    for (size_t s = (size_t)bn_name_hash(name) & mask;; s = (s + 1) & mask) {
        size_t v = ix->slots[s];
        if (v == 0)
            return SIZE_MAX;
        if (strcmp(name_of(ctx, v - 1), name) == 0)
            return v - 1;
    }
}

/* Inserts entry index; false if the name is already present. The table is
 * sized for every entry up front, so it never fills. */
static bool bn_name_index_insert(bn_name_index *ix, size_t index,
                                 const char *(*name_of)(const void *, size_t), const void *ctx)
{
    const char *name = name_of(ctx, index);
    size_t mask = ix->n_slots - 1;
    for (size_t s = (size_t)bn_name_hash(name) & mask;; s = (s + 1) & mask) {
        size_t v = ix->slots[s];
        if (v == 0) {
            ix->slots[s] = index + 1;
            return true;
        }
        if (strcmp(name_of(ctx, v - 1), name) == 0)
            return false;
    }
}

static const char *bn_kv_name_of(const void *ctx, size_t i)
{
    return ((const bn_gguf *)ctx)->kvs[i].key;
}

static const char *bn_tensor_name_of(const void *ctx, size_t i)
{
    return ((const bn_gguf *)ctx)->tensors[i].name;
}

/* ---- value types ---- */

static const char *bn_value_type_name(bn_gguf_value_type t)
{
    static const char *const names[BN_GGUF_VALUE_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64",
        "f64",
    };
    return (unsigned)t < BN_GGUF_VALUE_TYPE_COUNT ? names[t] : "invalid";
}

/* Bytes of one value of a fixed-size type; 0 for strings and arrays. */
static uint64_t bn_value_fixed_size(bn_gguf_value_type t)
{
    switch (t) {
    case BN_GGUF_UINT8: case BN_GGUF_INT8: case BN_GGUF_BOOL: return 1;
    case BN_GGUF_UINT16: case BN_GGUF_INT16: return 2;
    case BN_GGUF_UINT32: case BN_GGUF_INT32: case BN_GGUF_FLOAT32: return 4;
    case BN_GGUF_UINT64: case BN_GGUF_INT64: case BN_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static bool bn_value_is_integer(bn_gguf_value_type t)
{
    switch (t) {
    case BN_GGUF_UINT8: case BN_GGUF_INT8: case BN_GGUF_UINT16: case BN_GGUF_INT16:
    case BN_GGUF_UINT32: case BN_GGUF_INT32: case BN_GGUF_UINT64: case BN_GGUF_INT64:
        return true;
    default:
        return false;
    }
}

/* An integer value of any width, widened without loss. */
typedef struct bn_int_value {
    bool negative;  /* then value is i */
    uint64_t u;     /* valid when !negative */
    int64_t i;      /* valid when negative */
} bn_int_value;

static bn_int_value bn_read_int(bn_gguf_value_type t, const uint8_t *p)
{
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = false;
    switch (t) {
    case BN_GGUF_UINT8: u = p[0]; break;
    case BN_GGUF_INT8: s = (int8_t)p[0]; is_signed = true; break;
    case BN_GGUF_UINT16: u = bn_rd16(p); break;
    case BN_GGUF_INT16: s = (int16_t)bn_rd16(p); is_signed = true; break;
    case BN_GGUF_UINT32: u = bn_rd32(p); break;
    case BN_GGUF_INT32: s = (int32_t)bn_rd32(p); is_signed = true; break;
    case BN_GGUF_UINT64: u = bn_rd64(p); break;
    case BN_GGUF_INT64: s = (int64_t)bn_rd64(p); is_signed = true; break;
    default: break;
    }
    bn_int_value v = {false, u, 0};
    if (is_signed) {
        if (s < 0)
            v = (bn_int_value){true, 0, s};
        else
            v.u = (uint64_t)s;
    }
    return v;
}

/* ---- parsing ---- */

/* A copy of len file bytes as a NUL-terminated string; NULL when out of
 * memory. Callers check for embedded NULs first. */
static char *bn_copy_name(const uint8_t *p, uint64_t len)
{
    char *s = malloc((size_t)len + 1);
    if (s) {
        memcpy(s, p, (size_t)len);
        s[len] = '\0';
    }
    return s;
}

/* Parses one value of type t at the cursor (t is not ARRAY). */
static bool bn_parse_scalar(bn_cursor *c, bn_gguf_value_type t, const char *field)
{
    if (t == BN_GGUF_STRING) {
        uint64_t pos, len;
        return bn_cursor_string(c, &pos, &len, field);
    }
    uint64_t n = bn_value_fixed_size(t);
    if (!bn_cursor_need(c, n, field))
        return false;
    if (t == BN_GGUF_BOOL && c->base[c->pos] > 1)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "%s at byte %" PRIu64 ": bool byte is %u, must be 0 or 1", c->what,
                              c->pos, (unsigned)c->base[c->pos]);
    c->pos += n;
    return true;
}

static bool bn_parse_array(bn_cursor *c, bn_gguf_kv *kv)
{
    uint32_t elem;
    uint64_t tag_pos = c->pos;
    if (!bn_cursor_u32(c, &elem, "the array element type"))
        return false;
    if (elem == BN_GGUF_ARRAY)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "%s at byte %" PRIu64 ": nested arrays are not supported", c->what,
                              tag_pos);
    if (elem >= BN_GGUF_VALUE_TYPE_COUNT)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "%s at byte %" PRIu64 ": array element type %u is invalid (valid: "
                              "0..12)", c->what, tag_pos, (unsigned)elem);
    kv->elem_type = (bn_gguf_value_type)elem;
    if (!bn_cursor_u64(c, &kv->count, "the array length"))
        return false;
    kv->elems_pos = c->pos;
    uint64_t left = c->size - c->pos;

    uint64_t size = bn_value_fixed_size(kv->elem_type);
    if (size > 0) {
        /* count * size without overflow: compare count with left / size. */
        if (kv->count > left / size)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "truncated GGUF at byte %" PRIu64 ": %s is an array of %" PRIu64
                                  " %s (%" PRIu64 " bytes each), but only %" PRIu64
                                  " bytes are left", c->pos, c->what, kv->count,
                                  bn_value_type_name(kv->elem_type), size, left);
        if (kv->elem_type == BN_GGUF_BOOL) {
            for (uint64_t i = 0; i < kv->count; i++)
                if (c->base[c->pos + i] > 1)
                    return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                          "%s at byte %" PRIu64 ": bool element %" PRIu64
                                          " is %u, must be 0 or 1", c->what, c->pos + i, i,
                                          (unsigned)c->base[c->pos + i]);
        }
        c->pos += kv->count * size;
        return true;
    }

    /* Strings: each needs at least its 8-byte length, which bounds count
     * (and the offset table allocated below) by the file size. */
    if (kv->count > left / 8)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "truncated GGUF at byte %" PRIu64 ": %s is an array of %" PRIu64
                              " strings, but only %" PRIu64 " bytes are left", c->pos, c->what,
                              kv->count, left);
    kv->str_pos = malloc(kv->count ? (size_t)kv->count * sizeof *kv->str_pos : 1);
    if (!kv->str_pos)
        return bn_cursor_fail(c, BN_STATUS_NO_MEMORY,
                              "out of memory indexing the %" PRIu64 " strings of %s", kv->count,
                              c->what);
    for (uint64_t i = 0; i < kv->count; i++) {
        uint64_t pos, len;
        kv->str_pos[i] = c->pos;
        if (!bn_cursor_string(c, &pos, &len, "an array string"))
            return false;
    }
    return true;
}

static bool bn_parse_kvs(bn_gguf *g, bn_cursor *c)
{
    for (size_t i = 0; i < g->n_kvs; i++) {
        bn_gguf_kv *kv = &g->kvs[i];
        uint64_t key_at = c->pos;
        uint64_t key_pos, key_len;
        snprintf(c->what, sizeof c->what, "key %zu", i);
        if (!bn_cursor_string(c, &key_pos, &key_len, "the key"))
            return false;
        if (key_len == 0)
            return bn_cursor_fail(c, BN_STATUS_FORMAT, "key %zu at byte %" PRIu64 " is empty", i,
                                  key_at);
        if (key_len > BN_GGUF_MAX_KEY)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "key %zu at byte %" PRIu64 " is %" PRIu64 " bytes long (max %u)",
                                  i, key_at, key_len, BN_GGUF_MAX_KEY);
        if (memchr(c->base + key_pos, '\0', (size_t)key_len))
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "key %zu at byte %" PRIu64 " contains a NUL byte", i, key_at);
        kv->key = bn_copy_name(c->base + key_pos, key_len);
        if (!kv->key)
            return bn_cursor_fail(c, BN_STATUS_NO_MEMORY, "out of memory reading key %zu", i);
        if (!bn_name_index_insert(&g->kv_index, i, bn_kv_name_of, g))
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "duplicate key '%s' at byte %" PRIu64, kv->key, key_at);
        snprintf(c->what, sizeof c->what, "key '%.150s'", kv->key);

        uint32_t type;
        uint64_t type_at = c->pos;
        if (!bn_cursor_u32(c, &type, "the value type"))
            return false;
        if (type >= BN_GGUF_VALUE_TYPE_COUNT)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "key '%s' at byte %" PRIu64 " has value type %u (valid: 0..12)",
                                  kv->key, type_at, (unsigned)type);
        kv->type = (bn_gguf_value_type)type;
        kv->value_pos = c->pos;
        bool ok = kv->type == BN_GGUF_ARRAY ? bn_parse_array(c, kv)
                                            : bn_parse_scalar(c, kv->type, "the value");
        if (!ok)
            return false;
    }
    return true;
}

static const bn_gguf_kv *bn_kv_lookup(const bn_gguf *g, const char *key)
{
    size_t i = bn_name_index_find(&g->kv_index, key, bn_kv_name_of, g);
    return i == SIZE_MAX ? NULL : &g->kvs[i];
}

/* Whether ggml type id 36 means I2_S in this file. Mainline ggml has no
 * current type 36 (IQ4_NL_4_4 was a load-time repack, removed, and never
 * written to files), while bitnet.cpp writes I2_S as 36 into BitNet-family
 * files and also into `llama`-arch files (Llama3-8B-1.58, Falcon3). So: a
 * BitNet-family architecture decides it outright; otherwise 36 is I2_S when
 * the tensor has I2_S's shape (whole 128-value blocks), and the size and
 * bounds checks that follow confirm the n/4 + 32 layout. */
static bool bn_gguf_id36_is_i2s(const bn_gguf *g, const int64_t ne[BN_GGUF_MAX_DIMS])
{
    const bn_gguf_kv *arch = bn_kv_lookup(g, "general.architecture");
    if (arch && arch->type == BN_GGUF_STRING) {
        uint64_t len = bn_rd64(g->base + arch->value_pos);
        const char *s = (const char *)g->base + arch->value_pos + 8;
        static const char *const family[] = {"bitnet", "bitnet-b1.58", "bitnet-25"};
        for (size_t i = 0; i < sizeof family / sizeof family[0]; i++)
            if (len == strlen(family[i]) && memcmp(s, family[i], (size_t)len) == 0)
                return true;
    }
    return ne[0] % 128 == 0;
}

static bool bn_parse_alignment(bn_gguf *g, bn_cursor *c)
{
    g->alignment = BN_GGUF_DEFAULT_ALIGNMENT;
    const bn_gguf_kv *kv = bn_kv_lookup(g, "general.alignment");
    if (!kv)
        return true;
    if (kv->type != BN_GGUF_UINT32)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "key 'general.alignment' at byte %" PRIu64 " is a %s, must be a u32",
                              kv->value_pos, bn_value_type_name(kv->type));
    uint32_t a = bn_rd32(g->base + kv->value_pos);
    if (a == 0 || (a & (a - 1)) != 0)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "key 'general.alignment' at byte %" PRIu64 " is %u, must be a "
                              "non-zero power of two", kv->value_pos, (unsigned)a);
    g->alignment = a;
    return true;
}

static bool bn_parse_tensor_infos(bn_gguf *g, bn_cursor *c)
{
    for (size_t i = 0; i < g->n_tensors; i++) {
        bn_gguf_tensor *t = &g->tensors[i];
        uint64_t at = c->pos;
        uint64_t name_pos, name_len;
        snprintf(c->what, sizeof c->what, "tensor %zu", i);
        if (!bn_cursor_string(c, &name_pos, &name_len, "the name"))
            return false;
        if (name_len == 0)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor %zu at byte %" PRIu64 " has an empty name", i, at);
        if (name_len > BN_GGUF_MAX_NAME)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor %zu at byte %" PRIu64 " has a %" PRIu64
                                  "-byte name (max %u)", i, at, name_len, BN_GGUF_MAX_NAME);
        if (memchr(c->base + name_pos, '\0', (size_t)name_len))
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor %zu at byte %" PRIu64 " has a NUL byte in its name", i,
                                  at);
        char *name = bn_copy_name(c->base + name_pos, name_len);
        if (!name)
            return bn_cursor_fail(c, BN_STATUS_NO_MEMORY, "out of memory reading tensor %zu", i);
        t->name = name;
        if (!bn_name_index_insert(&g->tensor_index, i, bn_tensor_name_of, g))
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "duplicate tensor name '%s' at byte %" PRIu64, name, at);
        snprintf(c->what, sizeof c->what, "tensor '%s'", name);

        uint64_t dims_at = c->pos;
        if (!bn_cursor_u32(c, &t->n_dims, "n_dims"))
            return false;
        if (t->n_dims < 1 || t->n_dims > BN_GGUF_MAX_DIMS)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor '%s' at byte %" PRIu64 " has %u dims, must be 1..%d",
                                  name, dims_at, (unsigned)t->n_dims, BN_GGUF_MAX_DIMS);
        for (int d = 0; d < BN_GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t v, v_at = c->pos;
            if (!bn_cursor_u64(c, &v, "a dimension"))
                return false;
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                      "tensor '%s' at byte %" PRIu64 ": ne[%u] = %" PRIu64
                                      " is out of range 1..2^63-1", name, v_at, (unsigned)d, v);
            t->ne[d] = (int64_t)v;
        }

        uint64_t type_at = c->pos;
        if (!bn_cursor_u32(c, &t->ggml_id, "the type"))
            return false;
        bn_error type_err = {0};
        if (bn_tensor_type_from_ggml(t->ggml_id, bn_gguf_id36_is_i2s(g, t->ne), &t->type,
                                     &type_err) != BN_STATUS_OK)
            return bn_cursor_fail(c, type_err.status, "tensor '%s' at byte %" PRIu64 ": %s", name,
                                  type_at, type_err.message);
        bn_error size_err = {0};
        if (bn_tensor_type_nbytes(t->type, t->ne, &t->n_bytes, &size_err) != BN_STATUS_OK)
            return bn_cursor_fail(c, size_err.status, "tensor '%s' (%s) at byte %" PRIu64 ": %s",
                                  name, bn_tensor_type_name(t->type), dims_at, size_err.message);

        uint64_t off_at = c->pos;
        if (!bn_cursor_u64(c, &t->offset, "the data offset"))
            return false;
        if (t->offset % g->alignment != 0)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor '%s' at byte %" PRIu64 ": data offset %" PRIu64
                                  " is not a multiple of the alignment %" PRIu64, name, off_at,
                                  t->offset, g->alignment);
    }
    return true;
}

static int bn_cmp_tensor_offset(const void *a, const void *b)
{
    const bn_gguf_tensor *x = *(const bn_gguf_tensor *const *)a;
    const bn_gguf_tensor *y = *(const bn_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensor data inside the file and no two tensors sharing a byte. */
static bool bn_check_tensor_data(bn_gguf *g, bn_cursor *c)
{
    if (g->n_tensors == 0)
        return true;
    if (g->data_offset > g->size)
        return bn_cursor_fail(c, BN_STATUS_FORMAT,
                              "truncated GGUF: the data section starts at byte %" PRIu64
                              ", past the end of the %" PRIu64 "-byte file", g->data_offset,
                              g->size);
    uint64_t room = g->size - g->data_offset;
    for (size_t i = 0; i < g->n_tensors; i++) {
        bn_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->n_bytes > room - t->offset)
            return bn_cursor_fail(c, BN_STATUS_FORMAT,
                                  "tensor '%s' (%" PRIu64 " bytes at data offset %" PRIu64
                                  ", file byte %" PRIu64 ") runs past the end of the %" PRIu64
                                  "-byte file", t->name, t->n_bytes, t->offset,
                                  t->offset > room ? t->offset : g->data_offset + t->offset,
                                  g->size);
        t->data = g->base + g->data_offset + t->offset;
    }
    const bn_gguf_tensor **order = malloc(g->n_tensors * sizeof *order);
    if (!order)
        return bn_cursor_fail(c, BN_STATUS_NO_MEMORY, "out of memory checking tensor overlap");
    for (size_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, bn_cmp_tensor_offset);
    for (size_t i = 1; i < g->n_tensors; i++) {
        const bn_gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->n_bytes > b->offset) {
            bn_cursor_fail(c, BN_STATUS_FORMAT,
                           "tensors '%s' (data bytes %" PRIu64 "..%" PRIu64 ") and '%s' (from "
                           "data byte %" PRIu64 ") overlap", a->name, a->offset,
                           a->offset + a->n_bytes, b->name, b->offset);
            free(order);
            return false;
        }
    }
    free(order);
    return true;
}

static bn_status bn_gguf_parse(bn_gguf *g, bn_error *err)
{
    bn_cursor cur = {g->base, g->size, 0, err, false, "the header"};
    bn_cursor *c = &cur;

    /* 1. magic */
    if (!bn_cursor_need(c, 4, "the magic"))
        goto fail;
    if (memcmp(g->base, "GGUF", 4) != 0) {
        char shown[17];
        int n = 0;
        for (int i = 0; i < 4; i++)
            n += snprintf(shown + n, sizeof shown - (size_t)n, "%02x ", g->base[i]);
        shown[n - 1] = '\0';
        bn_cursor_fail(c, BN_STATUS_FORMAT,
                       "not a GGUF file: the first bytes are %s, expected 47 47 55 46 (\"GGUF\")",
                       shown);
        goto fail;
    }
    c->pos = 4;

    /* 2. version: a byte-swapped file shows its version in the high half */
    if (!bn_cursor_u32(c, &g->version, "the version"))
        goto fail;
    if (g->version == 0 || (g->version > 3 && (g->version & 0xFFFFu) != 0)) {
        bn_cursor_fail(c, BN_STATUS_FORMAT, "GGUF version %u is not a known version (expected 2 "
                       "or 3)", (unsigned)g->version);
        goto fail;
    }
    if ((g->version & 0xFFFFu) == 0) {
        bn_cursor_fail(c, BN_STATUS_UNSUPPORTED,
                       "big-endian GGUF not supported (version field reads 0x%08x, which is "
                       "version %u byte-swapped)", (unsigned)g->version,
                       (unsigned)(g->version >> 24 | (g->version >> 8 & 0xFF00u)));
        goto fail;
    }
    if (g->version == 1) {
        bn_cursor_fail(c, BN_STATUS_UNSUPPORTED,
                       "GGUF version 1 (32-bit counts) is obsolete and not supported; "
                       "re-save the file with a current converter");
        goto fail;
    }

    /* 3. counts against the file size, before allocating */
    uint64_t n_tensors, n_kvs;
    if (!bn_cursor_u64(c, &n_tensors, "tensor_count") || !bn_cursor_u64(c, &n_kvs, "kv_count"))
        goto fail;
    uint64_t left = g->size - c->pos;
    if (n_kvs > left / BN_GGUF_MIN_KV_BYTES || n_tensors > left / BN_GGUF_MIN_TENSOR_BYTES ||
        n_kvs * BN_GGUF_MIN_KV_BYTES > left - n_tensors * BN_GGUF_MIN_TENSOR_BYTES) {
        bn_cursor_fail(c, BN_STATUS_FORMAT,
                       "truncated or corrupt GGUF: the header claims %" PRIu64 " keys and %"
                       PRIu64 " tensors, which cannot fit in the %" PRIu64 " bytes after it (a "
                       "key needs at least %u bytes, a tensor info %u)", n_kvs, n_tensors, left,
                       BN_GGUF_MIN_KV_BYTES, BN_GGUF_MIN_TENSOR_BYTES);
        goto fail;
    }
    g->n_kvs = (size_t)n_kvs;
    g->n_tensors = (size_t)n_tensors;
    g->kvs = calloc(g->n_kvs ? g->n_kvs : 1, sizeof *g->kvs);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->tensors || !bn_name_index_init(&g->kv_index, g->n_kvs) ||
        !bn_name_index_init(&g->tensor_index, g->n_tensors)) {
        bn_cursor_fail(c, BN_STATUS_NO_MEMORY, "out of memory for %zu keys and %zu tensors",
                       g->n_kvs, g->n_tensors);
        goto fail;
    }

    /* 4-6. metadata, alignment */
    if (!bn_parse_kvs(g, c) || !bn_parse_alignment(g, c))
        goto fail;

    /* 7. tensor infos */
    if (!bn_parse_tensor_infos(g, c))
        goto fail;

    /* 8-9. data section; c->pos <= size < 2^64 - alignment in practice,
     * but keep the arithmetic checked. */
    if (c->pos > UINT64_MAX - g->alignment) {
        bn_cursor_fail(c, BN_STATUS_FORMAT, "data section offset overflows");
        goto fail;
    }
    g->data_offset = c->pos + (g->alignment - c->pos % g->alignment) % g->alignment;
    if (!bn_check_tensor_data(g, c))
        goto fail;
    return BN_STATUS_OK;
fail:
    return err && err->status != BN_STATUS_OK ? err->status : BN_STATUS_FORMAT;
}

/* ---- opening ---- */

static bn_gguf *bn_gguf_alloc(void)
{
    return calloc(1, sizeof(bn_gguf));
}

/* Parses and, on failure, frees g. */
static bn_status bn_gguf_finish_open(bn_gguf *g, bn_gguf **out, bn_error *err)
{
    bn_error local = {0};
    bn_status st = bn_gguf_parse(g, &local);
    if (st != BN_STATUS_OK) {
        bn_error_set(err, st, "%s", local.message);
        bn_gguf_close(g);
        return st;
    }
    *out = g;
    return BN_STATUS_OK;
}

bn_status bn_gguf_open_memory(const void *data, size_t size, bn_gguf **out, bn_error *err)
{
    if (!out || (!data && size > 0))
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_gguf_open_memory: NULL argument");
    *out = NULL;
    bn_gguf *g = bn_gguf_alloc();
    if (!g)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory opening a GGUF buffer");
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    return bn_gguf_finish_open(g, out, err);
}

/* A read buffer of cap bytes. A large one starts on a 2 MiB boundary and
 * asks for transparent huge pages: the weights are then streamed through
 * 512 times fewer TLB entries than a file mapping's 4 KiB pages (which the
 * kernel here cannot back with huge pages: MADV_COLLAPSE of a file mapping
 * fails). Freed with free() either way. */
#define BN_HUGE_PAGE ((size_t)2 << 20)
static uint8_t *bn_read_buffer(size_t cap)
{
    if (cap < 4 * BN_HUGE_PAGE)
        return malloc(cap);
    void *p = NULL;
    if (posix_memalign(&p, BN_HUGE_PAGE, cap) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, cap / BN_HUGE_PAGE * BN_HUGE_PAGE, MADV_HUGEPAGE); /* a hint */
#endif
    return p;
}

/* Reads all of fd into g->owned (for pipes, or when mmap fails or is off). */
static bn_status bn_read_all(int fd, const char *path, uint64_t size_hint, bn_gguf *g,
                             bn_error *err)
{
    size_t cap = size_hint > 0 && size_hint < SIZE_MAX ? (size_t)size_hint : 65536;
    size_t len = 0;
    uint8_t *buf = bn_read_buffer(cap);
    if (!buf)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory reading %s (%zu bytes)",
                            path, cap);
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                return bn_error_set(err, BN_STATUS_NO_MEMORY, "%s is too large to read", path);
            }
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory reading %s", path);
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return bn_error_set(err, BN_STATUS_IO, "cannot read %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    g->owned = buf;
    g->base = buf;
    g->size = len;
    return BN_STATUS_OK;
}

bn_status bn_gguf_open_file(const char *path, const bn_gguf_open_options *options, bn_gguf **out,
                            bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_gguf *g = NULL;
    int fd = -1;
    if (!path || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_gguf_open_file: NULL argument");
        goto fail;
    }
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = bn_error_set(err, BN_STATUS_IO, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = bn_error_set(err, BN_STATUS_IO, "cannot stat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = bn_error_set(err, BN_STATUS_IO, "%s is a directory, not a GGUF file", path);
        goto fail;
    }
    g = bn_gguf_alloc();
    if (!g) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory opening %s", path);
        goto fail;
    }
    bool want_mmap = !(options && options->no_mmap);
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && (uint64_t)sb.st_size <= SIZE_MAX && want_mmap) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            g->map = p;
            g->base = p;
            g->size = (uint64_t)sb.st_size;
            g->mmapped = true;
        }
    }
    if (!g->mmapped) {
        st = bn_read_all(fd, path, S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size + 1 : 0, g, err);
        if (st != BN_STATUS_OK)
            goto fail;
    }
    close(fd);
    fd = -1;

    bn_error local = {0};
    st = bn_gguf_parse(g, &local);
    if (st != BN_STATUS_OK) {
        bn_error_set(err, st, "%s", local.message);
        goto fail;
    }
    *out = g;
    return BN_STATUS_OK;
fail:
    if (fd >= 0)
        close(fd);
    bn_gguf_close(g);
    return st;
}

void bn_gguf_close(bn_gguf *g)
{
    if (!g)
        return;
    if (g->kvs) {
        for (size_t i = 0; i < g->n_kvs; i++) {
            free(g->kvs[i].key);
            free(g->kvs[i].str_pos);
        }
    }
    if (g->tensors) {
        for (size_t i = 0; i < g->n_tensors; i++)
            free((char *)g->tensors[i].name);
    }
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    if (g->map)
        munmap(g->map, (size_t)g->size);
    free(g->owned);
    free(g);
}

/* ---- file facts ---- */

uint32_t bn_gguf_version(const bn_gguf *g) { return g ? g->version : 0; }
uint64_t bn_gguf_file_size(const bn_gguf *g) { return g ? g->size : 0; }
uint64_t bn_gguf_alignment(const bn_gguf *g) { return g ? g->alignment : 0; }
uint64_t bn_gguf_data_offset(const bn_gguf *g) { return g ? g->data_offset : 0; }
bool bn_gguf_is_mmapped(const bn_gguf *g) { return g && g->mmapped; }

/* Drops the whole pages inside [p, p + n) of a mapped file (MAP_PRIVATE,
 * read-only: a later read faults the same bytes in again). A hint: failure
 * changes nothing. The callers pass ranges checked at open to lie in the
 * file, so they are mapped. */
static void bn_gguf_drop_pages(const bn_gguf *g, const uint8_t *p, uint64_t n)
{
#ifdef MADV_DONTNEED
    if (g->mmapped)
        bn_advise_whole_pages(p, n, MADV_DONTNEED);
#else
    (void)g;
    (void)p;
    (void)n;
#endif
}

void bn_gguf_release(const bn_gguf *g, const bn_gguf_tensor *t)
{
    if (g && t)
        bn_gguf_drop_pages(g, t->data, t->n_bytes);
}

void bn_gguf_release_metadata(const bn_gguf *g)
{
    if (g)
        bn_gguf_drop_pages(g, g->base, g->data_offset <= g->size ? g->data_offset : g->size);
}

/* ---- metadata ---- */

size_t bn_gguf_kv_count(const bn_gguf *g)
{
    return g ? g->n_kvs : 0;
}

const char *bn_gguf_kv_key(const bn_gguf *g, size_t index)
{
    return g && index < g->n_kvs ? g->kvs[index].key : NULL;
}

bn_gguf_value_type bn_gguf_kv_type(const bn_gguf *g, size_t index)
{
    return g && index < g->n_kvs ? g->kvs[index].type : BN_GGUF_VALUE_TYPE_COUNT;
}

int64_t bn_gguf_find_kv(const bn_gguf *g, const char *key)
{
    if (!g)
        return -1;
    size_t i = bn_name_index_find(&g->kv_index, key, bn_kv_name_of, g);
    return i == SIZE_MAX ? -1 : (int64_t)i;
}

/* The kv for key, or NOT_FOUND. */
static bn_status bn_kv_get(const bn_gguf *g, const char *key, const bn_gguf_kv **out,
                           bn_error *err)
{
    if (!g || !key)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF lookup: NULL file or key");
    *out = bn_kv_lookup(g, key);
    if (!*out)
        return bn_error_set(err, BN_STATUS_NOT_FOUND, "key '%s' not found", key);
    return BN_STATUS_OK;
}

/* The kv for key, which must be of type `type` (`want` names it in the
 * error: "bool", "an array"). */
static bn_status bn_kv_get_typed(const bn_gguf *g, const char *key, bn_gguf_value_type type,
                                 const char *want, const bn_gguf_kv **out, bn_error *err)
{
    bn_status st = bn_kv_get(g, key, out, err);
    if (st != BN_STATUS_OK)
        return st;
    if ((*out)->type != type)
        return bn_error_set(err, BN_STATUS_FORMAT, "key '%s' is a %s, expected %s", key,
                            bn_value_type_name((*out)->type), want);
    return BN_STATUS_OK;
}

/* The integer value of key, of any integer type, if it lies in [min, max]
 * (`want` names the target type in the error: "u32"). */
static bn_status bn_kv_int(const bn_gguf *g, const char *key, int64_t min, uint64_t max,
                           const char *want, bn_int_value *v, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_get(g, key, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!bn_value_is_integer(kv->type))
        return bn_error_set(err, BN_STATUS_FORMAT, "key '%s' is a %s, expected an integer", key,
                            bn_value_type_name(kv->type));
    *v = bn_read_int(kv->type, g->base + kv->value_pos);
    if (v->negative && v->i < min)
        return bn_error_set(err, BN_STATUS_FORMAT, "key '%s' is %" PRId64 ", which does not fit "
                            "in %s", key, v->i, want);
    if (!v->negative && v->u > max)
        return bn_error_set(err, BN_STATUS_FORMAT, "key '%s' is %" PRIu64 ", which does not fit "
                            "in %s", key, v->u, want);
    return BN_STATUS_OK;
}

bn_status bn_gguf_get_u32(const bn_gguf *g, const char *key, uint32_t *out, bn_error *err)
{
    bn_int_value v = {false, 0, 0};
    bn_status st = bn_kv_int(g, key, 0, UINT32_MAX, "u32", &v, err);
    if (st == BN_STATUS_OK)
        *out = (uint32_t)v.u;
    return st;
}

bn_status bn_gguf_get_i32(const bn_gguf *g, const char *key, int32_t *out, bn_error *err)
{
    bn_int_value v = {false, 0, 0};
    bn_status st = bn_kv_int(g, key, INT32_MIN, INT32_MAX, "i32", &v, err);
    if (st == BN_STATUS_OK)
        *out = v.negative ? (int32_t)v.i : (int32_t)v.u;
    return st;
}

bn_status bn_gguf_get_u64(const bn_gguf *g, const char *key, uint64_t *out, bn_error *err)
{
    bn_int_value v = {false, 0, 0};
    bn_status st = bn_kv_int(g, key, 0, UINT64_MAX, "u64", &v, err);
    if (st == BN_STATUS_OK)
        *out = v.u;
    return st;
}

bn_status bn_gguf_get_i64(const bn_gguf *g, const char *key, int64_t *out, bn_error *err)
{
    bn_int_value v = {false, 0, 0};
    bn_status st = bn_kv_int(g, key, INT64_MIN, INT64_MAX, "i64", &v, err);
    if (st == BN_STATUS_OK)
        *out = v.negative ? v.i : (int64_t)v.u;
    return st;
}

static float bn_gguf_f32_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static double bn_gguf_f64_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* Reads the float of type t at p into *f32 or, when f32 is NULL, into *f64.
 * Each width goes to the target in one conversion, as a direct read would.
 * False when t is not FLOAT32 or FLOAT64. */
static bool bn_read_float(bn_gguf_value_type t, const uint8_t *p, float *f32, double *f64)
{
    if (t == BN_GGUF_FLOAT32) {
        float f = bn_gguf_f32_bits(bn_rd32(p));
        if (f32)
            *f32 = f;
        else
            *f64 = f;
    } else if (t == BN_GGUF_FLOAT64) {
        double d = bn_gguf_f64_bits(bn_rd64(p));
        if (f32)
            *f32 = (float)d;
        else
            *f64 = d;
    } else {
        return false;
    }
    return true;
}

/* The value of a float key (f32 or f64 in the file) into *f32 or *f64. */
static bn_status bn_kv_float(const bn_gguf *g, const char *key, float *f32, double *f64,
                             bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_get(g, key, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!bn_read_float(kv->type, g->base + kv->value_pos, f32, f64))
        return bn_error_set(err, BN_STATUS_FORMAT, "key '%s' is a %s, expected f32 or f64", key,
                            bn_value_type_name(kv->type));
    return BN_STATUS_OK;
}

bn_status bn_gguf_get_f32(const bn_gguf *g, const char *key, float *out, bn_error *err)
{
    return bn_kv_float(g, key, out, NULL, err);
}

bn_status bn_gguf_get_f64(const bn_gguf *g, const char *key, double *out, bn_error *err)
{
    return bn_kv_float(g, key, NULL, out, err);
}

bn_status bn_gguf_get_bool(const bn_gguf *g, const char *key, bool *out, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_get_typed(g, key, BN_GGUF_BOOL, "bool", &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    *out = g->base[kv->value_pos] != 0;
    return BN_STATUS_OK;
}

bn_status bn_gguf_get_string(const bn_gguf *g, const char *key, bn_gguf_string *out,
                             bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_get_typed(g, key, BN_GGUF_STRING, "string", &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    out->len = bn_rd64(g->base + kv->value_pos);
    out->data = (const char *)g->base + kv->value_pos + 8;
    return BN_STATUS_OK;
}

/* ---- arrays ---- */

static bn_status bn_kv_array(const bn_gguf *g, const char *key, const bn_gguf_kv **out,
                             bn_error *err)
{
    return bn_kv_get_typed(g, key, BN_GGUF_ARRAY, "an array", out, err);
}

static bn_status bn_kv_element(const bn_gguf *g, const char *key, uint64_t i,
                               const bn_gguf_kv **out, bn_error *err)
{
    bn_status st = bn_kv_array(g, key, out, err);
    if (st != BN_STATUS_OK)
        return st;
    if (i >= (*out)->count)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "index %" PRIu64 " is past the end of array '%s' (%" PRIu64
                            " elements)", i, key, (*out)->count);
    return BN_STATUS_OK;
}

bn_status bn_gguf_get_array(const bn_gguf *g, const char *key, bn_gguf_value_type *elem_type,
                            uint64_t *count, bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_array(g, key, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (elem_type)
        *elem_type = kv->elem_type;
    if (count)
        *count = kv->count;
    return BN_STATUS_OK;
}

bn_status bn_gguf_array_string(const bn_gguf *g, const char *key, uint64_t i, bn_gguf_string *out,
                               bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_element(g, key, i, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (kv->elem_type != BN_GGUF_STRING)
        return bn_error_set(err, BN_STATUS_FORMAT, "array '%s' holds %s, expected strings", key,
                            bn_value_type_name(kv->elem_type));
    out->len = bn_rd64(g->base + kv->str_pos[i]);
    out->data = (const char *)g->base + kv->str_pos[i] + 8;
    return BN_STATUS_OK;
}

bn_status bn_gguf_array_f32(const bn_gguf *g, const char *key, uint64_t i, float *out,
                            bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_element(g, key, i, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!bn_read_float(kv->elem_type,
                       g->base + kv->elems_pos + bn_value_fixed_size(kv->elem_type) * i, out, NULL))
        return bn_error_set(err, BN_STATUS_FORMAT, "array '%s' holds %s, expected f32 or f64", key,
                            bn_value_type_name(kv->elem_type));
    return BN_STATUS_OK;
}

bn_status bn_gguf_array_i64(const bn_gguf *g, const char *key, uint64_t i, int64_t *out,
                            bn_error *err)
{
    const bn_gguf_kv *kv;
    bn_status st = bn_kv_element(g, key, i, &kv, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!bn_value_is_integer(kv->elem_type))
        return bn_error_set(err, BN_STATUS_FORMAT, "array '%s' holds %s, expected integers", key,
                            bn_value_type_name(kv->elem_type));
    uint64_t size = bn_value_fixed_size(kv->elem_type);
    bn_int_value v = bn_read_int(kv->elem_type, g->base + kv->elems_pos + size * i);
    if (!v.negative && v.u > (uint64_t)INT64_MAX)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "array '%s' element %" PRIu64 " is %" PRIu64 ", which does not fit "
                            "in i64", key, i, v.u);
    *out = v.negative ? v.i : (int64_t)v.u;
    return BN_STATUS_OK;
}

const void *bn_gguf_array_raw(const bn_gguf *g, const char *key)
{
    if (!g || !key)
        return NULL;
    const bn_gguf_kv *kv = bn_kv_lookup(g, key);
    if (!kv || kv->type != BN_GGUF_ARRAY || bn_value_fixed_size(kv->elem_type) == 0)
        return NULL;
    return g->base + kv->elems_pos;
}

/* ---- tensors ---- */

size_t bn_gguf_tensor_count(const bn_gguf *g)
{
    return g ? g->n_tensors : 0;
}

const bn_gguf_tensor *bn_gguf_tensor_at(const bn_gguf *g, size_t index)
{
    return g && index < g->n_tensors ? &g->tensors[index] : NULL;
}

const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *g, const char *name)
{
    if (!g)
        return NULL;
    size_t i = bn_name_index_find(&g->tensor_index, name, bn_tensor_name_of, g);
    return i == SIZE_MAX ? NULL : &g->tensors[i];
}
