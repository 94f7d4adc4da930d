/* hparams.c: `general.architecture` -> block structure, and the `{arch}.*`
 * hyperparameters, read and checked (FORMATS.md 2.1, 2.2).
 *
 * What each architecture means:
 *   bitnet-b1.58, bitnet-25  sub-norms, ReLU^2, NeoX RoPE (2B4T)
 *   bitnet                   sub-norms, SiLU unless bitnet.hidden_activation
 *                            says relu2, NeoX RoPE (1bitLLM; mainline's 2B4T)
 *   llama                    no sub-norms, SiLU, adjacent-pair RoPE (the
 *                            converters permute Q/K rows for it)
 * Whether the output layer is tied is decided by the binder from the
 * presence of output.weight, as every peer does.
 */
#include "runtime/hparams.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"

const char *bn_ffn_act_name(bn_ffn_act act)
{
    return act == BN_FFN_ACT_RELU2 ? "relu2" : "silu";
}

/* Reads {arch}.<name> as a positive int32. required=false: keeps *out when absent. */
static bn_status read_count(const bn_gguf *gguf, const char *arch, const char *name, bool required,
                            int32_t *out, bn_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (bn_gguf_find_kv(gguf, key) < 0) {
        if (!required)
            return BN_STATUS_OK;
        return bn_error_set(err, BN_STATUS_NOT_FOUND,
                            "model metadata lacks '%s' (required for architecture '%s')", key, arch);
    }
    uint64_t v = 0;
    bn_status st = bn_gguf_get_u64(gguf, key, &v, err);
    if (st != BN_STATUS_OK)
        return st;
    if (v == 0 || v > (uint64_t)INT32_MAX)
        return bn_error_set(err, BN_STATUS_FORMAT, "metadata '%s' = %llu is out of range (1..%d)",
                            key, (unsigned long long)v, INT32_MAX);
    *out = (int32_t)v;
    return BN_STATUS_OK;
}

static bn_status read_float(const bn_gguf *gguf, const char *arch, const char *name, float *out,
                            bn_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (bn_gguf_find_kv(gguf, key) < 0)
        return BN_STATUS_OK;
    float v = 0.0f;
    bn_status st = bn_gguf_get_f32(gguf, key, &v, err);
    if (st != BN_STATUS_OK)
        return st;
    if (!isfinite(v))
        return bn_error_set(err, BN_STATUS_FORMAT, "metadata '%s' is not a finite number", key);
    *out = v;
    return BN_STATUS_OK;
}

/* Compares a length-delimited GGUF string with a C string. */
static bool str_is(bn_gguf_string s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.data, c, n) == 0;
}

bn_status bn_hparams_read(const bn_gguf *gguf, bn_hparams *hp, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    memset(hp, 0, sizeof *hp);

    bn_gguf_string arch_s;
    if (bn_gguf_find_kv(gguf, "general.architecture") < 0) {
        st = bn_error_set(err, BN_STATUS_NOT_FOUND,
                          "model metadata lacks 'general.architecture': not a model file "
                          "(a vocabulary-only GGUF?)");
        goto fail;
    }
    st = bn_gguf_get_string(gguf, "general.architecture", &arch_s, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (str_is(arch_s, "bitnet-b1.58")) {
        hp->arch = BN_ARCH_BITNET_B158;
    } else if (str_is(arch_s, "bitnet-25")) {
        hp->arch = BN_ARCH_BITNET_25;
    } else if (str_is(arch_s, "bitnet")) {
        hp->arch = BN_ARCH_BITNET;
    } else if (str_is(arch_s, "llama")) {
        hp->arch = BN_ARCH_LLAMA;
    } else {
        int n = arch_s.len > 64 ? 64 : (int)arch_s.len;
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "unknown architecture '%.*s' (supported: bitnet-b1.58, bitnet-25, "
                          "bitnet, llama)",
                          n, arch_s.data);
        goto fail;
    }
    memcpy(hp->arch_name, arch_s.data, (size_t)arch_s.len);
    hp->arch_name[arch_s.len] = '\0';
    const char *a = hp->arch_name;

    hp->sub_norms = hp->arch != BN_ARCH_LLAMA;
    hp->rope = hp->arch == BN_ARCH_LLAMA ? BN_ROPE_NORM : BN_ROPE_NEOX;
    hp->act = (hp->arch == BN_ARCH_BITNET_B158 || hp->arch == BN_ARCH_BITNET_25)
                  ? BN_FFN_ACT_RELU2 : BN_FFN_ACT_SILU;
    if (hp->arch == BN_ARCH_BITNET) {
        char key[128];
        snprintf(key, sizeof key, "%s.hidden_activation", a);
        if (bn_gguf_find_kv(gguf, key) >= 0) {
            bn_gguf_string act;
            st = bn_gguf_get_string(gguf, key, &act, err);
            if (st != BN_STATUS_OK)
                goto fail;
            if (str_is(act, "relu2") || str_is(act, "relu_squared") || str_is(act, "relu^2")) {
                hp->act = BN_FFN_ACT_RELU2;
            } else if (str_is(act, "silu") || str_is(act, "swish")) {
                hp->act = BN_FFN_ACT_SILU;
            } else {
                int n = act.len > 64 ? 64 : (int)act.len;
                st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                  "metadata '%s' = '%.*s' is not an activation bitnet runs "
                                  "(relu2, silu)", key, n, act.data);
                goto fail;
            }
        }
    }

    hp->n_ctx_train = 2048;
    if ((st = read_count(gguf, a, "context_length", false, &hp->n_ctx_train, err)) ||
        (st = read_count(gguf, a, "embedding_length", true, &hp->n_embd, err)) ||
        (st = read_count(gguf, a, "block_count", true, &hp->n_layer, err)) ||
        (st = read_count(gguf, a, "feed_forward_length", true, &hp->n_ff, err)) ||
        (st = read_count(gguf, a, "attention.head_count", true, &hp->n_head, err)))
        goto fail;
    hp->n_head_kv = hp->n_head;
    if ((st = read_count(gguf, a, "attention.head_count_kv", false, &hp->n_head_kv, err)))
        goto fail;
    hp->head_dim = hp->n_embd / hp->n_head;
    int32_t key_len = 0, value_len = 0;
    if ((st = read_count(gguf, a, "attention.key_length", false, &key_len, err)) ||
        (st = read_count(gguf, a, "attention.value_length", false, &value_len, err)))
        goto fail;
    if (key_len)
        hp->head_dim = key_len;
    if (value_len && value_len != hp->head_dim) {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "attention.value_length %d differs from key_length %d",
                          (int)value_len, (int)hp->head_dim);
        goto fail;
    }
    if (!key_len && hp->n_embd % hp->n_head != 0) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "embedding_length %d is not a multiple of head_count %d",
                          (int)hp->n_embd, (int)hp->n_head);
        goto fail;
    }
    if (hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv != 0) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "head_count %d is not a multiple of head_count_kv %d",
                          (int)hp->n_head, (int)hp->n_head_kv);
        goto fail;
    }
    if (hp->head_dim <= 0 || hp->head_dim % 2 != 0) {
        st = bn_error_set(err, BN_STATUS_FORMAT, "head dimension %d is not even",
                          (int)hp->head_dim);
        goto fail;
    }
    hp->n_rot = hp->head_dim;
    if ((st = read_count(gguf, a, "rope.dimension_count", false, &hp->n_rot, err)))
        goto fail;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "rope.dimension_count %d must be even and at most the head dimension %d",
                          (int)hp->n_rot, (int)hp->head_dim);
        goto fail;
    }

    hp->norm_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    float rope_factor = 1.0f;
    if ((st = read_float(gguf, a, "attention.layer_norm_rms_epsilon", &hp->norm_eps, err)) ||
        (st = read_float(gguf, a, "rope.freq_base", &hp->rope_base, err)))
        goto fail;
    if (!(hp->norm_eps >= 0.0f) || !(hp->rope_base > 0.0f)) {
        st = bn_error_set(err, BN_STATUS_FORMAT,
                          "layer_norm_rms_epsilon %g must be >= 0 and rope.freq_base %g > 0",
                          (double)hp->norm_eps, (double)hp->rope_base);
        goto fail;
    }
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (bn_gguf_find_kv(gguf, key) >= 0) {
        bn_gguf_string type;
        st = bn_gguf_get_string(gguf, key, &type, err);
        if (st != BN_STATUS_OK)
            goto fail;
        if (str_is(type, "linear")) {
            if ((st = read_float(gguf, a, "rope.scaling.factor", &rope_factor, err)))
                goto fail;
        } else if (!str_is(type, "none")) {
            int n = type.len > 64 ? 64 : (int)type.len;
            st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                              "metadata '%s' = '%.*s': only linear rope scaling is supported",
                              key, n, type.data);
            goto fail;
        }
    }
    if (!(rope_factor > 0.0f)) {
        st = bn_error_set(err, BN_STATUS_FORMAT, "rope.scaling.factor %g must be positive",
                          (double)rope_factor);
        goto fail;
    }
    hp->rope_pos_scale = 1.0f / rope_factor;

    /* n_vocab: {arch}.vocab_size, else the token list; the binder checks
     * token_embd against it (and fills it from token_embd if both are absent). */
    if ((st = read_count(gguf, a, "vocab_size", false, &hp->n_vocab, err)))
        goto fail;
    if (hp->n_vocab == 0 && bn_gguf_find_kv(gguf, "tokenizer.ggml.tokens") >= 0) {
        bn_gguf_value_type et;
        uint64_t count = 0;
        st = bn_gguf_get_array(gguf, "tokenizer.ggml.tokens", &et, &count, err);
        if (st != BN_STATUS_OK)
            goto fail;
        if (count > 0 && count <= (uint64_t)INT32_MAX)
            hp->n_vocab = (int32_t)count;
    }
    return BN_STATUS_OK;
fail:
    return st;
}
