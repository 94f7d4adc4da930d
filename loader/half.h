/* half.h: scalar conversions between f32 and the two 16-bit float formats.
 *
 * Owns f16 (IEEE binary16) <-> f32 and bf16 (the top half of an f32) <-> f32,
 * as static inline functions that any module may include, baseline files and
 * kernels alike: no intrinsics, no tables, no globals, so the results are the
 * same on every ISA and with every compiler.
 *
 * Narrowing rounds to nearest, ties to even. Infinities stay infinities; NaNs
 * stay NaNs (quiet, sign and the top payload bits kept); f16 subnormals are
 * produced and read exactly; values past the f16 range round to infinity as
 * IEEE says (65520 and above). Widening is exact.
 *
 * Bit patterns are moved with memcpy, which compilers turn into a register
 * move; a union or pointer cast would break strict aliasing.
 */
#ifndef BN_HALF_H
#define BN_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t bn_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bn_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Exact: every f16 is an f32. */
static inline float bn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1fu) /* inf, or NaN with its payload moved up */
        return bn_f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return bn_f32_from_bits(sign);
        /* Subnormal: mant * 2^-24. Normalise: shift the leading 1 into bit 10,
         * lowering the exponent by one per shift (at most 10 shifts). */
        uint32_t e = 113; /* f32 biased exponent of 2^-14 */
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            e--;
        }
        mant &= 0x3ffu;
        return bn_f32_from_bits(sign | (e << 23) | (mant << 13));
    }
    /* Normal: rebias the exponent from 15 to 127. */
    return bn_f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Round to nearest even; overflow to inf; NaN stays NaN (quiet). */
static inline uint16_t bn_f32_to_f16(float f) {
    uint32_t x = bn_f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf or NaN */
        if (ax == 0x7f800000u)
            return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    /* 65520 = 65504 + half an ulp: the tie rounds to the even 65536 = inf. */
    if (ax >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {
        /* Below 2^-14: an f16 subnormal in units of 2^-24, or zero. Up to
         * 2^-25 (a tie with zero, which is even) everything rounds to 0. */
        if (ax <= 0x33000000u)
            return sign;
        uint32_t e = ax >> 23;                     /* 102..112 here */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u; /* value = m * 2^(e-150) */
        uint32_t shift = 126u - e;                 /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u)))
            q++; /* may carry into 0x400, the smallest normal: still right */
        return (uint16_t)(sign | q);
    }
    /* Normal: keep the top 10 mantissa bits, round on the 13 dropped ones.
     * A carry out of the mantissa bumps the exponent, which is correct. */
    uint32_t q = ((ax >> 23) - 112u) << 10 | ((ax >> 13) & 0x3ffu);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))
        q++;
    return (uint16_t)(sign | q);
}

/* Exact: bf16 is the top half of an f32. */
static inline float bn_bf16_to_f32(uint16_t h) {
    return bn_f32_from_bits((uint32_t)h << 16);
}

/* Round to nearest even; NaN stays NaN (quiet bit set so that a payload that
 * lived only in the low half cannot turn into inf). */
static inline uint16_t bn_f32_to_bf16(float f) {
    uint32_t x = bn_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x0040u);
    /* Adding 0x7fff plus the lowest kept bit rounds ties to even; a finite
     * value past the largest bf16 carries into the exponent and becomes inf. */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif /* BN_HALF_H */
