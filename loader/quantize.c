/* quantize.c: GGUF -> GGUF ternary (re)quantization (see the header).
 *
 * One pass over the input's tensors in file order: a tensor to quantize is
 * turned into trits + scales (decode, exact ternary floats, or absmean),
 * the scales are carried to the target's granularity, the result is encoded
 * into a buffer the writer borrows, and decoded back once to measure the
 * error against the input's own dequantized weights. Untouched tensors are
 * borrowed straight from the input mapping. The file is written at the end.
 */
#include "loader/quantize.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader/convert.h"
#include "loader/dequant.h"
#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "loader/half.h"
#include "loader/ternarize.h"
#include "loader/ternary_codec.h"
#include "runtime/error.h"

double bn_quantize_stats_mse(const bn_quantize_stats *s) {
    return s->n_elements ? s->sum_sq_err / (double)s->n_elements : 0.0;
}

double bn_quantize_stats_rel_err(const bn_quantize_stats *s) {
    return s->sum_sq_ref > 0 ? sqrt(s->sum_sq_err / s->sum_sq_ref) : 0.0;
}

double bn_quantize_stats_ratio(const bn_quantize_stats *s, bn_tensor_type vs) {
    double per = vs == BN_TYPE_F16 ? 2.0 : 4.0;
    return s->out_bytes ? per * (double)s->n_elements / (double)s->out_bytes : 0.0;
}

double bn_quantize_stats_gbps(const bn_quantize_stats *s) {
    return s->seconds > 0 ? 4.0 * (double)s->n_elements / s->seconds / 1e9 : 0.0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_projection(const char *name) {
    static const char *const parts[] = {".attn_q.weight", ".attn_k.weight", ".attn_v.weight",
                                        ".attn_output.weight", ".ffn_gate.weight",
                                        ".ffn_up.weight", ".ffn_down.weight"};
    if (strncmp(name, "blk.", 4) != 0)
        return false;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t m = strlen(parts[i]);
        if (n > m && strcmp(name + n - m, parts[i]) == 0)
            return true;
    }
    return false;
}

static bool is_ternary_type(bn_tensor_type t) {
    return t == BN_TYPE_I2_S || t == BN_TYPE_TQ1_0 || t == BN_TYPE_TQ2_0 || t == BN_TYPE_IQ1_BN ||
           t == BN_TYPE_IQ2_BN;
}

static bool is_float_type(bn_tensor_type t) {
    return t == BN_TYPE_F32 || t == BN_TYPE_F16 || t == BN_TYPE_BF16;
}

/* Whether rows of K values fit the target layout. */
static bool fits(bn_tensor_type type, int64_t K) {
    switch (type) {
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0: return K % 256 == 0;
    case BN_TYPE_IQ1_BN:
    case BN_TYPE_IQ2_BN: return K % 64 == 0;
    case BN_TYPE_I2_S: return K % 128 == 0;
    default: return true;
    }
}

/* ---- metadata copy ----------------------------------------------------- */

static bn_status copy_kv(const bn_gguf *in, size_t i, bn_gguf_writer *w, bn_error *err) {
    const char *key = bn_gguf_kv_key(in, i);
    bn_status s = BN_STATUS_OK;
    switch (bn_gguf_kv_type(in, i)) {
    case BN_GGUF_UINT8:
    case BN_GGUF_UINT16:
    case BN_GGUF_UINT32: {
        uint32_t v;
        if (!(s = bn_gguf_get_u32(in, key, &v, err)))
            s = bn_gguf_writer_set_u32(w, key, v, err);
        break;
    }
    case BN_GGUF_INT8:
    case BN_GGUF_INT16:
    case BN_GGUF_INT32: {
        int32_t v;
        if (!(s = bn_gguf_get_i32(in, key, &v, err)))
            s = bn_gguf_writer_set_i32(w, key, v, err);
        break;
    }
    case BN_GGUF_UINT64:
    case BN_GGUF_INT64: {
        uint64_t v;
        if (!(s = bn_gguf_get_u64(in, key, &v, err)))
            s = bn_gguf_writer_set_u64(w, key, v, err);
        break;
    }
    case BN_GGUF_FLOAT32:
    case BN_GGUF_FLOAT64: {
        float v;
        if (!(s = bn_gguf_get_f32(in, key, &v, err)))
            s = bn_gguf_writer_set_f32(w, key, v, err);
        break;
    }
    case BN_GGUF_BOOL: {
        bool v;
        if (!(s = bn_gguf_get_bool(in, key, &v, err)))
            s = bn_gguf_writer_set_bool(w, key, v, err);
        break;
    }
    case BN_GGUF_STRING: {
        bn_gguf_string v;
        if ((s = bn_gguf_get_string(in, key, &v, err)))
            break;
        char *z = malloc((size_t)v.len + 1);
        if (!z)
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for metadata %s", key);
        memcpy(z, v.data, (size_t)v.len);
        z[v.len] = '\0';
        s = bn_gguf_writer_set_string(w, key, z, err);
        free(z);
        break;
    }
    case BN_GGUF_ARRAY: {
        bn_gguf_value_type et;
        uint64_t count;
        if ((s = bn_gguf_get_array(in, key, &et, &count, err)))
            break;
        if (et == BN_GGUF_STRING) {
            const char **strs = malloc((count ? count : 1) * sizeof *strs);
            uint64_t *lens = malloc((count ? count : 1) * sizeof *lens);
            if (!strs || !lens) {
                free(strs);
                free(lens);
                return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for metadata %s", key);
            }
            for (uint64_t j = 0; j < count && !s; j++) {
                bn_gguf_string v;
                s = bn_gguf_array_string(in, key, j, &v, err);
                strs[j] = v.data;
                lens[j] = v.len;
            }
            if (!s)
                s = bn_gguf_writer_set_string_array(w, key, strs, lens, count, err);
            free(strs);
            free(lens);
        } else {
            const void *raw = bn_gguf_array_raw(in, key);
            if (!raw)
                return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                    "metadata %s: arrays of arrays are not copied", key);
            s = bn_gguf_writer_set_array(w, key, et, raw, count, err);
        }
        break;
    }
    default:
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED, "metadata %s has a type we cannot copy", key);
    }
    return s;
}

/* ---- one tensor ---------------------------------------------------------- */

typedef struct work {
    float *ref;      /* (rows, K) input weights as floats */
    int8_t *trits;   /* (rows, K) */
    float *scales;   /* input scales, up to max(rows, rows*K/256) */
    float *tscales;  /* target scales, same room */
    size_t cap;      /* elements of the (rows, K) buffers */
    size_t scap;     /* floats of the scale buffers */
} work;

static bn_status work_reserve(work *wk, size_t n, size_t ns, bn_error *err) {
    if (n > wk->cap) {
        free(wk->ref);
        free(wk->trits);
        wk->ref = malloc(n * sizeof(float));
        wk->trits = malloc(n);
        wk->cap = n;
        if (!wk->ref || !wk->trits) {
            wk->cap = 0;
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for a tensor of %zu values", n);
        }
    }
    if (ns > wk->scap) {
        free(wk->scales);
        free(wk->tscales);
        wk->scales = malloc(ns * sizeof(float));
        wk->tscales = malloc(ns * sizeof(float));
        wk->scap = ns;
        if (!wk->scales || !wk->tscales) {
            wk->scap = 0;
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %zu scales", ns);
        }
    }
    return BN_STATUS_OK;
}

static float scale_of(const float *scales, bn_ternary_scale_kind kind, int64_t K, int64_t r,
                      int64_t k) {
    switch (kind) {
    case BN_TERNARY_SCALE_TENSOR: return scales[0];
    case BN_TERNARY_SCALE_ROW: return scales[r];
    default: return scales[(r * K + k) / 256];
    }
}

/* Least-squares common scale of weights [r0, r1) rows: mean of the
 * effective scale over the nonzero trits. */
static float collapse(const int8_t *t, const float *scales, bn_ternary_scale_kind kind, int64_t K,
                      int64_t r0, int64_t r1) {
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t k = 0; k < K; k++)
            if (t[r * K + k] != 0) {
                sum += scale_of(scales, kind, K, r, k);
                count++;
            }
    return count ? (float)(sum / (double)count) : 0.0f;
}

/* Input -> wk->ref (floats), wk->trits, wk->scales with *kind. */
static bn_status source_trits(const bn_gguf_tensor *t, int64_t K, int64_t rows, int group_size,
                              bn_tensor_type target, work *wk, bn_ternary_scale_kind *kind,
                              bn_error *err) {
    bn_status s;
    if (is_ternary_type(t->type)) {
        s = bn_ternary_decode(t->type, t->data, t->n_bytes, K, rows, wk->trits, wk->scales, kind,
                              err);
        if (s != BN_STATUS_OK)
            return bn_error_set(err, s, "tensor %s", t->name);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < K; k++)
                wk->ref[r * K + k] =
                    (float)wk->trits[r * K + k] * scale_of(wk->scales, *kind, K, r, k);
        return BN_STATUS_OK;
    }
    /* Floats (or Q8_0/Q6_K) row by row. */
    uint64_t row_bytes = bn_tensor_type_row_bytes(t->type, K);
    for (int64_t r = 0; r < rows; r++) {
        if (bn_dequantize_row(t->type, t->data + (uint64_t)r * row_bytes, wk->ref + r * K, K) !=
            BN_STATUS_OK)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED, "tensor %s: cannot read %s rows of %" PRId64,
                                t->name, bn_tensor_type_name(t->type), K);
    }
    if (is_float_type(t->type) && group_size == 0) {
        /* Already ternary (+-s, 0)? Then keep it exactly. */
        bn_error probe = {0};
        if (bn_ternary_decode(t->type, t->data, t->n_bytes, K, rows, wk->trits, wk->scales, kind,
                              &probe) == BN_STATUS_OK)
            return BN_STATUS_OK;
    }
    int64_t n = K * rows;
    if (group_size == 0) {
        wk->scales[0] = bn_absmean_scale(wk->ref, n);
        bn_ternarize(wk->ref, n, wk->scales[0], wk->trits);
        *kind = BN_TERNARY_SCALE_TENSOR;
        return BN_STATUS_OK;
    }
    if (target != BN_TYPE_TQ1_0 && target != BN_TYPE_TQ2_0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "group size %d needs TQ1_0 or TQ2_0, whose 256-blocks carry scales",
                            group_size);
    /* Per group: trits from each group's absmean, then each 256-block's
     * least-squares scale for its trits. */
    for (int64_t g = 0; g < n / group_size; g++) {
        const float *w = wk->ref + g * group_size;
        bn_ternarize(w, group_size, bn_absmean_scale(w, group_size), wk->trits + g * group_size);
    }
    for (int64_t b = 0; b < n / 256; b++)
        wk->scales[b] = bn_ternary_fit_scale(wk->ref + b * 256, wk->trits + b * 256, 256);
    *kind = BN_TERNARY_SCALE_BLOCK256;
    return BN_STATUS_OK;
}

void bn_quantize_target_scales(bn_tensor_type target, const int8_t *t, const float *scales,
                               bn_ternary_scale_kind kind, int64_t K, int64_t rows,
                               float *tscales, bn_ternary_scale_kind *out_kind) {
    switch (target) {
    case BN_TYPE_I2_S:
        tscales[0] = kind == BN_TERNARY_SCALE_TENSOR ? scales[0]
                                                     : collapse(t, scales, kind, K, 0, rows);
        *out_kind = BN_TERNARY_SCALE_TENSOR;
        break;
    case BN_TYPE_TQ1_0:
    case BN_TYPE_TQ2_0:
        for (int64_t b = 0; b < rows * K / 256; b++) {
            bool any = false;
            for (int i = 0; i < 256 && !any; i++)
                any = t[b * 256 + i] != 0;
            float s = scale_of(scales, kind, K, b * 256 / K, (b * 256) % K);
            tscales[b] = any ? s : 0.0f; /* llama.cpp's max|x| of an all-zero block */
        }
        *out_kind = BN_TERNARY_SCALE_BLOCK256;
        break;
    case BN_TYPE_IQ1_BN:
    case BN_TYPE_IQ2_BN:
        for (int64_t r = 0; r < rows; r++)
            tscales[r] = kind == BN_TERNARY_SCALE_BLOCK256
                             ? collapse(t, scales, kind, K, r, r + 1)
                             : scale_of(scales, kind, K, r, 0);
        *out_kind = BN_TERNARY_SCALE_ROW;
        break;
    default: { /* F32/F16: any granularity; keep it */
        size_t ns = kind == BN_TERNARY_SCALE_TENSOR ? 1
                    : kind == BN_TERNARY_SCALE_ROW  ? (size_t)rows
                                                    : (size_t)(rows * K / 256);
        memcpy(tscales, scales, ns * sizeof(float));
        *out_kind = kind;
    }
    }
}

static bn_status quantize_tensor(const bn_gguf_tensor *t, const bn_quantize_options *opt,
                                 work *wk, void **out, uint64_t *out_bytes, bn_quantize_stats *st,
                                 bn_error *err) {
    int64_t K = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t n = (size_t)(K * rows);
    size_t ns = (size_t)rows > n / 256 + 1 ? (size_t)rows : n / 256 + 1;
    bn_status s = work_reserve(wk, n, ns, err);
    if (s != BN_STATUS_OK)
        return s;
    double t0 = now_seconds();
    bn_ternary_scale_kind kind, tkind;
    if ((s = source_trits(t, K, rows, opt->group_size, opt->type, wk, &kind, err)))
        return s;
    bn_quantize_target_scales(opt->type, wk->trits, wk->scales, kind, K, rows, wk->tscales,
                              &tkind);
    uint64_t bytes = bn_ternary_encoded_bytes(opt->type, K, rows);
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s", t->name);
    *out = buf;
    *out_bytes = bytes;
    if ((s = bn_ternary_encode(opt->type, wk->trits, wk->tscales, tkind, K, rows, buf, bytes, err)))
        return bn_error_set(err, s, "tensor %s", t->name);
    /* Error pass: decode what was written. */
    bn_ternary_scale_kind bkind;
    if ((s = bn_ternary_decode(opt->type, buf, bytes, K, rows, wk->trits, wk->scales, &bkind, err)))
        return s;
    double e = 0.0, r2 = 0.0;
    uint64_t zeros = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++) {
            int64_t i = r * K + k;
            double q = (double)wk->trits[i] * scale_of(wk->scales, bkind, K, r, k);
            double d = (double)wk->ref[i] - q;
            e += d * d;
            r2 += (double)wk->ref[i] * wk->ref[i];
            zeros += wk->trits[i] == 0;
        }
    st->sum_sq_err = e;
    st->sum_sq_ref = r2;
    st->n_zeros = zeros;
    st->out_type = opt->type;
    st->out_bytes = bytes;
    st->quantized = true;
    st->seconds = now_seconds() - t0;
    return BN_STATUS_OK;
}

/* token_embd / output to a float or block type (F32, F16, BF16, Q8_0,
 * Q6_K), row by row through f32. Rows that do not fit the type's blocks
 * keep the tensor as it is. */
static bn_status requantize_dense(const bn_gguf_tensor *t, bn_tensor_type type, work *wk,
                                  void **out, uint64_t *out_bytes, bn_quantize_stats *st,
                                  bn_error *err) {
    int64_t K = t->ne[0], rows = t->ne[1];
    const bn_tensor_type_traits *tr = bn_tensor_type_traits_of(type);
    if (!tr || tr->is_ternary || K % tr->block_size != 0 || type == t->type)
        return BN_STATUS_OK; /* copied unchanged, st says so */
    double t0 = now_seconds();
    bn_status s = work_reserve(wk, (size_t)K * 2, 1, err); /* one row in, one row back */
    if (s != BN_STATUS_OK)
        return s;
    uint64_t in_row = bn_tensor_type_row_bytes(t->type, K), row = bn_tensor_type_row_bytes(type, K);
    uint8_t *buf = malloc(row * (uint64_t)rows);
    if (!buf)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory for %s", t->name);
    *out = buf;
    float *x = wk->ref, *y = wk->ref + K;
    double e = 0.0, r2 = 0.0;
    uint64_t zeros = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (bn_dequantize_row(t->type, t->data + (uint64_t)r * in_row, x, K) != BN_STATUS_OK)
            return bn_error_set(err, BN_STATUS_UNSUPPORTED, "tensor %s: cannot read %s rows",
                                t->name, bn_tensor_type_name(t->type));
        uint8_t *dst = buf + (uint64_t)r * row;
        switch (type) {
        case BN_TYPE_F32: memcpy(dst, x, (size_t)K * sizeof(float)); break;
        case BN_TYPE_F16:
        case BN_TYPE_BF16:
            for (int64_t k = 0; k < K; k++) {
                uint16_t h = type == BN_TYPE_F16 ? bn_f32_to_f16(x[k]) : bn_f32_to_bf16(x[k]);
                memcpy(dst + 2 * k, &h, 2);
            }
            break;
        case BN_TYPE_Q8_0: bn_quantize_row_q8_0(x, dst, K); break;
        case BN_TYPE_Q6_K: bn_quantize_row_q6_k(x, dst, K); break;
        default:
            return bn_error_set(err, BN_STATUS_INVALID_ARG,
                                "embedding type %s: choose F32, F16, BF16, Q8_0 or Q6_K", tr->name);
        }
        bn_dequantize_row(type, dst, y, K);
        for (int64_t k = 0; k < K; k++) {
            double d = (double)x[k] - y[k];
            e += d * d;
            r2 += (double)x[k] * x[k];
            zeros += y[k] == 0.0f;
        }
    }
    *out_bytes = row * (uint64_t)rows;
    st->out_type = type;
    st->out_bytes = *out_bytes;
    st->sum_sq_err = e;
    st->sum_sq_ref = r2;
    st->n_zeros = zeros;
    st->quantized = true;
    st->seconds = now_seconds() - t0;
    return BN_STATUS_OK;
}

/* ---- driver ------------------------------------------------------------ */

bn_status bn_quantize_gguf(const char *in_path, const char *out_path,
                           const bn_quantize_options *opt, bn_quantize_stats *total,
                           bn_error *err) {
    bn_status s = BN_STATUS_OK;
    bn_gguf *in = NULL;
    bn_gguf_writer *w = NULL;
    void **owned = NULL;
    size_t n_tensors = 0;
    work wk;
    memset(&wk, 0, sizeof wk);
    bn_quantize_stats sum;
    memset(&sum, 0, sizeof sum);
    sum.name = "total";
    if (!in_path || !out_path || !opt) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_quantize_gguf: NULL argument");
        goto fail;
    }
    sum.in_type = sum.out_type = opt->type;
    switch (opt->type) {
    case BN_TYPE_I2_S:
    case BN_TYPE_TQ2_0:
    case BN_TYPE_TQ1_0:
    case BN_TYPE_IQ2_BN:
    case BN_TYPE_IQ1_BN:
    case BN_TYPE_F16:
    case BN_TYPE_F32: break;
    default:
        s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                         "target type %s: choose I2_S, TQ2_0, TQ1_0, IQ2_BN, IQ1_BN, F16 or F32",
                         bn_tensor_type_name(opt->type));
        goto fail;
    }
    if (opt->group_size != 0 && opt->group_size != 64 && opt->group_size != 128 &&
        opt->group_size != 256) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                         "group size %d: choose 64, 128 or 256 (a divisor of the 256-value TQ block)",
                         opt->group_size);
        goto fail;
    }
    if (opt->group_size && opt->type != BN_TYPE_TQ1_0 && opt->type != BN_TYPE_TQ2_0) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG,
                         "group size %d needs TQ1_0 or TQ2_0, whose 256-blocks carry scales (%s "
                         "has one scale per %s)",
                         opt->group_size, bn_tensor_type_name(opt->type),
                         opt->type == BN_TYPE_I2_S ? "tensor" : "row");
        goto fail;
    }
    if ((s = bn_gguf_open_file(in_path, NULL, &in, err)))
        goto fail;
    if ((s = bn_gguf_writer_new(&w, err)))
        goto fail;
    for (size_t i = 0; i < bn_gguf_kv_count(in); i++) {
        if (strcmp(bn_gguf_kv_key(in, i), "general.file_type") == 0)
            continue;
        if ((s = copy_kv(in, i, w, err)))
            goto fail;
    }
    if ((s = bn_gguf_writer_set_u32(w, "general.file_type", bn_convert_file_type(opt->type), err)))
        goto fail;
    n_tensors = bn_gguf_tensor_count(in);
    owned = calloc(n_tensors ? n_tensors : 1, sizeof *owned);
    if (!owned) {
        s = bn_error_set(err, BN_STATUS_NO_MEMORY, "no memory");
        goto fail;
    }
    for (size_t i = 0; i < n_tensors; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(in, i);
        bn_quantize_stats st;
        memset(&st, 0, sizeof st);
        st.name = t->name;
        st.in_type = st.out_type = t->type;
        st.n_elements = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        st.in_bytes = st.out_bytes = t->n_bytes;
        bool want = (is_projection(t->name) || is_ternary_type(t->type)) && t->n_dims >= 2 &&
                    fits(opt->type, t->ne[0]);
        const void *data = t->data;
        uint64_t bytes = t->n_bytes;
        bn_tensor_type type = t->type;
        bool dense = !want && opt->embd_type_set && t->n_dims == 2 &&
                     (strcmp(t->name, "token_embd.weight") == 0 ||
                      strcmp(t->name, "output.weight") == 0);
        if (want) {
            s = quantize_tensor(t, opt, &wk, &owned[i], &bytes, &st, err);
            if (s != BN_STATUS_OK)
                goto fail;
            data = owned[i];
            type = opt->type;
        } else if (dense) {
            s = requantize_dense(t, opt->embd_type, &wk, &owned[i], &bytes, &st, err);
            if (s != BN_STATUS_OK)
                goto fail;
            data = owned[i];
            type = st.out_type;
        }
        if ((s = bn_gguf_writer_add_tensor(w, t->name, type, t->n_dims, t->ne, data, bytes, err)))
            goto fail;
        if (st.quantized && !dense) {
            /* The total's input type: the common one, or BN_TYPE_COUNT if mixed. */
            sum.in_type = !sum.quantized || sum.in_type == st.in_type ? st.in_type : BN_TYPE_COUNT;
            sum.n_elements += st.n_elements;
            sum.in_bytes += st.in_bytes;
            sum.out_bytes += st.out_bytes;
            sum.sum_sq_err += st.sum_sq_err;
            sum.sum_sq_ref += st.sum_sq_ref;
            sum.n_zeros += st.n_zeros;
            sum.seconds += st.seconds;
            sum.quantized = true;
        }
        if (opt->on_tensor)
            opt->on_tensor(opt->user, &st, i, n_tensors);
    }
    if ((s = bn_gguf_writer_write_file(w, out_path, err)))
        goto fail;
    if (opt->on_tensor)
        opt->on_tensor(opt->user, &sum, n_tensors, n_tensors);
    if (total)
        *total = sum;
fail:
    bn_gguf_writer_free(w);
    for (size_t i = 0; owned && i < n_tensors; i++)
        free(owned[i]);
    free(owned);
    free(wk.ref);
    free(wk.trits);
    free(wk.scales);
    free(wk.tscales);
    bn_gguf_close(in);
    return s;
}
