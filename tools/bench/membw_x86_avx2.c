/* membw_x86_avx2.c: the streaming-read loop with 32-byte AVX2 loads,
 * compiled with -mavx2 only (tools/CMakeLists.txt); membw.c calls it only
 * when the CPU and OS run AVX2. */
#include <immintrin.h>

#include "tools/bench/membw_isa.h"

#define BN_MEMBW_VEC __m256i
#define BN_MEMBW_VB 32
#define BN_MEMBW_LOAD(p) _mm256_load_si256((const __m256i *)(p))
#define BN_MEMBW_ADD(a, b) _mm256_add_epi64((a), (b))
#define BN_MEMBW_ZERO _mm256_setzero_si256()
#define BN_MEMBW_FOLD(v) bn_membw_fold256(v)
#define BN_MEMBW_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define BN_MEMBW_NAME bn_membw_sum_avx2

static inline uint64_t bn_membw_fold256(__m256i v) {
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

#include "tools/bench/membw_loops.h"
