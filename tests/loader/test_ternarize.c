/* test_ternarize.c: absmean ternarization as PyTorch computes it. */
#include <criterion/criterion.h>
#include <math.h>

#include "loader/ternarize.h"

Test(ternarize, rounds_half_to_even_and_clamps) {
    float w[8] = {0.5f, 1.5f, -0.5f, -1.5f, 0.49f, 3.0f, -7.0f, 0.0f};
    int8_t t[8];
    bn_ternarize(w, 8, 1.0f, t);
    int8_t want[8] = {0, 1, 0, -1, 0, 1, -1, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(t[i], want[i], "w[%d] = %g", i, (double)w[i]);
}

Test(ternarize, absmean_has_a_floor_of_1e_5) {
    float z[4] = {0};
    cr_assert_eq(bn_absmean_scale(z, 4), 1e-5f);
    float w[4] = {1, -2, 3, -4};
    cr_assert_eq(bn_absmean_scale(w, 4), 2.5f);
}

Test(ternarize, absmean_sums_in_pytorch_order) {
    /* 1e8 followed by many ones: a plain left-to-right float sum loses every
     * 1 (1e8 + 1 == 1e8 in float), PyTorch's lane/cascade order keeps most of
     * them. The exact mean here is (1e8 + 4095) / 4096. */
    enum { N = 4096 };
    static float w[N];
    w[0] = 1e8f;
    for (int i = 1; i < N; i++)
        w[i] = 1.0f;
    float s = bn_absmean_scale(w, N);
    float naive = 0;
    for (int i = 0; i < N; i++)
        naive += w[i];
    naive /= N;
    cr_assert_neq(s, naive, "the cascade must differ from a naive sum here");
    cr_assert_float_eq(s, (1e8f + 4095.0f) / 4096.0f, 0.1f);
}

Test(ternarize, fits_the_least_squares_scale) {
    float w[4] = {0.9f, -1.1f, 0.05f, 1.0f};
    int8_t t[4] = {1, -1, 0, 1};
    cr_assert_float_eq(bn_ternary_fit_scale(w, t, 4), 1.0f, 1e-6f);
    int8_t z[4] = {0};
    cr_assert_eq(bn_ternary_fit_scale(w, z, 4), 0.0f);
}
