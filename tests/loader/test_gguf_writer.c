/* test_gguf_writer.c: the writer's files read back exactly, and the writer
 * refuses what the reader would reject. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/gguf_writer.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/model_files.h"

Test(gguf_writer, round_trips_every_scalar_type)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    bn_error err = {0};
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    bool b;
    bn_gguf_string s;
    cr_assert_eq(bn_gguf_version(g), 3);
    cr_assert_eq(bn_gguf_get_u32(g, "test.u32", &u32, &err), BN_STATUS_OK);
    cr_assert_eq(u32, 4000000000u);
    cr_assert_eq(bn_gguf_get_i32(g, "test.i32", &i32, &err), BN_STATUS_OK);
    cr_assert_eq(i32, -7);
    cr_assert_eq(bn_gguf_get_u64(g, "test.u64", &u64, &err), BN_STATUS_OK);
    cr_assert_eq(u64, 1ull << 40);
    cr_assert_eq(bn_gguf_get_f32(g, "test.f32", &f32, &err), BN_STATUS_OK);
    cr_assert_eq(f32, 0.25f);
    cr_assert_eq(bn_gguf_get_bool(g, "test.bool", &b, &err), BN_STATUS_OK);
    cr_assert(b);
    cr_assert_eq(bn_gguf_get_string(g, "test.string", &s, &err), BN_STATUS_OK);
    cr_assert_eq(s.len, 5);
    cr_assert(memcmp(s.data, "hello", 5) == 0);
    cr_assert_eq(bn_gguf_kv_type(g, (size_t)bn_gguf_find_kv(g, "test.i32")), BN_GGUF_INT32);
    cr_assert_eq(bn_gguf_kv_count(g), 19);
    bn_gguf_close(g);
    free(file);
}

Test(gguf_writer, round_trips_every_array_element_type)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    bn_error err = {0};
    struct { const char *key; bn_gguf_value_type type; uint64_t n; int64_t last; } ints[] = {
        {"test.arr.u8", BN_GGUF_UINT8, 3, 255},      {"test.arr.i8", BN_GGUF_INT8, 3, 127},
        {"test.arr.u16", BN_GGUF_UINT16, 2, 65535},  {"test.arr.i16", BN_GGUF_INT16, 2, 5},
        {"test.arr.u32", BN_GGUF_UINT32, 2, 4294967295ll}, {"test.arr.i32", BN_GGUF_INT32, 3, -3},
        {"test.arr.i64", BN_GGUF_INT64, 2, 1ll << 50},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        bn_gguf_value_type t;
        uint64_t n;
        int64_t v;
        cr_assert_eq(bn_gguf_get_array(g, ints[i].key, &t, &n, &err), BN_STATUS_OK);
        cr_assert_eq(t, ints[i].type, "%s", ints[i].key);
        cr_assert_eq(n, ints[i].n, "%s", ints[i].key);
        cr_assert_eq(bn_gguf_array_i64(g, ints[i].key, n - 1, &v, &err), BN_STATUS_OK);
        cr_assert_eq(v, ints[i].last, "%s", ints[i].key);
        cr_assert_not_null(bn_gguf_array_raw(g, ints[i].key));
    }
    int64_t v;
    cr_assert_eq(bn_gguf_array_i64(g, "test.arr.i16", 0, &v, &err), BN_STATUS_OK);
    cr_assert_eq(v, -32768);
    /* 2^63 does not fit i64 */
    cr_assert_eq(bn_gguf_array_i64(g, "test.arr.u64", 0, &v, &err), BN_STATUS_FORMAT);
    uint64_t raw;
    memcpy(&raw, bn_gguf_array_raw(g, "test.arr.u64"), 8);
    cr_assert_eq(raw, 1ull << 63);

    float f;
    cr_assert_eq(bn_gguf_array_f32(g, "test.arr.f32", 1, &f, &err), BN_STATUS_OK);
    cr_assert_eq(f, -1.0f);
    cr_assert_eq(bn_gguf_array_f32(g, "test.arr.f64", 1, &f, &err), BN_STATUS_OK);
    cr_assert_eq(f, -2.5f);
    const uint8_t *bools = bn_gguf_array_raw(g, "test.arr.bool");
    cr_assert(bools[0] == 1 && bools[1] == 0);

    bn_gguf_string s;
    cr_assert_eq(bn_gguf_array_string(g, "test.arr.str", 2, &s, &err), BN_STATUS_OK);
    cr_assert(s.len == 3 && memcmp(s.data, "ccc", 3) == 0);
    cr_assert_eq(bn_gguf_array_string(g, "test.arr.str", 1, &s, &err), BN_STATUS_OK);
    cr_assert_eq(s.len, 0);
    cr_assert_null(bn_gguf_array_raw(g, "test.arr.str"));
    bn_gguf_close(g);
    free(file);
}

Test(gguf_writer, round_trips_tensors_at_aligned_offsets)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    cr_assert_eq(bn_gguf_tensor_count(g), 3);
    const bn_gguf_tensor *tq2 = bn_gguf_find_tensor(g, "t.tq2");
    const bn_gguf_tensor *i2s = bn_gguf_find_tensor(g, "t.i2s");
    const bn_gguf_tensor *f32 = bn_gguf_find_tensor(g, "t.f32");
    cr_assert(tq2 && i2s && f32);
    cr_assert_eq(tq2->type, BN_TYPE_TQ2_0);
    cr_assert_eq(tq2->ggml_id, 35);
    cr_assert_eq(tq2->n_bytes, 66);
    cr_assert_eq(tq2->offset, 0);
    cr_assert_eq(i2s->type, BN_TYPE_I2_S);
    cr_assert_eq(i2s->n_bytes, 128 * 2 / 4 + 32);
    cr_assert_eq(i2s->offset, 96);
    cr_assert_eq(f32->offset, 192);
    cr_assert_eq(f32->n_dims, 2);
    cr_assert(f32->ne[0] == 64 && f32->ne[1] == 2 && f32->ne[2] == 1 && f32->ne[3] == 1);
    cr_assert_eq(bn_gguf_data_offset(g) % 32, 0);
    cr_assert_eq(bn_gguf_data_offset(g) + 192 + 512, size);
    float x;
    memcpy(&x, f32->data + 4 * 127, 4);
    cr_assert_eq(x, 127 - 3.5f);
    cr_assert_eq(i2s->data[0], 1);
    cr_assert_eq(tq2->data[65], (uint8_t)(65 * 7));
    cr_assert_eq(bn_gguf_tensor_at(g, 1), i2s);
    cr_assert_null(bn_gguf_tensor_at(g, 3));
    cr_assert_null(bn_gguf_find_tensor(g, "nope"));
    bn_gguf_close(g);
    free(file);
}

Test(gguf_writer, honours_a_custom_alignment)
{
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_u32(w, "general.alignment", 64, &err), BN_STATUS_OK);
    static const float a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8};
    const int64_t na = 3, nb = 5;
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "a", BN_TYPE_F32, 1, &na, a, 12, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "b", BN_TYPE_F32, 1, &nb, b, 20, &err), BN_STATUS_OK);
    uint8_t *file;
    size_t size;
    cr_assert_eq(bn_gguf_writer_write_memory(w, &file, &size, &err), BN_STATUS_OK, "%s",
                 err.message);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    cr_assert_eq(bn_gguf_alignment(g), 64);
    cr_assert_eq(bn_gguf_data_offset(g) % 64, 0);
    cr_assert_eq(bn_gguf_find_tensor(g, "b")->offset, 64);
    bn_gguf_close(g);
    free(file);
    bn_gguf_writer_free(w);
}

Test(gguf_writer, replaces_a_key_set_twice_in_place)
{
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_u32(w, "k1", 1, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_u32(w, "k2", 2, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_string(w, "k1", "again", &err), BN_STATUS_OK);
    uint8_t *file;
    size_t size;
    cr_assert_eq(bn_gguf_writer_write_memory(w, &file, &size, &err), BN_STATUS_OK);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    cr_assert_eq(bn_gguf_kv_count(g), 2);
    cr_assert_str_eq(bn_gguf_kv_key(g, 0), "k1");
    cr_assert_eq(bn_gguf_kv_type(g, 0), BN_GGUF_STRING);
    bn_gguf_close(g);
    free(file);
    bn_gguf_writer_free(w);
}

Test(gguf_writer, refuses_bad_tensors)
{
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    static uint8_t data[4096];
    const int64_t ne[2] = {256, 1};
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "x", BN_TYPE_TQ2_0, 2, ne, data, 66, &err),
                 BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "x", BN_TYPE_TQ2_0, 2, ne, data, 66, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "duplicate"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "y", BN_TYPE_TQ2_0, 2, ne, data, 65, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "66") && strstr(err.message, "65"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "", BN_TYPE_F32, 1, ne, data, 1024, &err),
                 BN_STATUS_INVALID_ARG);
    char long_name[80];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[79] = '\0';
    cr_assert_eq(bn_gguf_writer_add_tensor(w, long_name, BN_TYPE_F32, 1, ne, data, 1024, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "z", BN_TYPE_F32, 5, ne, data, 1024, &err),
                 BN_STATUS_INVALID_ARG);
    const int64_t odd[1] = {100};
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "q", BN_TYPE_Q8_0, 1, odd, data, 0, &err),
                 BN_STATUS_INVALID_ARG);
    bn_gguf_writer_free(w);
}

Test(gguf_writer, refuses_bad_values)
{
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    static const uint8_t bools[2] = {1, 2};
    cr_assert_eq(bn_gguf_writer_set_array(w, "b", BN_GGUF_BOOL, bools, 2, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_gguf_writer_set_array(w, "s", BN_GGUF_STRING, bools, 2, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_gguf_writer_set_u32(w, "", 1, &err), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_gguf_writer_set_u32(w, "general.alignment", 48, &err), BN_STATUS_OK);
    uint8_t *file;
    size_t size;
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_writer_write_memory(w, &file, &size, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "48"), "%s", err.message);
    bn_gguf_writer_free(w);
}

Test(gguf_writer, writes_a_vocab_only_file_that_ends_after_its_metadata)
{
    size_t size;
    uint8_t *file = bn_test_gguf_vocab_only(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    cr_assert_eq(bn_gguf_tensor_count(g), 0);
    cr_assert_eq(bn_gguf_kv_count(g), 5);
    /* the last value is the u32 bos id: the file ends right after it */
    uint32_t last;
    memcpy(&last, file + size - 4, 4);
    cr_assert_eq(last, 1);
    bn_gguf_close(g);
    free(file);
}

Test(gguf_writer, writes_a_file_that_opens_mapped_and_read)
{
    size_t size;
    uint8_t *mem = bn_test_gguf_small(&size);
    char path[] = "/tmp/bn_test_writer_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);

    /* rebuild the same file through write_file */
    bn_gguf *src = bn_test_gguf_open_bytes(mem, size);
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_string(w, "general.architecture", "bitnet", &err), 0);
    for (size_t i = 0; i < bn_gguf_tensor_count(src); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(src, i);
        cr_assert_eq(bn_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                               t->n_bytes, &err), BN_STATUS_OK, "%s", err.message);
    }
    cr_assert_eq(bn_gguf_writer_write_file(w, path, &err), BN_STATUS_OK, "%s", err.message);
    bn_gguf_writer_free(w);

    for (int no_mmap = 0; no_mmap <= 1; no_mmap++) {
        bn_gguf_open_options opts = {.no_mmap = no_mmap};
        bn_gguf *g = NULL;
        cr_assert_eq(bn_gguf_open_file(path, &opts, &g, &err), BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(bn_gguf_is_mmapped(g), !no_mmap);
        cr_assert_eq(bn_gguf_tensor_count(g), 3);
        for (size_t i = 0; i < 3; i++) {
            const bn_gguf_tensor *a = bn_gguf_tensor_at(src, i), *b = bn_gguf_tensor_at(g, i);
            cr_assert_str_eq(a->name, b->name);
            cr_assert_eq(a->offset, b->offset);
            cr_assert(memcmp(a->data, b->data, a->n_bytes) == 0);
        }
        bn_gguf_close(g);
    }
    unlink(path);
    bn_gguf_close(src);
    free(mem);
}

/* A file large enough for the read path's huge-page buffer (bn_read_buffer:
 * 8 MiB and up): read, it gives the mapped file's bytes, from a buffer that
 * starts on a 2 MiB boundary. */
Test(gguf_writer, reads_a_large_file_into_a_2mib_aligned_buffer)
{
    char path[] = "/tmp/bn_test_writer_large_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    const int64_t ne[2] = {1024, 2560}; /* 10 MiB of F32 */
    const size_t n = (size_t)(ne[0] * ne[1]);
    float *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(i % 1009) - 504.0f;
    bn_error err = {0};
    bn_gguf_writer *w;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_string(w, "general.architecture", "bitnet", &err), 0);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "big", BN_TYPE_F32, 2, ne, v, n * sizeof *v, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_gguf_writer_write_file(w, path, &err), BN_STATUS_OK, "%s", err.message);
    bn_gguf_writer_free(w);

    bn_gguf *g[2] = {NULL, NULL};
    for (int no_mmap = 0; no_mmap <= 1; no_mmap++) {
        bn_gguf_open_options opts = {.no_mmap = no_mmap};
        cr_assert_eq(bn_gguf_open_file(path, &opts, &g[no_mmap], &err), BN_STATUS_OK, "%s",
                     err.message);
        cr_assert_eq(bn_gguf_is_mmapped(g[no_mmap]), !no_mmap);
    }
    const bn_gguf_tensor *a = bn_gguf_find_tensor(g[0], "big"), *b = bn_gguf_find_tensor(g[1], "big");
    cr_assert(a && b && a->n_bytes == n * sizeof *v && b->n_bytes == a->n_bytes);
    cr_assert(memcmp(a->data, v, a->n_bytes) == 0);
    cr_assert(memcmp(b->data, v, b->n_bytes) == 0);
    const uint8_t *base = b->data - bn_gguf_data_offset(g[1]) - b->offset;
    cr_assert_eq((uintptr_t)base % ((uintptr_t)2 << 20), 0, "read buffer at %p", (void *)base);
    bn_gguf_close(g[0]);
    bn_gguf_close(g[1]);
    unlink(path);
    free(v);
}
