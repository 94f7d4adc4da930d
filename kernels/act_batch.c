/* act_batch.c: allocation and sizing of quantized activation batches.
 *
 * Owns the one allocation behind a bn_act_batch and the row stride rule.
 * Filling rows is the kernels' job (act_quant in each table).
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/internal.h"
#include "runtime/error.h"

#define BN_ACT_ALIGN 64

int64_t bn_act_batch_stride(int64_t K) {
    /* Every layout reads whole padded blocks: I2 and LUT2 up to K rounded to
     * 128/256, T5 up to K rounded to 320, T3 to 192. Rows stay 64-byte
     * aligned. */
    int64_t a = bn_round_up(K, 256), b = bn_round_up(K, BN_T5_CHUNK), c = bn_round_up(K, BN_T3_CHUNK);
    int64_t m = a > b ? a : b;
    return bn_round_up(m > c ? m : c, BN_ACT_ALIGN);
}

/* Byte offsets of the arrays inside the one allocation. */
typedef struct bn_act_plan {
    size_t q, scale, sum, block_sum, lut, total;
} bn_act_plan;

static bn_act_plan bn_act_plan_of(int64_t max_K, int64_t max_tokens, bool with_lut) {
    bn_act_plan p;
    size_t stride = (size_t)bn_act_batch_stride(max_K), nt = (size_t)max_tokens;
    size_t off = 0;
#define BN_PLACE(field, bytes)                                                           \
    do {                                                                                 \
        p.field = off;                                                                   \
        off += ((size_t)(bytes) + BN_ACT_ALIGN - 1) / BN_ACT_ALIGN * BN_ACT_ALIGN;       \
    } while (0)
    BN_PLACE(q, nt * stride);
    BN_PLACE(scale, nt * sizeof(float));
    BN_PLACE(sum, nt * sizeof(int32_t));
    BN_PLACE(block_sum, nt * (stride / 256) * sizeof(int32_t));
    BN_PLACE(lut, with_lut ? nt * (stride / 2) * BN_LUT_ENTRY_BYTES : 0);
#undef BN_PLACE
    p.total = off;
    return p;
}

size_t bn_act_batch_bytes(int64_t max_K, int64_t max_tokens, bool with_lut) {
    if (max_K < 1 || max_tokens < 1)
        return 0;
    return bn_act_plan_of(max_K, max_tokens, with_lut).total;
}

bn_status bn_act_batch_alloc(int64_t max_K, int64_t max_tokens, bool with_lut,
                             bn_act_batch *out, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    memset(out, 0, sizeof *out);
    /* 2^24 values a row and 2^20 tokens are far past any model; the bound
     * keeps every size computation below far from overflow. */
    if (max_K < 1 || max_K > (1 << 24) || max_tokens < 1 || max_tokens > (1 << 20)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "activation batch: bad capacity K=%lld tokens=%lld",
                          (long long)max_K, (long long)max_tokens);
        goto fail;
    }
    bn_act_plan p = bn_act_plan_of(max_K, max_tokens, with_lut);
    uint8_t *mem = aligned_alloc(BN_ACT_ALIGN, p.total);
    if (!mem) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "activation batch: cannot allocate %zu bytes", p.total);
        goto fail;
    }
    memset(mem, 0, p.total);
    out->mem = mem;
    out->q = (int8_t *)(mem + p.q);
    out->scale = (float *)(mem + p.scale);
    out->sum = (int32_t *)(mem + p.sum);
    out->block_sum = (int32_t *)(mem + p.block_sum);
    out->lut = with_lut ? mem + p.lut : NULL;
    out->max_K = max_K;
    out->max_tokens = max_tokens;
    out->K = max_K;
    out->stride = bn_act_batch_stride(max_K);
    out->n_tokens = 0;
    return BN_STATUS_OK;
fail:
    return st;
}

void bn_act_batch_free(bn_act_batch *batch) {
    if (!batch)
        return;
    free(batch->mem);
    memset(batch, 0, sizeof *batch);
}

bn_status bn_act_batch_reset(bn_act_batch *batch, int64_t K, int64_t n_tokens, bn_error *err) {
    if (!batch || !batch->mem || K < 1 || K > batch->max_K || n_tokens < 0 ||
        n_tokens > batch->max_tokens)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "activation batch: K=%lld tokens=%lld past capacity K=%lld "
                            "tokens=%lld",
                            (long long)K, (long long)n_tokens,
                            batch ? (long long)batch->max_K : 0LL,
                            batch ? (long long)batch->max_tokens : 0LL);
    batch->K = K;
    batch->stride = bn_act_batch_stride(K);
    batch->n_tokens = n_tokens;
    return BN_STATUS_OK;
}
