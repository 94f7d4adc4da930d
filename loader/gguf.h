/* gguf.h: a validating GGUF v2/v3 reader.
 *
 * Owns: the container. bn_gguf_open_file maps the file read-only (falling
 * back to reading it into memory when mmap is not possible), validates every
 * byte of the header, metadata and tensor table before anything else reads
 * them (FORMATS.md 1.4), and then answers metadata lookups and tensor views.
 * Knows nothing of transformers: architecture checks live in runtime/.
 *
 * Lifetime: strings and tensor data returned here point into the mapping and
 * live until bn_gguf_close. A bn_gguf is immutable after open, so concurrent
 * readers are safe.
 */
#ifndef BN_GGUF_H
#define BN_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/tensor_type.h"
#include "runtime/bitnet.h"

typedef enum bn_gguf_value_type {
    BN_GGUF_UINT8 = 0,
    BN_GGUF_INT8 = 1,
    BN_GGUF_UINT16 = 2,
    BN_GGUF_INT16 = 3,
    BN_GGUF_UINT32 = 4,
    BN_GGUF_INT32 = 5,
    BN_GGUF_FLOAT32 = 6,
    BN_GGUF_BOOL = 7,
    BN_GGUF_STRING = 8,
    BN_GGUF_ARRAY = 9,
    BN_GGUF_UINT64 = 10,
    BN_GGUF_INT64 = 11,
    BN_GGUF_FLOAT64 = 12,
    BN_GGUF_VALUE_TYPE_COUNT
} bn_gguf_value_type;

#define BN_GGUF_DEFAULT_ALIGNMENT 32
#define BN_GGUF_MAX_DIMS 4

typedef struct bn_gguf bn_gguf;

/* A string inside the file: not NUL-terminated. */
typedef struct bn_gguf_string {
    const char *data;
    uint64_t len;
} bn_gguf_string;

typedef struct bn_gguf_tensor {
    const char *name;          /* NUL-terminated */
    uint32_t ggml_id;          /* type id as stored in the file */
    bn_tensor_type type;       /* its interpretation */
    uint32_t n_dims;
    int64_t ne[BN_GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
    uint64_t offset;           /* from the start of the data section */
    uint64_t n_bytes;
    const uint8_t *data;       /* into the mapping */
} bn_gguf_tensor;

typedef struct bn_gguf_open_options {
    bool no_mmap;              /* read into memory instead of mapping */
} bn_gguf_open_options;

/* options may be NULL. */
bn_status bn_gguf_open_file(const char *path, const bn_gguf_open_options *options, bn_gguf **out,
                            bn_error *err);
/* Parses bytes owned by the caller, which must outlive the bn_gguf. */
bn_status bn_gguf_open_memory(const void *data, size_t size, bn_gguf **out, bn_error *err);
void bn_gguf_close(bn_gguf *gguf);

uint32_t bn_gguf_version(const bn_gguf *gguf);
uint64_t bn_gguf_file_size(const bn_gguf *gguf);
uint64_t bn_gguf_alignment(const bn_gguf *gguf);
uint64_t bn_gguf_data_offset(const bn_gguf *gguf); /* start of the data section */
bool bn_gguf_is_mmapped(const bn_gguf *gguf);

/* ---- metadata ---- */
size_t bn_gguf_kv_count(const bn_gguf *gguf);
const char *bn_gguf_kv_key(const bn_gguf *gguf, size_t index);             /* NUL-terminated */
bn_gguf_value_type bn_gguf_kv_type(const bn_gguf *gguf, size_t index);
int64_t bn_gguf_find_kv(const bn_gguf *gguf, const char *key);             /* -1 if absent */

/* Typed getters by key. Missing key: BN_STATUS_NOT_FOUND. Wrong type or a
 * value that does not fit: BN_STATUS_FORMAT, with the key in the message.
 * Integer getters accept every integer width real files use (u8..u64,
 * i8..i64) when the value fits; the float getter accepts f32 and f64. */
bn_status bn_gguf_get_u32(const bn_gguf *gguf, const char *key, uint32_t *out, bn_error *err);
bn_status bn_gguf_get_i32(const bn_gguf *gguf, const char *key, int32_t *out, bn_error *err);
bn_status bn_gguf_get_u64(const bn_gguf *gguf, const char *key, uint64_t *out, bn_error *err);
bn_status bn_gguf_get_i64(const bn_gguf *gguf, const char *key, int64_t *out, bn_error *err);
bn_status bn_gguf_get_f32(const bn_gguf *gguf, const char *key, float *out, bn_error *err);
bn_status bn_gguf_get_f64(const bn_gguf *gguf, const char *key, double *out, bn_error *err);
bn_status bn_gguf_get_bool(const bn_gguf *gguf, const char *key, bool *out, bn_error *err);
bn_status bn_gguf_get_string(const bn_gguf *gguf, const char *key, bn_gguf_string *out,
                             bn_error *err);

/* Arrays. bn_gguf_get_array gives the element type and count;
 * elements are read one at a time with the accessors below (index checked;
 * a wrong element type is BN_STATUS_FORMAT). String elements are found in
 * O(1): their offsets are indexed at open. */
bn_status bn_gguf_get_array(const bn_gguf *gguf, const char *key, bn_gguf_value_type *elem_type,
                            uint64_t *count, bn_error *err);
bn_status bn_gguf_array_string(const bn_gguf *gguf, const char *key, uint64_t i,
                               bn_gguf_string *out, bn_error *err);
bn_status bn_gguf_array_f32(const bn_gguf *gguf, const char *key, uint64_t i, float *out,
                            bn_error *err);
bn_status bn_gguf_array_i64(const bn_gguf *gguf, const char *key, uint64_t i, int64_t *out,
                            bn_error *err); /* any integer element type */
/* Raw little-endian element bytes of a numeric array (not for strings),
 * possibly unaligned: read with memcpy. */
const void *bn_gguf_array_raw(const bn_gguf *gguf, const char *key);

/* ---- tensors ---- */
size_t bn_gguf_tensor_count(const bn_gguf *gguf);
const bn_gguf_tensor *bn_gguf_tensor_at(const bn_gguf *gguf, size_t index);
const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *gguf, const char *name); /* NULL if absent */

/* A hint that the caller is done with this tensor's bytes (it copied them,
 * e.g. repacked a weight matrix): when the file is mapped, the whole pages
 * inside the tensor's range leave this process's memory (madvise
 * MADV_DONTNEED on the read-only private mapping). Nothing is lost: a later
 * read faults the same bytes in again from the file, so the bn_gguf stays
 * logically immutable and other threads may read any tensor meanwhile.
 * Pages shared with a neighbouring tensor are kept. No-op when the file was
 * read into memory, for NULL arguments, or where madvise is missing. */
void bn_gguf_release(const bn_gguf *gguf, const bn_gguf_tensor *tensor);

/* The same hint for the header, metadata and tensor table (the bytes before
 * the data section), for a caller that has copied what it needs from them
 * (the runtime, after loading the tokenizer): a file's vocabulary is several
 * MiB. Getters still work afterwards (they fault the bytes back in). */
void bn_gguf_release_metadata(const bn_gguf *gguf);

#endif /* BN_GGUF_H */
