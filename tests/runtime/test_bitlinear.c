/* test_bitlinear.c: the public BitLinear product (runtime/bitlinear.c)
 * against the exact integer formula, on every table this CPU runs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "runtime/bitnet_quant.h"

enum { R = 40, K = 512, T = 3 };

Test(bitlinear, equals_the_integer_formula_on_every_table) {
    static float w[R * K], x[T * K], y[T * R], y1[T * R];
    static int8_t c[R * K], q[T * K];
    unsigned seed = 11;
    for (int i = 0; i < R * K; i++) {
        seed = seed * 1103515245u + 12345u;
        w[i] = (float)((int)(seed >> 16) % 2001 - 1000) / 1000.0f;
    }
    for (int i = 0; i < T * K; i++)
        x[i] = sinf((float)i * 0.37f) * 3.0f;
    float s, as[T];
    cr_assert_eq(bn_quant_weights_ternary(w, R, K, 0, c, &s, NULL), BN_STATUS_OK);
    cr_assert_eq(bn_quant_act_i8(x, T, K, NULL, q, as, NULL, NULL), BN_STATUS_OK);
    const bn_kernels *tables[8];
    size_t n = bn_kernels_available(tables, 8);
    for (size_t ti = 0; ti < n; ti++) {
        bn_bitlinear *bl;
        cr_assert_eq(bn_bitlinear_new_codes(c, &s, R, K, 0, tables[ti]->name, &bl, NULL),
                     BN_STATUS_OK);
        cr_assert_str_eq(bn_bitlinear_kernels_name(bl), tables[ti]->name);
        cr_assert_eq(bn_bitlinear_forward(bl, x, T, y, 2, NULL), BN_STATUS_OK);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < R; r++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++)
                    acc += c[r * K + k] * q[t * K + k];
                cr_assert_eq(y[t * R + r], (float)acc / as[t] * s, "%s t%d r%d",
                             tables[ti]->name, t, r);
            }
        bn_bitlinear_free(bl);
        /* Packed I2_S / TQ2_0 bytes give the same result. */
        const bn_qtype packs[] = {BN_QTYPE_I2_S, BN_QTYPE_TQ2_0, BN_QTYPE_TQ1_0};
        for (int p = 0; p < 3; p++) {
            float sp = packs[p] == BN_QTYPE_I2_S ? s : 0.5f; /* exact in f16 */
            uint64_t nb;
            cr_assert_eq(bn_quant_packed_bytes(packs[p], R, K, &nb, NULL), BN_STATUS_OK);
            void *buf = malloc(nb);
            cr_assert_eq(bn_quant_pack(packs[p], c, &sp, R, K, 0, buf, nb, NULL), BN_STATUS_OK);
            cr_assert_eq(bn_bitlinear_new(packs[p], buf, nb, R, K, tables[ti]->name, &bl, NULL),
                         BN_STATUS_OK);
            free(buf); /* the object keeps its own copy */
            cr_assert_eq(bn_bitlinear_forward(bl, x, T, y1, 1, NULL), BN_STATUS_OK);
            for (int i = 0; i < T * R; i++) {
                float want = packs[p] == BN_QTYPE_I2_S ? y[i] : y[i] / s * 0.5f;
                cr_assert_float_eq(y1[i], want, 1e-6f * fabsf(want) + 1e-6f, "%s %s",
                                   tables[ti]->name, bn_qtype_name(packs[p]));
            }
            bn_bitlinear_free(bl);
        }
    }
}

Test(bitlinear, refuses_bad_arguments) {
    int8_t c[256] = {0};
    float s = 1.0f;
    bn_bitlinear *bl = (bn_bitlinear *)1;
    bn_error err = {0};
    cr_assert_eq(bn_bitlinear_new_codes(c, &s, 1, 256, 64, NULL, &bl, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert_null(bl);
    cr_assert_eq(bn_bitlinear_new_codes(c, &s, 1, 256, 0, "nonsense", &bl, NULL),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_bitlinear_new(BN_QTYPE_I2_S, c, 10, 1, 256, NULL, &bl, NULL),
                 BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_bitlinear_new_codes(c, &s, 1, 256, 0, NULL, &bl, NULL), BN_STATUS_OK);
    float x[256] = {0}, y[1];
    cr_assert_eq(bn_bitlinear_forward(bl, x, 0, y, 1, NULL), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_bitlinear_forward(bl, x, 1, y, 1, NULL), BN_STATUS_OK);
    cr_assert_eq(y[0], 0.0f);
    bn_bitlinear_free(bl);
    bn_bitlinear_free(NULL);
}
