/* test_ternary_gemm.c: ternary x int8 products of every table and layout
 * against the reference: int32 accumulators and float outputs bit-exact.
 *
 * Shapes (K x rows): the 2B4T matrices 2560x2560, 2560x640, 2560x6912,
 * 6912x2560; the 1bitLLM-3B K = 3200 and 8640 (not multiples of 128 or 256:
 * every layout pads K, so all layouts take them; BLOCK256 scales need
 * K % 256 == 0 and only get those shapes); one row; K of one block of each
 * layout (128, 256, 320, 192). Batches 1, 7 and 128 (batch 7 on the first 256
 * rows and batch 128 on the first 64 rows of the big shapes, to stay fast
 * under the sanitizers too); I2 also at every batch of 2..16 tokens.
 *
 * The oracle is a plain loop over the trits. For TENSOR and ROW scales the
 * reference's float output is by definition (float)acc / act_scale * scale,
 * so every table (ref included) is checked against that formula applied to
 * the oracle's accumulators; BLOCK256 outputs are compared with the
 * reference table's. */
#include "kernel_test.h"

typedef struct kt_shape {
    int64_t K, rows;
} kt_shape;

static const kt_shape kt_shapes[] = {
    {2560, 2560}, {2560, 640}, {2560, 6912}, {6912, 2560}, {3200, 100},
    {8640, 3200}, {2560, 1},   {128, 70},    {256, 65},    {320, 64},    {192, 66},
};

/* The plain oracle: sum of trits times q. */
static int32_t kt_dot(const int8_t *v, const int8_t *q, int64_t K) {
    int32_t a = 0;
    for (int64_t k = 0; k < K; k++)
        a += v[k] * q[k];
    return a;
}

/* all_rows: every row of the shape even at larger batches (else the first
 * 64 or 256, below). */
static void kt_check_rows(const bn_kernels *k, bn_ternary_layout layout,
                          bn_ternary_scale_kind kind, kt_shape sh, int64_t nt, uint64_t seed,
                          bool all_rows) {
    const bn_kernels *ref = bn_kernels_find("ref");
    kt_rng rng = {seed};
    int64_t K = sh.K, rows = sh.rows;
    /* Full shapes at batch 1; the first rows of the big matrices for larger
     * batches (every code path is already taken by then; keeps it fast). */
    if (all_rows)
        ;
    else if (nt > 16 && rows > 64)
        rows = 64;
    else if (!strcmp(k->name, "ref") && rows > 256)
        rows = 256; /* the scalar oracle checks itself on fewer rows: same code paths */
    else if (nt > 1 && rows > 256)
        rows = 256;
    int8_t *v = malloc((size_t)(K * rows));
    kt_fill_trits(&rng, v, K * rows);
    size_t ns = kind == BN_TERNARY_SCALE_BLOCK256 ? (size_t)(rows * (K / 256)) : (size_t)rows;
    float *sc = malloc(sizeof(float) * ns);
    for (size_t i = 0; i < ns; i++)
        sc[i] = 0.01f + kt_unit(&rng);
    bn_ternary_matrix m;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_matrix_init_values(layout, v, sc, kind, K, rows, &m, &err), BN_STATUS_OK,
                 "%s", err.message);
    cr_assert_eq(m.layout, layout);
    cr_assert_eq(m.scale_kind, kind);

    float *x = malloc(sizeof(float) * (size_t)(K * nt));
    for (int64_t i = 0; i < K * nt; i++)
        x[i] = kt_act(&rng);
    bn_act_batch act;
    cr_assert_eq(bn_act_batch_alloc(K, nt, layout == BN_LAYOUT_LUT2, &act, &err), BN_STATUS_OK);
    cr_assert_eq(bn_act_batch_reset(&act, K, nt, &err), BN_STATUS_OK);
    ref->act_quant(x, K, &act, 0, nt);

    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(rows * nt));
    float *y = malloc(sizeof(float) * (size_t)(rows * nt));
    float *y_ref = malloc(sizeof(float) * (size_t)(rows * nt));
    /* Two ranges split at a granule boundary, as the runtime's threads do. */
    int64_t mid = rows / 2 / k->row_granule * k->row_granule;
    k->ternary[layout].gemm_acc(&m, &act, 0, mid, acc, rows);
    k->ternary[layout].gemm_acc(&m, &act, mid, rows, acc, rows);
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = 0; r < rows; r++) {
            int32_t want = kt_dot(v + r * K, act.q + t * act.stride, K);
            if (acc[t * rows + r] != want)
                cr_assert_fail("%s layout %d K=%lld rows=%lld nt=%lld: acc[%lld][%lld] = %d, "
                               "want %d",
                               k->name, layout, (long long)K, (long long)rows, (long long)nt,
                               (long long)t, (long long)r, acc[t * rows + r], want);
        }
    k->ternary[layout].gemm(&m, &act, 0, mid, y, rows);
    k->ternary[layout].gemm(&m, &act, mid, rows, y, rows);
    if (kind == BN_TERNARY_SCALE_BLOCK256)
        ref->ternary[layout].gemm(&m, &act, 0, rows, y_ref, rows);
    else
        for (int64_t t = 0; t < nt; t++)
            for (int64_t r = 0; r < rows; r++) {
                float ws = kind == BN_TERNARY_SCALE_ROW ? sc[r] : sc[0];
                y_ref[t * rows + r] = (float)acc[t * rows + r] / act.scale[t] * ws;
            }
    for (int64_t i = 0; i < rows * nt; i++)
        if (memcmp(&y[i], &y_ref[i], sizeof(float)) != 0)
            cr_assert_fail("%s layout %d kind %d K=%lld nt=%lld: y[%lld] = %.9g, want %.9g",
                           k->name, layout, kind, (long long)K, (long long)nt, (long long)i,
                           (double)y[i], (double)y_ref[i]);
    bn_act_batch_free(&act);
    bn_ternary_matrix_free(&m);
    free(v);
    free(sc);
    free(x);
    free(acc);
    free(y);
    free(y_ref);
}

static void kt_check(const bn_kernels *k, bn_ternary_layout layout, bn_ternary_scale_kind kind,
                     kt_shape sh, int64_t nt, uint64_t seed) {
    kt_check_rows(k, layout, kind, sh, nt, seed, false);
}

static void kt_all_shapes(const bn_kernels *k, bn_ternary_layout layout,
                          bn_ternary_scale_kind kind) {
    int64_t batches[] = {1, 7, 128};
    for (size_t s = 0; s < sizeof kt_shapes / sizeof kt_shapes[0]; s++) {
        if (kind == BN_TERNARY_SCALE_BLOCK256 && kt_shapes[s].K % 256 != 0)
            continue;
        for (size_t b = 0; b < 3; b++)
            kt_check(k, layout, kind, kt_shapes[s], batches[b], 1000 + s * 10 + b);
    }
}

static void i2_tensor_scale(const bn_kernels *k) {
    kt_all_shapes(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR);
}
static void i2_row_scales(const bn_kernels *k) {
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 640}, 1, 1);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){3200, 100}, 7, 2);
}
static void i2_block_scales(const bn_kernels *k) {
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_BLOCK256, (kt_shape){2560, 640}, 1, 3);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_BLOCK256, (kt_shape){6912, 130}, 7, 4);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_BLOCK256, (kt_shape){512, 64}, 128, 5);
}
static void i2_small_batches(const bn_kernels *k) {
    /* Every decode-step batch size 2..16 (token tiles of every width, even
     * and uneven splits), with row counts that are no multiple of a row
     * tile (35, 65: a one-row tail after a granule split) and K with a
     * trailing 128-value block (3200, 128: Kp % 256 == 128) or without
     * (2560, 6912), TENSOR and ROW scales; K = 8640 at 16 tokens is past
     * the avx512 small-batch kernel's activation buffer (its fallback). */
    for (int64_t nt = 2; nt <= 16; nt++) {
        kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){3200, 35}, nt, 100 + nt);
        kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){128, 65}, nt, 200 + nt);
        kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 33}, nt, 300 + nt);
    }
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){6912, 50}, 8, 400);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){6912, 50}, 13, 401);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){8640, 40}, 16, 402);
}
static void t5_tensor_scale(const bn_kernels *k) {
    kt_all_shapes(k, BN_LAYOUT_T5, BN_TERNARY_SCALE_TENSOR);
}
static void t5_row_scales(const bn_kernels *k) {
    kt_check(k, BN_LAYOUT_T5, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 640}, 1, 6);
    kt_check(k, BN_LAYOUT_T5, BN_TERNARY_SCALE_ROW, (kt_shape){8640, 70}, 7, 7);
}
static void t3_tensor_scale(const bn_kernels *k) {
    kt_all_shapes(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_TENSOR);
}
static void t3_row_scales(const bn_kernels *k) {
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 640}, 1, 10);
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_ROW, (kt_shape){8640, 70}, 7, 11);
}
static void t3_small_batches(const bn_kernels *k) {
    /* Prompt-sized batches 2..16 (every token tile width and tail) on T3:
     * avx2 walks K in 1920-value segments inside each token tile, so K =
     * 6912 (4 segments, the last partial) and 3200 (2), with row counts
     * that leave a partial block of decoded rows (50 rows at 9 per block
     * for K = 6912; 33 and 35), TENSOR and ROW scales. */
    for (int64_t nt = 2; nt <= 16; nt++) {
        kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_TENSOR, (kt_shape){3200, 35}, nt, 500 + nt);
        kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 33}, nt, 600 + nt);
    }
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_TENSOR, (kt_shape){6912, 50}, 11, 700);
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_ROW, (kt_shape){6912, 50}, 16, 701);
}
static void lut2_tensor_scale(const bn_kernels *k) {
    kt_all_shapes(k, BN_LAYOUT_LUT2, BN_TERNARY_SCALE_TENSOR);
}
static void lut2_row_scales(const bn_kernels *k) {
    kt_check(k, BN_LAYOUT_LUT2, BN_TERNARY_SCALE_ROW, (kt_shape){2560, 640}, 1, 8);
    kt_check(k, BN_LAYOUT_LUT2, BN_TERNARY_SCALE_ROW, (kt_shape){3200, 100}, 7, 9);
}

KT_FOR_TABLES(ternary_gemm, i2_matches_ref_with_a_tensor_scale, i2_tensor_scale)
KT_FOR_TABLES(ternary_gemm, i2_matches_ref_with_row_scales, i2_row_scales)
KT_FOR_TABLES(ternary_gemm, i2_matches_ref_with_block_scales, i2_block_scales)
KT_FOR_TABLES(ternary_gemm, i2_matches_ref_for_every_batch_of_2_to_16_tokens, i2_small_batches)
KT_FOR_TABLES(ternary_gemm, t5_matches_ref_with_a_tensor_scale, t5_tensor_scale)
KT_FOR_TABLES(ternary_gemm, t5_matches_ref_with_row_scales, t5_row_scales)
KT_FOR_TABLES(ternary_gemm, t3_matches_ref_with_a_tensor_scale, t3_tensor_scale)
KT_FOR_TABLES(ternary_gemm, t3_matches_ref_with_row_scales, t3_row_scales)
KT_FOR_TABLES(ternary_gemm, t3_matches_ref_for_every_batch_of_2_to_16_tokens, t3_small_batches)
KT_FOR_TABLES(ternary_gemm, lut2_matches_ref_with_a_tensor_scale, lut2_tensor_scale)
KT_FOR_TABLES(ternary_gemm, lut2_matches_ref_with_row_scales, lut2_row_scales)

static void lut2_without_tables_still_computes(const bn_kernels *k) {
    /* A LUT2 matrix with a batch allocated without tables falls back to the
     * codes: same numbers, no crash. */
    const int64_t K = 512, rows = 64;
    kt_rng rng = {77};
    int8_t v[512 * 64];
    kt_fill_trits(&rng, v, K * rows);
    float s = 1.0f, x[512];
    for (int i = 0; i < 512; i++)
        x[i] = kt_act(&rng);
    bn_ternary_matrix m;
    cr_assert_eq(bn_ternary_matrix_init_values(BN_LAYOUT_LUT2, v, &s, BN_TERNARY_SCALE_TENSOR, K,
                                               rows, &m, NULL),
                 BN_STATUS_OK);
    bn_act_batch act;
    cr_assert_eq(bn_act_batch_alloc(K, 1, false, &act, NULL), BN_STATUS_OK);
    bn_act_batch_reset(&act, K, 1, NULL);
    k->act_quant(x, K, &act, 0, 1);
    int32_t acc[64];
    k->ternary[BN_LAYOUT_LUT2].gemm_acc(&m, &act, 0, rows, acc, rows);
    for (int r = 0; r < rows; r++)
        cr_assert_eq(acc[r], kt_dot(v + r * K, act.q, K));
    bn_act_batch_free(&act);
    bn_ternary_matrix_free(&m);
}
KT_FOR_TABLES(ternary_gemm, lut2_without_tables_still_computes, lut2_without_tables_still_computes)

static void extremes_stay_exact(const bn_kernels *k) {
    /* The int16 partial sums at their bounds: every weight +1 (or -1) of
     * rows 0..15 (16..31) against activations all 127 or all -128 (every
     * token alike; 1, 2 and 9 tokens), K = 6912 (36 T3 chunks, 54 I2 blocks: several flushes of
     * the int16 sums). */
    const int64_t K = 6912, rows = 32;
    int8_t *v = malloc((size_t)(K * rows));
    for (int64_t r = 0; r < rows; r++)
        memset(v + r * K, r < 16 ? 1 : -1, (size_t)K);
    float s = 1.0f;
    float *x = malloc(sizeof(float) * (size_t)(2 * K));
    for (int64_t i = 0; i < K; i++) {
        x[i] = 1.0f;       /* quantizes to 127 */
        x[K + i] = -1.0f;  /* -127; the -128 row is written below */
    }
    const bn_ternary_layout layouts[] = {BN_LAYOUT_I2, BN_LAYOUT_T5, BN_LAYOUT_T3};
    for (int li = 0; li < 3; li++) {
        bn_ternary_matrix m;
        cr_assert_eq(bn_ternary_matrix_init_values(layouts[li], v, &s, BN_TERNARY_SCALE_TENSOR, K,
                                                   rows, &m, NULL),
                     BN_STATUS_OK);
        static const int64_t nts[] = {1, 2, 9}; /* 9: a full 8-token tile and one more */
        for (int ni = 0; ni < 3; ni++)
            for (int neg = 0; neg < 2; neg++) {
                const int64_t nt = nts[ni];
                bn_act_batch act;
                cr_assert_eq(bn_act_batch_alloc(K, nt, false, &act, NULL), BN_STATUS_OK);
                bn_act_batch_reset(&act, K, nt, NULL);
                for (int64_t t = 0; t < nt; t++)
                    k->act_quant(x + (neg ? K : 0), 0, &act, t, t + 1); /* every token: one row */
                if (neg) /* -128 everywhere (sum and block sums to match) */
                    for (int64_t t = 0; t < nt; t++) {
                        memset(act.q + t * act.stride, 0x80, (size_t)K);
                        act.sum[t] = (int32_t)(-128 * K);
                        for (int64_t b = 0; b < act.stride / 256; b++) {
                            int64_t n = K - 256 * b < 256 ? K - 256 * b : 256;
                            act.block_sum[t * (act.stride / 256) + b] = (int32_t)(-128 * (n > 0 ? n : 0));
                        }
                    }
                int32_t acc[9 * 32];
                k->ternary[layouts[li]].gemm_acc(&m, &act, 0, rows, acc, rows);
                for (int64_t t = 0; t < nt; t++)
                    for (int64_t r = 0; r < rows; r++)
                        cr_assert_eq(acc[t * rows + r], kt_dot(v + r * K, act.q + t * act.stride, K),
                                     "%s layout %d nt %lld neg %d row %lld", k->name, li,
                                     (long long)nt, neg, (long long)r);
                bn_act_batch_free(&act);
            }
        bn_ternary_matrix_free(&m);
    }
    free(v);
    free(x);
}
KT_FOR_TABLES(ternary_gemm, extremes_stay_exact_in_the_int16_sums, extremes_stay_exact)

static void long_rows(const bn_kernels *k) {
    /* Rows longer than a 64 KB stack buffer of codes (avx2's T3 batches
     * decode per tile then): K = 65664 = 342 T3 chunks, batches 1 and 5. */
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_ROW, (kt_shape){65664, 3}, 5, 12);
    kt_check(k, BN_LAYOUT_T3, BN_TERNARY_SCALE_TENSOR, (kt_shape){65664, 17}, 1, 13);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){65664, 3}, 5, 14);
}
KT_FOR_TABLES(ternary_gemm, rows_longer_than_64k_values_match_ref, long_rows)

static void i2_row_blocks_and_k_chunks(const bn_kernels *k) {
    /* The avx2 batch kernel's loop edges: more rows than one row block
     * holds (K = 128: 32-byte rows, blocks of at most 512 rows; 1100 rows
     * = 2 full blocks and a partial one; K = 65664: blocks of 15 rows), K of exactly one 15-block chunk
     * (1920) and of one block more (2048: two chunks of 8), each at 9
     * tokens (an 8-token tile, then one) and 16 (two tiles). */
    kt_check_rows(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){128, 1100}, 9, 15, true);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){1920, 45}, 9, 16);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_TENSOR, (kt_shape){2048, 45}, 16, 17);
    kt_check(k, BN_LAYOUT_I2, BN_TERNARY_SCALE_ROW, (kt_shape){65664, 40}, 9, 18);
}
KT_FOR_TABLES(ternary_gemm, i2_matches_ref_across_row_blocks_and_k_chunks,
              i2_row_blocks_and_k_chunks)
