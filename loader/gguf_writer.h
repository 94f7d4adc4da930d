/* gguf_writer.h: builds GGUF v3 files (little-endian, alignment 32 unless
 * general.alignment is set).
 *
 * Used by the converters, the quantizer, the tokenizer import, the benchmark
 * model generator and the tests. Metadata values and tensor names are copied;
 * tensor data is borrowed and must stay valid until the file is written.
 * Keys and tensors are written in the order they were added.
 */
#ifndef BN_GGUF_WRITER_H
#define BN_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/gguf.h"
#include "runtime/bitnet.h"

typedef struct bn_gguf_writer bn_gguf_writer;

bn_status bn_gguf_writer_new(bn_gguf_writer **out, bn_error *err);
void bn_gguf_writer_free(bn_gguf_writer *w);

bn_status bn_gguf_writer_set_u32(bn_gguf_writer *w, const char *key, uint32_t value, bn_error *err);
bn_status bn_gguf_writer_set_i32(bn_gguf_writer *w, const char *key, int32_t value, bn_error *err);
bn_status bn_gguf_writer_set_u64(bn_gguf_writer *w, const char *key, uint64_t value, bn_error *err);
bn_status bn_gguf_writer_set_f32(bn_gguf_writer *w, const char *key, float value, bn_error *err);
bn_status bn_gguf_writer_set_bool(bn_gguf_writer *w, const char *key, bool value, bn_error *err);
bn_status bn_gguf_writer_set_string(bn_gguf_writer *w, const char *key, const char *value,
                                    bn_error *err);
/* Numeric array: count elements of elem_type, packed little-endian. */
bn_status bn_gguf_writer_set_array(bn_gguf_writer *w, const char *key, bn_gguf_value_type elem_type,
                                   const void *elems, uint64_t count, bn_error *err);
/* String array: lens may be NULL (then each string is NUL-terminated). */
bn_status bn_gguf_writer_set_string_array(bn_gguf_writer *w, const char *key,
                                          const char *const *strings, const uint64_t *lens,
                                          uint64_t count, bn_error *err);

/* Adds a tensor; n_bytes must equal bn_tensor_type_nbytes for the shape. */
bn_status bn_gguf_writer_add_tensor(bn_gguf_writer *w, const char *name, bn_tensor_type type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    uint64_t n_bytes, bn_error *err);

bn_status bn_gguf_writer_write_file(const bn_gguf_writer *w, const char *path, bn_error *err);
/* *out is malloc'd; the caller frees it. */
bn_status bn_gguf_writer_write_memory(const bn_gguf_writer *w, uint8_t **out, size_t *out_size,
                                      bn_error *err);

#endif /* BN_GGUF_WRITER_H */
