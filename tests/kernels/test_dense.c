/* test_dense.c: output-layer products (kernels/dense_matrix.c and each
 * table's dense_gemm / dense_gemm_i8).
 *
 * Tolerance: the reference sums in double; a table's float result must be
 * within 2e-6 * sum_k |w_k x_k| (float rounding of a 16/32-lane sum over up
 * to 6912 terms stays far below that for random data). The int8 path is
 * bit-exact with the reference. */
#include "kernel_test.h"
#include "loader/half.h"

static uint8_t *kt_random_matrix(kt_rng *rng, bn_tensor_type type, int64_t K, int64_t rows,
                                 uint64_t *n_bytes) {
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(type);
    uint64_t row_bytes = (uint64_t)(K / tr->block_size) * tr->block_bytes;
    *n_bytes = row_bytes * (uint64_t)rows;
    uint8_t *b = malloc(*n_bytes);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = b + (uint64_t)r * row_bytes;
        switch (type) {
        case BN_TYPE_F32:
            for (int64_t k = 0; k < K; k++) {
                float f = kt_act(rng) * 0.1f;
                memcpy(row + 4 * k, &f, 4);
            }
            break;
        case BN_TYPE_F16:
        case BN_TYPE_BF16:
            for (int64_t k = 0; k < K; k++) {
                float f = kt_act(rng) * 0.1f;
                uint16_t h = type == BN_TYPE_F16 ? bn_f32_to_f16(f) : bn_f32_to_bf16(f);
                memcpy(row + 2 * k, &h, 2);
            }
            break;
        case BN_TYPE_Q8_0:
        case BN_TYPE_Q6_K:
            for (uint64_t i = 0; i < row_bytes; i++)
                row[i] = (uint8_t)kt_next(rng);
            for (int64_t blk = 0; blk < K / tr->block_size; blk++) {
                uint16_t d = bn_f32_to_f16(0.001f + 0.01f * kt_unit(rng));
                size_t off = type == BN_TYPE_Q8_0 ? 0 : 208;
                memcpy(row + blk * tr->block_bytes + off, &d, 2);
            }
            break;
        default:
            break;
        }
    }
    return b;
}

static void kt_dense_case(const bn_kernels *k, bn_tensor_type type, int64_t K, int64_t rows,
                          int64_t nt) {
    const bn_kernels *ref = bn_kernels_find("ref");
    kt_rng rng = {(uint64_t)(type * 1000 + K + nt)};
    uint64_t nb;
    uint8_t *bytes = kt_random_matrix(&rng, type, K, rows, &nb);
    bn_dense_matrix m;
    bn_error err = {0};
    cr_assert_eq(bn_dense_matrix_init(type, bytes, nb, K, rows, true, &m, &err), BN_STATUS_OK,
                 "%s", err.message);
    float *x = malloc(sizeof(float) * (size_t)(K * nt));
    for (int64_t i = 0; i < K * nt; i++)
        x[i] = kt_act(&rng);
    float *y = malloc(sizeof(float) * (size_t)(rows * nt)), *yr = malloc(sizeof(float) * (size_t)(rows * nt));
    float *wrow = malloc(sizeof(float) * (size_t)K);
    ref->dense_gemm(&m, x, K, nt, 0, rows, yr, rows);
    k->dense_gemm(&m, x, K, nt, 0, rows / 3, y, rows);
    k->dense_gemm(&m, x, K, nt, rows / 3, rows, y, rows);
    for (int64_t r = 0; r < rows; r++) {
        bn_dense_matrix_get_row(&m, r, wrow);
        for (int64_t t = 0; t < nt; t++) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < K; i++) {
                exact += (double)wrow[i] * x[t * K + i];
                mag += fabs((double)wrow[i] * x[t * K + i]);
            }
            cr_assert(fabs(yr[t * rows + r] - exact) <= 1e-7 * mag + 1e-30,
                      "ref %s: %g vs %g", bn_tensor_type_name(type), (double)yr[t * rows + r], exact);
            cr_assert(fabs(y[t * rows + r] - exact) <= 2e-6 * mag + 1e-30,
                      "%s %s K=%lld nt=%lld row %lld: %.9g vs %.9g (mag %g)", k->name,
                      bn_tensor_type_name(type), (long long)K, (long long)nt, (long long)r,
                      (double)y[t * rows + r], exact, mag);
        }
    }
    /* The int8 copy: bit-exact with ref, and close to the float product. */
    bn_act_batch act;
    cr_assert_eq(bn_act_batch_alloc(K, nt, false, &act, NULL), BN_STATUS_OK);
    bn_act_batch_reset(&act, K, nt, NULL);
    ref->act_quant(x, K, &act, 0, nt);
    ref->dense_gemm_i8(&m, &act, 0, rows, yr, rows);
    k->dense_gemm_i8(&m, &act, 0, rows / 3, y, rows);
    k->dense_gemm_i8(&m, &act, rows / 3, rows, y, rows);
    cr_assert(memcmp(y, yr, sizeof(float) * (size_t)(rows * nt)) == 0, "%s i8 %s", k->name,
              bn_tensor_type_name(type));
    bn_act_batch_free(&act);
    bn_dense_matrix_free(&m);
    free(bytes);
    free(x);
    free(y);
    free(yr);
    free(wrow);
}

static void every_type_matches_ref(const bn_kernels *k) {
    bn_tensor_type types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0, BN_TYPE_Q6_K};
    for (size_t i = 0; i < 5; i++) {
        kt_dense_case(k, types[i], 2560, 300, 1);
        kt_dense_case(k, types[i], 2560, 67, 7);
        kt_dense_case(k, types[i], 256, 1, 1);
        kt_dense_case(k, types[i], 6912, 20, 3);
    }
}
KT_FOR_TABLES(dense, every_type_matches_ref, every_type_matches_ref)

/* Q6_K at a serving step's batch sizes (one row of logits per sequence,
 * 2..17 tokens, odd counts, more than one pass of a batch kernel), 37 rows
 * (not a multiple of any row tile): within the tolerance of the exact
 * product, and bit for bit the same whatever the row split (the logits of
 * 1 and 2 threads, or of the runtime's vocabulary chunks, must agree). */
static void q6_k_batches(const bn_kernels *k) {
    const int64_t K = 2560, rows = 37;
    const int64_t nts[] = {2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17};
    for (size_t ni = 0; ni < sizeof nts / sizeof nts[0]; ni++) {
        const int64_t nt = nts[ni];
        kt_dense_case(k, BN_TYPE_Q6_K, K, rows, nt);
        kt_rng rng = {(uint64_t)(500 + nt)};
        uint64_t nb;
        uint8_t *bytes = kt_random_matrix(&rng, BN_TYPE_Q6_K, K, rows, &nb);
        bn_dense_matrix m;
        cr_assert_eq(bn_dense_matrix_init(BN_TYPE_Q6_K, bytes, nb, K, rows, false, &m, NULL),
                     BN_STATUS_OK);
        float *x = malloc(sizeof(float) * (size_t)(K * nt));
        for (int64_t i = 0; i < K * nt; i++)
            x[i] = kt_act(&rng);
        float *y1 = malloc(sizeof(float) * (size_t)(rows * nt));
        float *y2 = malloc(sizeof(float) * (size_t)(rows * nt));
        k->dense_gemm(&m, x, K, nt, 0, rows, y1, rows);
        const int64_t cuts[] = {0, 5, 16, 21, 36, rows};
        for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
            k->dense_gemm(&m, x, K, nt, cuts[c], cuts[c + 1], y2, rows);
        cr_assert(memcmp(y1, y2, sizeof(float) * (size_t)(rows * nt)) == 0,
                  "%s Q6_K nt=%lld: the row split changed the result", k->name, (long long)nt);
        bn_dense_matrix_free(&m);
        free(bytes);
        free(x);
        free(y1);
        free(y2);
    }
}
KT_FOR_TABLES(dense, q6_k_batches_match_ref_and_any_row_split, q6_k_batches)

/* One token (the generation path, which some tables split or quantize per
 * block of x): blocks of x at scales from 1e-20 to 1e4, an all-zero block,
 * and in every block a few values 1000 times the rest, against the exact
 * dot product with test_dense's tolerance; then an inf in x: a row's result
 * is non-finite exactly when ref's is. Also a K past the fast paths' limits
 * (9216 > 8192), which must still be right. */
static void one_token_dynamic_range(const bn_kernels *k) {
    const bn_kernels *ref = bn_kernels_find("ref");
    bn_tensor_type types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0, BN_TYPE_Q6_K};
    const float block_scale[] = {1.0f, 1e-20f, 0.0f, 1e4f, 1e-3f, 3.0f, 1e-7f, 1e2f, 0.5f, 1e3f};
    for (size_t ti = 0; ti < 5; ti++) {
        for (int big_k = 0; big_k < 2; big_k++) {
            const int64_t K = big_k ? 9216 : 2560, rows = big_k ? 5 : 97;
            kt_rng rng = {(uint64_t)(77 + 13 * ti + big_k)};
            uint64_t nb;
            uint8_t *bytes = kt_random_matrix(&rng, types[ti], K, rows, &nb);
            bn_dense_matrix m;
            cr_assert_eq(bn_dense_matrix_init(types[ti], bytes, nb, K, rows, false, &m, NULL),
                         BN_STATUS_OK);
            float *x = malloc(sizeof(float) * (size_t)K), *wrow = malloc(sizeof(float) * (size_t)K);
            float *y = malloc(sizeof(float) * (size_t)rows), *yr = malloc(sizeof(float) * (size_t)rows);
            for (int64_t i = 0; i < K; i++) {
                float v = kt_act(&rng) * block_scale[(i / 256) % 10];
                x[i] = (kt_next(&rng) & 63) == 0 ? v * 1000.0f : v;
            }
            k->dense_gemm(&m, x, K, 1, 0, rows / 2, y, rows);
            k->dense_gemm(&m, x, K, 1, rows / 2, rows, y, rows);
            for (int64_t r = 0; r < rows; r++) {
                bn_dense_matrix_get_row(&m, r, wrow);
                double exact = 0, mag = 0;
                for (int64_t i = 0; i < K; i++) {
                    exact += (double)wrow[i] * x[i];
                    mag += fabs((double)wrow[i] * x[i]);
                }
                cr_assert(fabs(y[r] - exact) <= 2e-6 * mag + 1e-30,
                          "%s %s K=%lld row %lld: %.9g vs %.9g (mag %g)", k->name,
                          bn_tensor_type_name(types[ti]), (long long)K, (long long)r, (double)y[r],
                          exact, mag);
            }
            x[K / 2 + 3] = INFINITY;
            ref->dense_gemm(&m, x, K, 1, 0, rows, yr, rows);
            k->dense_gemm(&m, x, K, 1, 0, rows, y, rows);
            for (int64_t r = 0; r < rows; r++)
                cr_assert_eq(isfinite(y[r]), isfinite(yr[r]), "%s %s row %lld: %g vs ref %g",
                             k->name, bn_tensor_type_name(types[ti]), (long long)r, (double)y[r],
                             (double)yr[r]);
            bn_dense_matrix_free(&m);
            free(bytes);
            free(x);
            free(wrow);
            free(y);
            free(yr);
        }
    }
}
KT_FOR_TABLES(dense, one_token_keeps_the_tolerance_over_a_wide_dynamic_range,
              one_token_dynamic_range)

Test(dense, q6_k_dequantizes_a_hand_made_block) {
    uint8_t blk[210] = {0};
    /* value 0: ql[0] low nibble 5, qh[0] bits 0-1 = 2 -> code 37 - 32 = 5;
     * scale[0] = 3, d = 0.5 -> 7.5. value 64: ql[0] high nibble 1, qh[0]
     * bits 4-5 = 0 -> 1 - 32 = -31; scale[4] = -2 -> 31. */
    blk[0] = 0x15;
    blk[128] = 0x02;
    blk[192 + 0] = 3;
    blk[192 + 4] = (uint8_t)-2;
    uint16_t d = bn_f32_to_f16(0.5f);
    memcpy(blk + 208, &d, 2);
    bn_dense_matrix m;
    cr_assert_eq(bn_dense_matrix_init(BN_TYPE_Q6_K, blk, sizeof blk, 256, 1, false, &m, NULL),
                 BN_STATUS_OK);
    float row[256];
    bn_dense_matrix_get_row(&m, 0, row);
    cr_assert_eq(row[0], 7.5f);
    cr_assert_eq(row[64], 31.0f);
    cr_assert_eq(row[1], 0.5f * 3 * -32);
}

Test(dense, bad_types_and_short_buffers_are_refused) {
    uint8_t b[64] = {0};
    bn_dense_matrix m;
    bn_error err = {0};
    cr_assert_eq(bn_dense_matrix_init(BN_TYPE_I2_S, b, 64, 32, 1, false, &m, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert_eq(bn_dense_matrix_init(BN_TYPE_F32, b, 64, 32, 1, false, &m, &err),
                 BN_STATUS_FORMAT);
    cr_assert_eq(bn_dense_matrix_init(BN_TYPE_Q8_0, b, 64, 33, 1, false, &m, &err),
                 BN_STATUS_INVALID_ARG);
    bn_dense_matrix_free(NULL);
}
