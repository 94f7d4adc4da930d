/* membw.c: multi-threaded streaming read bandwidth (see membw.h).
 *
 * Portable C with GCC/Clang vector extensions: a 16-byte vector type lowers
 * to SSE2 on x86-64 and NEON on aarch64, which is already several times the
 * per-core DRAM bandwidth in load throughput (two or three 16-byte loads per
 * cycle versus ~10 bytes per cycle from memory), so no ISA-specific file is
 * needed and the tool stays baseline like the rest of tools/.
 */
#include "tools/bench/membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tools/bench/bench_sys.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

typedef uint64_t bn_v2u64 __attribute__((vector_size(16)));

/* Sums a slice (n16 vectors of 16 bytes) with four independent accumulators
 * so the adds are not a dependency chain. */
static uint64_t read_slice(const bn_v2u64 *p, size_t n16)
{
    bn_v2u64 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 4 <= n16; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    for (; i < n16; i++)
        a0 += p[i];
    bn_v2u64 s = a0 + a1 + a2 + a3;
    return s[0] + s[1];
}

bn_status bn_membw_read_gbs(int n_threads, size_t bytes, int passes, double *out_gbs,
                            bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    uint8_t *buf = NULL;
    *out_gbs = 0;
    if (n_threads < 1 || passes < 1) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "read bandwidth: %d threads, %d passes (both must be >= 1)",
                          n_threads, passes);
        goto fail;
    }
#if !defined(_OPENMP)
    n_threads = 1;
#endif
    size_t slice = bytes / (size_t)n_threads / 4096 * 4096; /* bytes per thread */
    if (slice == 0) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "read bandwidth: %zu bytes is less than 4 KiB per thread for %d threads",
                          bytes, n_threads);
        goto fail;
    }
    size_t total = slice * (size_t)n_threads;
    buf = aligned_alloc(4096, total);
    if (!buf) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "read bandwidth: cannot allocate %zu bytes",
                          total);
        goto fail;
    }
    /* First touch by the thread that will read the slice (NUMA placement). */
#if defined(_OPENMP)
#pragma omp parallel num_threads(n_threads)
#endif
    {
        int t = 0;
#if defined(_OPENMP)
        t = omp_get_thread_num();
#endif
        memset(buf + (size_t)t * slice, 1 + t, slice);
    }
    volatile uint64_t sink = 0;
    double best = 0;
    for (int pass = 0; pass <= passes; pass++) { /* pass 0 warms up, unmeasured */
        uint64_t t0 = bn_bench_now_ns();
        uint64_t sum = 0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(n_threads) reduction(+ : sum)
#endif
        {
            int t = 0;
#if defined(_OPENMP)
            t = omp_get_thread_num();
#endif
            sum += read_slice((const bn_v2u64 *)(buf + (size_t)t * slice), slice / 16);
        }
        uint64_t dt = bn_bench_now_ns() - t0;
        sink += sum;
        double gbs = dt ? (double)total / (double)dt : 0; /* bytes/ns = GB/s */
        if (pass > 0 && gbs > best)
            best = gbs;
    }
    (void)sink;
    *out_gbs = best;
fail:
    free(buf);
    return st;
}
