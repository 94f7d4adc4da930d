/* gguf_bytes.c: the raw GGUF byte builder and the valid test files (see
 * gguf_bytes.h). Values are written byte by byte as little-endian. */
#include "tests/support/gguf_bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf_writer.h"

static void bn_bytes_die(const char *what)
{
    fprintf(stderr, "gguf_bytes: %s\n", what);
    abort();
}

void bn_bytes_free(bn_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void bn_bytes_raw(bn_bytes *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p)
            bn_bytes_die("out of memory");
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void bn_bytes_le(bn_bytes *b, uint64_t v, int n)
{
    uint8_t le[8];
    for (int i = 0; i < n; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    bn_bytes_raw(b, le, (size_t)n);
}

void bn_bytes_u8(bn_bytes *b, uint8_t v) { bn_bytes_le(b, v, 1); }
void bn_bytes_u16(bn_bytes *b, uint16_t v) { bn_bytes_le(b, v, 2); }
void bn_bytes_u32(bn_bytes *b, uint32_t v) { bn_bytes_le(b, v, 4); }
void bn_bytes_u64(bn_bytes *b, uint64_t v) { bn_bytes_le(b, v, 8); }

void bn_bytes_f32(bn_bytes *b, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bn_bytes_u32(b, bits);
}

void bn_bytes_f64(bn_bytes *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    bn_bytes_u64(b, bits);
}

void bn_bytes_str(bn_bytes *b, const char *s)
{
    size_t n = strlen(s);
    bn_bytes_u64(b, n);
    bn_bytes_raw(b, s, n);
}

void bn_bytes_pad(bn_bytes *b, size_t alignment)
{
    while (b->len % alignment)
        bn_bytes_u8(b, 0);
}

void bn_bytes_zeros(bn_bytes *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bn_bytes_u8(b, 0);
}

void bn_bytes_ramp(bn_bytes *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bn_bytes_u8(b, (uint8_t)i);
}

void bn_bytes_put_u32_at(bn_bytes *b, size_t pos, uint32_t v)
{
    if (pos + 4 > b->len)
        bn_bytes_die("put_u32_at past the end");
    for (int i = 0; i < 4; i++)
        b->data[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
}

void bn_bytes_put_u64_at(bn_bytes *b, size_t pos, uint64_t v)
{
    if (pos + 8 > b->len)
        bn_bytes_die("put_u64_at past the end");
    for (int i = 0; i < 8; i++)
        b->data[pos + (size_t)i] = (uint8_t)(v >> (8 * i));
}

void bn_bytes_header(bn_bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kvs)
{
    bn_bytes_raw(b, "GGUF", 4);
    bn_bytes_u32(b, version);
    bn_bytes_u64(b, n_tensors);
    bn_bytes_u64(b, n_kvs);
}

void bn_bytes_key(bn_bytes *b, const char *key, bn_gguf_value_type type)
{
    bn_bytes_str(b, key);
    bn_bytes_u32(b, (uint32_t)type);
}

void bn_bytes_kv_u32(bn_bytes *b, const char *key, uint32_t v)
{
    bn_bytes_key(b, key, BN_GGUF_UINT32);
    bn_bytes_u32(b, v);
}

void bn_bytes_kv_str(bn_bytes *b, const char *key, const char *v)
{
    bn_bytes_key(b, key, BN_GGUF_STRING);
    bn_bytes_str(b, v);
}

void bn_bytes_tensor_info(bn_bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                          uint32_t ggml_id, uint64_t offset)
{
    bn_bytes_str(b, name);
    bn_bytes_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        bn_bytes_u64(b, ne[i]);
    bn_bytes_u32(b, ggml_id);
    bn_bytes_u64(b, offset);
}

static void bn_check(bn_status st, const bn_error *err)
{
    if (st != BN_STATUS_OK)
        bn_bytes_die(err->message);
}

/* Test tensor data: lives as long as the process, as the writer borrows it. */
static uint8_t bn_tq2_data[66];
static uint8_t bn_i2s_data[128 * 2 / 4 + 32];
static float bn_f32_data[64 * 2];

uint8_t *bn_test_gguf_small(size_t *size)
{
    bn_error err = {0};
    bn_gguf_writer *w = NULL;
    bn_check(bn_gguf_writer_new(&w, &err), &err);
    bn_check(bn_gguf_writer_set_string(w, "general.architecture", "bitnet", &err), &err);
    bn_check(bn_gguf_writer_set_u32(w, "test.u32", 4000000000u, &err), &err);
    bn_check(bn_gguf_writer_set_i32(w, "test.i32", -7, &err), &err);
    bn_check(bn_gguf_writer_set_u64(w, "test.u64", 1ull << 40, &err), &err);
    bn_check(bn_gguf_writer_set_f32(w, "test.f32", 0.25f, &err), &err);
    bn_check(bn_gguf_writer_set_bool(w, "test.bool", true, &err), &err);
    bn_check(bn_gguf_writer_set_string(w, "test.string", "hello", &err), &err);

    static const uint8_t u8s[3] = {1, 2, 255};
    static const int8_t i8s[3] = {-1, 0, 127};
    static const uint16_t u16s[2] = {1, 65535};
    static const int16_t i16s[2] = {-32768, 5};
    static const uint32_t u32s[2] = {0, 4294967295u};
    static const int32_t i32s[3] = {-1, 2, -3};
    static const float f32s[3] = {0.5f, -1.0f, 3.0f};
    static const uint8_t bools[2] = {1, 0};
    static const uint64_t u64s[1] = {1ull << 63};
    static const int64_t i64s[2] = {-5, 1ll << 50};
    static const double f64s[2] = {0.125, -2.5};
    bn_check(bn_gguf_writer_set_array(w, "test.arr.u8", BN_GGUF_UINT8, u8s, 3, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.i8", BN_GGUF_INT8, i8s, 3, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.u16", BN_GGUF_UINT16, u16s, 2, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.i16", BN_GGUF_INT16, i16s, 2, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.u32", BN_GGUF_UINT32, u32s, 2, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.i32", BN_GGUF_INT32, i32s, 3, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.f32", BN_GGUF_FLOAT32, f32s, 3, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.bool", BN_GGUF_BOOL, bools, 2, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.u64", BN_GGUF_UINT64, u64s, 1, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.i64", BN_GGUF_INT64, i64s, 2, &err), &err);
    bn_check(bn_gguf_writer_set_array(w, "test.arr.f64", BN_GGUF_FLOAT64, f64s, 2, &err), &err);
    static const char *const strs[3] = {"a", "", "ccc"};
    bn_check(bn_gguf_writer_set_string_array(w, "test.arr.str", strs, NULL, 3, &err), &err);

    for (size_t i = 0; i < sizeof bn_tq2_data; i++)
        bn_tq2_data[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof bn_i2s_data; i++)
        bn_i2s_data[i] = (uint8_t)(i * 3 + 1);
    for (size_t i = 0; i < 128; i++)
        bn_f32_data[i] = (float)i - 3.5f;
    const int64_t ne_tq2[2] = {256, 1}, ne_i2s[2] = {128, 2}, ne_f32[2] = {64, 2};
    bn_check(bn_gguf_writer_add_tensor(w, "t.tq2", BN_TYPE_TQ2_0, 2, ne_tq2, bn_tq2_data,
                                       sizeof bn_tq2_data, &err), &err);
    bn_check(bn_gguf_writer_add_tensor(w, "t.i2s", BN_TYPE_I2_S, 2, ne_i2s, bn_i2s_data,
                                       sizeof bn_i2s_data, &err), &err);
    bn_check(bn_gguf_writer_add_tensor(w, "t.f32", BN_TYPE_F32, 2, ne_f32, bn_f32_data,
                                       sizeof bn_f32_data, &err), &err);
    uint8_t *out = NULL;
    bn_check(bn_gguf_writer_write_memory(w, &out, size, &err), &err);
    bn_gguf_writer_free(w);
    return out;
}

uint8_t *bn_test_gguf_vocab_only(size_t *size)
{
    bn_error err = {0};
    bn_gguf_writer *w = NULL;
    bn_check(bn_gguf_writer_new(&w, &err), &err);
    bn_check(bn_gguf_writer_set_string(w, "general.architecture", "llama", &err), &err);
    bn_check(bn_gguf_writer_set_string(w, "tokenizer.ggml.model", "llama", &err), &err);
    static const char *const toks[4] = {"<unk>", "<s>", "</s>", "a"};
    bn_check(bn_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", toks, NULL, 4, &err),
             &err);
    static const float scores[4] = {0, 0, 0, -1};
    bn_check(bn_gguf_writer_set_array(w, "tokenizer.ggml.scores", BN_GGUF_FLOAT32, scores, 4,
                                      &err), &err);
    bn_check(bn_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &err), &err);
    uint8_t *out = NULL;
    bn_check(bn_gguf_writer_write_memory(w, &out, size, &err), &err);
    bn_gguf_writer_free(w);
    return out;
}

uint8_t *bn_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    bn_bytes b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        bn_bytes_raw(&b, chunk, n);
    fclose(f);
    if (!b.data && !(b.data = malloc(1)))
        bn_bytes_die("out of memory");
    *size = b.len;
    return b.data;
}
