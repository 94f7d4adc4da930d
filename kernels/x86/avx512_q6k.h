/* avx512_q6k.h: one Q6_K block's scales and signed codes in AVX-512
 * registers, written once for the output-layer kernels that decode Q6_K
 * with AVX-512 F/BW (x86/avx512.c, x86/avx512_q6k_batch.c, and the scales
 * for x86/avx512_vbmi.c). Include only from files built with those flags.
 *
 * Q6_K block (210 bytes, 256 values): ql[128] low nibbles, qh[64] top
 * bit pairs, int8 scales[16] (one per 16 values), f16 d.
 */
#ifndef BN_KERNELS_X86_AVX512_Q6K_H
#define BN_KERNELS_X86_AVX512_Q6K_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* d * scale of the block's 16 sub-blocks, one per lane: f16 -> f32 is
 * exact, then the reference's single rounding of d * scale. */
static inline __attribute__((always_inline)) __m512 bn_q6k_block_scales(const uint8_t *blk) {
    uint16_t dh;
    memcpy(&dh, blk + 208, 2);
    return _mm512_mul_ps(
        _mm512_cvtph_ps(_mm256_set1_epi16((short)dh)),
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 192)))));
}

/* Codes minus 32 (-32..31) of half n (values 128n .. 128n + 127) of a block:
 * q[0] byte j = value j of the half, q[1] byte j = value 64 + j.
 * L = ql[64n ..]: bytes 0-31 feed values 0-31 (low nibbles) and 64-95
 * (high); bytes 32-63 feed 32-63 and 96-127. qh byte l holds the top 2 bits
 * of values l, l+32, l+64, l+96 in bit pairs 0, 2, 4, 6. */
static inline __attribute__((always_inline)) void bn_q6k_half_codes(const uint8_t *blk, int n,
                                                                    __m512i q[2]) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3),
                  off = _mm512_set1_epi8(32);
    const __m512i L = _mm512_loadu_si512(blk + 64 * n);
    const __m256i h = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * n));
    const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
    q[0] = _mm512_sub_epi8(
        _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_slli_epi16(_mm512_and_si512(H, m3), 4)),
        off);
    q[1] = _mm512_sub_epi8(
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(H, 4), m3), 4)),
        off);
}

#endif
