/* barrier.h: the barrier between the stages of a forward step (internal).
 *
 * A sense-reversing spin barrier for the threads of one OpenMP team. Why not
 * `#pragma omp barrier`: libgomp spins for a long time before sleeping when
 * the team fits the cores, which is right on an idle machine but collapses
 * when the cores are shared (a spinning thread holds the CPU the late thread
 * needs: measured 10x slower generation at 2 threads on a busy 2-core box).
 * This one spins briefly (the common case: the other threads are a few
 * microseconds behind) and then yields the CPU on every check, so it is
 * fast when idle and degrades gracefully when not.
 *
 * Memory: arriving is a release, leaving an acquire, so everything a thread
 * wrote before the barrier is visible to every thread after it.
 */
#ifndef BN_BARRIER_H
#define BN_BARRIER_H

#include <stdatomic.h>

typedef struct bn_barrier {
    atomic_int arrived; /* threads at the barrier in this round */
    atomic_int sense;   /* flips when a round completes */
    int n_threads;
} bn_barrier;

/* Before the team uses it (one thread, no one waiting). */
void bn_barrier_init(bn_barrier *b, int n_threads);

/* Every thread of the team calls it; *local_sense is the thread's own
 * variable, 0 at the start. */
void bn_barrier_wait(bn_barrier *b, int *local_sense);

#endif /* BN_BARRIER_H */
