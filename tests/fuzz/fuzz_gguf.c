/* fuzz_gguf.c: libFuzzer target for the GGUF reader (loader/gguf.c).
 *
 * Each input is parsed in place with bn_gguf_open_memory; when it opens,
 * every key is read through every typed getter, every array element through
 * its accessor, and the first and last byte of every tensor are touched, so
 * AddressSanitizer catches any view that points outside the input. A
 * rejected input must leave a message. Built only with -DBN_FUZZ=ON and
 * clang (tests/fuzz/CMakeLists.txt); run with tests/fuzz/run-fuzz.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "loader/gguf.h"

/* Folds values into a sink so that the reads cannot be optimised away. */
static volatile uint64_t bn_fuzz_sink;

static void walk_array(const bn_gguf *g, const char *key)
{
    bn_error err = {0};
    bn_gguf_value_type t;
    uint64_t n;
    if (bn_gguf_get_array(g, key, &t, &n, &err) != BN_STATUS_OK)
        abort(); /* bn_gguf_kv_type said ARRAY */
    uint64_t shown = n < 4096 ? n : 4096;
    for (uint64_t i = 0; i < shown; i++) {
        bn_gguf_string s;
        float f;
        int64_t v;
        bn_error e = {0};
        if (bn_gguf_array_string(g, key, i, &s, &e) == BN_STATUS_OK && s.len > 0)
            bn_fuzz_sink += (uint8_t)s.data[0] + (uint8_t)s.data[s.len - 1];
        bn_error_clear(&e);
        if (bn_gguf_array_f32(g, key, i, &f, &e) == BN_STATUS_OK)
            bn_fuzz_sink += (uint64_t)(f == f);
        bn_error_clear(&e);
        if (bn_gguf_array_i64(g, key, i, &v, &e) == BN_STATUS_OK)
            bn_fuzz_sink += (uint64_t)v;
    }
    /* out-of-range index must be refused, not read */
    bn_gguf_string s;
    if (bn_gguf_array_string(g, key, n, &s, &err) == BN_STATUS_OK)
        abort();
    const uint8_t *raw = bn_gguf_array_raw(g, key);
    if (raw && n > 0)
        bn_fuzz_sink += raw[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_gguf *g = NULL;
    bn_error err = {0};
    if (bn_gguf_open_memory(data, size, &g, &err) != BN_STATUS_OK) {
        if (g != NULL || err.message[0] == '\0')
            abort();
        return 0;
    }
    for (size_t i = 0; i < bn_gguf_kv_count(g); i++) {
        const char *key = bn_gguf_kv_key(g, i);
        if (!key || bn_gguf_find_kv(g, key) != (int64_t)i)
            abort();
        bn_error e = {0};
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
        bool b;
        bn_gguf_string s;
        if (bn_gguf_get_u32(g, key, &u32, &e) == BN_STATUS_OK) bn_fuzz_sink += u32;
        bn_error_clear(&e);
        if (bn_gguf_get_i32(g, key, &i32, &e) == BN_STATUS_OK) bn_fuzz_sink += (uint64_t)i32;
        bn_error_clear(&e);
        if (bn_gguf_get_u64(g, key, &u64, &e) == BN_STATUS_OK) bn_fuzz_sink += u64;
        bn_error_clear(&e);
        if (bn_gguf_get_i64(g, key, &i64, &e) == BN_STATUS_OK) bn_fuzz_sink += (uint64_t)i64;
        bn_error_clear(&e);
        if (bn_gguf_get_f32(g, key, &f32, &e) == BN_STATUS_OK) bn_fuzz_sink += (f32 == f32);
        bn_error_clear(&e);
        if (bn_gguf_get_f64(g, key, &f64, &e) == BN_STATUS_OK) bn_fuzz_sink += (f64 == f64);
        bn_error_clear(&e);
        if (bn_gguf_get_bool(g, key, &b, &e) == BN_STATUS_OK) bn_fuzz_sink += b;
        bn_error_clear(&e);
        if (bn_gguf_get_string(g, key, &s, &e) == BN_STATUS_OK && s.len > 0)
            bn_fuzz_sink += (uint8_t)s.data[0] + (uint8_t)s.data[s.len - 1];
        if (bn_gguf_kv_type(g, i) == BN_GGUF_ARRAY)
            walk_array(g, key);
    }
    for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        if (bn_gguf_find_tensor(g, t->name) != t || t->n_bytes == 0)
            abort();
        bn_fuzz_sink += t->data[0] + t->data[t->n_bytes - 1];
    }
    bn_gguf_close(g);
    return 0;
}
