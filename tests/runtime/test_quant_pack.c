/* test_quant_pack.c: packing through the public API (runtime/quant_pack.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/bitnet_quant.h"

enum { R = 4, K = 512 };

static void codes_for(int8_t *c, unsigned seed) {
    for (int i = 0; i < R * K; i++) {
        seed = seed * 1103515245u + 12345u;
        c[i] = (int8_t)((seed >> 16) % 3) - 1;
    }
}

Test(quant_pack, every_layout_round_trips_codes_and_scales) {
    static int8_t c[R * K], back[R * K];
    codes_for(c, 3);
    const bn_qtype types[] = {BN_QTYPE_I2_S, BN_QTYPE_TQ2_0, BN_QTYPE_TQ1_0, BN_QTYPE_IQ2_BN,
                              BN_QTYPE_IQ1_BN, BN_QTYPE_F32, BN_QTYPE_F16};
    float s = 0.25f; /* exact in f16 */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint64_t nb;
        cr_assert_eq(bn_quant_packed_bytes(types[i], R, K, &nb, NULL), BN_STATUS_OK);
        uint8_t *buf = malloc(nb);
        cr_assert_eq(bn_quant_pack(types[i], c, &s, R, K, 0, buf, nb, NULL), BN_STATUS_OK);
        float sc[R * K / 256];
        size_t ns;
        int64_t g;
        cr_assert_eq(bn_quant_unpack(types[i], buf, nb, R, K, back, sc, R * K / 256, &ns, &g,
                                     NULL),
                     BN_STATUS_OK, "%s", bn_qtype_name(types[i]));
        cr_assert_arr_eq(c, back, R * K, "%s", bn_qtype_name(types[i]));
        for (size_t j = 0; j < ns; j++)
            cr_assert_eq(sc[j], s, "%s", bn_qtype_name(types[i]));
        free(buf);
    }
}

Test(quant_pack, i2s_bytes_follow_the_format) {
    /* 128 values: code c = w + 1 at byte j, bits 6 - 2g for value 32g + j. */
    int8_t c[128];
    for (int i = 0; i < 128; i++)
        c[i] = (int8_t)(i < 32 ? 1 : i < 64 ? 0 : -1);
    float s = 2.0f;
    uint8_t buf[64];
    cr_assert_eq(bn_quant_pack(BN_QTYPE_I2_S, c, &s, 1, 128, 0, buf, sizeof buf, NULL),
                 BN_STATUS_OK);
    for (int j = 0; j < 32; j++)
        cr_assert_eq(buf[j], (2 << 6) | (1 << 4) | (0 << 2) | 0, "byte %d = %#x", j, buf[j]);
    float tail;
    memcpy(&tail, buf + 32, 4);
    cr_assert_eq(tail, 2.0f);
}

Test(quant_pack, refuses_bad_shapes_groups_codes_and_short_buffers) {
    static int8_t c[R * K];
    codes_for(c, 5);
    float s[R * K / 64];
    for (int i = 0; i < R * K / 64; i++)
        s[i] = 1.0f;
    static uint8_t buf[R * K];
    bn_error err = {0};
    cr_assert_eq(bn_quant_pack(BN_QTYPE_TQ2_0, c, s, R * 4, 128, 0, buf, sizeof buf, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "multiple of 256"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_pack(BN_QTYPE_TQ2_0, c, s, R, K, 64, buf, sizeof buf, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "group size 64"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_pack(BN_QTYPE_I2_S, c, s, R, K, 0, buf, 10, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "needs 544 bytes"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_pack(BN_QTYPE_Q8_0, c, s, R, K, 0, buf, sizeof buf, &err),
                 BN_STATUS_INVALID_ARG);
    c[7] = 5;
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_pack(BN_QTYPE_I2_S, c, s, R, K, 0, buf, sizeof buf, &err),
                 BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "codes[0, 7] = 5"), "%s", err.message);
    /* A 2-bit code of 3 in I2_S bytes is a format error. */
    memset(buf, 0xff, 544);
    size_t ns;
    int64_t g;
    float sc[8];
    bn_error_clear(&err);
    cr_assert_eq(bn_quant_unpack(BN_QTYPE_I2_S, buf, 544, R, K, c, sc, 8, &ns, &g, &err),
                 BN_STATUS_FORMAT);
}
