/* gguf_bytes.h: GGUF files for tests, valid and deliberately broken.
 *
 * Two levels. bn_bytes is a raw little-endian byte builder that writes
 * whatever it is told (wrong counts, bad type tags, lengths that run past
 * the end), for the loader's rejection tests. bn_test_gguf_* build valid
 * files through bn_gguf_writer, for round trips and truncation sweeps.
 *
 * Test support only: running out of memory aborts the test process.
 */
#ifndef BN_TEST_GGUF_BYTES_H
#define BN_TEST_GGUF_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "loader/gguf.h"

typedef struct bn_bytes {
    uint8_t *data;  /* (len) */
    size_t len, cap;
} bn_bytes;

void bn_bytes_free(bn_bytes *b);
void bn_bytes_raw(bn_bytes *b, const void *src, size_t n);
void bn_bytes_u8(bn_bytes *b, uint8_t v);
void bn_bytes_u16(bn_bytes *b, uint16_t v);
void bn_bytes_u32(bn_bytes *b, uint32_t v);
void bn_bytes_u64(bn_bytes *b, uint64_t v);
void bn_bytes_f32(bn_bytes *b, float v);
void bn_bytes_f64(bn_bytes *b, double v);
/* u64 length + bytes (no NUL). */
void bn_bytes_str(bn_bytes *b, const char *s);
/* Zero bytes up to the next multiple of alignment. */
void bn_bytes_pad(bn_bytes *b, size_t alignment);
/* n zero bytes (tensor data whose values do not matter). */
void bn_bytes_zeros(bn_bytes *b, size_t n);
/* n bytes counting up from 0 (wrapping at 256), so a tensor's first byte
 * tells where its data starts. */
void bn_bytes_ramp(bn_bytes *b, size_t n);
/* Overwrites 4 / 8 bytes at pos (for patching a count after the fact). */
void bn_bytes_put_u32_at(bn_bytes *b, size_t pos, uint32_t v);
void bn_bytes_put_u64_at(bn_bytes *b, size_t pos, uint64_t v);

/* "GGUF", version, tensor_count, kv_count. */
void bn_bytes_header(bn_bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kvs);
/* key + type tag (value to follow). */
void bn_bytes_key(bn_bytes *b, const char *key, bn_gguf_value_type type);
void bn_bytes_kv_u32(bn_bytes *b, const char *key, uint32_t v);
void bn_bytes_kv_str(bn_bytes *b, const char *key, const char *v);
/* name, n_dims, ne[0..n_dims), ggml type id, offset. */
void bn_bytes_tensor_info(bn_bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                          uint32_t ggml_id, uint64_t offset);

/* A small valid v3 file: one key of every scalar type, a numeric array of
 * every numeric element type, a string array, general.architecture
 * "bitnet", and three tensors (TQ2_0 [256, 1] "t.tq2", I2_S [128, 2] "t.i2s", F32
 * [64, 2] "t.f32")
 * whose last one ends exactly at the end of the file (so every shorter
 * prefix is truncated). Returns a malloc'd buffer. */
uint8_t *bn_test_gguf_small(size_t *size);

/* A vocab-only file (no tensors, ends right after the metadata). */
uint8_t *bn_test_gguf_vocab_only(size_t *size);

/* Reads a whole file; NULL if it cannot be read. */
uint8_t *bn_test_read_file(const char *path, size_t *size);

#endif /* BN_TEST_GGUF_BYTES_H */
