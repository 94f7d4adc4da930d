/* tensor_type.h: the tensor types bitnet knows, and their byte sizes.
 *
 * Owns the mapping from a file's ggml type id to a bn_tensor_type, and the
 * overflow-checked byte size of a tensor of a given shape. Knows nothing of
 * files or models beyond that.
 *
 * Type ids collide between the ggml forks (FORMATS.md 1.3): 36 is I2_S in
 * bitnet.cpp and ik_llama.cpp files and a removed type in mainline; 38/39 are
 * bitnet.cpp's TL1/TL2 (39 is MXFP4 in mainline). bn_tensor_type_from_ggml
 * takes the interpretation from the caller, who knows the architecture.
 *
 * Byte-size rules that are not "blocks x block bytes":
 *   I2_S   n/4 + 32: packed 2-bit data for the whole tensor, then a 32-byte
 *          tail whose first 4 bytes are the f32 tensor scale.
 *   IQ1_BN each row: f16 scale (2 B), then ne0/64 blocks of 13 B.
 *   IQ2_BN each row: f32 scale (4 B), then ne0/64 blocks of 16 B.
 *   IQ2_BN_R4 the bytes of IQ2_BN (same size), rows interleaved in groups
 *          of 4: the 4 f32 scales, then per 64-value block 64 bytes, 16 of
 *          each row (FORMATS.md 3.5; rows must be a multiple of 4, checked
 *          by the ternary codec). A row is not addressable on its own.
 */
#ifndef BN_TENSOR_TYPE_H
#define BN_TENSOR_TYPE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/bitnet.h"

typedef enum bn_tensor_type {
    BN_TYPE_F32 = 0,
    BN_TYPE_F16,
    BN_TYPE_BF16,
    BN_TYPE_Q8_0,
    BN_TYPE_Q6_K,
    BN_TYPE_TQ1_0,
    BN_TYPE_TQ2_0,
    BN_TYPE_I2_S,
    BN_TYPE_IQ1_BN,
    BN_TYPE_IQ2_BN,
    BN_TYPE_IQ2_BN_R4,
    BN_TYPE_COUNT
} bn_tensor_type;

/* ggml type ids as they appear in files. */
enum {
    BN_GGML_ID_F32 = 0,
    BN_GGML_ID_F16 = 1,
    BN_GGML_ID_Q8_0 = 8,
    BN_GGML_ID_Q6_K = 14,
    BN_GGML_ID_BF16 = 30,
    BN_GGML_ID_TQ1_0 = 34,
    BN_GGML_ID_TQ2_0 = 35,
    BN_GGML_ID_I2_S = 36,
    BN_GGML_ID_I8_S = 37,
    BN_GGML_ID_TL1 = 38,
    BN_GGML_ID_TL2 = 39,
    BN_GGML_ID_IQ1_BN = 134,
    BN_GGML_ID_IQ2_BN = 135,
    BN_GGML_ID_IQ2_BN_R4 = 335,
};

typedef struct bn_tensor_type_traits {
    const char *name;          /* "TQ2_0" */
    uint32_t ggml_id;          /* id written to files */
    uint32_t block_size;       /* values per block; ne0 must be a multiple */
    uint32_t block_bytes;      /* bytes per block */
    uint32_t row_meta_bytes;   /* bytes before each row's blocks (IQ*_BN scale) */
    bool is_ternary;           /* holds only {-1, 0, +1} times scales */
} bn_tensor_type_traits;

const bn_tensor_type_traits *bn_tensor_type_traits_of(bn_tensor_type type);
const char *bn_tensor_type_name(bn_tensor_type type);

/* Interprets a file's type id. id_36_is_i2s: the file comes from the BitNet
 * family (bitnet.cpp / ik_llama.cpp), where 36 is I2_S. TL1/TL2 and other
 * known-but-unsupported ids give BN_STATUS_UNSUPPORTED with a message that
 * says what to do; an id nobody defines gives BN_STATUS_FORMAT. */
bn_status bn_tensor_type_from_ggml(uint32_t ggml_id, bool id_36_is_i2s, bn_tensor_type *out,
                                   bn_error *err);

/* Byte size of a tensor of this type and shape (ne[0] fastest). Checks
 * ne[0] % block_size, every ne >= 1, and 64-bit overflow. */
bn_status bn_tensor_type_nbytes(bn_tensor_type type, const int64_t ne[4], uint64_t *out_bytes,
                                bn_error *err);

/* Bytes of one row of ne0 values (not defined for I2_S, whose packing runs
 * across rows, nor for IQ2_BN_R4, whose rows interleave; returns 0 there). */
uint64_t bn_tensor_type_row_bytes(bn_tensor_type type, int64_t ne0);

#endif /* BN_TENSOR_TYPE_H */
