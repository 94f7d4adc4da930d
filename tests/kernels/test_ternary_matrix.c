/* test_ternary_matrix.c: building ternary matrices in the kernel layouts
 * (kernels/ternary_matrix.c): lossless repacks, zero-copy I2_S, scale
 * canonicalisation, errors. */
#include "kernel_test.h"
#include "loader/ternary_codec.h"

static void kt_round_trip(bn_ternary_layout layout, int64_t K, int64_t rows, uint64_t seed) {
    kt_rng rng = {seed};
    int8_t *v = malloc((size_t)(K * rows)), *back = malloc((size_t)(K * rows));
    float *scales = malloc(sizeof(float) * (size_t)rows), *sb = malloc(sizeof(float) * (size_t)rows);
    kt_fill_trits(&rng, v, K * rows);
    for (int64_t r = 0; r < rows; r++)
        scales[r] = 0.25f + (float)r;
    bn_ternary_matrix m;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_matrix_init_values(layout, v, scales, BN_TERNARY_SCALE_ROW, K, rows,
                                               &m, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(m.layout, layout);
    cr_assert(m.Kp >= K);
    bn_ternary_scale_kind kind;
    cr_assert_eq(bn_ternary_matrix_decode(&m, back, sb, &kind, &err), BN_STATUS_OK);
    cr_assert(memcmp(v, back, (size_t)(K * rows)) == 0, "layout %d K=%lld rows=%lld", layout,
              (long long)K, (long long)rows);
    if (rows > 1) {
        cr_assert_eq(kind, BN_TERNARY_SCALE_ROW);
        cr_assert(memcmp(scales, sb, sizeof(float) * (size_t)rows) == 0);
    }
    bn_ternary_matrix_free(&m);
    bn_ternary_matrix_free(&m);
    free(v);
    free(back);
    free(scales);
    free(sb);
}

Test(ternary_matrix, every_layout_round_trips_losslessly) {
    int64_t Ks[] = {1, 2, 5, 127, 128, 129, 191, 192, 256, 320, 321, 640, 3200, 8640};
    int64_t rows[] = {1, 3, 64, 65};
    for (int l = 0; l < BN_LAYOUT_COUNT; l++)
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++)
            for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
                kt_round_trip((bn_ternary_layout)l, Ks[i], rows[j], 1 + i * 7 + j);
}

Test(ternary_matrix, equal_block_scales_become_a_tensor_scale) {
    const int64_t K = 512, rows = 3;
    int8_t v[512 * 3];
    float d[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    kt_rng rng = {5};
    kt_fill_trits(&rng, v, K * rows);
    memset(v + 256, 0, 256); /* a block of zeros may carry any scale */
    d[1] = 7.0f;
    bn_ternary_matrix m;
    cr_assert_eq(bn_ternary_matrix_init_values(BN_LAYOUT_T5, v, d, BN_TERNARY_SCALE_BLOCK256, K,
                                               rows, &m, NULL),
                 BN_STATUS_OK);
    cr_assert_eq(m.scale_kind, BN_TERNARY_SCALE_TENSOR);
    cr_assert_eq(m.scale, 0.5f);
    cr_assert_eq(m.layout, BN_LAYOUT_T5);
    bn_ternary_matrix_free(&m);

    float d2[6] = {0.5f, 0.5f, 2.0f, 2.0f, 3.0f, 3.0f};
    cr_assert_eq(bn_ternary_matrix_init_values(BN_LAYOUT_LUT2, v, d2, BN_TERNARY_SCALE_BLOCK256,
                                               K, rows, &m, NULL),
                 BN_STATUS_OK);
    cr_assert_eq(m.scale_kind, BN_TERNARY_SCALE_ROW);
    cr_assert_eq(m.layout, BN_LAYOUT_LUT2);
    cr_assert(m.scales[0] == 0.5f && m.scales[1] == 2.0f && m.scales[2] == 3.0f);
    bn_ternary_matrix_free(&m);

    float d3[6] = {0.5f, 0.5f, 2.0f, 2.5f, 3.0f, 3.0f};
    cr_assert_eq(bn_ternary_matrix_init_values(BN_LAYOUT_LUT2, v, d3, BN_TERNARY_SCALE_BLOCK256,
                                               K, rows, &m, NULL),
                 BN_STATUS_OK);
    cr_assert_eq(m.scale_kind, BN_TERNARY_SCALE_BLOCK256);
    cr_assert_eq(m.layout, BN_LAYOUT_I2, "block scales fall back to the I2 layout");
    cr_assert(memcmp(m.scales, d3, sizeof d3) == 0, "scales are untouched");
    bn_ternary_matrix_free(&m);
}

/* Every stored type, through the codec, into both families. */
static void kt_from_type(bn_tensor_type type, bn_kernel_family fam, int64_t K, int64_t rows) {
    kt_rng rng = {(uint64_t)type * 31 + (uint64_t)fam + 7};
    int8_t *v = malloc((size_t)(K * rows)), *back = malloc((size_t)(K * rows));
    kt_fill_trits(&rng, v, K * rows);
    float s = 0.75f, sb[4096];
    uint64_t nb = bn_ternary_encoded_bytes(type, K, rows);
    cr_assert(nb > 0, "%s K=%lld", bn_tensor_type_name(type), (long long)K);
    uint8_t *bytes = malloc(nb);
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(type, v, &s, BN_TERNARY_SCALE_TENSOR, K, rows, bytes, nb, &err),
                 BN_STATUS_OK, "%s", err.message);
    bn_ternary_matrix m;
    cr_assert_eq(bn_ternary_matrix_init(NULL, fam, type, bytes, nb, K, rows, &m, &err),
                 BN_STATUS_OK, "%s: %s", bn_tensor_type_name(type), err.message);
    bn_ternary_layout want = fam == BN_FAMILY_LUT ? BN_LAYOUT_LUT2
                             : (type == BN_TYPE_TQ1_0 || type == BN_TYPE_IQ1_BN) ? BN_LAYOUT_T3
                                                                                 : BN_LAYOUT_I2;
    cr_assert_eq(m.layout, want, "%s family %d", bn_tensor_type_name(type), fam);
    cr_assert_eq(m.zero_copy, fam == BN_FAMILY_MAD && type == BN_TYPE_I2_S && K % 128 == 0);
    if (m.zero_copy)
        cr_assert_eq(m.data, bytes);
    cr_assert_eq(m.scale_kind, BN_TERNARY_SCALE_TENSOR, "%s", bn_tensor_type_name(type));
    cr_assert_eq(m.scale, 0.75f);
    bn_ternary_scale_kind kind;
    cr_assert_eq(bn_ternary_matrix_decode(&m, back, sb, &kind, &err), BN_STATUS_OK);
    cr_assert(memcmp(v, back, (size_t)(K * rows)) == 0, "%s family %d", bn_tensor_type_name(type),
              fam);
    bn_ternary_matrix_free(&m);
    /* One byte short of the stored size is a format error, never a crash. */
    cr_assert_neq(bn_ternary_matrix_init(NULL, fam, type, bytes, nb - 1 - (type == BN_TYPE_I2_S ? 31 : 0),
                                         K, rows, &m, &err),
                  BN_STATUS_OK, "%s truncated", bn_tensor_type_name(type));
    free(bytes);
    free(v);
    free(back);
}

Test(ternary_matrix, every_stored_type_loads_into_both_families) {
    bn_tensor_type types[] = {BN_TYPE_I2_S,  BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN,
                              BN_TYPE_IQ1_BN, BN_TYPE_F32,  BN_TYPE_F16,   BN_TYPE_BF16};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        for (int f = 0; f < BN_FAMILY_COUNT; f++)
            kt_from_type(types[i], (bn_kernel_family)f, 512, 70);
}

Test(ternary_matrix, i2s_with_k_not_a_multiple_of_128_is_repacked) {
    kt_from_type(BN_TYPE_I2_S, BN_FAMILY_MAD, 8640, 16);
    kt_from_type(BN_TYPE_I2_S, BN_FAMILY_LUT, 8640, 16);
}

Test(ternary_matrix, non_ternary_types_and_bad_shapes_are_refused) {
    uint8_t bytes[4096] = {0};
    bn_ternary_matrix m;
    bn_error err = {0};
    cr_assert_eq(bn_ternary_matrix_init(NULL, BN_FAMILY_MAD, BN_TYPE_Q8_0, bytes, sizeof bytes,
                                        32, 4, &m, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "Q8_0"), "%s", err.message);
    cr_assert_eq(bn_ternary_matrix_init(NULL, BN_FAMILY_MAD, BN_TYPE_I2_S, bytes, sizeof bytes,
                                        0, 4, &m, NULL),
                 BN_STATUS_INVALID_ARG);
    int8_t v[4] = {0, 1, 2, -1};
    float s = 1.0f;
    cr_assert_eq(bn_ternary_matrix_init_values(BN_LAYOUT_I2, v, &s, BN_TERNARY_SCALE_TENSOR, 4, 1,
                                               &m, &err),
                 BN_STATUS_INVALID_ARG, "a 2 is not a trit");
    bn_ternary_matrix_free(NULL);
}

Test(ternary_matrix, tq2_0_loads_directly_with_every_scale_kind) {
    const int64_t K = 512, rows = 3;
    int8_t v[512 * 3], back[512 * 3];
    kt_rng rng = {11};
    kt_fill_trits(&rng, v, K * rows);
    float row_s[6] = {0.5f, 0.5f, 2.0f, 2.0f, 3.0f, 3.0f};
    float blk_s[6] = {0.5f, 0.25f, 2.0f, 2.0f, 3.0f, 3.0f};
    struct {
        const float *s;
        bn_ternary_scale_kind want;
    } cases[2] = {{row_s, BN_TERNARY_SCALE_ROW}, {blk_s, BN_TERNARY_SCALE_BLOCK256}};
    for (int c = 0; c < 2; c++) {
        uint64_t nb = bn_ternary_encoded_bytes(BN_TYPE_TQ2_0, K, rows);
        uint8_t *bytes = malloc(nb);
        cr_assert_eq(bn_ternary_encode(BN_TYPE_TQ2_0, v, cases[c].s, BN_TERNARY_SCALE_BLOCK256, K,
                                       rows, bytes, nb, NULL),
                     BN_STATUS_OK);
        bn_ternary_matrix m;
        bn_error err = {0};
        cr_assert_eq(bn_ternary_matrix_init(NULL, BN_FAMILY_MAD, BN_TYPE_TQ2_0, bytes, nb, K, rows,
                                            &m, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(m.layout, BN_LAYOUT_I2);
        cr_assert_eq(m.scale_kind, cases[c].want);
        float sb[6];
        bn_ternary_scale_kind kind;
        cr_assert_eq(bn_ternary_matrix_decode(&m, back, sb, &kind, NULL), BN_STATUS_OK);
        cr_assert(memcmp(v, back, sizeof v) == 0);
        if (cases[c].want == BN_TERNARY_SCALE_ROW)
            cr_assert(sb[0] == 0.5f && sb[1] == 2.0f && sb[2] == 3.0f);
        else
            cr_assert(memcmp(sb, blk_s, sizeof blk_s) == 0);
        bn_ternary_matrix_free(&m);
        /* A code of 3 is a format error, named. */
        bytes[5] = 0xff;
        cr_assert_eq(bn_ternary_matrix_init(NULL, BN_FAMILY_MAD, BN_TYPE_TQ2_0, bytes, nb, K, rows,
                                            &m, &err),
                     BN_STATUS_FORMAT);
        free(bytes);
    }
}

#include <stdio.h>

#include "loader/gguf.h"

/* The bundled tiny model in three stored layouts (I2_S from bitnet.cpp,
 * TQ2_0 and TQ1_0 from llama.cpp) holds the same trits: every projection
 * loads, in both families, to identical values, with scales that agree up to
 * the f16 rounding of the TQ block scales. */
Test(ternary_matrix, tiny_model_files_load_to_the_same_trits) {
    const char *names[3] = {"tiny-bitnet-I2_S.gguf", "tiny-bitnet-TQ2_0.gguf",
                            "tiny-bitnet-TQ1_0.gguf"};
    bn_gguf *g[3] = {NULL, NULL, NULL};
    for (int f = 0; f < 3; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/tiny-bitnet/%s", BN_SHARED_DIR, names[f]);
        FILE *probe = fopen(path, "rb");
        if (!probe)
            cr_skip_test("%s is absent", path);
        fclose(probe);
        bn_error err = {0};
        cr_assert_eq(bn_gguf_open_file(path, NULL, &g[f], &err), BN_STATUS_OK, "%s: %s", path,
                     err.message);
    }
    int checked = 0;
    for (size_t i = 0; i < bn_gguf_tensor_count(g[0]); i++) {
        const bn_gguf_tensor *t0 = bn_gguf_tensor_at(g[0], i);
        if (t0->type != BN_TYPE_I2_S)
            continue;
        int64_t K = t0->ne[0], rows = t0->ne[1];
        int8_t *ref_v = NULL;
        float ref_s = 0;
        for (int f = 0; f < 3; f++) {
            const bn_gguf_tensor *t = bn_gguf_find_tensor(g[f], t0->name);
            cr_assert_not_null(t, "%s missing in %s", t0->name, names[f]);
            if (!bn_tensor_type_traits_of(t->type)->is_ternary)
                continue; /* a quantizer fallback: not ternary in this file */
            for (int fam = 0; fam < BN_FAMILY_COUNT; fam++) {
                bn_ternary_matrix m;
                bn_error err = {0};
                cr_assert_eq(bn_ternary_matrix_init(NULL, (bn_kernel_family)fam, t->type, t->data,
                                                    t->n_bytes, K, rows, &m, &err),
                             BN_STATUS_OK, "%s in %s: %s", t->name, names[f], err.message);
                int8_t *v = malloc((size_t)(K * rows));
                float *s = malloc(sizeof(float) * (size_t)(rows * (K / 256 + 1)));
                bn_ternary_scale_kind kind;
                cr_assert_eq(bn_ternary_matrix_decode(&m, v, s, &kind, NULL), BN_STATUS_OK);
                cr_assert_eq(kind, BN_TERNARY_SCALE_TENSOR, "%s in %s: scales fold to one",
                             t->name, names[f]);
                if (!ref_v) {
                    ref_v = v;
                    ref_s = s[0];
                } else {
                    cr_assert(memcmp(ref_v, v, (size_t)(K * rows)) == 0, "%s: %s differs",
                              t->name, names[f]);
                    cr_assert(fabsf(s[0] - ref_s) <= 1e-3f * ref_s, "%s: scale %g vs %g",
                              t->name, (double)s[0], (double)ref_s);
                    free(v);
                }
                free(s);
                bn_ternary_matrix_free(&m);
            }
        }
        free(ref_v);
        checked++;
    }
    cr_assert(checked >= 7, "only %d ternary tensors checked", checked);
    for (int f = 0; f < 3; f++)
        bn_gguf_close(g[f]);
}

/* ---- the row-at-a-time load path against the generic one ---------------
 *
 * bn_ternary_matrix_init decodes and packs a row at a time; the generic path
 * (bn_ternary_decode of the whole tensor, then bn_ternary_matrix_init_values
 * with the family's layout) is the definition. Both must give the same
 * layout, shape, bytes and scales, or the same failure. */

/* Stored bytes of (type, K, rows) from random trits with scales of `kind`
 * (values zeroed in some rows and blocks so that scale folding has blocks of
 * zeros to skip), or NULL when the type cannot hold this shape. */
static uint8_t *kt_stored(bn_tensor_type type, int64_t K, int64_t rows, int variant,
                          kt_rng *rng, uint64_t *nb_out) {
    uint64_t nb = bn_ternary_encoded_bytes(type, K, rows);
    if (nb == 0)
        return NULL;
    int8_t *v = malloc((size_t)(K * rows));
    kt_fill_trits(rng, v, K * rows);
    if (rows > 2)
        memset(v + K, 0, (size_t)K); /* row 1 is all zero */
    if (K >= 512)
        memset(v, 0, 256); /* block 0 of row 0 is zero */
    size_t ns = (size_t)(rows * (K / 256 > 0 ? K / 256 : 1));
    float *s = malloc(ns * sizeof *s);
    bn_ternary_scale_kind kind = BN_TERNARY_SCALE_TENSOR;
    bool tq = type == BN_TYPE_TQ2_0 || type == BN_TYPE_TQ1_0;
    for (size_t i = 0; i < ns; i++)
        s[i] = 0.5f;
    if (variant == 1 && type != BN_TYPE_I2_S) { /* a scale per row */
        kind = BN_TERNARY_SCALE_ROW;
        for (int64_t r = 0; r < rows; r++)
            s[r] = 0.25f * (float)(1 + r % 5);
    } else if (variant == 2 && tq) { /* unequal blocks: stays BLOCK256 */
        kind = BN_TERNARY_SCALE_BLOCK256;
        for (size_t i = 0; i < ns; i++)
            s[i] = 0.125f * (float)(1 + i % 3);
    } else if (variant == 3 && tq) { /* unequal only where the block is zero */
        kind = BN_TERNARY_SCALE_BLOCK256;
        s[0] = 4.0f;
    }
    uint8_t *bytes = malloc(nb);
    bn_error err = {0};
    cr_assert_eq(bn_ternary_encode(type, v, s, kind, K, rows, bytes, nb, &err), BN_STATUS_OK,
                 "%s K=%lld: %s", bn_tensor_type_name(type), (long long)K, err.message);
    free(v);
    free(s);
    *nb_out = nb;
    return bytes;
}

static void kt_same_as_generic(const bn_kernels *k, bn_kernel_family fam, bn_tensor_type type,
                               const uint8_t *bytes, uint64_t nb, int64_t K, int64_t rows) {
    const char *tn = bn_tensor_type_name(type);
    if (fam == BN_FAMILY_MAD && type == BN_TYPE_I2_S && K % 128 == 0)
        return; /* zero-copy: nothing is decoded */
    bn_ternary_matrix fast, slow;
    bn_error ef = {0}, es = {0};
    bn_status sf = bn_ternary_matrix_init(k, fam, type, bytes, nb, K, rows, &fast, &ef);

    /* The generic path, with the layout init chooses for this family. */
    size_t ns = bn_ternary_scale_count(type, K, rows);
    int8_t *v = malloc((size_t)(K * rows));
    float *s = malloc((ns ? ns : 1) * sizeof *s);
    bn_ternary_scale_kind kind;
    bn_status ss = bn_ternary_decode(type, bytes, nb, K, rows, v, s, &kind, &es);
    bn_ternary_layout layout = fam == BN_FAMILY_LUT ? BN_LAYOUT_LUT2 : BN_LAYOUT_I2;
    if (fam == BN_FAMILY_MAD && (type == BN_TYPE_TQ1_0 || type == BN_TYPE_IQ1_BN) &&
        !k->mad_1p6_in_i2)
        layout = k->ternary[BN_LAYOUT_T3].gemm ? BN_LAYOUT_T3 : BN_LAYOUT_T5;
    if (ss == BN_STATUS_OK)
        ss = bn_ternary_matrix_init_values(layout, v, s, kind, K, rows, &slow, &es);
    cr_assert_eq(sf, ss, "%s fam %d K=%lld rows=%lld: %s / %s", tn, fam, (long long)K,
                 (long long)rows, ef.message, es.message);
    if (sf != BN_STATUS_OK) {
        cr_assert_str_eq(ef.message, es.message);
    } else if (!fast.zero_copy) {
        cr_assert_eq(fast.layout, slow.layout, "%s fam %d K=%lld", tn, fam, (long long)K);
        cr_assert_eq(fast.Kp, slow.Kp);
        cr_assert_eq(fast.row_bytes, slow.row_bytes);
        cr_assert_eq(fast.data_bytes, slow.data_bytes);
        cr_assert(memcmp(fast.data, slow.data, (size_t)fast.data_bytes) == 0,
                  "%s fam %d layout %d K=%lld rows=%lld: bytes differ", tn, fam, fast.layout,
                  (long long)K, (long long)rows);
        cr_assert_eq(fast.row_sums == NULL, fast.layout != BN_LAYOUT_T3);
        if (fast.row_sums)
            cr_assert(memcmp(fast.row_sums, slow.row_sums, sizeof(int32_t) * (size_t)rows) == 0,
                      "%s K=%lld: T3 row sums differ", tn, (long long)K);
        cr_assert_eq(fast.scale_kind, slow.scale_kind, "%s K=%lld", tn, (long long)K);
        if (fast.scale_kind == BN_TERNARY_SCALE_TENSOR)
            cr_assert(memcmp(&fast.scale, &slow.scale, sizeof fast.scale) == 0);
        else
            cr_assert(memcmp(fast.scales, slow.scales,
                             sizeof(float) * (size_t)(fast.scale_kind == BN_TERNARY_SCALE_ROW
                                                          ? rows
                                                          : rows * (K / 256))) == 0);
    }
    if (sf == BN_STATUS_OK)
        bn_ternary_matrix_free(&fast);
    if (ss == BN_STATUS_OK && sf == BN_STATUS_OK)
        bn_ternary_matrix_free(&slow);
    free(v);
    free(s);
}

static void kt_load_path_matches(const bn_kernels *k) {
    const bn_tensor_type types[] = {BN_TYPE_I2_S,   BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN,
                                    BN_TYPE_IQ1_BN, BN_TYPE_F32,   BN_TYPE_F16,   BN_TYPE_BF16};
    const int64_t Ks[] = {64, 256, 320, 512, 2560, 3200, 8640};
    const int64_t rows[] = {1, 3, 65};
    kt_rng rng = {42};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++)
            for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++)
                for (int variant = 0; variant < 4; variant++) {
                    bool floats = types[t] == BN_TYPE_F32 || types[t] == BN_TYPE_F16 ||
                                  types[t] == BN_TYPE_BF16;
                    if (floats && Ks[i] > 512)
                        continue; /* slow to encode, and the same code for any K */
                    uint64_t nb;
                    uint8_t *bytes = kt_stored(types[t], Ks[i], rows[j], variant, &rng, &nb);
                    if (!bytes)
                        continue;
                    for (int f = 0; f < BN_FAMILY_COUNT; f++)
                        kt_same_as_generic(k, (bn_kernel_family)f, types[t], bytes, nb, Ks[i],
                                           rows[j]);
                    free(bytes);
                }
}

Test(ternary_matrix, the_load_path_gives_the_generic_bytes_for_every_type_and_scale_kind) {
    kt_load_path_matches(kt_table("ref"));
}

Test(ternary_matrix, the_load_path_gives_the_generic_bytes_in_t5_too) {
    bn_kernels no_t3 = *kt_table("ref"); /* a table without T3: 1.6-bit types go to T5 */
    no_t3.ternary[BN_LAYOUT_T3].gemm = NULL;
    kt_load_path_matches(&no_t3);
}

Test(ternary_matrix, the_load_path_gives_the_generic_bytes_in_i2_where_the_table_asks) {
    bn_kernels i2 = *kt_table("ref"); /* a table that asks for I2 for 1.6-bit types */
    i2.mad_1p6_in_i2 = true;
    kt_load_path_matches(&i2);
}

/* avx2 runs them natively too (x86/avx2_t3.c): 1.67 bits in memory. */
Test(ternary_matrix, one_point_six_bit_types_take_t3_on_the_avx2_table) {
    const bn_kernels *k = kt_table("avx2");
    cr_assert(!k->mad_1p6_in_i2);
    const int64_t K = 2560, rows = 16;
    int8_t *v = malloc((size_t)(K * rows));
    kt_rng rng = {5};
    kt_fill_trits(&rng, v, K * rows);
    float s = 0.5f;
    const bn_tensor_type types[] = {BN_TYPE_TQ1_0, BN_TYPE_IQ1_BN};
    for (size_t t = 0; t < 2; t++) {
        uint64_t nb = bn_ternary_encoded_bytes(types[t], K, rows);
        uint8_t *bytes = malloc(nb);
        cr_assert_eq(bn_ternary_encode(types[t], v, &s, BN_TERNARY_SCALE_TENSOR, K, rows, bytes,
                                       nb, NULL),
                     BN_STATUS_OK);
        bn_ternary_matrix m;
        cr_assert_eq(bn_ternary_matrix_init(k, BN_FAMILY_MAD, types[t], bytes, nb, K, rows, &m,
                                            NULL),
                     BN_STATUS_OK);
        cr_assert_eq(m.layout, BN_LAYOUT_T3, "%s", bn_tensor_type_name(types[t]));
        cr_assert_not_null(m.row_sums);
        bn_ternary_matrix_free(&m);
        free(bytes);
    }
    free(v);
}

/* Raw random bytes: every byte value in the base-3 types (codes of 3 in the
 * 2-bit ones: the same error, named the same way). */
Test(ternary_matrix, the_load_path_matches_on_random_stored_bytes) {
    const bn_tensor_type types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0, BN_TYPE_IQ2_BN,
                                    BN_TYPE_IQ1_BN};
    kt_rng rng = {7};
    const bn_kernels *k = kt_table("ref");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int twos = 0; twos < 2; twos++) {
            const int64_t K = 2560, rows = 66;
            uint64_t nb = bn_ternary_encoded_bytes(types[t], K, rows);
            uint8_t *bytes = malloc(nb);
            for (uint64_t i = 0; i < nb; i++) {
                uint8_t b = (uint8_t)kt_next(&rng);
                /* twos == 0: every pair of 3 becomes 2, so 2-bit types hold
                 * codes 0..2 only (the base-3 ones still see any byte). */
                bytes[i] = twos ? b : (uint8_t)(b ^ (b & (b >> 1) & 0x55));
            }
            /* keep the scale fields finite */
            if (types[t] == BN_TYPE_I2_S) {
                float s = 0.5f;
                memcpy(bytes + K * rows / 4, &s, 4);
            }
            for (int f = 0; f < BN_FAMILY_COUNT; f++)
                kt_same_as_generic(k, (bn_kernel_family)f, types[t], bytes, nb, K, rows);
            free(bytes);
        }
}

/* The load path's T3 row sums add trits in int8 lanes flushed every 127
 * steps of 32 trits, and its TQ1_0 decoder takes the qh bytes of 16 blocks
 * at a time: rows long enough to cross both (K = 8640 is 270 steps; 17 and
 * 32 TQ1_0 blocks), of random trits and of constant ones (every trit +1 or
 * -1: the largest lane sums), give the generic path's bytes, and row sums
 * counted here independently (both paths share bn_trit_sum). */
Test(ternary_matrix, the_load_path_matches_across_trit_sum_flushes_and_tq1_0_block_groups) {
    const bn_tensor_type types[] = {BN_TYPE_TQ1_0, BN_TYPE_IQ1_BN};
    const int64_t Ks[] = {4032, 4096, 4160, 4352, 8192, 8640};
    const int64_t rows = 3;
    const bn_kernels *k = kt_table("ref");
    kt_rng rng = {11};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++) {
            const int64_t K = Ks[i];
            uint64_t nb = bn_ternary_encoded_bytes(types[t], K, rows);
            if (nb == 0)
                continue; /* TQ1_0 needs K % 256 == 0 */
            for (int fill = 0; fill < 3; fill++) { /* random, all +1, all -1 */
                int8_t *v = malloc((size_t)(K * rows));
                if (fill == 0)
                    kt_fill_trits(&rng, v, K * rows);
                else
                    memset(v, fill == 1 ? 1 : -1, (size_t)(K * rows));
                float s = 0.5f;
                uint8_t *bytes = malloc(nb);
                cr_assert_eq(bn_ternary_encode(types[t], v, &s, BN_TERNARY_SCALE_TENSOR, K, rows,
                                               bytes, nb, NULL),
                             BN_STATUS_OK);
                kt_same_as_generic(k, BN_FAMILY_MAD, types[t], bytes, nb, K, rows);
                bn_ternary_matrix m;
                cr_assert_eq(bn_ternary_matrix_init(k, BN_FAMILY_MAD, types[t], bytes, nb, K,
                                                    rows, &m, NULL),
                             BN_STATUS_OK);
                cr_assert_eq(m.layout, BN_LAYOUT_T3);
                for (int64_t r = 0; r < rows; r++) {
                    int32_t sum = 0;
                    for (int64_t j = 0; j < K; j++)
                        sum += v[r * K + j];
                    cr_assert_eq(m.row_sums[r], sum, "%s K=%lld fill %d row %lld",
                                 bn_tensor_type_name(types[t]), (long long)K, fill, (long long)r);
                }
                bn_ternary_matrix_free(&m);
                free(bytes);
                free(v);
            }
        }
}
