/* safetensors.h: a validating reader for Hugging Face safetensors files.
 *
 * Owns the safetensors container: an 8-byte little-endian header length, a
 * JSON header mapping tensor names to {dtype, shape, data_offsets}, then the
 * data. bn_safetensors_open_file maps a file read-only (reading it into
 * memory when mmap is not possible) and checks everything before anyone reads
 * a byte: the header length against the file size, the JSON, every dtype
 * (unknown ones are refused by name), every shape (non-negative, at most
 * BN_ST_MAX_DIMS dims, element count times dtype size without overflow) and
 * every byte range (begin <= end <= data size, end - begin == the shape's
 * byte count). A file that passes cannot make a reader step outside it.
 *
 * A checkpoint folder is one model.safetensors or shards listed in
 * model.safetensors.index.json ("weight_map": name -> file); a
 * bn_safetensors_set opens either form and answers lookups across shards,
 * checking that every tensor the index names is in the shard it names.
 *
 * Knows nothing of models: name mapping and weight forms are the
 * converter's business. Objects are immutable after open, so concurrent
 * readers are safe; tensor views live until the object is closed.
 */
#ifndef BN_SAFETENSORS_H
#define BN_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

#define BN_ST_MAX_DIMS 8

typedef enum bn_st_dtype {
    BN_ST_BOOL,
    BN_ST_U8,
    BN_ST_I8,
    BN_ST_F8_E4M3,
    BN_ST_F8_E5M2,
    BN_ST_U16,
    BN_ST_I16,
    BN_ST_F16,
    BN_ST_BF16,
    BN_ST_U32,
    BN_ST_I32,
    BN_ST_F32,
    BN_ST_U64,
    BN_ST_I64,
    BN_ST_F64,
    BN_ST_DTYPE_COUNT
} bn_st_dtype;

typedef struct bn_st_tensor {
    const char *name;                /* NUL-terminated */
    bn_st_dtype dtype;
    uint32_t n_dims;                 /* 0 for a scalar */
    int64_t shape[BN_ST_MAX_DIMS];   /* slowest first, as in PyTorch; unused dims are 1 */
    uint64_t n_elements;             /* product of the shape (1 for a scalar) */
    const uint8_t *data;             /* into the file, little-endian, any alignment */
    uint64_t n_bytes;
} bn_st_tensor;

const char *bn_st_dtype_name(bn_st_dtype dtype);
size_t bn_st_dtype_size(bn_st_dtype dtype);

/* ---- one file ---- */
typedef struct bn_safetensors bn_safetensors;

bn_status bn_safetensors_open_file(const char *path, bn_safetensors **out, bn_error *err);
/* Parses bytes owned by the caller, which must outlive the object. `what`
 * names the bytes in messages (may be NULL). */
bn_status bn_safetensors_open_memory(const void *data, size_t size, const char *what,
                                     bn_safetensors **out, bn_error *err);
void bn_safetensors_close(bn_safetensors *st);

size_t bn_safetensors_count(const bn_safetensors *st);
const bn_st_tensor *bn_safetensors_at(const bn_safetensors *st, size_t index);
const bn_st_tensor *bn_safetensors_find(const bn_safetensors *st, const char *name);

/* ---- a checkpoint folder (one file or shards) ---- */
typedef struct bn_safetensors_set bn_safetensors_set;

/* Opens dir/model.safetensors.index.json and its shards when the index
 * exists, else dir/model.safetensors. Shard names must be plain file names
 * inside dir. */
bn_status bn_safetensors_set_open(const char *dir, bn_safetensors_set **out, bn_error *err);
void bn_safetensors_set_close(bn_safetensors_set *set);

size_t bn_safetensors_set_count(const bn_safetensors_set *set);
const bn_st_tensor *bn_safetensors_set_at(const bn_safetensors_set *set, size_t index);
const bn_st_tensor *bn_safetensors_set_find(const bn_safetensors_set *set, const char *name);
size_t bn_safetensors_set_shard_count(const bn_safetensors_set *set);

#endif /* BN_SAFETENSORS_H */
