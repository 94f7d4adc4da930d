/* test_safetensors.c: the safetensors reader refuses every malformed header
 * with a message that names the problem, and reads good files exactly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/safetensors.h"

/* 8-byte length + header + data, in a malloc'd buffer. */
static uint8_t *build(const char *header, const void *data, size_t data_len, uint64_t len_field,
                      size_t *size) {
    size_t hl = strlen(header);
    *size = 8 + hl + data_len;
    uint8_t *b = malloc(*size);
    cr_assert(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(len_field >> (8 * i));
    memcpy(b + 8, header, hl);
    if (data_len)
        memcpy(b + 8 + hl, data, data_len);
    return b;
}

/* The bytes of the last successful open, freed by close_header. */
static uint8_t *open_bytes;

static bn_status open_header(const char *header, const void *data, size_t data_len,
                             bn_safetensors **st, bn_error *err) {
    size_t size;
    uint8_t *b = build(header, data, data_len, strlen(header), &size);
    bn_status s = bn_safetensors_open_memory(b, size, "test.safetensors", st, err);
    if (s != BN_STATUS_OK)
        free(b);
    else
        open_bytes = b;
    return s;
}

static void close_header(bn_safetensors *st) {
    bn_safetensors_close(st);
    free(open_bytes);
    open_bytes = NULL;
}

Test(safetensors, reads_tensors_dtypes_shapes_and_bytes) {
    float data[6] = {1, 2, 3, 4, 5, 6};
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[16,18]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[2,3],\"data_offsets\":[18,24]}}";
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(open_header(h, data, sizeof data, &st, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_safetensors_count(st), 3);
    const bn_st_tensor *a = bn_safetensors_find(st, "a");
    cr_assert(a);
    cr_assert_eq(a->dtype, BN_ST_F32);
    cr_assert_eq(a->n_dims, 2);
    cr_assert_eq(a->shape[0], 2);
    cr_assert_eq(a->n_elements, 4);
    cr_assert_eq(a->n_bytes, 16);
    float v;
    memcpy(&v, a->data + 12, 4);
    cr_assert_eq(v, 4.0f);
    const bn_st_tensor *b = bn_safetensors_find(st, "b");
    cr_assert_eq(b->n_dims, 0);
    cr_assert_eq(b->n_elements, 1);
    cr_assert_eq(bn_safetensors_find(st, "c")->n_elements, 6);
    cr_assert_null(bn_safetensors_find(st, "__metadata__"));
    cr_assert_null(bn_safetensors_find(st, "d"));
    cr_assert_str_eq(bn_st_dtype_name(BN_ST_BF16), "BF16");
    close_header(st);
}

Test(safetensors, refuses_a_header_length_past_the_end_of_the_file) {
    const char *h = "{}";
    size_t size;
    uint8_t *b = build(h, NULL, 0, 1000, &size);
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_safetensors_open_memory(b, size, "x", &st, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "bad safetensors header length 1000"), "%s", err.message);
    free(b);
    b = build(h, NULL, 0, UINT64_MAX, &size);
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_open_memory(b, size, "x", &st, &err), BN_STATUS_FORMAT);
    free(b);
    b = build(h, NULL, 0, 0, &size);
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_open_memory(b, size, "x", &st, &err), BN_STATUS_FORMAT);
    free(b);
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_open_memory("\x02\0\0", 3, "x", &st, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "too short"), "%s", err.message);
}

Test(safetensors, refuses_broken_json) {
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"F32\",", NULL, 0, &st, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "safetensors header"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(open_header("[1,2]", NULL, 0, &st, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "not an object"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":[]}", NULL, 0, &st, &err), BN_STATUS_FORMAT);
}

Test(safetensors, refuses_out_of_range_and_inconsistent_offsets) {
    uint8_t data[8] = {0};
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "outside the data section of 8 bytes"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,2]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "needs 16 bytes"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-1,3]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0]}}", data,
                             sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],"
                             "\"data_offsets\":[0,8]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT, "element count overflow");
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
}

Test(safetensors, refuses_unknown_dtypes_by_name) {
    uint8_t data[4] = {0};
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(open_header("{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,4]}}", data,
                             sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "unknown dtype \"Q4\""), "%s", err.message);
    cr_assert(strstr(err.message, "tensor w"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(open_header("{\"w\":{\"shape\":[4],\"data_offsets\":[0,4]}}", data, sizeof data,
                             &st, &err),
                 BN_STATUS_FORMAT);
}

Test(safetensors, refuses_duplicate_names) {
    uint8_t data[4] = {0};
    bn_safetensors *st = NULL;
    bn_error err = {0};
    cr_assert_eq(open_header("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                             "\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                             data, sizeof data, &st, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "twice"), "%s", err.message);
}

Test(safetensors, survives_every_truncation_of_a_valid_file) {
    float data[4] = {1, 2, 3, 4};
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    size_t size;
    uint8_t *b = build(h, data, sizeof data, strlen(h), &size);
    for (size_t cut = 0; cut < size; cut++) {
        bn_safetensors *st = NULL;
        bn_error err = {0};
        cr_assert_eq(bn_safetensors_open_memory(b, cut, "x", &st, &err), BN_STATUS_FORMAT,
                     "cut at %zu", cut);
        cr_assert(err.message[0]);
    }
    free(b);
}

/* A shard set from an index file in a temporary folder. */
static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void make_dir(char *dir, size_t size, const char *tag) {
    snprintf(dir, size, "%s/st_%s_%d", BN_BUILD_DIR, tag, (int)getpid());
    mkdir(dir, 0755);
}

Test(safetensors, opens_shards_through_the_index) {
    char dir[512], path[600];
    make_dir(dir, sizeof dir, "shards");
    float one = 1.0f, two = 2.0f;
    const char *h1 = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    const char *h2 = "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    size_t size;
    uint8_t *b = build(h1, &one, 4, strlen(h1), &size);
    snprintf(path, sizeof path, "%s/m-1.safetensors", dir);
    write_file(path, b, size);
    free(b);
    b = build(h2, &two, 4, strlen(h2), &size);
    snprintf(path, sizeof path, "%s/m-2.safetensors", dir);
    write_file(path, b, size);
    free(b);
    const char *index = "{\"metadata\":{},\"weight_map\":{\"x\":\"m-1.safetensors\","
                        "\"y\":\"m-2.safetensors\"}}";
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_file(path, index, strlen(index));
    bn_safetensors_set *set = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_safetensors_set_open(dir, &set, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_safetensors_set_shard_count(set), 2);
    cr_assert_eq(bn_safetensors_set_count(set), 2);
    float v;
    memcpy(&v, bn_safetensors_set_find(set, "y")->data, 4);
    cr_assert_eq(v, 2.0f);
    bn_safetensors_set_close(set);

    /* An index that names a tensor its shard does not hold. */
    const char *bad = "{\"weight_map\":{\"x\":\"m-2.safetensors\"}}";
    write_file(path, bad, strlen(bad));
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_set_open(dir, &set, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "does not hold"), "%s", err.message);
    /* An index that points outside the folder. */
    const char *escape = "{\"weight_map\":{\"x\":\"../m-1.safetensors\"}}";
    write_file(path, escape, strlen(escape));
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_set_open(dir, &set, &err), BN_STATUS_FORMAT);
    /* A missing shard. */
    const char *missing = "{\"weight_map\":{\"x\":\"m-9.safetensors\"}}";
    write_file(path, missing, strlen(missing));
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_set_open(dir, &set, &err), BN_STATUS_IO);
    cr_assert(strstr(err.message, "m-9.safetensors"), "%s", err.message);
    remove(path);
    bn_error_clear(&err);
    cr_assert_eq(bn_safetensors_set_open(dir, &set, &err), BN_STATUS_NOT_FOUND);
    snprintf(path, sizeof path, "%s/m-1.safetensors", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/m-2.safetensors", dir);
    remove(path);
    rmdir(dir);
}

Test(safetensors, survives_every_single_byte_corruption_of_a_valid_file) {
    uint16_t data[6] = {1, 2, 3, 4, 5, 6};
    const char *h = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
    size_t size;
    uint8_t *b = build(h, data, sizeof data, strlen(h), &size);
    static const uint8_t values[] = {0x00, 0x01, '"', '{', '}', '[', ']', ',', ':', '9', '-', 0x80, 0xff};
    int ok = 0;
    for (size_t pos = 0; pos < size; pos++) {
        uint8_t saved = b[pos];
        for (size_t v = 0; v < sizeof values; v++) {
            b[pos] = values[v];
            bn_safetensors *st = NULL;
            bn_error err = {0};
            bn_status s = bn_safetensors_open_memory(b, size, "x", &st, &err);
            cr_assert(s == BN_STATUS_OK || s == BN_STATUS_FORMAT, "byte %zu = 0x%02x: status %d",
                      pos, values[v], s);
            if (s == BN_STATUS_OK) {
                /* Whatever parsed must lie inside the buffer. */
                for (size_t i = 0; i < bn_safetensors_count(st); i++) {
                    const bn_st_tensor *t = bn_safetensors_at(st, i);
                    cr_assert(t->data >= b && t->data + t->n_bytes <= b + size);
                }
                ok++;
            } else {
                cr_assert(err.message[0]);
            }
            bn_safetensors_close(st);
        }
        b[pos] = saved;
    }
    cr_assert_gt(ok, 0, "some corruptions (data bytes) still parse");
    free(b);
}
