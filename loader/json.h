/* json.h: a small, strict JSON reader (RFC 8259).
 *
 * Owns: parsing JSON text into an immutable tree (objects, arrays, strings,
 * numbers, true/false/null) held in one arena, and typed access to it. Used
 * for Hugging Face files: tokenizer.json (9 MB), config.json,
 * tokenizer_config.json, model.safetensors.index.json and safetensors
 * headers. Does not write JSON.
 *
 * Strict: no comments, no trailing commas, no leading zeros, no NaN/Infinity,
 * no control characters inside strings, no unpaired UTF-16 surrogates, no
 * invalid UTF-8 in the input, nothing but whitespace after the top-level
 * value (a leading UTF-8 byte order mark is skipped, as RFC 8259 allows).
 * Nesting is limited to BN_JSON_MAX_DEPTH. Never reads outside
 * [text, text + len); errors carry the byte offset.
 *
 * Strings (values and keys) are decoded (escapes and \uXXXX surrogate pairs
 * turned into UTF-8), stored NUL-terminated, and reported with their length
 * because "\u0000" may put a NUL inside. Duplicate object keys are kept
 * (iteration sees every member in file order); lookups return the last, as
 * Python's json module and so transformers do.
 *
 * Lifetime: every pointer returned here lives until bn_json_free. A parsed
 * document is immutable, so concurrent readers are safe. Accessors accept
 * NULL values (they then report "not that type" / absent), so lookups can be
 * chained: bn_json_object_get(bn_json_object_get(root, "model"), "vocab").
 */
#ifndef BN_JSON_H
#define BN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

#define BN_JSON_MAX_DEPTH 256

typedef enum bn_json_type {
    BN_JSON_NULL = 0,
    BN_JSON_BOOL,
    BN_JSON_NUMBER,
    BN_JSON_STRING,
    BN_JSON_ARRAY,
    BN_JSON_OBJECT,
} bn_json_type;

typedef struct bn_json_doc bn_json_doc;
typedef struct bn_json_value bn_json_value;

/* Parses text[0..len) (need not be NUL-terminated). Malformed input:
 * BN_STATUS_FORMAT with "... at byte N". */
bn_status bn_json_parse(const char *text, size_t len, bn_json_doc **out, bn_error *err);
/* Reads the whole file and parses it (I/O errors: BN_STATUS_IO with the path). */
bn_status bn_json_parse_file(const char *path, bn_json_doc **out, bn_error *err);
void bn_json_free(bn_json_doc *doc);

const bn_json_value *bn_json_root(const bn_json_doc *doc);
bn_json_type bn_json_type_of(const bn_json_value *v); /* NULL -> BN_JSON_NULL */
const char *bn_json_type_name(bn_json_type type);     /* "object", "string", ... */
bool bn_json_is(const bn_json_value *v, bn_json_type type); /* false for NULL v */

/* ---- arrays ---- (0 / NULL when v is not an array or i is out of range) */
size_t bn_json_array_len(const bn_json_value *v);
const bn_json_value *bn_json_array_at(const bn_json_value *v, size_t i);

/* ---- objects ---- members keep their file order. */
size_t bn_json_object_len(const bn_json_value *v);
/* Key of member i (decoded, NUL-terminated); *key_len may be NULL. */
const char *bn_json_object_key_at(const bn_json_value *v, size_t i, size_t *key_len);
const bn_json_value *bn_json_object_value_at(const bn_json_value *v, size_t i);
/* Last member named key (linear scan; NULL if absent or v is not an object). */
const bn_json_value *bn_json_object_get(const bn_json_value *v, const char *key);

/* ---- scalars, plain ---- false when v is NULL or of another type. */
bool bn_json_as_string(const bn_json_value *v, const char **s, size_t *len); /* len may be NULL */
bool bn_json_as_double(const bn_json_value *v, double *out);
/* Integral numbers only: exact for integer literals in int64 range, and for
 * other forms ("1e3", "2.0") whose double value is integral and |x| <= 2^53. */
bool bn_json_as_int64(const bn_json_value *v, int64_t *out);
bool bn_json_as_bool(const bn_json_value *v, bool *out);

/* ---- scalars, with errors ---- `what` names the value in the message
 * (e.g. "config.json: hidden_size"). Wrong type or out of range:
 * BN_STATUS_FORMAT; v == NULL: BN_STATUS_NOT_FOUND. */
bn_status bn_json_get_string(const bn_json_value *v, const char *what, const char **s, size_t *len,
                             bn_error *err);
bn_status bn_json_get_double(const bn_json_value *v, const char *what, double *out, bn_error *err);
bn_status bn_json_get_int64(const bn_json_value *v, const char *what, int64_t *out, bn_error *err);
bn_status bn_json_get_bool(const bn_json_value *v, const char *what, bool *out, bn_error *err);

#endif /* BN_JSON_H */
