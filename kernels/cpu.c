/* cpu.c: which instruction sets this CPU and OS can run.
 *
 * Owns feature detection: cpuid + xgetbv on x86-64 (a feature counts only
 * when the OS also saves the register state it needs: XMM|YMM for AVX2,
 * plus opmask|ZMM_Hi256|Hi16_ZMM for AVX-512), getauxval(AT_HWCAP) on Linux
 * aarch64. Pure: no caching, no globals; callers keep the result.
 */
#include <string.h>

#include "kernels/internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t bn_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void bn_cpu_features_detect(bn_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
         f16c = c & (1u << 29);
    if (!osxsave || !avx)
        return;
    uint64_t xcr0 = bn_xgetbv0();
    bool ymm_os = (xcr0 & 0x6) == 0x6;    /* XMM and YMM state */
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;  /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return;
    bool avx2 = b & (1u << 5);
    bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    bool vnni = c & (1u << 11), vbmi = c & (1u << 1), gfni = c & (1u << 8);
    out->avx2 = ymm_os && avx2 && fma && f16c;
    out->avx512 = out->avx2 && zmm_os && f && dq && bw && vl && vnni;
    /* AVX512_BF16 is leaf 7 sub-leaf 1, eax bit 5. */
    bool bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
    out->avx512vbmi = out->avx512 && vbmi && gfni && bf16;
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>

void bn_cpu_features_detect(bn_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned long hw = getauxval(AT_HWCAP);
    out->neon = (hw & (1ul << 1)) != 0;                  /* HWCAP_ASIMD */
    out->neon_dotprod = out->neon && (hw & (1ul << 20)); /* HWCAP_ASIMDDP */
}

#else

void bn_cpu_features_detect(bn_cpu_features *out) {
    memset(out, 0, sizeof *out);
}

#endif
