/* test_membw.c: the read-bandwidth probe behind bitnet-bench's roofline
 * (tools/bench/membw.c): it measures something plausible and rejects
 * arguments it cannot honour. Uses a small buffer to stay fast. */
#include <criterion/criterion.h>
#include <string.h>

#include "tools/bench/membw.h"

Test(membw, measures_a_positive_bandwidth_with_one_and_two_threads)
{
    for (int t = 1; t <= 2; t++) {
        double gbs = 0;
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_membw_read_gbs(t, 8u << 20, 2, &gbs, &err), BN_STATUS_OK, "%s",
                     err.message);
        /* Anything from a slow VM to a cache-resident 8 MiB buffer. */
        cr_assert(gbs > 0.1 && gbs < 10000, "%d threads: %f GB/s", t, gbs);
    }
}

Test(membw, rejects_zero_threads_zero_passes_and_tiny_buffers)
{
    double gbs = 1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_membw_read_gbs(0, 8u << 20, 1, &gbs, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "0 threads"), "%s", err.message);
    cr_assert_eq(gbs, 0);
    bn_error_clear(&err);
    cr_assert_eq(bn_membw_read_gbs(1, 8u << 20, 0, &gbs, &err), BN_STATUS_INVALID_ARG);
    bn_error_clear(&err);
    cr_assert_eq(bn_membw_read_gbs(2, 4096, 1, &gbs, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "4 KiB per thread"), "%s", err.message);
}

Test(membw, honours_the_load_width_limit_and_names_what_it_used)
{
    const char *limits[] = {NULL, "avx512", "avx2", "sse2", "neon"};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        bn_membw_result r;
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_membw_measure(1, 8u << 20, 1, limits[i], &r, &err), BN_STATUS_OK, "%s",
                     err.message);
        cr_assert(r.gbs > 0.1 && r.pass_gbs > 0 && r.mean_gbs > 0, "%s", r.isa);
        cr_assert(r.streams == 1 || r.streams == 2 || r.streams == 4);
        cr_assert(r.prefetch_bytes >= 0);
        if (limits[i] && !strcmp(limits[i], "avx2"))
            cr_assert(strcmp(r.isa, "avx512"), "avx2 limit used %s loads", r.isa);
        if (limits[i] && (!strcmp(limits[i], "sse2") || !strcmp(limits[i], "neon")))
            cr_assert(!strcmp(r.isa, "sse2") || !strcmp(r.isa, "neon") || !strcmp(r.isa, "scalar"),
                      "%s", r.isa);
    }
    bn_membw_result r;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_membw_measure(1, 8u << 20, 1, "avx1024", &r, &err), BN_STATUS_INVALID_ARG);
    cr_assert(strstr(err.message, "avx1024"), "%s", err.message);
    cr_assert_str_eq(bn_membw_isa_for_kernels("avx2"), "avx2");
    cr_assert_null(bn_membw_isa_for_kernels("avx512vbmi"));
    cr_assert_null(bn_membw_isa_for_kernels(NULL));
}
