/* test_half.c: f16 and bf16 conversions, edge cases and exhaustively. */
#include <criterion/criterion.h>
#include <math.h>

#include "loader/half.h"

Test(half, every_f16_survives_the_round_trip_through_f32) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bn_f16_to_f32((uint16_t)h);
        uint16_t back = bn_f32_to_f16(f);
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) { /* NaN: stays a NaN */
            cr_assert(isnan(f), "0x%04x", h);
            cr_assert((back & 0x7c00u) == 0x7c00u && (back & 0x3ffu), "0x%04x -> 0x%04x", h, back);
            continue;
        }
        cr_assert_eq(back, h, "0x%04x -> %g -> 0x%04x", h, (double)f, back);
    }
}

Test(half, f16_reads_the_landmarks) {
    cr_assert_eq(bn_f16_to_f32(0x3c00), 1.0f);
    cr_assert_eq(bn_f16_to_f32(0xc000), -2.0f);
    cr_assert_eq(bn_f16_to_f32(0x7bff), 65504.0f);
    cr_assert_eq(bn_f16_to_f32(0x0001), ldexpf(1.0f, -24), "smallest subnormal");
    cr_assert_eq(bn_f16_to_f32(0x03ff), ldexpf(1023.0f, -24), "largest subnormal");
    cr_assert_eq(bn_f16_to_f32(0x0400), ldexpf(1.0f, -14), "smallest normal");
    cr_assert(isinf(bn_f16_to_f32(0x7c00)) && bn_f16_to_f32(0x7c00) > 0);
    cr_assert(isinf(bn_f16_to_f32(0xfc00)) && bn_f16_to_f32(0xfc00) < 0);
    cr_assert(signbit(bn_f16_to_f32(0x8000)) && bn_f16_to_f32(0x8000) == 0.0f);
}

Test(half, f16_rounds_to_nearest_even) {
    cr_assert_eq(bn_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00, "tie goes to even 1.0");
    cr_assert_eq(bn_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02, "tie goes to even");
    cr_assert_eq(bn_f32_to_f16(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3c01);
    cr_assert_eq(bn_f32_to_f16(65519.0f), 0x7bff);
    cr_assert_eq(bn_f32_to_f16(65520.0f), 0x7c00, "65520 ties to inf");
    cr_assert_eq(bn_f32_to_f16(-1e10f), 0xfc00);
    cr_assert_eq(bn_f32_to_f16(ldexpf(1.0f, -25)), 0x0000, "half the smallest subnormal ties to 0");
    cr_assert_eq(bn_f32_to_f16(ldexpf(1.0f, -25) * 1.01f), 0x0001);
    cr_assert_eq(bn_f32_to_f16(ldexpf(3.0f, -25)), 0x0002, "1.5 units ties to even 2");
    cr_assert_eq(bn_f32_to_f16(ldexpf(2047.0f, -25)), 0x0400, "rounds up into the normals");
    cr_assert_eq(bn_f32_to_f16(ldexpf(1.0f, -140)), 0x0000, "f32 subnormal");
    cr_assert_eq(bn_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(bn_f32_to_f16(INFINITY), 0x7c00);
    uint16_t n = bn_f32_to_f16(NAN);
    cr_assert((n & 0x7c00) == 0x7c00 && (n & 0x3ff), "NaN stays NaN: 0x%04x", n);
}

#if defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__aarch64__))
Test(half, f16_matches_the_compiler_on_a_million_floats) {
    uint32_t s = 1;
    for (int i = 0; i < 1000000; i++) {
        s = s * 1664525u + 1013904223u;
        /* Exponents concentrated on the f16 range and just around it. */
        uint32_t bits = (s & 0x807fffffu) | ((96u + (s >> 8) % 48u) << 23);
        float f = bn_f32_from_bits(bits);
        _Float16 c = (_Float16)f;
        uint16_t want;
        memcpy(&want, &c, 2);
        cr_assert_eq(bn_f32_to_f16(f), want, "%a", (double)f);
    }
}
#endif

Test(half, bf16_rounds_to_nearest_even_and_keeps_nan) {
    cr_assert_eq(bn_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(bn_bf16_to_f32(0x3f80), 1.0f);
    cr_assert_eq(bn_f32_to_bf16(bn_f32_from_bits(0x3f808000u)), 0x3f80, "tie to even");
    cr_assert_eq(bn_f32_to_bf16(bn_f32_from_bits(0x3f818000u)), 0x3f82, "tie to even");
    cr_assert_eq(bn_f32_to_bf16(bn_f32_from_bits(0x3f808001u)), 0x3f81);
    cr_assert_eq(bn_f32_to_bf16(bn_f32_from_bits(0x7f7fffffu)), 0x7f80, "FLT_MAX rounds to inf");
    cr_assert_eq(bn_f32_to_bf16(-INFINITY), 0xff80);
    uint16_t n = bn_f32_to_bf16(bn_f32_from_bits(0x7f800001u));
    cr_assert((n & 0x7f80) == 0x7f80 && (n & 0x7f), "NaN stays NaN: 0x%04x", n);
}
