/* tensor_type.c: the tensor-type table and overflow-checked tensor sizes.
 *
 * Owns: one row per type bitnet can hold in memory (block size, block bytes,
 * per-row metadata bytes), the interpretation of a file's ggml type id, and
 * the byte size of a tensor of a given shape. Adding a type = adding a row
 * here plus its id in bn_tensor_type_from_ggml.
 *
 * Deliberately not here: which types a kernel can multiply (kernels/) and
 * which tensors a model needs (runtime/). Ids that other ggml forks define
 * but we do not run are recognised by name so the message can say what the
 * file is, instead of "unknown id".
 */
#include "loader/tensor_type.h"

#include <stddef.h>

#include "runtime/error.h"

/* I2_S: whole-tensor packing of 128-value blocks into 32 bytes (FORMATS.md
 * 3.1) plus a 32-byte tail per tensor; the tail is added in nbytes, not here.
 * IQ1_BN/IQ2_BN: a scale at the start of every row, before its blocks. */
static const bn_tensor_type_traits bn_type_table[BN_TYPE_COUNT] = {
    [BN_TYPE_F32] = {"F32", BN_GGML_ID_F32, 1, 4, 0, false},
    [BN_TYPE_F16] = {"F16", BN_GGML_ID_F16, 1, 2, 0, false},
    [BN_TYPE_BF16] = {"BF16", BN_GGML_ID_BF16, 1, 2, 0, false},
    [BN_TYPE_Q8_0] = {"Q8_0", BN_GGML_ID_Q8_0, 32, 34, 0, false},
    [BN_TYPE_Q6_K] = {"Q6_K", BN_GGML_ID_Q6_K, 256, 210, 0, false},
    [BN_TYPE_TQ1_0] = {"TQ1_0", BN_GGML_ID_TQ1_0, 256, 54, 0, true},
    [BN_TYPE_TQ2_0] = {"TQ2_0", BN_GGML_ID_TQ2_0, 256, 66, 0, true},
    [BN_TYPE_I2_S] = {"I2_S", BN_GGML_ID_I2_S, 128, 32, 0, true},
    [BN_TYPE_IQ1_BN] = {"IQ1_BN", BN_GGML_ID_IQ1_BN, 64, 13, 2, true},
    [BN_TYPE_IQ2_BN] = {"IQ2_BN", BN_GGML_ID_IQ2_BN, 64, 16, 4, true},
    /* 4 rows interleaved: per group of 4 rows the same bytes as IQ2_BN. */
    [BN_TYPE_IQ2_BN_R4] = {"IQ2_BN_R4", BN_GGML_ID_IQ2_BN_R4, 64, 16, 4, true},
};

/* Bytes of the I2_S tail that follows the packed codes (scale + padding). */
#define BN_I2S_TAIL_BYTES 32u

const bn_tensor_type_traits *bn_tensor_type_traits_of(bn_tensor_type type)
{
    if ((unsigned)type >= BN_TYPE_COUNT)
        return NULL;
    return &bn_type_table[type];
}

const char *bn_tensor_type_name(bn_tensor_type type)
{
    const bn_tensor_type_traits *t = bn_tensor_type_traits_of(type);
    return t ? t->name : "invalid";
}

/* Names of ggml ids that some fork defines but bitnet does not run, so that
 * a refusal names the type. Index = mainline ggml id (0..39); NULL = an id
 * mainline has removed or never used. */
static const char *const bn_mainline_names[40] = {
    [2] = "Q4_0",     [3] = "Q4_1",      [6] = "Q5_0",      [7] = "Q5_1",
    [9] = "Q8_1",     [10] = "Q2_K",     [11] = "Q3_K",     [12] = "Q4_K",
    [13] = "Q5_K",    [15] = "Q8_K",     [16] = "IQ2_XXS",  [17] = "IQ2_XS",
    [18] = "IQ3_XXS", [19] = "IQ1_S",    [20] = "IQ4_NL",   [21] = "IQ3_S",
    [22] = "IQ2_S",   [23] = "IQ4_XS",   [24] = "I8",       [25] = "I16",
    [26] = "I32",     [27] = "I64",      [28] = "F64",      [29] = "IQ1_M",
    [31] = "Q4_0_4_4", [32] = "Q4_0_4_8", [33] = "Q4_0_8_8", [36] = "IQ4_NL_4_4",
    [37] = "IQ4_NL_4_8", [38] = "IQ4_NL_8_8", [39] = "MXFP4",
};

static bn_status bn_refuse_tl(uint32_t ggml_id, bn_error *err)
{
    const char *name = ggml_id == BN_GGML_ID_TL1 ? "TL1" : "TL2";
    return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                        "bitnet.cpp's %s layout (type %u) is generated per model shape and is not "
                        "portable; convert the model to I2_S instead (bitnet-convert from the "
                        "original checkpoint, or bitnet.cpp's convert + llama-quantize ... I2_S)",
                        name, (unsigned)ggml_id);
}

bn_status bn_tensor_type_from_ggml(uint32_t ggml_id, bool id_36_is_i2s, bn_tensor_type *out,
                                   bn_error *err)
{
    switch (ggml_id) {
    case BN_GGML_ID_F32: *out = BN_TYPE_F32; return BN_STATUS_OK;
    case BN_GGML_ID_F16: *out = BN_TYPE_F16; return BN_STATUS_OK;
    case BN_GGML_ID_BF16: *out = BN_TYPE_BF16; return BN_STATUS_OK;
    case BN_GGML_ID_Q8_0: *out = BN_TYPE_Q8_0; return BN_STATUS_OK;
    case BN_GGML_ID_Q6_K: *out = BN_TYPE_Q6_K; return BN_STATUS_OK;
    case BN_GGML_ID_TQ1_0: *out = BN_TYPE_TQ1_0; return BN_STATUS_OK;
    case BN_GGML_ID_TQ2_0: *out = BN_TYPE_TQ2_0; return BN_STATUS_OK;
    case BN_GGML_ID_IQ1_BN: *out = BN_TYPE_IQ1_BN; return BN_STATUS_OK;
    case BN_GGML_ID_IQ2_BN: *out = BN_TYPE_IQ2_BN; return BN_STATUS_OK;
    case BN_GGML_ID_IQ2_BN_R4: *out = BN_TYPE_IQ2_BN_R4; return BN_STATUS_OK;
    case BN_GGML_ID_I2_S:
        if (id_36_is_i2s) {
            *out = BN_TYPE_I2_S;
            return BN_STATUS_OK;
        }
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "type id 36 means I2_S only in BitNet-family files (bitnet.cpp, "
                            "ik_llama.cpp); in mainline ggml it is the removed IQ4_NL_4_4, which "
                            "bitnet does not support");
    case BN_GGML_ID_I8_S:
        if (id_36_is_i2s)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "type I8_S (37) is bitnet.cpp's internal activation type and "
                                "never belongs in a file");
        break;
    case BN_GGML_ID_TL1:
        return bn_refuse_tl(ggml_id, err);
    case BN_GGML_ID_TL2:
        if (id_36_is_i2s)
            return bn_refuse_tl(ggml_id, err);
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "type 39 (MXFP4 in mainline ggml, TL2 in bitnet.cpp) is not supported "
                            "by bitnet; for a TL2 file, convert the model to I2_S instead "
                            "(bitnet-convert, or bitnet.cpp's llama-quantize ... I2_S)");
    default:
        break;
    }

    if (ggml_id < 40 && bn_mainline_names[ggml_id])
        return bn_error_set(err, BN_STATUS_UNSUPPORTED, "type %s (%u) is not supported by bitnet",
                            bn_mainline_names[ggml_id], (unsigned)ggml_id);
    if (ggml_id == 136)
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "type Q8_K64 (136) is ik_llama.cpp's activation type and is not "
                            "supported by bitnet");
    /* ik_llama.cpp's own quant families (IQ*_K, *_KT, ...) live at 133..160
     * and its row-interleaved repacks (*_R4, *_R8, *_R16) at 200..399. */
    if ((ggml_id >= 133 && ggml_id <= 160) || (ggml_id >= 200 && ggml_id < 400))
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "type %u is an ik_llama.cpp type that bitnet does not support",
                            (unsigned)ggml_id);
    return bn_error_set(err, BN_STATUS_FORMAT, "unknown tensor type id %u", (unsigned)ggml_id);
}

bn_status bn_tensor_type_nbytes(bn_tensor_type type, const int64_t ne[4], uint64_t *out_bytes,
                                bn_error *err)
{
    const bn_tensor_type_traits *t = bn_tensor_type_traits_of(type);
    if (!t)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "invalid tensor type %d", (int)type);

    /* Every dim >= 1 and their product within int64 (ggml's limit). */
    uint64_t n_rows = 1; /* ne[1] * ne[2] * ne[3] */
    for (int i = 0; i < 4; i++) {
        if (ne[i] < 1)
            return bn_error_set(err, BN_STATUS_FORMAT, "dimension %d is %lld, must be >= 1", i,
                                (long long)ne[i]);
    }
    for (int i = 1; i < 4; i++) {
        if (n_rows > (uint64_t)INT64_MAX / (uint64_t)ne[i])
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "element count of shape [%lld, %lld, %lld, %lld] overflows int64",
                                (long long)ne[0], (long long)ne[1], (long long)ne[2],
                                (long long)ne[3]);
        n_rows *= (uint64_t)ne[i];
    }
    uint64_t ne0 = (uint64_t)ne[0];
    if (n_rows > (uint64_t)INT64_MAX / ne0)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "element count of shape [%lld, %lld, %lld, %lld] overflows int64",
                            (long long)ne[0], (long long)ne[1], (long long)ne[2],
                            (long long)ne[3]);
    if (ne0 % t->block_size != 0)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "row length ne[0] = %llu is not a multiple of %s's block size %u",
                            (unsigned long long)ne0, t->name, (unsigned)t->block_size);

    uint64_t n = n_rows * ne0;
    if (type == BN_TYPE_I2_S) {
        /* n/4 bytes of 2-bit codes then the 32-byte scale tail (FORMATS.md 1.2).
         * n < 2^63, so n/4 + 32 cannot overflow. */
        *out_bytes = n / 4 + BN_I2S_TAIL_BYTES;
        return BN_STATUS_OK;
    }
    /* Guard both multiplies: blocks * block_bytes (an F32 row of 2^62
     * values is 2^64 bytes) and row_bytes * n_rows. */
    uint64_t n_blocks = ne0 / t->block_size;
    if (n_blocks > (UINT64_MAX - t->row_meta_bytes) / t->block_bytes)
        return bn_error_set(err, BN_STATUS_FORMAT, "byte size of a %s row of %llu values "
                            "overflows 64 bits", t->name, (unsigned long long)ne0);
    uint64_t row_bytes = t->row_meta_bytes + n_blocks * t->block_bytes;
    if (n_rows > UINT64_MAX / row_bytes)
        return bn_error_set(err, BN_STATUS_FORMAT, "byte size of %s tensor with %llu rows of %llu "
                            "bytes overflows 64 bits", t->name, (unsigned long long)n_rows,
                            (unsigned long long)row_bytes);
    *out_bytes = row_bytes * n_rows;
    return BN_STATUS_OK;
}

uint64_t bn_tensor_type_row_bytes(bn_tensor_type type, int64_t ne0)
{
    const bn_tensor_type_traits *t = bn_tensor_type_traits_of(type);
    if (!t || type == BN_TYPE_I2_S || type == BN_TYPE_IQ2_BN_R4 || ne0 < 1)
        return 0;
    return t->row_meta_bytes + ((uint64_t)ne0 / t->block_size) * t->block_bytes;
}
