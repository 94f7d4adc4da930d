/* page_advice.h: an madvise over the whole pages inside a byte range.
 *
 * Owns the rounding (the first page boundary at or after p, the last one at
 * or before p + n), so that advice about a tensor's bytes never reaches a
 * neighbour's partial page. A hint: a failure, or a system without madvise,
 * changes nothing but speed or memory. */
#ifndef BN_LOADER_PAGE_ADVICE_H
#define BN_LOADER_PAGE_ADVICE_H

#include <stdint.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static inline void bn_advise_whole_pages(const void *p, uint64_t n, int advice) {
#if defined(__unix__) || defined(__APPLE__)
    long ps = sysconf(_SC_PAGESIZE);
    if (n == 0 || ps <= 0)
        return;
    uintptr_t page = (uintptr_t)ps, a = (uintptr_t)p, e = a + (uintptr_t)n;
    uintptr_t lo = (a + page - 1) / page * page, hi = e / page * page;
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, advice);
#else
    (void)p;
    (void)n;
    (void)advice;
#endif
}

#endif
