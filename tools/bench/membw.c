/* membw.c: the best streaming read bandwidth of this machine (membw.h).
 *
 * Owns the buffer, the threads, the timing and the choice of loop; the loops
 * themselves are membw_loops.h instantiated per ISA: here with 16-byte GCC
 * vectors (SSE2 on x86-64, NEON on aarch64: the baseline of each), in
 * membw_x86_avx2.c and membw_x86_avx512.c with wider ones, each compiled
 * with only its own flags and called only when the CPU runs it.
 */
#include "tools/bench/membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/error.h"
#include "tools/bench/bench_sys.h"
#include "tools/bench/membw_isa.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

/* The 16-byte loop: the baseline vector of both architectures. */
typedef uint64_t bn_v2u64 __attribute__((vector_size(16)));
#define BN_MEMBW_VEC bn_v2u64
#define BN_MEMBW_VB 16
#define BN_MEMBW_LOAD(p) (*(const bn_v2u64 *)(const void *)(p))
#define BN_MEMBW_ADD(a, b) ((a) + (b))
#define BN_MEMBW_ZERO ((bn_v2u64){0, 0})
#define BN_MEMBW_FOLD(v) ((v)[0] + (v)[1])
#define BN_MEMBW_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#define BN_MEMBW_NAME bn_membw_sum_v16
#include "tools/bench/membw_loops.h"

#if defined(__aarch64__)
#define BN_MEMBW_V16_NAME "neon"
#elif defined(__SSE2__)
#define BN_MEMBW_V16_NAME "sse2"
#else
#define BN_MEMBW_V16_NAME "scalar"
#endif

/* Read loops, widest first; rank orders the max_isa limit. */
typedef struct bn_membw_isa {
    const char *name;
    int rank;
    bn_membw_sum_fn fn;
} bn_membw_isa;

/* The loops this CPU runs at or below max_rank, widest first; returns how
 * many. All are measured: the widest loads are not always the fastest
 * stream (on Zen 4, whose 512-bit loads are two 256-bit halves, AVX2 loads
 * read up to 10% faster here), and the roofline is the best of them. */
static int bn_membw_pick(int max_rank, bn_membw_isa out[3]) {
    int n = 0;
#if defined(BN_MEMBW_HAVE_X86)
    __builtin_cpu_init();
    /* libgcc / compiler-rt check the OS's register-state support (xgetbv)
     * as well as cpuid for these two. */
    if (max_rank >= 3 && __builtin_cpu_supports("avx512f"))
        out[n++] = (bn_membw_isa){"avx512", 3, bn_membw_sum_avx512};
    if (max_rank >= 2 && __builtin_cpu_supports("avx2"))
        out[n++] = (bn_membw_isa){"avx2", 2, bn_membw_sum_avx2};
#else
    (void)max_rank;
#endif
    out[n++] = (bn_membw_isa){BN_MEMBW_V16_NAME, 1, bn_membw_sum_v16};
    return n;
}

/* Streams per thread and software prefetch distance of each variant; all
 * are measured, interleaved pass by pass, and the best is kept. 16 KB is
 * the ternary kernels' prefetch distance (the dense ones use 8 KB). */
static const struct {
    int streams;
    size_t prefetch;
} bn_membw_variants[] = {{1, 0}, {2, 0}, {4, 0}, {1, 16384}, {2, 16384}, {4, 16384}};
#define BN_MEMBW_N_VARIANTS (sizeof bn_membw_variants / sizeof bn_membw_variants[0])

static double bn_membw_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *bn_membw_isa_for_kernels(const char *kernels) {
    return kernels && !strcmp(kernels, "avx2") ? "avx2" : NULL;
}

bn_status bn_membw_measure(int n_threads, size_t bytes, int passes, const char *max_isa,
                           bn_membw_result *out, bn_error *err) {
    bn_status st = BN_STATUS_OK;
    uint8_t *buf = NULL;
    memset(out, 0, sizeof *out);
    int max_rank = 3;
    if (max_isa && *max_isa) {
        if (!strcmp(max_isa, "avx512"))
            max_rank = 3;
        else if (!strcmp(max_isa, "avx2"))
            max_rank = 2;
        else if (!strcmp(max_isa, "sse2") || !strcmp(max_isa, "neon"))
            max_rank = 1;
        else {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                              "read bandwidth: unknown load width '%s' (avx512, avx2, sse2, neon)",
                              max_isa);
            goto fail;
        }
    }
    if (n_threads < 1 || passes < 1) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "read bandwidth: %d threads, %d passes (both must be >= 1)",
                          n_threads, passes);
        goto fail;
    }
#if !defined(_OPENMP)
    n_threads = 1;
#endif
    /* Slices of 16 MiB (or the whole buffer when smaller); each thread reads
     * `part` bytes of each, a multiple of 4 KiB (so of 256 * 4 streams). */
    size_t slice = bytes < BN_MEMBW_SLICE_BYTES ? bytes : BN_MEMBW_SLICE_BYTES;
    size_t part = slice / (size_t)n_threads / 4096 * 4096;
    if (part == 0) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "read bandwidth: %zu bytes is less than 4 KiB per thread for %d threads",
                          bytes, n_threads);
        goto fail;
    }
    slice = part * (size_t)n_threads;
    size_t n_slices = bytes / slice;
    size_t total = slice * n_slices;
    buf = aligned_alloc(4096, total);
    if (!buf) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "read bandwidth: cannot allocate %zu bytes",
                          total);
        goto fail;
    }
    /* First touch by the thread that will read each part (NUMA placement). */
#if defined(_OPENMP)
#pragma omp parallel num_threads(n_threads)
#endif
    {
        int t = 0;
#if defined(_OPENMP)
        t = omp_get_thread_num();
#endif
        for (size_t s = 0; s < n_slices; s++)
            memset(buf + s * slice + (size_t)t * part, 1 + t, part);
    }
    bn_membw_isa isas[3];
    const int n_isa = bn_membw_pick(max_rank, isas);
    enum { NV = BN_MEMBW_N_VARIANTS * 3 }; /* (isa, variant) pairs */
    double best[NV] = {0}, best_cpu[NV] = {0}, best_pass[NV] = {0}, sum_pass_ns[NV] = {0};
    volatile uint64_t sink = 0;
    /* Pass 0 warms up (first variant only), unmeasured; then every
     * (loads, variant) pair once per pass, so that a noisy phase of the
     * machine hits them all. */
    for (int pass = 0; pass <= passes; pass++) {
        for (int v = 0; v < (pass ? n_isa * (int)BN_MEMBW_N_VARIANTS : 1); v++) {
            const bn_membw_isa *isa = &isas[v / (int)BN_MEMBW_N_VARIANTS];
            const int streams = bn_membw_variants[v % BN_MEMBW_N_VARIANTS].streams;
            const size_t prefetch = bn_membw_variants[v % BN_MEMBW_N_VARIANTS].prefetch;
            uint64_t p0 = bn_bench_now_ns();
            for (size_t s = 0; s < n_slices; s++) {
                uint64_t sum = 0;
                uint64_t t0 = bn_bench_now_ns();
                double c0 = bn_membw_cpu_s();
#if defined(_OPENMP)
#pragma omp parallel num_threads(n_threads) reduction(+ : sum)
#endif
                {
                    int t = 0;
#if defined(_OPENMP)
                    t = omp_get_thread_num();
#endif
                    sum += isa->fn(buf + s * slice + (size_t)t * part, part, streams, prefetch);
                }
                uint64_t dt = bn_bench_now_ns() - t0;
                double dc = (bn_membw_cpu_s() - c0) / n_threads;
                sink += sum;
                if (pass == 0)
                    continue;
                double gbs = dt ? (double)slice / (double)dt : 0; /* bytes/ns = GB/s */
                if (gbs > best[v])
                    best[v] = gbs;
                if (dc > 0 && (double)slice / dc / 1e9 > best_cpu[v])
                    best_cpu[v] = (double)slice / dc / 1e9;
            }
            uint64_t pdt = bn_bench_now_ns() - p0;
            if (pass == 0)
                continue;
            sum_pass_ns[v] += (double)pdt;
            if (pdt && (double)total / (double)pdt > best_pass[v])
                best_pass[v] = (double)total / (double)pdt;
        }
    }
    (void)sink;
    int bv = 0;
    for (int v = 1; v < n_isa * (int)BN_MEMBW_N_VARIANTS; v++)
        if (best[v] > best[bv])
            bv = v;
    out->gbs = best[bv];
    out->pass_gbs = best_pass[bv];
    out->mean_gbs = sum_pass_ns[bv] > 0 ? (double)total * passes / sum_pass_ns[bv] : 0;
    out->cpu_gbs = best_cpu[bv];
    out->isa = isas[bv / (int)BN_MEMBW_N_VARIANTS].name;
    out->streams = bn_membw_variants[bv % BN_MEMBW_N_VARIANTS].streams;
    out->prefetch_bytes = (int)bn_membw_variants[bv % BN_MEMBW_N_VARIANTS].prefetch;
    out->threads = n_threads;
fail:
    free(buf);
    return st;
}

bn_status bn_membw_read_gbs(int n_threads, size_t bytes, int passes, double *out_gbs,
                            bn_error *err) {
    bn_membw_result r;
    bn_status st = bn_membw_measure(n_threads, bytes, passes, NULL, &r, err);
    *out_gbs = r.gbs;
    return st;
}
