/* test_select.c: choosing kernel tables (kernels/select.c, kernels/cpu.c). */
#include "kernel_test.h"

Test(select, default_choice_is_the_best_available_table) {
    const bn_kernels *k = NULL, *all[8];
    bn_error err = {0};
    cr_assert_eq(bn_kernels_select(NULL, &k, &err), BN_STATUS_OK);
    size_t n = bn_kernels_available(all, 8);
    cr_assert(n >= 1 && n <= 8);
    cr_assert_str_eq(all[0]->name, "ref");
    cr_assert_eq(k, all[n - 1], "default %s, best %s", k->name, all[n - 1]->name);
    cr_assert_eq(bn_kernels_select("", &k, &err), BN_STATUS_OK);
    cr_assert_eq(k, all[n - 1]);
}

Test(select, ref_is_always_there) {
    const bn_kernels *k = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_kernels_select("ref", &k, &err), BN_STATUS_OK);
    cr_assert_str_eq(k->name, "ref");
    cr_assert_eq(bn_kernels_find("ref"), k);
}

Test(select, unknown_name_is_an_invalid_argument) {
    const bn_kernels *k = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_kernels_select("sse9", &k, &err), BN_STATUS_INVALID_ARG);
    cr_assert_null(k);
    cr_assert(strstr(err.message, "sse9"), "%s", err.message);
}

Test(select, every_known_name_is_ok_or_unsupported_with_a_reason) {
    const char *names[] = {"ref", "avx2", "avx512", "avx512vbmi", "neon", "neon-dotprod"};
    for (size_t i = 0; i < 6; i++) {
        const bn_kernels *k = NULL;
        bn_error err = {0};
        bn_status st = bn_kernels_select(names[i], &k, &err);
        if (st == BN_STATUS_OK) {
            cr_assert_str_eq(k->name, names[i]);
            cr_assert(k->row_granule >= 1);
        } else {
            cr_assert_eq(st, BN_STATUS_UNSUPPORTED, "%s", names[i]);
            cr_assert(strstr(err.message, names[i]), "%s", err.message);
        }
    }
}

Test(select, every_available_table_is_complete) {
    const bn_kernels *all[8];
    size_t n = bn_kernels_available(all, 8);
    for (size_t i = 0; i < n; i++) {
        const bn_kernels *k = all[i];
        cr_assert(k->act_quant && k->act_rmsnorm_quant && k->dense_gemm && k->dense_gemm_i8,
                  "%s", k->name);
        for (int l = 0; l < BN_LAYOUT_COUNT; l++)
            cr_assert(k->ternary[l].gemm && k->ternary[l].gemm_acc, "%s layout %d", k->name,
                      l);
        cr_assert(k->dot_f32 && k->dot_f16 && k->axpy_f32 && k->axpy_f16 && k->rmsnorm &&
                      k->softmax && k->f16_to_f32 && k->f32_to_f16,
                  "%s", k->name);
    }
}

Test(select, row_split_covers_every_row_once_at_granule_boundaries) {
    int64_t rows_list[] = {1, 63, 64, 65, 640, 2560, 6912, 128256};
    for (size_t i = 0; i < sizeof rows_list / sizeof rows_list[0]; i++)
        for (int nth = 1; nth <= 7; nth++) {
            int64_t next = 0;
            for (int ith = 0; ith < nth; ith++) {
                int64_t b, e;
                bn_kernels_split_rows(rows_list[i], 64, ith, nth, &b, &e);
                cr_assert_eq(b, next);
                cr_assert(e >= b);
                cr_assert(b % 64 == 0 || b == rows_list[i]);
                cr_assert(e % 64 == 0 || e == rows_list[i]);
                next = e;
            }
            cr_assert_eq(next, rows_list[i]);
        }
}
