/* quant_pack.c: the public packing of ternary codes (runtime/bitnet_quant.h)
 * to and from the GGUF byte layouts.
 *
 * A thin layer over loader/ternary_codec.c (the bit-exact layouts) and
 * bn_quantize_target_scales (how bitnet-quantize carries scales to what a
 * type stores), so that packing here writes the bytes bitnet-quantize
 * writes. It translates the API's group sizes (0, K, 256) to the codec's
 * scale kinds and back, and checks shapes before the codec sees them.
 */
#include "runtime/bitnet_quant.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "loader/quantize.h"
#include "loader/tensor_type.h"
#include "loader/ternary_codec.h"
#include "runtime/error.h"

static bn_status check_type(bn_qtype type, bn_error *err) {
    if ((int)type < 0 || type >= BN_QTYPE_COUNT)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "pack: unknown type %d", (int)type);
    bn_tensor_type t = (bn_tensor_type)type;
    if (!bn_tensor_type_traits_of(t)->is_ternary && t != BN_TYPE_F32 && t != BN_TYPE_F16 &&
        t != BN_TYPE_BF16)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "pack: %s does not hold ternary codes (choose I2_S, TQ2_0, TQ1_0, "
                            "IQ2_BN, IQ1_BN, F32, F16 or BF16)",
                            bn_tensor_type_name(t));
    return BN_STATUS_OK;
}

bn_status bn_quant_packed_bytes(bn_qtype type, int64_t rows, int64_t K, uint64_t *n_bytes,
                                bn_error *err) {
    bn_status s = check_type(type, err);
    if (s)
        return s;
    if (rows < 1 || K < 1 || rows > INT64_MAX / 8 / K)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "pack: shape (%" PRId64 ", %" PRId64 ") is empty or too large", rows,
                            K);
    uint64_t b = bn_ternary_encoded_bytes((bn_tensor_type)type, K, rows);
    if (b == 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "pack: shape (%" PRId64 ", %" PRId64 ") does not fit %s (%s)", rows,
                            K, bn_qtype_name(type),
                            type == BN_QTYPE_I2_S ? "rows*K must be a multiple of 128"
                            : type == BN_QTYPE_TQ1_0 || type == BN_QTYPE_TQ2_0
                                ? "K must be a multiple of 256"
                                : "K must be a multiple of 64");
    *n_bytes = b;
    return BN_STATUS_OK;
}

bn_status bn_quant_pack(bn_qtype type, const int8_t *codes, const float *scales, int64_t rows,
                        int64_t K, int64_t group_size, void *out, uint64_t out_bytes,
                        bn_error *err) {
    uint64_t need;
    bn_status s = bn_quant_packed_bytes(type, rows, K, &need, err);
    if (s)
        return s;
    if (!codes || !scales || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "pack: NULL array");
    if (out_bytes < need)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "pack: %s of (%" PRId64 ", %" PRId64 ") needs %" PRIu64
                            " bytes, the buffer has %" PRIu64,
                            bn_qtype_name(type), rows, K, need, out_bytes);
    bn_ternary_scale_kind kind;
    if (group_size == 0)
        kind = BN_TERNARY_SCALE_TENSOR;
    else if (group_size == K)
        kind = BN_TERNARY_SCALE_ROW;
    else if (group_size == 256 && K % 256 == 0)
        kind = BN_TERNARY_SCALE_BLOCK256;
    else
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "pack: group size %" PRId64 " (K = %" PRId64
                            "): the layouts store a scale per tensor, per row or per 256 "
                            "values; quantize with group size 0, K or 256",
                            group_size, K);
    for (int64_t i = 0; i < rows * K; i++)
        if (codes[i] < -1 || codes[i] > 1)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "pack: codes[%" PRId64 ", %" PRId64
                                "] = %d: ternary codes are -1, 0 or 1",
                                i / K, i % K, codes[i]);
    /* The target's scales: at most one per row or per 256 values. */
    size_t nt = (size_t)rows > (size_t)(rows * K / 256) ? (size_t)rows : (size_t)(rows * K / 256);
    float *tscales = malloc((nt + 1) * sizeof(float));
    if (!tscales)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "pack: %zu scales", nt);
    bn_ternary_scale_kind tkind;
    bn_quantize_target_scales((bn_tensor_type)type, codes, scales, kind, K, rows, tscales, &tkind);
    s = bn_ternary_encode((bn_tensor_type)type, codes, tscales, tkind, K, rows, out, out_bytes,
                          err);
    free(tscales);
    return s;
}

bn_status bn_quant_unpack(bn_qtype type, const void *data, uint64_t n_bytes, int64_t rows,
                          int64_t K, int8_t *codes, float *scales, size_t scales_cap,
                          size_t *n_scales, int64_t *group_size, bn_error *err) {
    uint64_t need;
    bn_status s = bn_quant_packed_bytes(type, rows, K, &need, err);
    if (s)
        return s;
    if (!data || !codes || !n_scales || !group_size)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "unpack: NULL argument");
    if (n_bytes < need)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "unpack: %s of (%" PRId64 ", %" PRId64 ") needs %" PRIu64
                            " bytes, got %" PRIu64,
                            bn_qtype_name(type), rows, K, need, n_bytes);
    size_t cap = bn_ternary_scale_count((bn_tensor_type)type, K, rows);
    float *tmp = malloc((cap + 1) * sizeof(float));
    if (!tmp)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "unpack: %zu scales", cap);
    bn_ternary_scale_kind kind;
    s = bn_ternary_decode((bn_tensor_type)type, data, n_bytes, K, rows, codes, tmp, &kind, err);
    if (s == BN_STATUS_OK) {
        size_t n = kind == BN_TERNARY_SCALE_TENSOR ? 1
                   : kind == BN_TERNARY_SCALE_ROW  ? (size_t)rows
                                                   : (size_t)(rows * K / 256);
        *n_scales = n;
        *group_size = kind == BN_TERNARY_SCALE_TENSOR ? 0
                      : kind == BN_TERNARY_SCALE_ROW  ? K
                                                      : 256;
        if (n > scales_cap || !scales)
            s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                             "unpack: %zu scales do not fit in %zu", n, scales_cap);
        else
            memcpy(scales, tmp, n * sizeof(float));
    }
    free(tmp);
    return s;
}
