/* bitlinear.c: the public BitLinear product (runtime/bitnet_quant.h).
 *
 * Owns bn_bitlinear: a copy of the packed weights (or none, for codes),
 * the kernel table, and the ternary matrix built from them exactly as the
 * model builds its projections (bn_ternary_matrix_init, MAD family).
 * bn_bitlinear_forward quantizes x per token with the table's act_quant
 * and runs the table's ternary product: the forward pass's two kernels, in
 * one OpenMP region (tokens split for the quantization, then rows split at
 * the table's granule), so the result does not depend on the thread count.
 * Read-only after creation: forward may run from several threads at once.
 */
#include "runtime/bitnet_quant.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#ifdef BN_HAVE_OPENMP
#include <omp.h>
#endif

#include "kernels/kernels.h"
#include "loader/ternary_codec.h"
#include "runtime/error.h"

struct bn_bitlinear {
    const bn_kernels *k;
    bn_ternary_matrix m;
    void *bytes; /* the packed weights, when the matrix reads them in place */
};

void bn_bitlinear_free(bn_bitlinear *bl) {
    if (!bl)
        return;
    bn_ternary_matrix_free(&bl->m);
    free(bl->bytes);
    free(bl);
}

static bn_status bitlinear_alloc(const char *kernels, bn_bitlinear **out, bn_error *err) {
    *out = NULL;
    bn_bitlinear *bl = calloc(1, sizeof *bl);
    if (!bl)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "bitlinear: out of memory");
    bn_status s = bn_kernels_select(kernels, &bl->k, err);
    if (s) {
        free(bl);
        return s;
    }
    *out = bl;
    return BN_STATUS_OK;
}

bn_status bn_bitlinear_new(bn_qtype type, const void *data, uint64_t n_bytes, int64_t rows,
                           int64_t K, const char *kernels, bn_bitlinear **out, bn_error *err) {
    if (!out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bitlinear: NULL out");
    *out = NULL;
    uint64_t need;
    bn_status s = bn_quant_packed_bytes(type, rows, K, &need, err);
    if (s)
        return s;
    if (!data || n_bytes < need)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bitlinear: %s of (%" PRId64 ", %" PRId64 ") needs %" PRIu64
                            " bytes, got %" PRIu64,
                            bn_qtype_name(type), rows, K, need, data ? n_bytes : 0);
    bn_bitlinear *bl;
    if ((s = bitlinear_alloc(kernels, &bl, err)))
        return s;
    if (!(bl->bytes = malloc(need))) {
        bn_bitlinear_free(bl);
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "bitlinear: %" PRIu64 " bytes", need);
    }
    memcpy(bl->bytes, data, need);
    s = bn_ternary_matrix_init(bl->k, BN_FAMILY_MAD, (bn_tensor_type)type, bl->bytes, need, K,
                               rows, &bl->m, err);
    if (s) {
        bn_bitlinear_free(bl);
        return s;
    }
    *out = bl;
    return BN_STATUS_OK;
}

bn_status bn_bitlinear_new_codes(const int8_t *codes, const float *scales, int64_t rows,
                                 int64_t K, int64_t group_size, const char *kernels,
                                 bn_bitlinear **out, bn_error *err) {
    if (!out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bitlinear: NULL out");
    *out = NULL;
    size_t ns;
    bn_status s = bn_quant_weights_scale_count(rows, K, group_size, &ns, err);
    if (s)
        return s;
    if (!codes || !scales)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bitlinear: NULL array");
    bn_ternary_scale_kind kind;
    if (group_size == 0)
        kind = BN_TERNARY_SCALE_TENSOR;
    else if (group_size == K)
        kind = BN_TERNARY_SCALE_ROW;
    else if (group_size == 256)
        kind = BN_TERNARY_SCALE_BLOCK256;
    else
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bitlinear: group size %" PRId64 " (K = %" PRId64
                            "): the kernels take a scale per tensor, per row or per 256 "
                            "values (group size 0, K or 256)",
                            group_size, K);
    for (int64_t i = 0; i < rows * K; i++)
        if (codes[i] < -1 || codes[i] > 1)
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "bitlinear: codes[%" PRId64 ", %" PRId64
                                "] = %d: ternary codes are -1, 0 or 1",
                                i / K, i % K, codes[i]);
    bn_bitlinear *bl;
    if ((s = bitlinear_alloc(kernels, &bl, err)))
        return s;
    s = bn_ternary_matrix_init_values(BN_LAYOUT_I2, codes, scales, kind, K, rows, &bl->m, err);
    if (s) {
        bn_bitlinear_free(bl);
        return s;
    }
    *out = bl;
    return BN_STATUS_OK;
}

int64_t bn_bitlinear_rows(const bn_bitlinear *bl) { return bl ? bl->m.rows : 0; }
int64_t bn_bitlinear_k(const bn_bitlinear *bl) { return bl ? bl->m.K : 0; }
const char *bn_bitlinear_kernels_name(const bn_bitlinear *bl) { return bl ? bl->k->name : NULL; }

bn_status bn_bitlinear_forward(const bn_bitlinear *bl, const float *x, int64_t n_tokens,
                               float *y, int n_threads, bn_error *err) {
    if (!bl || !x || !y)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bitlinear: NULL argument");
    const int64_t K = bl->m.K, rows = bl->m.rows;
    if (n_tokens < 1 || n_tokens > INT64_MAX / 8 / (K > rows ? K : rows))
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "bitlinear: %" PRId64 " tokens: need at least one (and fewer than "
                            "overflow a buffer)",
                            n_tokens);
    bn_act_batch act;
    bn_status s = bn_act_batch_alloc(K, n_tokens, false, &act, err);
    if (s)
        return s;
    if ((s = bn_act_batch_reset(&act, K, n_tokens, err))) {
        bn_act_batch_free(&act);
        return s;
    }
    const bn_kernels *k = bl->k;
    const bn_ternary_matrix *m = &bl->m;
    int nth = n_threads > 0 ? n_threads : 1;
#ifdef BN_HAVE_OPENMP
#pragma omp parallel num_threads(nth)
#endif
    {
#ifdef BN_HAVE_OPENMP
        const int ith = omp_get_thread_num(), n = omp_get_num_threads();
#else
        const int ith = 0, n = 1;
        (void)nth;
#endif
        int64_t b, e;
        bn_kernels_split_rows(n_tokens, 1, ith, n, &b, &e);
        if (b < e)
            k->act_quant(x, K, &act, b, e);
#ifdef BN_HAVE_OPENMP
#pragma omp barrier
#endif
        bn_kernels_split_rows(rows, k->row_granule, ith, n, &b, &e);
        if (b < e)
            bn_ternary_gemm(k, m, &act, b, e, y, rows);
    }
    bn_act_batch_free(&act);
    return BN_STATUS_OK;
}
