/* test_tensor_type.c: the type table, id interpretation and byte sizes. */
#include <criterion/criterion.h>
#include <string.h>

#include "loader/tensor_type.h"

static uint64_t nbytes_of(bn_tensor_type type, int64_t ne0, int64_t ne1)
{
    const int64_t ne[4] = {ne0, ne1, 1, 1};
    uint64_t n = 0;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_nbytes(type, ne, &n, &err), BN_STATUS_OK, "%s", err.message);
    return n;
}

Test(tensor_type, table_has_the_documented_block_sizes)
{
    struct { bn_tensor_type t; const char *name; uint32_t id, block, bytes, meta; bool ternary; }
    rows[] = {
        {BN_TYPE_F32, "F32", 0, 1, 4, 0, false},       {BN_TYPE_F16, "F16", 1, 1, 2, 0, false},
        {BN_TYPE_BF16, "BF16", 30, 1, 2, 0, false},    {BN_TYPE_Q8_0, "Q8_0", 8, 32, 34, 0, false},
        {BN_TYPE_Q6_K, "Q6_K", 14, 256, 210, 0, false}, {BN_TYPE_TQ1_0, "TQ1_0", 34, 256, 54, 0, true},
        {BN_TYPE_TQ2_0, "TQ2_0", 35, 256, 66, 0, true}, {BN_TYPE_I2_S, "I2_S", 36, 128, 32, 0, true},
        {BN_TYPE_IQ1_BN, "IQ1_BN", 134, 64, 13, 2, true},
        {BN_TYPE_IQ2_BN, "IQ2_BN", 135, 64, 16, 4, true},
        {BN_TYPE_IQ2_BN_R4, "IQ2_BN_R4", 335, 64, 16, 4, true},
    };
    cr_assert_eq(sizeof rows / sizeof rows[0], BN_TYPE_COUNT);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(rows[i].t);
        cr_assert_not_null(tr);
        cr_assert_str_eq(tr->name, rows[i].name);
        cr_assert_str_eq(bn_tensor_type_name(rows[i].t), rows[i].name);
        cr_assert_eq(tr->ggml_id, rows[i].id, "%s", rows[i].name);
        cr_assert_eq(tr->block_size, rows[i].block, "%s", rows[i].name);
        cr_assert_eq(tr->block_bytes, rows[i].bytes, "%s", rows[i].name);
        cr_assert_eq(tr->row_meta_bytes, rows[i].meta, "%s", rows[i].name);
        cr_assert_eq(tr->is_ternary, rows[i].ternary, "%s", rows[i].name);
        /* the id maps back to the type */
        bn_tensor_type back;
        bn_error err = {0};
        cr_assert_eq(bn_tensor_type_from_ggml(rows[i].id, true, &back, &err), BN_STATUS_OK);
        cr_assert_eq(back, rows[i].t);
    }
    cr_assert_null(bn_tensor_type_traits_of(BN_TYPE_COUNT));
}

Test(tensor_type, computes_block_type_sizes)
{
    cr_assert_eq(nbytes_of(BN_TYPE_F32, 256, 3), 256 * 3 * 4);
    cr_assert_eq(nbytes_of(BN_TYPE_F16, 7, 3), 7 * 3 * 2);
    cr_assert_eq(nbytes_of(BN_TYPE_Q8_0, 64, 2), 2 * 2 * 34);
    cr_assert_eq(nbytes_of(BN_TYPE_Q6_K, 512, 1), 2 * 210);
    cr_assert_eq(nbytes_of(BN_TYPE_TQ1_0, 2560, 2), 10 * 54 * 2);
    cr_assert_eq(nbytes_of(BN_TYPE_TQ2_0, 256, 64), 66 * 64);
}

Test(tensor_type, sizes_i2s_as_a_quarter_byte_per_value_plus_a_32_byte_tail)
{
    cr_assert_eq(nbytes_of(BN_TYPE_I2_S, 256, 256), 256 * 256 / 4 + 32);
    cr_assert_eq(nbytes_of(BN_TYPE_I2_S, 2560, 6912), 2560ull * 6912 / 4 + 32);
    cr_assert_eq(bn_tensor_type_row_bytes(BN_TYPE_I2_S, 256), 0);
}

Test(tensor_type, puts_a_scale_before_each_iq_bn_row)
{
    cr_assert_eq(nbytes_of(BN_TYPE_IQ1_BN, 128, 3), 3 * (2 + 2 * 13));
    cr_assert_eq(nbytes_of(BN_TYPE_IQ2_BN, 128, 3), 3 * (4 + 2 * 16));
    cr_assert_eq(bn_tensor_type_row_bytes(BN_TYPE_IQ2_BN, 2560), 4 + 40 * 16);
    cr_assert_eq(bn_tensor_type_row_bytes(BN_TYPE_TQ2_0, 2560), 10 * 66);
}

Test(tensor_type, sizes_iq2_bn_r4_as_iq2_bn_without_addressable_rows)
{
    cr_assert_eq(nbytes_of(BN_TYPE_IQ2_BN_R4, 128, 8), nbytes_of(BN_TYPE_IQ2_BN, 128, 8));
    cr_assert_eq(bn_tensor_type_row_bytes(BN_TYPE_IQ2_BN_R4, 2560), 0);
}

Test(tensor_type, rejects_a_row_that_is_not_whole_blocks)
{
    const int64_t ne[4] = {100, 2, 1, 1};
    uint64_t n;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_TQ2_0, ne, &n, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "100") && strstr(err.message, "256"), "%s", err.message);
}

Test(tensor_type, rejects_zero_and_negative_dims)
{
    const int64_t zero[4] = {32, 0, 1, 1}, neg[4] = {-32, 1, 1, 1};
    uint64_t n;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_F32, zero, &n, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_F32, neg, &n, &err), BN_STATUS_FORMAT);
}

Test(tensor_type, rejects_element_counts_and_byte_sizes_that_overflow)
{
    uint64_t n;
    bn_error err = {0};
    const int64_t big[4] = {1ll << 32, 1ll << 32, 1, 1};
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_F32, big, &n, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "overflows"), "%s", err.message);
    bn_error_clear(&err);
    /* 2^62 elements fit int64, but 2^62 * 4 bytes does not fit u64 */
    const int64_t wide[4] = {1ll << 62, 1, 1, 1};
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_F32, wide, &n, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    const int64_t four[4] = {1ll << 20, 1ll << 20, 1ll << 20, 1ll << 20};
    cr_assert_eq(bn_tensor_type_nbytes(BN_TYPE_I2_S, four, &n, &err), BN_STATUS_FORMAT);
}

Test(tensor_type, refuses_tl1_and_tl2_with_a_conversion_hint)
{
    bn_tensor_type t;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_from_ggml(BN_GGML_ID_TL2, true, &t, &err), BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "TL2") && strstr(err.message, "I2_S"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_from_ggml(BN_GGML_ID_TL1, false, &t, &err), BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "TL1") && strstr(err.message, "convert"), "%s", err.message);
}

Test(tensor_type, names_known_but_unsupported_ids)
{
    bn_tensor_type t;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_from_ggml(12, true, &t, &err), BN_STATUS_UNSUPPORTED);
    cr_assert_str_eq(err.message, "type Q4_K (12) is not supported by bitnet");
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_from_ggml(336, true, &t, &err), BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "ik_llama"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_from_ggml(39, false, &t, &err), BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "MXFP4"), "%s", err.message);
}

Test(tensor_type, reads_36_as_i2s_only_when_told_the_file_is_bitnet_family)
{
    bn_tensor_type t;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_from_ggml(36, true, &t, &err), BN_STATUS_OK);
    cr_assert_eq(t, BN_TYPE_I2_S);
    cr_assert_eq(bn_tensor_type_from_ggml(36, false, &t, &err), BN_STATUS_UNSUPPORTED);
}

Test(tensor_type, calls_an_id_nobody_defines_a_format_error)
{
    bn_tensor_type t;
    bn_error err = {0};
    cr_assert_eq(bn_tensor_type_from_ggml(99, true, &t, &err), BN_STATUS_FORMAT);
    cr_assert_str_eq(err.message, "unknown tensor type id 99");
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_from_ggml(4, true, &t, &err), BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(bn_tensor_type_from_ggml(0xFFFFFFFFu, true, &t, &err), BN_STATUS_FORMAT);
}
