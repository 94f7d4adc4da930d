/* ref/table.c: the scalar reference table, always built.
 *
 * The oracle every other table is tested against, and the table used on
 * CPUs without a faster one (or with BN_KERNELS=ref).
 */
#include "kernels/internal.h"

const bn_kernels bn_kernels_ref = {
    .name = "ref",
    .row_granule = BN_ROW_GRANULE,
    .act_quant = bn_act_quant_i8_ref,
    .act_rmsnorm_quant = bn_act_rmsnorm_quant_i8_ref,
    .ternary =
        {
            [BN_LAYOUT_I2] = {bn_gemm_ternary_i8_ref, bn_gemm_acc_ternary_i8_ref},
            [BN_LAYOUT_T5] = {bn_gemm_ternary_i8_ref, bn_gemm_acc_ternary_i8_ref},
            [BN_LAYOUT_LUT2] = {bn_gemm_ternary_i8_ref, bn_gemm_acc_ternary_i8_ref},
            [BN_LAYOUT_T3] = {bn_gemm_ternary_i8_ref, bn_gemm_acc_ternary_i8_ref},
        },
    .dense_gemm = bn_dense_gemm_f32_ref,
    .dense_gemm_i8 = bn_dense_gemm_i8_ref,
    .dot_f32 = bn_dot_f32_ref,
    .dot_f16 = bn_dot_f16_ref,
    .axpy_f32 = bn_axpy_f32_ref,
    .axpy_f16 = bn_axpy_f16_ref,
    .rmsnorm = bn_rmsnorm_f32_ref,
    .softmax = bn_softmax_f32_ref,
    .f16_to_f32 = bn_f16_to_f32_ref,
    .f32_to_f16 = bn_f32_to_f16_ref,
    .attend = bn_attend_ref,
};
