/* test_gguf.c: the reader accepts valid files and refuses every kind of
 * broken one with a status and a message that says where. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/model_files.h"

#define SPM_VOCAB BN_SHARED_DIR "/data/tokenizer/ggml-vocab-llama-spm.gguf"
#define TINY_DIR BN_SHARED_DIR "/models/tiny-bitnet"

/* Opens b's bytes; returns the status and leaves the message in err. */
static bn_status try_open(const bn_bytes *b, bn_error *err)
{
    bn_gguf *g = NULL;
    bn_error_clear(err);
    bn_status st = bn_gguf_open_memory(b->data, b->len, &g, err);
    cr_assert_eq(st == BN_STATUS_OK, g != NULL);
    bn_gguf_close(g);
    return st;
}

static void expect_error(const bn_bytes *b, bn_status want, const char *needle)
{
    bn_error err;
    bn_status st = try_open(b, &err);
    cr_assert_eq(st, want, "status %s, message: %s", bn_status_name(st), err.message);
    cr_assert_eq(err.status, want);
    cr_assert(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

/* A file with the given kvs already written by the caller after a header
 * that claims n_kvs keys and one tensor, then one tensor info and its data. */
static void one_tensor_file(bn_bytes *b, const char *arch, const char *name, uint32_t n_dims,
                            const uint64_t *ne, uint32_t ggml_id, uint64_t offset,
                            size_t data_bytes)
{
    bn_bytes_header(b, 3, 1, 1);
    bn_bytes_kv_str(b, "general.architecture", arch);
    bn_bytes_tensor_info(b, name, n_dims, ne, ggml_id, offset);
    bn_bytes_pad(b, 32);
    bn_bytes_zeros(b, data_bytes);
}

/* ---- valid files ---- */

Test(gguf, opens_a_small_valid_file)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    cr_assert_eq(bn_gguf_file_size(g), size);
    cr_assert_eq(bn_gguf_alignment(g), 32);
    cr_assert_not(bn_gguf_is_mmapped(g));
    bn_gguf_close(g);
    free(file);
}

Test(gguf, gives_a_format_error_for_every_truncation_of_a_small_file)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    for (size_t n = 0; n < size; n++) {
        /* a fresh heap copy of exactly n bytes, so ASan sees any overread */
        uint8_t *prefix = malloc(n ? n : 1);
        memcpy(prefix, file, n);
        bn_gguf *g = NULL;
        bn_error err = {0};
        bn_status st = bn_gguf_open_memory(prefix, n, &g, &err);
        cr_assert_eq(st, BN_STATUS_FORMAT, "prefix of %zu bytes: %s (%s)", n, bn_status_name(st),
                     err.message);
        cr_assert_null(g);
        cr_assert_neq(err.message[0], '\0');
        free(prefix);
    }
    free(file);
}

Test(gguf, names_the_byte_and_the_key_when_truncated_inside_metadata)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 1);
    bn_bytes_key(&b, "general.name", BN_GGUF_STRING);
    bn_bytes_u64(&b, 100);
    bn_bytes_raw(&b, "short", 5);
    expect_error(&b, BN_STATUS_FORMAT, "truncated GGUF at byte");
    expect_error(&b, BN_STATUS_FORMAT, "key 'general.name'");
    bn_bytes_free(&b);
}

Test(gguf, loads_a_vocab_only_file_that_ends_after_the_metadata)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 2, 0, 2);
    bn_bytes_kv_str(&b, "general.architecture", "llama");
    bn_bytes_kv_u32(&b, "tokenizer.ggml.bos_token_id", 1); /* 0 bytes of padding follow */
    bn_error err;
    cr_assert_eq(try_open(&b, &err), BN_STATUS_OK, "%s", err.message);
    bn_bytes_free(&b);

    size_t size;
    uint8_t *file = bn_test_gguf_vocab_only(&size);
    for (size_t n = 0; n < size; n++) {
        bn_gguf *g = NULL;
        bn_error e = {0};
        cr_assert_eq(bn_gguf_open_memory(file, n, &g, &e), BN_STATUS_FORMAT, "prefix %zu", n);
    }
    free(file);
}

/* ---- header ---- */

Test(gguf, rejects_a_file_that_is_not_gguf)
{
    bn_bytes b = {0};
    bn_bytes_raw(&b, "GGML", 4);
    bn_bytes_u32(&b, 3);
    bn_bytes_u64(&b, 0);
    bn_bytes_u64(&b, 0);
    expect_error(&b, BN_STATUS_FORMAT, "not a GGUF file");
    bn_bytes_free(&b);
}

Test(gguf, reports_big_endian_files_as_such)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 0x03000000u, 0, 0);
    expect_error(&b, BN_STATUS_UNSUPPORTED, "big-endian GGUF not supported");
    bn_bytes_free(&b);
}

Test(gguf, accepts_versions_2_and_3_only)
{
    for (uint32_t v = 2; v <= 3; v++) {
        bn_bytes b = {0};
        bn_bytes_header(&b, v, 0, 0);
        bn_error err;
        cr_assert_eq(try_open(&b, &err), BN_STATUS_OK, "v%u: %s", v, err.message);
        bn_bytes_free(&b);
    }
    bn_bytes b = {0};
    bn_bytes_header(&b, 1, 0, 0);
    expect_error(&b, BN_STATUS_UNSUPPORTED, "version 1");
    bn_bytes_put_u32_at(&b, 4, 0);
    expect_error(&b, BN_STATUS_FORMAT, "version 0");
    bn_bytes_put_u32_at(&b, 4, 4);
    expect_error(&b, BN_STATUS_FORMAT, "version 4");
    bn_bytes_free(&b);
}

Test(gguf, rejects_counts_that_cannot_fit_in_the_file)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, UINT64_MAX);
    bn_bytes_kv_u32(&b, "a", 1);
    expect_error(&b, BN_STATUS_FORMAT, "18446744073709551615 keys");
    bn_bytes_put_u64_at(&b, 16, 1);
    bn_bytes_put_u64_at(&b, 8, 1ull << 60);
    expect_error(&b, BN_STATUS_FORMAT, "tensors");
    /* each count alone fits, together they do not */
    bn_bytes_put_u64_at(&b, 8, 1);
    bn_bytes_put_u64_at(&b, 16, 2);
    bn_bytes_zeros(&b, 33);
    expect_error(&b, BN_STATUS_FORMAT, "cannot fit");
    bn_bytes_free(&b);
}

/* ---- metadata ---- */

Test(gguf, rejects_a_string_length_that_overflows)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 1);
    bn_bytes_u64(&b, UINT64_MAX);
    bn_bytes_raw(&b, "key.and.some.more.bytes", 23);
    expect_error(&b, BN_STATUS_FORMAT, "truncated GGUF at byte 32");
    bn_bytes_free(&b);

    bn_bytes v = {0};
    bn_bytes_header(&v, 3, 0, 1);
    bn_bytes_key(&v, "k", BN_GGUF_STRING);
    bn_bytes_u64(&v, UINT64_MAX - 3);
    bn_bytes_raw(&v, "abcdefgh", 8);
    expect_error(&v, BN_STATUS_FORMAT, "key 'k'");
    bn_bytes_free(&v);
}

Test(gguf, rejects_array_counts_that_overflow)
{
    const uint32_t elem_types[] = {BN_GGUF_UINT32, BN_GGUF_UINT64, BN_GGUF_STRING, BN_GGUF_UINT8};
    const uint64_t counts[] = {1ull << 62, 1ull << 61, UINT64_MAX / 8 + 1, 1000};
    for (size_t i = 0; i < 4; i++) {
        bn_bytes b = {0};
        bn_bytes_header(&b, 3, 0, 1);
        bn_bytes_key(&b, "arr", BN_GGUF_ARRAY);
        bn_bytes_u32(&b, elem_types[i]);
        bn_bytes_u64(&b, counts[i]);
        for (int k = 0; k < 64; k++)
            bn_bytes_u8(&b, 1);
        expect_error(&b, BN_STATUS_FORMAT, "key 'arr'");
        bn_bytes_free(&b);
    }
}

Test(gguf, rejects_empty_and_duplicate_keys)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 2);
    bn_bytes_kv_u32(&b, "general.alignment", 32);
    bn_bytes_kv_u32(&b, "general.alignment", 32);
    expect_error(&b, BN_STATUS_FORMAT, "duplicate key 'general.alignment'");
    bn_bytes_free(&b);

    bn_bytes e = {0};
    bn_bytes_header(&e, 3, 0, 1);
    bn_bytes_kv_u32(&e, "", 1);
    expect_error(&e, BN_STATUS_FORMAT, "empty");
    bn_bytes_free(&e);
}

Test(gguf, rejects_invalid_value_types)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 1);
    bn_bytes_key(&b, "k", 13);
    bn_bytes_u32(&b, 0);
    expect_error(&b, BN_STATUS_FORMAT, "value type 13");
    bn_bytes_free(&b);

    bn_bytes a = {0};
    bn_bytes_header(&a, 3, 0, 1);
    bn_bytes_key(&a, "k", BN_GGUF_ARRAY);
    bn_bytes_u32(&a, 200);
    bn_bytes_u64(&a, 0);
    expect_error(&a, BN_STATUS_FORMAT, "element type 200");
    bn_bytes_free(&a);
}

Test(gguf, rejects_nested_arrays)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 1);
    bn_bytes_key(&b, "nest", BN_GGUF_ARRAY);
    bn_bytes_u32(&b, BN_GGUF_ARRAY);
    bn_bytes_u64(&b, 1);
    bn_bytes_u32(&b, BN_GGUF_UINT8);
    bn_bytes_u64(&b, 1);
    bn_bytes_u8(&b, 0);
    expect_error(&b, BN_STATUS_FORMAT, "nested arrays");
    bn_bytes_free(&b);
}

Test(gguf, rejects_a_bool_byte_other_than_0_or_1)
{
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 0, 1);
    bn_bytes_key(&b, "flag", BN_GGUF_BOOL);
    bn_bytes_u8(&b, 2);
    expect_error(&b, BN_STATUS_FORMAT, "bool byte is 2");
    bn_bytes_free(&b);

    bn_bytes a = {0};
    bn_bytes_header(&a, 3, 0, 1);
    bn_bytes_key(&a, "flags", BN_GGUF_ARRAY);
    bn_bytes_u32(&a, BN_GGUF_BOOL);
    bn_bytes_u64(&a, 3);
    bn_bytes_raw(&a, "\x01\x00\x02", 3);
    expect_error(&a, BN_STATUS_FORMAT, "bool element 2 is 2");
    bn_bytes_free(&a);
}

Test(gguf, rejects_bad_alignment)
{
    const uint32_t bad[] = {0, 48, 3};
    for (size_t i = 0; i < 3; i++) {
        bn_bytes b = {0};
        bn_bytes_header(&b, 3, 0, 1);
        bn_bytes_kv_u32(&b, "general.alignment", bad[i]);
        expect_error(&b, BN_STATUS_FORMAT, "power of two");
        bn_bytes_free(&b);
    }
    bn_bytes w = {0};
    bn_bytes_header(&w, 3, 0, 1);
    bn_bytes_key(&w, "general.alignment", BN_GGUF_UINT64);
    bn_bytes_u64(&w, 32);
    expect_error(&w, BN_STATUS_FORMAT, "must be a u32");
    bn_bytes_free(&w);
}

Test(gguf, places_tensors_at_a_custom_alignment)
{
    bn_bytes b = {0};
    const uint64_t ne[1] = {16};
    bn_bytes_header(&b, 3, 2, 1);
    bn_bytes_kv_u32(&b, "general.alignment", 64);
    bn_bytes_tensor_info(&b, "a", 1, ne, 0, 0);
    bn_bytes_tensor_info(&b, "b", 1, ne, 0, 64);
    bn_bytes_pad(&b, 64);
    bn_bytes_ramp(&b, 128);
    bn_gguf *g = bn_test_gguf_open_bytes(b.data, b.len);
    cr_assert_eq(bn_gguf_data_offset(g) % 64, 0);
    cr_assert_eq(bn_gguf_find_tensor(g, "b")->data[0], 64);
    bn_gguf_close(g);
    /* offset 32 is not a multiple of 64 */
    bn_bytes_free(&b);
    bn_bytes c = {0};
    bn_bytes_header(&c, 3, 1, 1);
    bn_bytes_kv_u32(&c, "general.alignment", 64);
    bn_bytes_tensor_info(&c, "a", 1, ne, 0, 32);
    bn_bytes_pad(&c, 64);
    bn_bytes_zeros(&c, 128);
    expect_error(&c, BN_STATUS_FORMAT, "not a multiple of the alignment 64");
    bn_bytes_free(&c);
}

/* ---- tensor infos ---- */

Test(gguf, rejects_duplicate_empty_and_overlong_tensor_names)
{
    const uint64_t ne[1] = {8};
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 2, 0);
    bn_bytes_tensor_info(&b, "w", 1, ne, 0, 0);
    bn_bytes_tensor_info(&b, "w", 1, ne, 0, 32);
    bn_bytes_pad(&b, 32);
    bn_bytes_zeros(&b, 64);
    expect_error(&b, BN_STATUS_FORMAT, "duplicate tensor name 'w'");
    bn_bytes_free(&b);

    bn_bytes e = {0};
    bn_bytes_header(&e, 3, 1, 0);
    bn_bytes_tensor_info(&e, "", 1, ne, 0, 0);
    bn_bytes_pad(&e, 32);
    bn_bytes_zeros(&e, 32);
    expect_error(&e, BN_STATUS_FORMAT, "empty name");
    bn_bytes_free(&e);

    char name[66];
    memset(name, 'x', 65);
    name[65] = '\0';
    bn_bytes l = {0};
    bn_bytes_header(&l, 3, 1, 0);
    bn_bytes_tensor_info(&l, name, 1, ne, 0, 0);
    bn_bytes_pad(&l, 32);
    bn_bytes_zeros(&l, 32);
    expect_error(&l, BN_STATUS_FORMAT, "65-byte name");
    bn_bytes_free(&l);
}

Test(gguf, rejects_bad_dims)
{
    const uint64_t ne5[5] = {1, 1, 1, 1, 1};
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet", "t", 5, ne5, 0, 0, 64);
    expect_error(&b, BN_STATUS_FORMAT, "has 5 dims");
    bn_bytes_free(&b);

    bn_bytes z = {0};
    one_tensor_file(&z, "bitnet", "t", 0, ne5, 0, 0, 64);
    expect_error(&z, BN_STATUS_FORMAT, "has 0 dims");
    bn_bytes_free(&z);

    const uint64_t zero[2] = {4, 0};
    bn_bytes d = {0};
    one_tensor_file(&d, "bitnet", "t", 2, zero, 0, 0, 64);
    expect_error(&d, BN_STATUS_FORMAT, "ne[1] = 0");
    bn_bytes_free(&d);

    const uint64_t neg[1] = {UINT64_MAX};
    bn_bytes n = {0};
    one_tensor_file(&n, "bitnet", "t", 1, neg, 0, 0, 64);
    expect_error(&n, BN_STATUS_FORMAT, "out of range");
    bn_bytes_free(&n);
}

Test(gguf, rejects_element_counts_that_overflow)
{
    const uint64_t big[4] = {1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20};
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet", "huge", 4, big, 0, 0, 64);
    expect_error(&b, BN_STATUS_FORMAT, "overflows");
    expect_error(&b, BN_STATUS_FORMAT, "tensor 'huge'");
    bn_bytes_free(&b);
}

Test(gguf, rejects_a_row_that_is_not_whole_blocks)
{
    const uint64_t ne[2] = {100, 1};
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet", "q", 2, ne, 35, 0, 128);
    expect_error(&b, BN_STATUS_FORMAT, "block size 256");
    bn_bytes_free(&b);
}

Test(gguf, rejects_unknown_type_ids)
{
    const uint64_t ne[1] = {32};
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet", "w", 1, ne, 99, 0, 128);
    expect_error(&b, BN_STATUS_FORMAT, "unknown tensor type id 99");
    bn_bytes_free(&b);

    bn_bytes k = {0};
    one_tensor_file(&k, "llama", "w", 1, ne, 12, 0, 128);
    expect_error(&k, BN_STATUS_UNSUPPORTED, "type Q4_K (12) is not supported by bitnet");
    bn_bytes_free(&k);
}

Test(gguf, refuses_tl2_tensors_with_the_conversion_hint)
{
    const uint64_t ne[2] = {256, 256};
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet-b1.58", "blk.0.attn_q.weight", 2, ne, 39, 0, 20000);
    expect_error(&b, BN_STATUS_UNSUPPORTED, "tensor 'blk.0.attn_q.weight'");
    expect_error(&b, BN_STATUS_UNSUPPORTED, "TL2 layout (type 39)");
    expect_error(&b, BN_STATUS_UNSUPPORTED, "convert the model to I2_S");
    bn_bytes_free(&b);

    bn_bytes t1 = {0};
    one_tensor_file(&t1, "llama", "blk.0.ffn_up.weight", 2, ne, 38, 0, 20000);
    expect_error(&t1, BN_STATUS_UNSUPPORTED, "TL1");
    bn_bytes_free(&t1);
}

Test(gguf, reads_type_36_as_i2s_in_bitnet_and_llama_files)
{
    const char *archs[] = {"bitnet", "bitnet-b1.58", "bitnet-25", "llama"};
    const uint64_t ne[2] = {128, 4};
    for (size_t i = 0; i < 4; i++) {
        bn_bytes b = {0};
        one_tensor_file(&b, archs[i], "w", 2, ne, 36, 0, 128 * 4 / 4 + 32);
        bn_gguf *g = NULL;
        bn_error err = {0};
        cr_assert_eq(bn_gguf_open_memory(b.data, b.len, &g, &err), BN_STATUS_OK, "%s: %s",
                     archs[i], err.message);
        cr_assert_eq(bn_gguf_tensor_at(g, 0)->type, BN_TYPE_I2_S);
        cr_assert_eq(bn_gguf_tensor_at(g, 0)->n_bytes, 160);
        bn_gguf_close(g);
        bn_bytes_free(&b);
    }
    /* outside the BitNet family, a 36 that is not whole I2_S blocks is refused */
    const uint64_t odd[2] = {64, 4};
    bn_bytes b = {0};
    one_tensor_file(&b, "llama", "w", 2, odd, 36, 0, 128);
    expect_error(&b, BN_STATUS_UNSUPPORTED, "type id 36");
    bn_bytes_free(&b);
}

/* ---- tensor data ---- */

Test(gguf, rejects_a_tensor_past_the_end_of_the_file)
{
    const uint64_t ne[1] = {16}; /* 64 bytes of F32 */
    bn_bytes b = {0};
    one_tensor_file(&b, "bitnet", "late", 1, ne, 0, 0, 63);
    expect_error(&b, BN_STATUS_FORMAT, "tensor 'late'");
    expect_error(&b, BN_STATUS_FORMAT, "runs past the end");
    bn_bytes_free(&b);

    bn_bytes f = {0};
    one_tensor_file(&f, "bitnet", "far", 1, ne, 0, UINT64_MAX - 31, 64);
    expect_error(&f, BN_STATUS_FORMAT, "runs past the end");
    bn_bytes_free(&f);
}

Test(gguf, rejects_overlapping_tensors)
{
    const uint64_t ne[1] = {16}; /* 64 bytes */
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 2, 0);
    bn_bytes_tensor_info(&b, "second", 1, ne, 0, 32);
    bn_bytes_tensor_info(&b, "first", 1, ne, 0, 0);
    bn_bytes_pad(&b, 32);
    bn_bytes_zeros(&b, 128);
    expect_error(&b, BN_STATUS_FORMAT, "tensors 'first' (data bytes 0..64) and 'second'");
    bn_bytes_free(&b);
}

Test(gguf, accepts_tensors_out_of_order_and_with_gaps)
{
    const uint64_t ne[1] = {16};
    bn_bytes b = {0};
    bn_bytes_header(&b, 3, 2, 0);
    bn_bytes_tensor_info(&b, "second", 1, ne, 0, 128);
    bn_bytes_tensor_info(&b, "first", 1, ne, 0, 0);
    bn_bytes_pad(&b, 32);
    bn_bytes_ramp(&b, 192);
    bn_gguf *g = bn_test_gguf_open_bytes(b.data, b.len);
    cr_assert_eq(bn_gguf_find_tensor(g, "second")->data[0], 128);
    bn_gguf_close(g);
    bn_bytes_free(&b);
}

/* ---- getters ---- */

Test(gguf, getters_convert_integer_widths_and_check_ranges)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    bn_gguf *g = bn_test_gguf_open_bytes(file, size);
    bn_error err = {0};
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    cr_assert_eq(bn_gguf_get_u64(g, "test.u32", &u64, &err), BN_STATUS_OK);
    cr_assert_eq(u64, 4000000000u);
    cr_assert_eq(bn_gguf_get_i64(g, "test.i32", &i64, &err), BN_STATUS_OK);
    cr_assert_eq(i64, -7);
    cr_assert_eq(bn_gguf_get_i32(g, "test.u32", &i32, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "test.u32") && strstr(err.message, "4000000000"), "%s",
              err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_get_u32(g, "test.i32", &u32, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_get_u32(g, "test.u64", &u32, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_get_u32(g, "test.string", &u32, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "string"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_get_u32(g, "no.such.key", &u32, &err), BN_STATUS_NOT_FOUND);
    cr_assert(strstr(err.message, "no.such.key"), "%s", err.message);
    cr_assert_eq(bn_gguf_find_kv(g, "no.such.key"), -1);
    bn_error_clear(&err);
    double d;
    cr_assert_eq(bn_gguf_get_f64(g, "test.f32", &d, &err), BN_STATUS_OK);
    cr_assert_eq(d, 0.25);
    bool b;
    cr_assert_eq(bn_gguf_get_bool(g, "test.u32", &b, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    bn_gguf_string s;
    cr_assert_eq(bn_gguf_array_string(g, "test.arr.str", 3, &s, &err), BN_STATUS_INVALID_ARG);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_array_string(g, "test.arr.u8", 0, &s, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_get_array(g, "test.u32", NULL, NULL, &err), BN_STATUS_FORMAT);
    cr_assert_null(bn_gguf_kv_key(g, 1000));
    cr_assert_eq(bn_gguf_kv_type(g, 1000), BN_GGUF_VALUE_TYPE_COUNT);
    bn_gguf_close(g);
    free(file);
}

/* ---- files ---- */

Test(gguf, reports_missing_files_and_directories_as_io_errors)
{
    bn_gguf *g = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file("/nonexistent/x.gguf", NULL, &g, &err), BN_STATUS_IO);
    cr_assert(strstr(err.message, "/nonexistent/x.gguf"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_gguf_open_file("/tmp", NULL, &g, &err), BN_STATUS_IO);
    cr_assert_null(g);
}

Test(gguf, reports_an_empty_file_as_truncated)
{
    char path[] = "/tmp/bn_test_empty_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    bn_gguf *g = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file(path, NULL, &g, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "truncated GGUF at byte 0"), "%s", err.message);
    unlink(path);
}

static bool have_shared(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

Test(gguf, loads_the_real_llama_spm_vocab_file)
{
    if (!have_shared(SPM_VOCAB))
        cr_skip_test("%s is absent (../shared not available)", SPM_VOCAB);
    for (int no_mmap = 0; no_mmap <= 1; no_mmap++) {
        bn_gguf_open_options opts = {.no_mmap = no_mmap};
        bn_gguf *g = NULL;
        bn_error err = {0};
        cr_assert_eq(bn_gguf_open_file(SPM_VOCAB, &opts, &g, &err), BN_STATUS_OK, "%s",
                     err.message);
        cr_assert_eq(bn_gguf_version(g), 3);
        cr_assert_eq(bn_gguf_file_size(g), 723869);
        cr_assert_eq(bn_gguf_tensor_count(g), 0);
        cr_assert_eq(bn_gguf_kv_count(g), 22);
        bn_gguf_string s;
        cr_assert_eq(bn_gguf_get_string(g, "general.architecture", &s, &err), BN_STATUS_OK);
        cr_assert(s.len == 5 && memcmp(s.data, "llama", 5) == 0);
        cr_assert_eq(bn_gguf_get_string(g, "tokenizer.ggml.model", &s, &err), BN_STATUS_OK);
        cr_assert(s.len == 5 && memcmp(s.data, "llama", 5) == 0);
        const char *arrays[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                "tokenizer.ggml.token_type"};
        const bn_gguf_value_type types[] = {BN_GGUF_STRING, BN_GGUF_FLOAT32, BN_GGUF_INT32};
        for (int i = 0; i < 3; i++) {
            bn_gguf_value_type t;
            uint64_t n;
            cr_assert_eq(bn_gguf_get_array(g, arrays[i], &t, &n, &err), BN_STATUS_OK, "%s",
                         arrays[i]);
            cr_assert_eq(n, 32000, "%s", arrays[i]);
            cr_assert_eq(t, types[i], "%s", arrays[i]);
        }
        cr_assert_eq(bn_gguf_array_string(g, "tokenizer.ggml.tokens", 1, &s, &err), BN_STATUS_OK);
        cr_assert(s.len == 3 && memcmp(s.data, "<s>", 3) == 0);
        cr_assert_eq(bn_gguf_array_string(g, "tokenizer.ggml.tokens", 31999, &s, &err),
                     BN_STATUS_OK);
        cr_assert_gt(s.len, 0);
        uint32_t id;
        cr_assert_eq(bn_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id, &err), BN_STATUS_OK);
        cr_assert_eq(id, 1);
        cr_assert_eq(bn_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id, &err), BN_STATUS_OK);
        cr_assert_eq(id, 2);
        cr_assert_eq(bn_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &id, &err),
                     BN_STATUS_OK);
        cr_assert_eq(id, 0);
        cr_assert_eq(bn_gguf_is_mmapped(g), !no_mmap);
        bn_gguf_close(g);
    }
}

Test(gguf, gives_format_errors_for_truncations_of_the_real_vocab_file)
{
    if (!have_shared(SPM_VOCAB))
        cr_skip_test("%s is absent (../shared not available)", SPM_VOCAB);
    size_t size;
    uint8_t *file = bn_test_read_file(SPM_VOCAB, &size);
    cr_assert_not_null(file);
    /* every offset in the header and first keys, then ~2000 spread over
     * the rest (a prime stride so that they land at varied positions) */
    size_t checked = 0;
    for (size_t n = 0; n < size; n += n < 4096 ? 1 : 353) {
        bn_gguf *g = NULL;
        bn_error err = {0};
        bn_status st = bn_gguf_open_memory(file, n, &g, &err);
        cr_assert_eq(st, BN_STATUS_FORMAT, "prefix %zu: %s", n, err.message);
        checked++;
    }
    bn_gguf *g = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_memory(file, size - 1, &g, &err), BN_STATUS_FORMAT);
    cr_assert_gt(checked, 5000);
    free(file);
}

Test(gguf, loads_the_four_tiny_bitnet_files)
{
    struct { const char *file; bn_tensor_type ternary; } files[] = {
        {TINY_DIR "/tiny-bitnet-I2_S.gguf", BN_TYPE_I2_S},
        {TINY_DIR "/tiny-bitnet-TQ1_0.gguf", BN_TYPE_TQ1_0},
        {TINY_DIR "/tiny-bitnet-TQ2_0.gguf", BN_TYPE_TQ2_0},
        {TINY_DIR "/tiny-bitnet-f32.gguf", BN_TYPE_F32},
    };
    if (!have_shared(files[0].file))
        cr_skip_test("%s is absent (../shared not available)", files[0].file);
    for (size_t f = 0; f < 4; f++) {
        bn_gguf *g = NULL;
        bn_error err = {0};
        cr_assert_eq(bn_gguf_open_file(files[f].file, NULL, &g, &err), BN_STATUS_OK, "%s",
                     err.message);
        cr_assert_eq(bn_gguf_tensor_count(g), 68, "%s", files[f].file);
        bn_gguf_string arch;
        cr_assert_eq(bn_gguf_get_string(g, "general.architecture", &arch, &err), BN_STATUS_OK);
        /* bitnet.cpp writes "bitnet-b1.58", llama.cpp "bitnet" */
        cr_assert(arch.len >= 6 && memcmp(arch.data, "bitnet", 6) == 0);
        size_t n_ternary = 0;
        for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
            const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
            bool is_proj = strstr(t->name, "attn_q.") || strstr(t->name, "attn_k.") ||
                           strstr(t->name, "attn_v.") || strstr(t->name, "attn_output.") ||
                           strstr(t->name, "ffn_gate.") || strstr(t->name, "ffn_up.") ||
                           strstr(t->name, "ffn_down.");
            if (!is_proj)
                continue;
            cr_assert_eq(t->type, files[f].ternary, "%s in %s", t->name, files[f].file);
            n_ternary++;
            int64_t n = t->ne[0] * t->ne[1];
            if (t->type == BN_TYPE_I2_S)
                cr_assert_eq(t->n_bytes, (uint64_t)n / 4 + 32, "%s", t->name);
            if (t->type == BN_TYPE_F32)
                cr_assert_eq(t->n_bytes, (uint64_t)n * 4, "%s", t->name);
        }
        cr_assert_eq(n_ternary, 42, "%s", files[f].file);
        const bn_gguf_tensor *q = bn_gguf_find_tensor(g, "blk.0.attn_q.weight");
        cr_assert(q && q->ne[0] == 256 && q->ne[1] == 256);
        bn_gguf_close(g);
    }
}

Test(gguf, survives_every_single_byte_corruption_of_a_small_file)
{
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    uint8_t *copy = malloc(size);
    const uint8_t values[] = {0x00, 0xFF, 0x80, 0x01, 0x7F};
    size_t opened = 0;
    for (size_t pos = 0; pos < size; pos++) {
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(copy, file, size);
            copy[pos] = values[v];
            bn_gguf *g = NULL;
            bn_error err = {0};
            bn_status st = bn_gguf_open_memory(copy, size, &g, &err);
            /* either it opens (the byte was data or a value) or it says why */
            cr_assert(st == BN_STATUS_OK || err.message[0] != '\0', "byte %zu = %u", pos,
                      values[v]);
            if (st == BN_STATUS_OK) {
                opened++;
                for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
                    const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
                    cr_assert(t->data >= copy && t->data + t->n_bytes <= copy + size);
                }
            }
            bn_gguf_close(g);
        }
    }
    cr_assert_gt(opened, 0);
    free(copy);
    free(file);
}

Test(gguf, gives_format_errors_for_truncations_of_a_tiny_bitnet_model)
{
    const char *path = TINY_DIR "/tiny-bitnet-I2_S.gguf";
    if (!have_shared(path))
        cr_skip_test("%s is absent (../shared not available)", path);
    size_t size;
    uint8_t *file = bn_test_read_file(path, &size);
    cr_assert_not_null(file);
    /* the metadata and tensor table densely, the data section sparsely */
    for (size_t n = 0; n < size; n += n < 60000 ? 37 : 4099) {
        bn_gguf *g = NULL;
        bn_error err = {0};
        cr_assert_eq(bn_gguf_open_memory(file, n, &g, &err), BN_STATUS_FORMAT, "prefix %zu: %s",
                     n, err.message);
    }
    free(file);
}

/* ---- bn_gguf_release ----------------------------------------------------- */

#include "loader/gguf_writer.h"

/* This process's resident set in bytes (Linux /proc), or 0 when unknown. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* A mapped file's tensor: released pages leave the process (the resident set
 * drops by about the tensor's size), and reading the tensor again gives the
 * same bytes, faulted in from the file. */
Test(gguf, release_drops_a_mapped_tensor_from_memory_and_keeps_its_bytes)
{
    const int64_t ne[2] = {1024, 1024}; /* 4 MiB of F32 */
    uint64_t n = (uint64_t)ne[0] * (uint64_t)ne[1];
    float *v = malloc(n * sizeof *v);
    for (uint64_t i = 0; i < n; i++)
        v[i] = (float)(i % 1000) * 0.5f;
    bn_gguf_writer *w = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_set_string(w, "general.architecture", "test", &err), BN_STATUS_OK);
    cr_assert_eq(bn_gguf_writer_add_tensor(w, "big", BN_TYPE_F32, 2, ne, v, n * 4, &err),
                 BN_STATUS_OK, "%s", err.message);
    char path[512];
    bn_test_out_path(path, sizeof path, "gguf", "release");
    cr_assert_eq(bn_gguf_writer_write_file(w, path, &err), BN_STATUS_OK, "%s", err.message);
    bn_gguf_writer_free(w);

    bn_gguf *g = NULL;
    cr_assert_eq(bn_gguf_open_file(path, NULL, &g, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert(bn_gguf_is_mmapped(g));
    const bn_gguf_tensor *t = bn_gguf_find_tensor(g, "big");
    cr_assert_not_null(t);
    cr_assert(memcmp(t->data, v, n * 4) == 0); /* every page resident now */
    uint64_t before = rss_bytes();
    bn_gguf_release(g, t);
    uint64_t after = rss_bytes();
    if (before > 0)
        cr_assert(after + n * 4 - 2 * 65536 <= before,
                  "resident set %llu -> %llu bytes after releasing %llu",
                  (unsigned long long)before, (unsigned long long)after,
                  (unsigned long long)(n * 4));
    cr_assert(memcmp(t->data, v, n * 4) == 0, "the bytes read back after a release");
    bn_gguf_release(g, t); /* twice is fine */
    bn_gguf_release(g, NULL);
    bn_gguf_release(NULL, t);
    /* The metadata too: getters fault their bytes back in. */
    bn_gguf_release_metadata(g);
    bn_gguf_release_metadata(NULL);
    bn_gguf_string arch;
    cr_assert_eq(bn_gguf_get_string(g, "general.architecture", &arch, &err), BN_STATUS_OK);
    cr_assert(arch.len == 4 && memcmp(arch.data, "test", 4) == 0);
    cr_assert_eq(bn_gguf_find_tensor(g, "big"), t);
    bn_gguf_close(g);

    /* Read into memory: a no-op (the copy is the only one). */
    bn_gguf_open_options o = {.no_mmap = true};
    cr_assert_eq(bn_gguf_open_file(path, &o, &g, &err), BN_STATUS_OK, "%s", err.message);
    t = bn_gguf_find_tensor(g, "big");
    bn_gguf_release(g, t);
    cr_assert(memcmp(t->data, v, n * 4) == 0);
    bn_gguf_close(g);
    unlink(path);
    free(v);
}
