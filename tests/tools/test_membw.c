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
