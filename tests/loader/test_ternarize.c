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

Test(ternarize, comparison_codes_equal_rint_and_clamp) {
    /* Around every rounding boundary, and NaN/infinities: the two-comparison
     * codes are exactly clamp(rintf(w / s), -1, 1). */
    float w[] = {0.5f, nextafterf(0.5f, 1.0f), nextafterf(0.5f, 0.0f), -0.5f,
                 nextafterf(-0.5f, -1.0f), nextafterf(-0.5f, 0.0f), 1.5f, -1.5f, 2.5f, 1e30f,
                 -1e30f, INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-30f, 0.75f, -0.25f};
    enum { N = sizeof w / sizeof w[0] };
    const float scales[] = {1.0f, 0.3f, 3.0f, 1e-5f};
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
        int8_t t[N];
        bn_ternarize(w, N, scales[si], t);
        for (int i = 0; i < N; i++) {
            float q = rintf(w[i] / scales[si]);
            int8_t want = (int8_t)(q >= 1.0f ? 1 : q <= -1.0f ? -1 : 0);
            cr_assert_eq(t[i], want, "w = %a, s = %g", (double)w[i], (double)scales[si]);
        }
    }
}

Test(ternarize, threshold_codes_equal_division_around_every_boundary) {
    /* For many scales, the floats a few ulps around +-s/2 and +-3s/2: the
     * codes equal clamp(rintf(w / s), -1, 1) computed with the division. */
    unsigned seed = 99;
    for (int it = 0; it < 20000; it++) {
        seed = seed * 1103515245u + 12345u;
        float s = ldexpf(1.0f + (float)(seed >> 8) / 16777216.0f, (int)(seed % 40) - 30);
        float base[4] = {0.5f * s, -0.5f * s, 1.5f * s, nextafterf(0.5f * s, 0.0f)};
        float w[4 * 9];
        for (int b = 0; b < 4; b++) {
            float v = base[b];
            for (int j = 0; j < 4; j++)
                v = nextafterf(v, -INFINITY);
            for (int j = 0; j < 9; j++, v = nextafterf(v, INFINITY))
                w[b * 9 + j] = v;
        }
        int8_t t[4 * 9];
        bn_ternarize(w, 4 * 9, s, t);
        for (int i = 0; i < 4 * 9; i++) {
            float q = rintf(w[i] / s);
            int8_t want = (int8_t)(q >= 1.0f ? 1 : q <= -1.0f ? -1 : 0);
            cr_assert_eq(t[i], want, "w = %a, s = %a", (double)w[i], (double)s);
        }
    }
}
