/* ternarize.h: latent float weights to ternary values (absmean).
 *
 * Owns BitNet b1.58's weight quantizer, as the reference model code and the
 * peers' converters apply it (FORMATS.md 5.2):
 *   s = max(mean|W|, 1e-5),  W_t = clamp(round(W / s), -1, 1)
 * with round half to even (torch.round) and W / s computed in float32. The
 * mean is summed in float32 in exactly the order PyTorch's CPU sum kernel
 * uses (8-lane vectors, 4 interleaved accumulators, 4-level cascade; then
 * sum / n), so that s matches a PyTorch export bit for bit: the tiny-bitnet
 * F32 GGUF's 42 scales are reproduced exactly, where a double-precision mean
 * misses half of them by one ulp. The effective weight is W_t * s.
 * Pure functions, thread-safe, no allocation.
 */
#ifndef BN_TERNARIZE_H
#define BN_TERNARIZE_H

#include <stdint.h>

/* max(mean|w|, 1e-5) over w[0..n). */
float bn_absmean_scale(const float *w, int64_t n);

/* t[i] = clamp(round_half_even(w[i] / s), -1, 1) for i < n; s > 0. */
void bn_ternarize(const float *w, int64_t n, float s, int8_t *t);

/* The least-squares scale for fixed trits: sum of w_i * t_i over t_i != 0
 * divided by their count (0 when all t are 0). */
float bn_ternary_fit_scale(const float *w, const int8_t *t, int64_t n);

#endif /* BN_TERNARIZE_H */
