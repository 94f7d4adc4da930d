/* fuzz_json.c: libFuzzer target for the JSON reader (loader/json.c): any
 * bytes must parse or fail with a status, never crash or read out of
 * bounds; a parsed tree is walked completely. */
#include <stddef.h>
#include <stdint.h>

#include "loader/json.h"

static void walk(const bn_json_value *v)
{
    const char *s;
    size_t n;
    double d;
    int64_t i;
    bool b;
    bn_json_as_string(v, &s, &n);
    bn_json_as_double(v, &d);
    bn_json_as_int64(v, &i);
    bn_json_as_bool(v, &b);
    for (size_t k = 0; k < bn_json_array_len(v); k++)
        walk(bn_json_array_at(v, k));
    for (size_t k = 0; k < bn_json_object_len(v); k++) {
        bn_json_object_get(v, bn_json_object_key_at(v, k, NULL));
        walk(bn_json_object_value_at(v, k));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    if (bn_json_parse((const char *)data, size, &doc, &err) == BN_STATUS_OK)
        walk(bn_json_root(doc));
    bn_json_free(doc);
    return 0;
}
