/* membw.h: the machine's sustained read bandwidth, for the roofline.
 *
 * A decode step streams every weight once, so tokens/s is bounded by
 * read bandwidth / bytes per token. This measures that bandwidth the same
 * way the forward pass reads weights: n threads each stream a contiguous
 * slice of a buffer far larger than the last-level cache, summing 16-byte
 * vectors so the load units are not the limit. The best of several passes
 * is reported (the roofline is what the memory system can do, not an
 * average over other processes' interference).
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

/* Read bandwidth in GB/s (1e9 bytes/s) with n_threads threads over a buffer
 * of `bytes` (rounded down to 4 KiB per thread), best of `passes` >= 1.
 * Without OpenMP the measurement uses one thread whatever n_threads is.
 * Errors: INVALID_ARG (n_threads < 1, bytes too small), NO_MEMORY. */
bn_status bn_membw_read_gbs(int n_threads, size_t bytes, int passes, double *out_gbs,
                            bn_error *err);

#endif /* BN_BENCH_MEMBW_H */
