/* gguf_writer.c: builds little-endian GGUF v3 files.
 *
 * Owns: a list of metadata entries (key + already-encoded value bytes) and a
 * list of tensors (name, shape, borrowed data), and their serialisation. The
 * header, metadata and tensor table are small and are encoded into one
 * buffer; tensor data is streamed after it, so writing a large model to a
 * file never holds a second copy of the weights.
 *
 * The writer refuses to produce a file our own reader would reject (empty or
 * duplicate tensor names, bad shapes, sizes that do not match the type, a
 * BOOL byte other than 0/1, a bad general.alignment), so every writer user
 * gets valid files; broken files for tests come from tests/support instead.
 * Setting a key twice replaces its value in place.
 */
#include "loader/gguf_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

#define BN_GGUF_MAGIC "GGUF"
#define BN_GGUF_WRITE_VERSION 3u
/* ggml keeps tensor names in char[64] with a NUL, so 63 is what every
 * reader accepts. */
#define BN_WRITER_MAX_NAME 63u
#define BN_WRITER_MAX_KEY 65535u

typedef struct bn_writer_kv {
    char *key;
    uint32_t type;      /* bn_gguf_value_type */
    uint8_t *value;     /* encoded value, without the type tag */
    size_t value_bytes;
} bn_writer_kv;

typedef struct bn_writer_tensor {
    char *name;
    bn_tensor_type type;
    uint32_t n_dims;
    int64_t ne[BN_GGUF_MAX_DIMS];
    const void *data;   /* borrowed */
    uint64_t n_bytes;
} bn_writer_tensor;

struct bn_gguf_writer {
    bn_writer_kv *kvs;          /* (n_kvs) */
    size_t n_kvs, cap_kvs;
    bn_writer_tensor *tensors;  /* (n_tensors) */
    size_t n_tensors, cap_tensors;
};

/* ---- a growable byte buffer ---- */

typedef struct bn_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom; /* sticky: later appends are no-ops, checked once at the end */
} bn_buf;

static void bn_buf_append(bn_buf *b, const void *src, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            if (cap > SIZE_MAX / 2) {
                cap = b->len + n;
                break;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void bn_buf_u32(bn_buf *b, uint32_t v)
{
    uint8_t le[4];
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    bn_buf_append(b, le, 4);
}

static void bn_buf_u64(bn_buf *b, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    bn_buf_append(b, le, 8);
}

static void bn_buf_string(bn_buf *b, const char *s, uint64_t len)
{
    bn_buf_u64(b, len);
    bn_buf_append(b, s, (size_t)len);
}

static void bn_buf_zeros(bn_buf *b, size_t n)
{
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        bn_buf_append(b, zeros, k);
        n -= k;
    }
}

/* ---- lifetime ---- */

bn_status bn_gguf_writer_new(bn_gguf_writer **out, bn_error *err)
{
    if (!out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_gguf_writer_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory creating a GGUF writer");
    return BN_STATUS_OK;
}

void bn_gguf_writer_free(bn_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kvs; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* ---- metadata ---- */

static size_t bn_value_size(bn_gguf_value_type t)
{
    switch (t) {
    case BN_GGUF_UINT8: case BN_GGUF_INT8: case BN_GGUF_BOOL: return 1;
    case BN_GGUF_UINT16: case BN_GGUF_INT16: return 2;
    case BN_GGUF_UINT32: case BN_GGUF_INT32: case BN_GGUF_FLOAT32: return 4;
    case BN_GGUF_UINT64: case BN_GGUF_INT64: case BN_GGUF_FLOAT64: return 8;
    default: return 0; /* strings and arrays have no fixed size */
    }
}

/* Stores (key, type, encoded value), taking ownership of buf's bytes. */
static bn_status bn_writer_put(bn_gguf_writer *w, const char *key, bn_gguf_value_type type,
                               bn_buf *buf, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    char *key_copy = NULL;
    if (!w || !key) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: NULL writer or key");
        goto fail;
    }
    size_t key_len = strlen(key);
    if (key_len == 0 || key_len > BN_WRITER_MAX_KEY) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "GGUF writer: key length %zu is out of range 1..%u", key_len,
                          BN_WRITER_MAX_KEY);
        goto fail;
    }
    if (buf->oom) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory encoding key '%s'", key);
        goto fail;
    }
    /* Replace in place: the key keeps its position. */
    for (size_t i = 0; i < w->n_kvs; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) {
            free(w->kvs[i].value);
            w->kvs[i].type = (uint32_t)type;
            w->kvs[i].value = buf->data;
            w->kvs[i].value_bytes = buf->len;
            buf->data = NULL;
            return BN_STATUS_OK;
        }
    }
    key_copy = malloc(key_len + 1);
    if (!key_copy) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory adding key '%s'", key);
        goto fail;
    }
    memcpy(key_copy, key, key_len + 1);
    if (w->n_kvs == w->cap_kvs) {
        size_t cap = w->cap_kvs ? 2 * w->cap_kvs : 16;
        bn_writer_kv *p = realloc(w->kvs, cap * sizeof *p);
        if (!p) {
            st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory adding key '%s'", key);
            goto fail;
        }
        w->kvs = p;
        w->cap_kvs = cap;
    }
    w->kvs[w->n_kvs++] = (bn_writer_kv){key_copy, (uint32_t)type, buf->data, buf->len};
    buf->data = NULL;
    return BN_STATUS_OK;
fail:
    free(key_copy);
    free(buf->data);
    buf->data = NULL;
    return st;
}

static bn_status bn_writer_put_scalar(bn_gguf_writer *w, const char *key, bn_gguf_value_type type,
                                      uint64_t bits, bn_error *err)
{
    bn_buf b = {0};
    size_t n = bn_value_size(type);
    uint8_t le[8];
    for (size_t i = 0; i < n; i++)
        le[i] = (uint8_t)(bits >> (8 * i));
    bn_buf_append(&b, le, n);
    return bn_writer_put(w, key, type, &b, err);
}

bn_status bn_gguf_writer_set_u32(bn_gguf_writer *w, const char *key, uint32_t value, bn_error *err)
{
    return bn_writer_put_scalar(w, key, BN_GGUF_UINT32, value, err);
}

bn_status bn_gguf_writer_set_i32(bn_gguf_writer *w, const char *key, int32_t value, bn_error *err)
{
    return bn_writer_put_scalar(w, key, BN_GGUF_INT32, (uint32_t)value, err);
}

bn_status bn_gguf_writer_set_u64(bn_gguf_writer *w, const char *key, uint64_t value, bn_error *err)
{
    return bn_writer_put_scalar(w, key, BN_GGUF_UINT64, value, err);
}

bn_status bn_gguf_writer_set_f32(bn_gguf_writer *w, const char *key, float value, bn_error *err)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    return bn_writer_put_scalar(w, key, BN_GGUF_FLOAT32, bits, err);
}

bn_status bn_gguf_writer_set_bool(bn_gguf_writer *w, const char *key, bool value, bn_error *err)
{
    return bn_writer_put_scalar(w, key, BN_GGUF_BOOL, value ? 1u : 0u, err);
}

bn_status bn_gguf_writer_set_string(bn_gguf_writer *w, const char *key, const char *value,
                                    bn_error *err)
{
    if (!value)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: NULL string for key '%s'",
                            key ? key : "(null)");
    bn_buf b = {0};
    bn_buf_string(&b, value, strlen(value));
    return bn_writer_put(w, key, BN_GGUF_STRING, &b, err);
}

bn_status bn_gguf_writer_set_array(bn_gguf_writer *w, const char *key, bn_gguf_value_type elem_type,
                                   const void *elems, uint64_t count, bn_error *err)
{
    const char *k = key ? key : "(null)";
    size_t size = bn_value_size(elem_type);
    if (size == 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "GGUF writer: key '%s': element type %d is not numeric", k,
                            (int)elem_type);
    if (count > 0 && !elems)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: key '%s': NULL elements", k);
    if (count > SIZE_MAX / size)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "GGUF writer: key '%s': %llu elements do not fit in memory", k,
                            (unsigned long long)count);
    if (elem_type == BN_GGUF_BOOL) {
        const uint8_t *p = elems;
        for (uint64_t i = 0; i < count; i++)
            if (p[i] > 1)
                return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                    "GGUF writer: key '%s': bool element %llu is %u, not 0/1", k,
                                    (unsigned long long)i, (unsigned)p[i]);
    }
    bn_buf b = {0};
    bn_buf_u32(&b, (uint32_t)elem_type);
    bn_buf_u64(&b, count);
    /* Elements are taken as host order; every host we build for is
     * little-endian, which is what the file wants. */
    bn_buf_append(&b, elems, (size_t)count * size);
    return bn_writer_put(w, key, BN_GGUF_ARRAY, &b, err);
}

bn_status bn_gguf_writer_set_string_array(bn_gguf_writer *w, const char *key,
                                          const char *const *strings, const uint64_t *lens,
                                          uint64_t count, bn_error *err)
{
    const char *k = key ? key : "(null)";
    if (count > 0 && !strings)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: key '%s': NULL strings", k);
    bn_buf b = {0};
    bn_buf_u32(&b, BN_GGUF_STRING);
    bn_buf_u64(&b, count);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t len = lens ? lens[i] : 0;
        if (!strings[i] && (!lens || len > 0)) {
            free(b.data);
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "GGUF writer: key '%s': string %llu is NULL", k,
                                (unsigned long long)i);
        }
        if (!lens)
            len = strlen(strings[i]);
        if (len > SIZE_MAX) {
            free(b.data);
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "GGUF writer: key '%s': string %llu is too long", k,
                                (unsigned long long)i);
        }
        bn_buf_string(&b, strings[i], len);
    }
    return bn_writer_put(w, key, BN_GGUF_ARRAY, &b, err);
}

/* ---- tensors ---- */

bn_status bn_gguf_writer_add_tensor(bn_gguf_writer *w, const char *name, bn_tensor_type type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    uint64_t n_bytes, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    char *name_copy = NULL;
    if (!w || !name || !ne || (!data && n_bytes > 0)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "GGUF writer: NULL writer, name, shape or data for tensor '%s'",
                          name ? name : "(null)");
        goto fail;
    }
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > BN_WRITER_MAX_NAME) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "GGUF writer: tensor name '%s' has length %zu, must be 1..%u", name,
                          name_len, BN_WRITER_MAX_NAME);
        goto fail;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: duplicate tensor '%s'",
                              name);
            goto fail;
        }
    }
    if (n_dims < 1 || n_dims > BN_GGUF_MAX_DIMS) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "GGUF writer: tensor '%s' has %u dims, must be 1..%d", name,
                          (unsigned)n_dims, BN_GGUF_MAX_DIMS);
        goto fail;
    }
    int64_t shape[BN_GGUF_MAX_DIMS] = {1, 1, 1, 1};
    for (uint32_t i = 0; i < n_dims; i++)
        shape[i] = ne[i];
    uint64_t expected = 0;
    bn_error size_err = {0};
    if (bn_tensor_type_nbytes(type, shape, &expected, &size_err) != BN_STATUS_OK) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: tensor '%s': %s", name,
                          size_err.message);
        goto fail;
    }
    if (expected != n_bytes) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "GGUF writer: tensor '%s' (%s) needs %llu bytes, got %llu", name,
                          bn_tensor_type_name(type), (unsigned long long)expected,
                          (unsigned long long)n_bytes);
        goto fail;
    }
    name_copy = malloc(name_len + 1);
    if (!name_copy) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory adding tensor '%s'", name);
        goto fail;
    }
    memcpy(name_copy, name, name_len + 1);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        bn_writer_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) {
            st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory adding tensor '%s'", name);
            goto fail;
        }
        w->tensors = p;
        w->cap_tensors = cap;
    }
    bn_writer_tensor *t = &w->tensors[w->n_tensors++];
    *t = (bn_writer_tensor){name_copy, type, n_dims, {0}, data, n_bytes};
    memcpy(t->ne, shape, sizeof shape);
    return BN_STATUS_OK;
fail:
    free(name_copy);
    return st;
}

/* ---- serialisation ---- */

static uint64_t bn_align_up(uint64_t x, uint64_t a)
{
    return x + (a - x % a) % a;
}

/* general.alignment if set (must be a u32 power of two), else 32. */
static bn_status bn_writer_alignment(const bn_gguf_writer *w, uint64_t *out, bn_error *err)
{
    *out = BN_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kvs; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") != 0)
            continue;
        if (w->kvs[i].type != BN_GGUF_UINT32)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "GGUF writer: general.alignment must be a u32");
        const uint8_t *v = w->kvs[i].value;
        uint32_t a = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
                     (uint32_t)v[3] << 24;
        if (a == 0 || (a & (a - 1)) != 0)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "GGUF writer: general.alignment %u is not a power of two",
                                (unsigned)a);
        *out = a;
    }
    return BN_STATUS_OK;
}

/* Encodes header + metadata + tensor table + padding (a file with tensors
 * pads to the data section; a vocab-only file ends after its metadata, as
 * llama.cpp's vocab files do). offsets (n_tensors) receive each tensor's
 * offset in the data section; *data_bytes the padded data section size. */
static bn_status bn_writer_encode_head(const bn_gguf_writer *w, bn_buf *b, uint64_t *offsets,
                                       uint64_t *data_bytes, bn_error *err)
{
    uint64_t alignment;
    bn_status st = bn_writer_alignment(w, &alignment, err);
    if (st != BN_STATUS_OK)
        return st;

    bn_buf_append(b, BN_GGUF_MAGIC, 4);
    bn_buf_u32(b, BN_GGUF_WRITE_VERSION);
    bn_buf_u64(b, w->n_tensors);
    bn_buf_u64(b, w->n_kvs);
    for (size_t i = 0; i < w->n_kvs; i++) {
        const bn_writer_kv *kv = &w->kvs[i];
        bn_buf_string(b, kv->key, strlen(kv->key));
        bn_buf_u32(b, kv->type);
        bn_buf_append(b, kv->value, kv->value_bytes);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const bn_writer_tensor *t = &w->tensors[i];
        bn_buf_string(b, t->name, strlen(t->name));
        bn_buf_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            bn_buf_u64(b, (uint64_t)t->ne[d]);
        bn_buf_u32(b, bn_tensor_type_traits_of(t->type)->ggml_id);
        bn_buf_u64(b, offset);
        offsets[i] = offset;
        if (t->n_bytes > UINT64_MAX - alignment - offset)
            return bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: data section overflows");
        offset = bn_align_up(offset + t->n_bytes, alignment);
    }
    if (w->n_tensors > 0)
        bn_buf_zeros(b, (size_t)(bn_align_up(b->len, alignment) - b->len));
    *data_bytes = offset;
    if (b->oom)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory encoding GGUF metadata");
    return BN_STATUS_OK;
}

bn_status bn_gguf_writer_write_memory(const bn_gguf_writer *w, uint8_t **out, size_t *out_size,
                                      bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_buf b = {0};
    uint64_t *offsets = NULL;
    uint8_t *file = NULL;
    if (!w || !out || !out_size) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: NULL argument");
        goto fail;
    }
    offsets = calloc(w->n_tensors ? w->n_tensors : 1, sizeof *offsets);
    if (!offsets) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory writing GGUF");
        goto fail;
    }
    uint64_t data_bytes = 0;
    st = bn_writer_encode_head(w, &b, offsets, &data_bytes, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (data_bytes > SIZE_MAX - b.len) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "GGUF file of %llu data bytes does not fit "
                          "in memory", (unsigned long long)data_bytes);
        goto fail;
    }
    size_t total = b.len + (size_t)data_bytes;
    file = calloc(total ? total : 1, 1); /* zeroed: padding between tensors */
    if (!file) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for a %zu-byte GGUF file",
                          total);
        goto fail;
    }
    if (b.len)
        memcpy(file, b.data, b.len);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].n_bytes)
            memcpy(file + b.len + offsets[i], w->tensors[i].data, (size_t)w->tensors[i].n_bytes);
    *out = file;
    *out_size = total;
    free(b.data);
    free(offsets);
    return BN_STATUS_OK;
fail:
    free(file);
    free(b.data);
    free(offsets);
    return st;
}

bn_status bn_gguf_writer_write_file(const bn_gguf_writer *w, const char *path, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_buf b = {0};
    uint64_t *offsets = NULL;
    FILE *f = NULL;
    if (!w || !path) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "GGUF writer: NULL writer or path");
        goto fail;
    }
    offsets = calloc(w->n_tensors ? w->n_tensors : 1, sizeof *offsets);
    if (!offsets) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory writing %s", path);
        goto fail;
    }
    uint64_t data_bytes = 0;
    st = bn_writer_encode_head(w, &b, offsets, &data_bytes, err);
    if (st != BN_STATUS_OK)
        goto fail;
    f = fopen(path, "wb");
    if (!f) {
        st = bn_error_set(err, BN_STATUS_IO, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    bool ok = fwrite(b.data, 1, b.len, f) == b.len;
    uint64_t pos = 0; /* within the data section */
    static const uint8_t zeros[64];
    for (size_t i = 0; ok && i < w->n_tensors; i++) {
        /* zero padding up to this tensor, then its bytes */
        while (ok && pos < offsets[i]) {
            size_t k = offsets[i] - pos < sizeof zeros ? (size_t)(offsets[i] - pos) : sizeof zeros;
            ok = fwrite(zeros, 1, k, f) == k;
            pos += k;
        }
        const uint8_t *src = w->tensors[i].data;
        uint64_t left = w->tensors[i].n_bytes;
        while (ok && left > 0) {
            size_t k = left > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)left;
            ok = fwrite(src, 1, k, f) == k;
            src += k;
            left -= k;
            pos += k;
        }
    }
    while (ok && pos < data_bytes) {
        size_t k = data_bytes - pos < sizeof zeros ? (size_t)(data_bytes - pos) : sizeof zeros;
        ok = fwrite(zeros, 1, k, f) == k;
        pos += k;
    }
    if (!ok) {
        st = bn_error_set(err, BN_STATUS_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    FILE *closing = f;
    f = NULL;
    if (fclose(closing) != 0) {
        st = bn_error_set(err, BN_STATUS_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    free(b.data);
    free(offsets);
    return BN_STATUS_OK;
fail:
    if (f)
        fclose(f);
    free(b.data);
    free(offsets);
    return st;
}
