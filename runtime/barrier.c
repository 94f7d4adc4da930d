/* barrier.c: spin-then-yield sense-reversing barrier (see barrier.h). */
#include "runtime/barrier.h"

#include <sched.h>

/* Spins before the first yield: ~1000 pause instructions are a few to a few
 * tens of microseconds, longer than the usual imbalance between threads at a
 * stage boundary, far shorter than a scheduler time slice. */
#define BN_BARRIER_SPINS 1000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void bn_barrier_init(bn_barrier *b, int n_threads)
{
    atomic_store(&b->arrived, 0);
    atomic_store(&b->sense, 0);
    b->n_threads = n_threads;
}

void bn_barrier_wait(bn_barrier *b, int *local_sense)
{
    int s = !*local_sense;
    *local_sense = s;
    if (b->n_threads <= 1)
        return;
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == b->n_threads - 1) {
        /* last to arrive: reset the count, then release the others */
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->sense, s, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&b->sense, memory_order_acquire) != s;) {
        if (spins < BN_BARRIER_SPINS) {
            spins++;
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}
