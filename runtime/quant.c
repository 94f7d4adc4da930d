/* quant.c: the public quantization API's numbers (runtime/bitnet_quant.h):
 * type names and sizes, ternary weights, int8 activations, error statistics
 * and the model-size estimate. Packing is in quant_pack.c, the BitLinear
 * product in bitlinear.c.
 *
 * Nothing here re-derives a formula the library already has: absmean and
 * ternarization are loader/ternarize.c's (what bitnet-convert and
 * bitnet-quantize run), per-token activations are the kernel table's
 * act_quant (what the forward pass runs). What is new is the checking
 * (shapes, NaN/infinity, float32 overflow of a scale) and the variants the
 * model does not use (per tensor, asymmetric, clipped activations).
 *
 * Loops that touch every value are written to vectorize at the baseline
 * ISA: integer flags instead of early exits, selects instead of branches.
 */
#include "runtime/bitnet_quant.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels/kernels.h"
#include "loader/tensor_type.h"
#include "loader/ternarize.h"
#include "runtime/error.h"

/* bn_qtype is bn_tensor_type, value for value, up to IQ2_BN; the loader's
 * later types (IQ2_BN_R4, read only) are not quantization targets. */
_Static_assert((int)BN_QTYPE_F32 == (int)BN_TYPE_F32 && (int)BN_QTYPE_F16 == (int)BN_TYPE_F16 &&
                   (int)BN_QTYPE_BF16 == (int)BN_TYPE_BF16 &&
                   (int)BN_QTYPE_Q8_0 == (int)BN_TYPE_Q8_0 &&
                   (int)BN_QTYPE_Q6_K == (int)BN_TYPE_Q6_K &&
                   (int)BN_QTYPE_TQ1_0 == (int)BN_TYPE_TQ1_0 &&
                   (int)BN_QTYPE_TQ2_0 == (int)BN_TYPE_TQ2_0 &&
                   (int)BN_QTYPE_I2_S == (int)BN_TYPE_I2_S &&
                   (int)BN_QTYPE_IQ1_BN == (int)BN_TYPE_IQ1_BN &&
                   (int)BN_QTYPE_IQ2_BN == (int)BN_TYPE_IQ2_BN &&
                   (int)BN_QTYPE_COUNT == (int)BN_TYPE_IQ2_BN_R4,
               "bn_qtype mirrors bn_tensor_type");

const char *bn_qtype_name(bn_qtype type) {
    if ((int)type < 0 || type >= BN_QTYPE_COUNT)
        return NULL;
    return bn_tensor_type_name((bn_tensor_type)type);
}

bn_status bn_qtype_from_name(const char *name, bn_qtype *out, bn_error *err) {
    for (int t = 0; name && t < BN_QTYPE_COUNT; t++)
        if (strcasecmp(name, bn_qtype_name((bn_qtype)t)) == 0) {
            *out = (bn_qtype)t;
            return BN_STATUS_OK;
        }
    return bn_error_set(err, BN_STATUS_INVALID_ARG,
                        "unknown type '%s': choose F32, F16, BF16, Q8_0, Q6_K, TQ1_0, TQ2_0, "
                        "I2_S, IQ1_BN or IQ2_BN",
                        name ? name : "(null)");
}

double bn_qtype_bits_per_weight(bn_qtype type) {
    if ((int)type < 0 || type >= BN_QTYPE_COUNT)
        return 0.0;
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of((bn_tensor_type)type);
    return 8.0 * (double)tr->block_bytes / (double)tr->block_size;
}

/* rows*K with both >= 1 and the count (and its float32 bytes) inside
 * int64_t / size_t. */
static bn_status check_shape(const char *what, int64_t rows, int64_t K, bn_error *err) {
    if (rows < 1 || K < 1)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "%s: shape (%" PRId64 ", %" PRId64 ") needs both sizes >= 1", what,
                            rows, K);
    if (rows > (INT64_MAX / 8) / K || (uint64_t)(rows * K) > SIZE_MAX / 8)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "%s: shape (%" PRId64 ", %" PRId64 ") has too many elements", what,
                            rows, K);
    return BN_STATUS_OK;
}

/* Index of the first NaN or infinity in x[0..n), or -1. A flag OR-ed over
 * the exponent bits, so that the common (clean) case is one vector pass. */
static int64_t first_non_finite(const float *x, int64_t n) {
    const int64_t chunk = 4096;
    for (int64_t c = 0; c < n; c += chunk) {
        int64_t e = c + chunk < n ? c + chunk : n;
        uint32_t bad = 0;
        for (int64_t i = c; i < e; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (int64_t i = c; i < e; i++)
                if (!isfinite(x[i]))
                    return i;
    }
    return -1;
}

static bn_status check_finite(const char *what, const float *x, int64_t n, int64_t K,
                              bn_error *err) {
    int64_t i = first_non_finite(x, n);
    if (i < 0)
        return BN_STATUS_OK;
    return bn_error_set(err, BN_STATUS_INVALID_ARG,
                        "%s[%" PRId64 ", %" PRId64 "] is %s: only finite values can be quantized",
                        what, i / K, i % K, isnan(x[i]) ? "NaN" : "infinite");
}

/* ---------------------------------------------------------------------- */
/* Ternary weights                                                          */

bn_status bn_quant_weights_scale_count(int64_t rows, int64_t K, int64_t group_size,
                                       size_t *n_scales, bn_error *err) {
    bn_status s = check_shape("weights", rows, K, err);
    if (s)
        return s;
    if (group_size == 0) {
        *n_scales = 1;
        return BN_STATUS_OK;
    }
    if (group_size < 0 || K % group_size != 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "group size %" PRId64 " does not divide the row length K = %" PRId64
                            " (0 means one scale per tensor)",
                            group_size, K);
    *n_scales = (size_t)(rows * (K / group_size));
    return BN_STATUS_OK;
}

bn_status bn_quant_weights_ternary(const float *w, int64_t rows, int64_t K, int64_t group_size,
                                   int8_t *codes, float *scales, bn_error *err) {
    size_t ns;
    bn_status s = bn_quant_weights_scale_count(rows, K, group_size, &ns, err);
    if (s)
        return s;
    if (!w || !codes || !scales)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "weights: NULL array");
    if ((s = check_finite("w", w, rows * K, K, err)))
        return s;
    const int64_t n = rows * K, G = group_size ? group_size : n;
    /* Every gamma first, so that an overflowing one leaves codes untouched. */
    for (int64_t g = 0; g < n / G; g++) {
        scales[g] = bn_absmean_scale(w + g * G, G);
        if (!isfinite(scales[g]))
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "weights: mean |w| of group %" PRId64 " (row %" PRId64
                                ") overflows float32: values too large to quantize",
                                g, g * G / K);
    }
    for (int64_t g = 0; g < n / G; g++)
        bn_ternarize(w + g * G, G, scales[g], codes + g * G);
    return BN_STATUS_OK;
}

/* Index of the first code outside {-1, 0, +1}, or -1. */
static int64_t first_bad_code(const int8_t *c, int64_t n) {
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad |= (uint32_t)((uint8_t)(c[i] + 1) > 2);
    if (bad)
        for (int64_t i = 0; i < n; i++)
            if (c[i] < -1 || c[i] > 1)
                return i;
    return -1;
}

bn_status bn_quant_weights_dequant(const int8_t *codes, const float *scales, int64_t rows,
                                   int64_t K, int64_t group_size, float *out, bn_error *err) {
    size_t ns;
    bn_status s = bn_quant_weights_scale_count(rows, K, group_size, &ns, err);
    if (s)
        return s;
    if (!codes || !scales || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "weights: NULL array");
    const int64_t n = rows * K, G = group_size ? group_size : n;
    int64_t bad = first_bad_code(codes, n);
    if (bad >= 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "codes[%" PRId64 ", %" PRId64 "] = %d: ternary codes are -1, 0 or 1",
                            bad / K, bad % K, codes[bad]);
    for (int64_t g = 0; g < n / G; g++) {
        const float gamma = scales[g];
        const int8_t *c = codes + g * G;
        float *o = out + g * G;
        for (int64_t i = 0; i < G; i++)
            o[i] = (float)c[i] * gamma;
    }
    return BN_STATUS_OK;
}

/* ---------------------------------------------------------------------- */
/* INT8 activations                                                         */

void bn_quant_act_options_default(bn_quant_act_options *opts) {
    opts->per_tensor = false;
    opts->symmetric = true;
    opts->clip = 0.0f;
}

/* The model's path: per token, symmetric, no clip, through the kernel
 * table's act_quant (what the forward pass runs), a chunk of tokens at a
 * time into a padded batch, then copied out. */
enum { ACT_CHUNK_TOKENS = 64 };

static bn_status act_quant_kernel(const float *x, int64_t n_tokens, int64_t K, int8_t *q,
                                  float *scales, bn_error *err) {
    const bn_kernels *k;
    bn_status s = bn_kernels_select(NULL, &k, err);
    if (s)
        return s;
    int64_t chunk = n_tokens < ACT_CHUNK_TOKENS ? n_tokens : ACT_CHUNK_TOKENS;
    bn_act_batch act;
    if ((s = bn_act_batch_alloc(K, chunk, false, &act, err)))
        return s;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
        int64_t nt = n_tokens - t0 < chunk ? n_tokens - t0 : chunk;
        if ((s = bn_act_batch_reset(&act, K, nt, err)))
            break;
        k->act_quant(x + t0 * K, K, &act, 0, nt);
        for (int64_t t = 0; t < nt; t++) {
            memcpy(q + (t0 + t) * K, act.q + t * act.stride, (size_t)K);
            scales[t0 + t] = act.scale[t];
        }
    }
    bn_act_batch_free(&act);
    return s;
}

/* The kernels' rounding (ref/act.c bn_quant1): rint half to even, bounds
 * on the float. */
static inline int32_t round_i32(float v) {
    float r = rintf(v);
    return r > 127.0f ? 127 : r < -128.0f ? -128 : (int32_t)r;
}

/* One group of n values (a token or the whole tensor), generic options. */
static bn_status act_quant_group(const float *x, int64_t n, const bn_quant_act_options *o,
                                 int64_t group, int8_t *q, float *scale, int32_t *zp,
                                 bn_error *err) {
    const float c = o->clip > 0.0f ? o->clip : INFINITY;
    if (o->symmetric) {
        float amax = 1e-5f;
        for (int64_t i = 0; i < n; i++) {
            float a = fabsf(x[i]);
            amax = a > amax ? a : amax;
        }
        amax = amax < c ? amax : c;
        const float s = 127.0f / amax;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] < -c ? -c : x[i] > c ? c : x[i];
            q[i] = (int8_t)round_i32(v * s);
        }
        *scale = s;
        if (zp)
            *zp = 0;
        return BN_STATUS_OK;
    }
    /* Asymmetric: the range [lo, hi] always holds 0, so that 0 is exact. */
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    lo = lo > -c ? lo : -c;
    hi = hi < c ? hi : c;
    float range = hi - lo;
    if (!isfinite(range))
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "activations: the range [%g, %g] of %s %" PRId64
                            " overflows float32; pass a clip value",
                            (double)lo, (double)hi, o->per_tensor ? "tensor" : "token", group);
    range = range > 1e-5f ? range : 1e-5f;
    const float s = 255.0f / range;
    int32_t z = -128 - (int32_t)rintf(lo * s);
    z = z < -128 ? -128 : z > 127 ? 127 : z;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
        int32_t r = (int32_t)rintf(v * s) + z;
        q[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
    }
    *scale = s;
    *zp = z;
    return BN_STATUS_OK;
}

bn_status bn_quant_act_i8(const float *x, int64_t n_tokens, int64_t K,
                          const bn_quant_act_options *opts, int8_t *q, float *scales,
                          int32_t *zero_points, bn_error *err) {
    bn_quant_act_options o;
    bn_quant_act_options_default(&o);
    if (opts)
        o = *opts;
    bn_status s = check_shape("activations", n_tokens, K, err);
    if (s)
        return s;
    if (!x || !q || !scales || (!o.symmetric && !zero_points))
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "activations: NULL array%s",
                            o.symmetric ? "" : " (asymmetric needs zero_points)");
    if (!(o.clip >= 0.0f) || isinf(o.clip))
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "activations: clip %g must be finite and >= 0 (0: no clip)",
                            (double)o.clip);
    if ((s = check_finite("x", x, n_tokens * K, K, err)))
        return s;
    if (!o.per_tensor && o.symmetric && o.clip == 0.0f)
        return act_quant_kernel(x, n_tokens, K, q, scales, err);
    if (o.per_tensor)
        return act_quant_group(x, n_tokens * K, &o, 0, q, scales, zero_points, err);
    for (int64_t t = 0; t < n_tokens; t++)
        if ((s = act_quant_group(x + t * K, K, &o, t, q + t * K, scales + t,
                                 zero_points ? zero_points + t : NULL, err)))
            return s;
    return BN_STATUS_OK;
}

bn_status bn_quant_act_dequant(const int8_t *q, const float *scales, const int32_t *zero_points,
                               int64_t n_tokens, int64_t K, bool per_tensor, float *out,
                               bn_error *err) {
    bn_status s = check_shape("activations", n_tokens, K, err);
    if (s)
        return s;
    if (!q || !scales || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "activations: NULL array");
    for (int64_t t = 0; t < n_tokens; t++) {
        const int64_t g = per_tensor ? 0 : t;
        const float sc = scales[g];
        const float z = zero_points ? (float)zero_points[g] : 0.0f;
        if (!(sc > 0.0f) || isinf(sc))
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "activations: scale %g of %s %" PRId64
                                " must be finite and > 0",
                                (double)sc, per_tensor ? "tensor" : "token", g);
        const int8_t *qr = q + t * K;
        float *o = out + t * K;
        for (int64_t i = 0; i < K; i++)
            o[i] = ((float)qr[i] - z) / sc;
    }
    return BN_STATUS_OK;
}

/* ---------------------------------------------------------------------- */
/* Error statistics                                                         */

bn_status bn_quant_error(const float *ref, const float *approx, int64_t n,
                         bn_quant_error_stats *out, bn_error *err) {
    bn_status s = check_shape("error", 1, n, err);
    if (s)
        return s;
    if (!ref || !approx || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "error: NULL array");
    if ((s = check_finite("ref", ref, n, n, err)) || (s = check_finite("approx", approx, n, n, err)))
        return s;
    double ss_ref = 0.0, ss_err = 0.0, max_abs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref[i], d = r - (double)approx[i];
        ss_ref += r * r;
        ss_err += d * d;
        double a = fabs(d);
        max_abs = a > max_abs ? a : max_abs;
    }
    out->n = (uint64_t)n;
    out->sum_sq_ref = ss_ref;
    out->sum_sq_err = ss_err;
    out->mse = ss_err / (double)n;
    out->max_abs = max_abs;
    out->snr_db = ss_err > 0.0 ? 10.0 * log10(ss_ref / ss_err) : INFINITY;
    return BN_STATUS_OK;
}

/* ---------------------------------------------------------------------- */
/* Model size                                                               */

bn_status bn_quant_estimate_bytes(uint64_t n_params, bn_qtype type, uint64_t *n_bytes,
                                  bn_error *err) {
    if ((int)type < 0 || type >= BN_QTYPE_COUNT)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "estimate: unknown type %d", (int)type);
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of((bn_tensor_type)type);
    uint64_t blocks = n_params / tr->block_size + (n_params % tr->block_size != 0);
    uint64_t tail = type == BN_QTYPE_I2_S ? 32 : 0;
    if (blocks > (UINT64_MAX - tail) / tr->block_bytes)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "estimate: %" PRIu64 " parameters of %s take more than 2^64 bytes",
                            n_params, tr->name);
    *n_bytes = blocks * tr->block_bytes + tail;
    return BN_STATUS_OK;
}
