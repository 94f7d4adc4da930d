/* fuzz_json.c: libFuzzer target for the JSON reader (loader/json.c) and the
 * two Hugging Face files bitnet reads through it: config.json
 * (loader/hf_config.c, bitnet-convert) and a BPE tokenizer.json
 * (tokenizer/hf_import.c, bitnet-vocab-import and bitnet-convert).
 *
 * Any bytes must parse or fail with a status and a message, never crash or
 * read out of bounds; a parsed tree is walked completely. Every input also
 * goes through bn_hf_config_parse; one whose root object has a "model" key
 * is written to a scratch tokenizer.json and imported, and an import that
 * succeeds must give a GGUF whose tokenizer loads or is refused with a
 * status. Seeds: corpus/json/ (the tiny model's config.json, a fragment of
 * the Llama-3 tokenizer.json).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "loader/hf_config.h"
#include "loader/json.h"
#include "tests/fuzz/fuzz_import.h"

static volatile uint64_t bn_fuzz_sink;

static void walk(const bn_json_value *v)
{
    const char *s;
    size_t n;
    double d;
    int64_t i;
    bool b;
    if (bn_json_as_string(v, &s, &n) && n > 0)
        bn_fuzz_sink += (uint8_t)s[0] + (uint8_t)s[n - 1];
    if (bn_json_as_double(v, &d))
        bn_fuzz_sink += d == d;
    if (bn_json_as_int64(v, &i))
        bn_fuzz_sink += (uint64_t)i;
    if (bn_json_as_bool(v, &b))
        bn_fuzz_sink += b;
    for (size_t k = 0; k < bn_json_array_len(v); k++)
        walk(bn_json_array_at(v, k));
    for (size_t k = 0; k < bn_json_object_len(v); k++) {
        size_t key_len = 0;
        const char *key = bn_json_object_key_at(v, k, &key_len);
        if (!key)
            abort();
        bn_json_object_get(v, key);
        walk(bn_json_object_value_at(v, k));
    }
}

/* The vocab-import path: tokenizer.json -> GGUF metadata -> tokenizer. */
static void import_tokenizer(const uint8_t *data, size_t size)
{
    static const char text[] = "Hello world! <|begin_of_text|> \xe4\xb8\xad 12345\n";
    bn_fuzz_import_tokenizer("tokenizer.json", data, size, text, sizeof text - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_json_doc *doc = NULL;
    bn_error err = {0};
    if (bn_json_parse((const char *)data, size, &doc, &err) == BN_STATUS_OK) {
        const bn_json_value *root = bn_json_root(doc);
        walk(root);
        bool tokenizer_like = bn_json_object_get(root, "model") != NULL;
        bn_json_free(doc);
        if (tokenizer_like)
            import_tokenizer(data, size);
    } else if (doc != NULL || err.message[0] == '\0') {
        abort();
    }
    bn_hf_config cfg;
    bn_error cerr = {0};
    if (bn_hf_config_parse((const char *)data, size, &cfg, &cerr) == BN_STATUS_OK) {
        /* the documented checks of a parsed config */
        if (cfg.n_embd <= 0 || cfg.n_head <= 0 || cfg.n_head_kv <= 0 || cfg.n_layer <= 0 ||
            cfg.n_embd % cfg.n_head != 0 || cfg.n_head % cfg.n_head_kv != 0)
            abort();
    } else if (cerr.message[0] == '\0') {
        abort();
    }
    return 0;
}
