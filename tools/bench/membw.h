/* membw.h: the machine's sustained read bandwidth, for the roofline.
 *
 * A decode step streams every weight once, so tokens/s is bounded by
 * read bandwidth / bytes per token. This measures the best streaming read
 * the machine allows, so that no kernel that streams from DRAM can report
 * more than 100% of it:
 *   - the widest loads the CPU (and OS) run, chosen at run time: AVX-512,
 *     AVX2, and 16-byte vectors (SSE2 on x86-64, NEON on aarch64), each
 *     measured and the best kept (the widest is not always the fastest:
 *     on this Zen 4 VM AVX2 loads streamed up to 10% faster than AVX-512
 *     ones);
 *     each loop lives in its own file compiled with only its ISA's flags
 *     (membw_x86_avx2.c, membw_x86_avx512.c), as kernels/ does;
 *   - several variants, interleaved pass by pass: 1, 2 or 4 independent
 *     streams per thread (each its own sub-slice, two 64-byte lines per step,
 *     one accumulator per load, unrolled), with no software prefetch or with
 *     a prefetch 16 KB ahead (the kernels' distance);
 *   - the same thread placement as the kernels: one OpenMP region per slice
 *     with num_threads(n), thread t reading the t-th contiguous part of each
 *     16 MiB slice, as the runtime and bitnet-kernel-bench split the rows of
 *     one matrix; the buffer's pages are first touched by their reader;
 *   - a buffer far larger than the last-level cache (256 MiB by default),
 *     read slice after slice, so each slice comes from DRAM;
 *   - the best 16 MiB slice over every variant and pass (as the kernels
 *     report their best call, so time spent descheduled on a shared machine
 *     counts for neither), with the best whole pass and the mean next to it.
 *
 * Owns its buffer for the duration of one call only (allocated and freed
 * inside), so measuring before loading a model does not raise the peak RSS
 * reported for the model once the high-water mark is reset.
 */
#ifndef BN_BENCH_MEMBW_H
#define BN_BENCH_MEMBW_H

#include <stddef.h>

#include "runtime/bitnet.h"

#define BN_MEMBW_DEFAULT_BYTES ((size_t)256 << 20)
#define BN_MEMBW_SLICE_BYTES ((size_t)16 << 20)

typedef struct bn_membw_result {
    double gbs;          /* best slice, best variant: the roofline denominator */
    double pass_gbs;     /* best whole pass (buffer / time) of the best variant */
    double mean_gbs;     /* all measured passes of the best variant */
    double cpu_gbs;      /* best slice as GB per CPU-second of one thread */
    const char *isa;     /* loads of the best: "avx512", "avx2", "sse2", "neon", "scalar" */
    int streams;         /* streams per thread of the best variant */
    int prefetch_bytes;  /* its software prefetch distance, 0 = none */
    int threads;         /* threads used (1 without OpenMP) */
} bn_membw_result;

/* Measures with n_threads threads over a buffer of `bytes` (rounded down to
 * whole slices; smaller buffers are one slice of 4 KiB per thread multiples),
 * `passes` >= 1 measured passes after one warm-up pass. max_isa (NULL = no
 * limit): the widest loads allowed, "avx512", "avx2", "sse2" or "neon" (the
 * load width an AVX2-only machine would have, when the avx2 kernel table is
 * forced on a wider CPU); every width the CPU runs at or below it is tried.
 * Without OpenMP the measurement uses one thread whatever n_threads is.
 * Errors: INVALID_ARG (n_threads < 1, passes < 1, bytes too small, unknown
 * max_isa), NO_MEMORY. */
bn_status bn_membw_measure(int n_threads, size_t bytes, int passes, const char *max_isa,
                           bn_membw_result *out, bn_error *err);

/* Shorthand: out_gbs = bn_membw_measure(...).gbs with no ISA limit. */
bn_status bn_membw_read_gbs(int n_threads, size_t bytes, int passes, double *out_gbs,
                            bn_error *err);

/* The max_isa to use for a kernel table name (bitnet's BN_KERNELS names):
 * "avx2" for the avx2 table, NULL (no limit) for anything else. */
const char *bn_membw_isa_for_kernels(const char *kernels);

#endif /* BN_BENCH_MEMBW_H */
