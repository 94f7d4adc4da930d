/* merge_queue.h: the pieces both merge tokenizers (spm.c, bpe.c) are built
 * from: the linked list of symbols being merged and the priority queue of
 * adjacent pairs they pop their next merge from. Private to tokenizer/.
 *
 * Symbols: a byte span of the text with links to its neighbours; merging a
 * pair grows the left symbol over the right one, which is left empty
 * (n == 0) and unlinked.
 *
 * Queue: the two hold different records (SPM keeps a 12-byte pair ordered
 * by score, BPE a pair ordered by merge rank) and differ only in which pair
 * comes out first, so the heap is written once as a template:
 * BN_BIGRAM_HEAP_DEFINE(name, elem, before) defines the struct `name`
 * ({elem *v; size_t n, cap}, zero-initialised = empty, the caller frees v)
 * with name_push (false when out of memory) and name_pop (n must be > 0).
 * `before(a, b)` says that *a leaves the queue before *b. A template rather
 * than a void* heap with a comparison callback keeps each queue's compare
 * inlined and its elements copied by value, as the hand-written heaps did:
 * a megabyte of text queues millions of pairs.
 */
#ifndef BN_TOKENIZER_MERGE_QUEUE_H
#define BN_TOKENIZER_MERGE_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct bn_merge_symbol {
    size_t start, n;     /* bytes of the text; n == 0 once merged away */
    int64_t prev, next;  /* neighbours' indices, -1 at the ends */
} bn_merge_symbol;

/* Merges syms[right] (the right neighbour of syms[left]) into syms[left]. */
static inline void bn_merge_symbol_join(bn_merge_symbol *syms, int64_t left, int64_t right)
{
    bn_merge_symbol *l = &syms[left], *r = &syms[right];
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0)
        syms[r->next].prev = left;
}

#define BN_BIGRAM_HEAP_DEFINE(name, elem, before)                                  \
    typedef struct name {                                                          \
        elem *v; /* (cap), the first n in heap order */                            \
        size_t n, cap;                                                             \
    } name;                                                                        \
                                                                                   \
    static inline bool name##_push(name *h, elem x)                                \
    {                                                                              \
        if (h->n == h->cap) {                                                      \
            size_t cap = h->cap ? h->cap * 2 : 64;                                 \
            elem *nv = realloc(h->v, cap * sizeof *nv);                            \
            if (!nv)                                                               \
                return false;                                                      \
            h->v = nv;                                                             \
            h->cap = cap;                                                          \
        }                                                                          \
        size_t i = h->n++;                                                         \
        while (i > 0) {                                                            \
            size_t parent = (i - 1) / 2;                                           \
            if (!before(&x, &h->v[parent]))                                        \
                break;                                                             \
            h->v[i] = h->v[parent];                                                \
            i = parent;                                                            \
        }                                                                          \
        h->v[i] = x;                                                               \
        return true;                                                               \
    }                                                                              \
                                                                                   \
    static inline elem name##_pop(name *h)                                         \
    {                                                                              \
        elem top = h->v[0];                                                        \
        elem last = h->v[--h->n];                                                  \
        size_t i = 0;                                                              \
        for (;;) {                                                                 \
            size_t c = 2 * i + 1;                                                  \
            if (c >= h->n)                                                         \
                break;                                                             \
            if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))                    \
                c++;                                                               \
            if (!before(&h->v[c], &last))                                          \
                break;                                                             \
            h->v[i] = h->v[c];                                                     \
            i = c;                                                                 \
        }                                                                          \
        if (h->n)                                                                  \
            h->v[i] = last;                                                        \
        return top;                                                                \
    }

#endif
