/* bench_sys.h: what bitnet-bench asks the operating system.
 *
 * Owns the clock, the process memory high-water mark (and resetting it, so
 * each model's peak is its own), the CPU name and the online CPU count.
 * Linux first (/proc), with portable fallbacks (getrusage, sysconf) where the
 * answer is coarser. Never fails hard: an unknown value is 0 or "unknown".
 */
#ifndef BN_BENCH_SYS_H
#define BN_BENCH_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t bn_bench_now_ns(void); /* monotonic */
/* Peak resident set size of this process in bytes (VmHWM, else ru_maxrss). */
uint64_t bn_bench_peak_rss_bytes(void);
/* Resets the peak to the current RSS (Linux /proc/self/clear_refs "5");
 * false when the kernel does not allow it (the peak then spans the run). */
bool bn_bench_peak_rss_reset(void);
/* "model name" of /proc/cpuinfo, else "unknown". */
void bn_bench_cpu_info(char *buf, size_t cap);
int bn_bench_n_cpus(void);
/* Current UTC time as ISO 8601 ("2026-11-23T06:30:00Z"). */
void bn_bench_utc_now(char *buf, size_t cap);

#endif /* BN_BENCH_SYS_H */
