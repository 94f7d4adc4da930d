/* dense_matrix.c: output-layer / embedding matrices (F32, F16, BF16, Q8_0,
 * Q6_K) and their optional int8 copy.
 *
 * Owns the zero-copy wrapping of a stored matrix, exact row dequantization
 * (the embedding lookup) and the int8 copy made at load for --lm-head-i8.
 * Products live in the kernel tables (dense_gemm, dense_gemm_i8).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/internal.h"
#include "loader/half.h"
#include "runtime/error.h"

void bn_dense_row_to_f32(bn_tensor_type type, const uint8_t *row, int64_t K, float *out) {
    switch (type) {
    case BN_TYPE_F32:
        memcpy(out, row, (size_t)K * sizeof(float));
        break;
    case BN_TYPE_F16:
    case BN_TYPE_BF16:
        for (int64_t k = 0; k < K; k++) {
            uint16_t h;
            memcpy(&h, row + 2 * k, 2);
            out[k] = type == BN_TYPE_F16 ? bn_f16_to_f32(h) : bn_bf16_to_f32(h);
        }
        break;
    case BN_TYPE_Q8_0:
        for (int64_t b = 0; b < K / BN_Q8_0_BLOCK; b++) {
            const uint8_t *blk = row + b * BN_Q8_0_BYTES;
            uint16_t dh;
            memcpy(&dh, blk, 2);
            float d = bn_f16_to_f32(dh);
            for (int i = 0; i < BN_Q8_0_BLOCK; i++)
                out[b * BN_Q8_0_BLOCK + i] = d * (float)(int8_t)blk[2 + i];
        }
        break;
    case BN_TYPE_Q6_K:
        /* ggml's block_q6_K: value = d * scale[is] * (6-bit code - 32), with
         * the low 4 bits in ql, the high 2 in qh; 16 sub-blocks of 16. */
        for (int64_t b = 0; b < K / BN_Q6_K_BLOCK; b++) {
            const uint8_t *blk = row + b * BN_Q6_K_BYTES;
            const uint8_t *ql = blk, *qh = blk + 128;
            const int8_t *sc = (const int8_t *)(blk + 192);
            uint16_t dh;
            memcpy(&dh, blk + 208, 2);
            float d = bn_f16_to_f32(dh);
            float *y = out + b * BN_Q6_K_BLOCK;
            for (int n = 0; n < 2; n++) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * (float)sc[is] * (float)q1;
                    y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                    y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                    y[l + 96] = d * (float)sc[is + 6] * (float)q4;
                }
                y += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
        }
        break;
    default:
        memset(out, 0, (size_t)K * sizeof(float));
        break;
    }
}

void bn_dense_matrix_get_row(const bn_dense_matrix *m, int64_t r, float *out) {
    bn_dense_row_to_f32(m->type, m->data + (uint64_t)r * m->row_bytes, m->K, out);
}

/* The int8 copy: per row scale = max|w| / 127, q = rint(w * 127 / max|w|). */
static bn_status bn_dense_make_i8(bn_dense_matrix *m, bn_error *err) {
    int64_t stride = bn_act_batch_stride(m->K);
    size_t q_bytes = (size_t)(stride * m->rows);
    size_t total = q_bytes + (size_t)m->rows * (sizeof(float) + sizeof(int32_t));
    uint8_t *mem = aligned_alloc(64, (total + 63) / 64 * 64);
    float *row = malloc((size_t)m->K * sizeof *row);
    if (!mem || !row) {
        free(mem);
        free(row);
        return bn_error_set(err, BN_STATUS_NO_MEMORY,
                            "output matrix: cannot allocate %zu bytes for the int8 copy", total);
    }
    m->owned = mem;
    m->q8 = (int8_t *)mem;
    m->q8_stride = stride;
    m->q8_scale = (float *)(mem + q_bytes);
    m->q8_sum = (int32_t *)(mem + q_bytes + (size_t)m->rows * sizeof(float));
    for (int64_t r = 0; r < m->rows; r++) {
        bn_dense_matrix_get_row(m, r, row);
        float amax = 0.0f;
        for (int64_t k = 0; k < m->K; k++)
            if (fabsf(row[k]) > amax)
                amax = fabsf(row[k]);
        float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        int8_t *q = m->q8 + r * stride;
        int32_t sum = 0;
        for (int64_t k = 0; k < m->K; k++) {
            float v = rintf(row[k] * inv);
            q[k] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v);
            sum += q[k];
        }
        memset(q + m->K, 0, (size_t)(stride - m->K));
        m->q8_scale[r] = amax / 127.0f;
        m->q8_sum[r] = sum;
    }
    free(row);
    return BN_STATUS_OK;
}

bn_status bn_dense_matrix_init(bn_tensor_type type, const void *data, uint64_t n_bytes,
                               int64_t K, int64_t rows, bool with_i8, bn_dense_matrix *out,
                               bn_error *err) {
    bn_status st = BN_STATUS_OK;
    memset(out, 0, sizeof *out);
    if (type != BN_TYPE_F32 && type != BN_TYPE_F16 && type != BN_TYPE_BF16 &&
        type != BN_TYPE_Q8_0 && type != BN_TYPE_Q6_K) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "output matrix: type %s is not one of F32, F16, BF16, Q8_0, Q6_K",
                          bn_tensor_type_name(type));
        goto fail;
    }
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(type);
    if (K < 1 || rows < 1 || K > (1 << 24) || rows > (1 << 26) || K % tr->block_size != 0) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "output matrix: bad shape %lld x %lld for %s (block %u)",
                          (long long)rows, (long long)K, tr->name, tr->block_size);
        goto fail;
    }
    uint64_t row_bytes = (uint64_t)(K / tr->block_size) * tr->block_bytes;
    if (n_bytes < row_bytes * (uint64_t)rows) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "output matrix %lld x %lld %s: %llu bytes, expected %llu",
                          (long long)rows, (long long)K, tr->name, (unsigned long long)n_bytes,
                          (unsigned long long)(row_bytes * (uint64_t)rows));
        goto fail;
    }
    out->type = type;
    out->K = K;
    out->rows = rows;
    out->row_bytes = row_bytes;
    out->data = data;
    if (with_i8) {
        st = bn_dense_make_i8(out, err);
        if (st != BN_STATUS_OK)
            goto fail;
    }
    return BN_STATUS_OK;
fail:
    bn_dense_matrix_free(out);
    return st;
}

void bn_dense_matrix_free(bn_dense_matrix *m) {
    if (!m)
        return;
    free(m->owned);
    memset(m, 0, sizeof *m);
}
