/* membw_isa.h: the streaming-read loops of membw.c, one per ISA (private to
 * tools/bench/). Each sums `bytes` bytes at p (a multiple of 256 * streams,
 * p 64-byte aligned) as `streams` (1, 2 or 4) equal sub-slices read side by
 * side, two 64-byte lines of each per step, one accumulator per load;
 * prefetch > 0: a software prefetch of each line that far ahead. The sum
 * only keeps the loads alive. No intrinsics here: baseline files include it. */
#ifndef BN_BENCH_MEMBW_ISA_H
#define BN_BENCH_MEMBW_ISA_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*bn_membw_sum_fn)(const uint8_t *p, size_t bytes, int streams,
                                    size_t prefetch);

uint64_t bn_membw_sum_v16(const uint8_t *p, size_t bytes, int streams, size_t prefetch);
#if defined(BN_MEMBW_HAVE_X86)
uint64_t bn_membw_sum_avx2(const uint8_t *p, size_t bytes, int streams, size_t prefetch);
uint64_t bn_membw_sum_avx512(const uint8_t *p, size_t bytes, int streams, size_t prefetch);
#endif

#endif /* BN_BENCH_MEMBW_ISA_H */
