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
#define BN_MEMBW_FOLD(v) ((uint64_t)_mm512_reduce_add_epi64(v))
#define BN_MEMBW_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define BN_MEMBW_NAME bn_membw_sum_avx512

#include "tools/bench/membw_loops.h"
