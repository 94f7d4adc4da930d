/* membw_x86_avx512.c: the streaming-read loop with 64-byte AVX-512 loads
 * (one per line), compiled with -mavx512f only (tools/CMakeLists.txt);
 * membw.c calls it only when the CPU and OS run AVX-512F. */
#include <immintrin.h>

#include "tools/bench/membw_isa.h"

#define BN_MEMBW_VEC __m512i
#define BN_MEMBW_VB 64
#define BN_MEMBW_LOAD(p) _mm512_load_si512((const void *)(p))
#define BN_MEMBW_ADD(a, b) _mm512_add_epi64((a), (b))
#define BN_MEMBW_ZERO _mm512_setzero_si512()
#define BN_MEMBW_FOLD(v) bn_membw_fold512(v)
#define BN_MEMBW_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define BN_MEMBW_NAME bn_membw_sum_avx512

/* Unsigned lane sum: _mm512_reduce_add_epi64 adds as signed long long,
 * which overflows (undefined, UBSan) on the byte sums this loop makes. */
static inline uint64_t bn_membw_fold512(__m512i v) {
    uint64_t l[8], s = 0;
    _mm512_storeu_si512((void *)l, v);
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

#include "tools/bench/membw_loops.h"
