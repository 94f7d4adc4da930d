/* hf_config.c: config.json -> bn_hf_config (see the header for the rules). */
#include "loader/hf_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/json.h"
#include "runtime/error.h"

static bn_status get_size(const bn_json_value *root, const char *key, bool required, int64_t dflt,
                          int64_t *out, bn_error *err) {
    const bn_json_value *v = bn_json_object_get(root, key);
    if (!v || bn_json_is(v, BN_JSON_NULL)) {
        if (required)
            return bn_error_set(err, BN_STATUS_FORMAT, "config.json: no \"%s\"", key);
        *out = dflt;
        return BN_STATUS_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "config.json: %s", key);
    bn_status s = bn_json_get_int64(v, what, out, err);
    if (s != BN_STATUS_OK)
        return s;
    if (*out < 1 || *out > ((int64_t)1 << 40))
        return bn_error_set(err, BN_STATUS_FORMAT, "config.json: %s = %" PRId64 " is out of range",
                            key, *out);
    return BN_STATUS_OK;
}

static bn_status get_real(const bn_json_value *root, const char *key, double dflt, double *out,
                          bn_error *err) {
    const bn_json_value *v = bn_json_object_get(root, key);
    if (!v || bn_json_is(v, BN_JSON_NULL)) {
        *out = dflt;
        return BN_STATUS_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "config.json: %s", key);
    bn_status s = bn_json_get_double(v, what, out, err);
    if (s == BN_STATUS_OK && !(*out > 0))
        s = bn_error_set(err, BN_STATUS_FORMAT, "config.json: %s = %g must be positive", key, *out);
    return s;
}

/* Copies a string member into buf ("" when absent or not a string). */
static void get_str(const bn_json_value *obj, const char *key, char *buf, size_t size) {
    const char *s = NULL;
    buf[0] = '\0';
    if (bn_json_as_string(bn_json_object_get(obj, key), &s, NULL))
        snprintf(buf, size, "%s", s);
}

static int64_t get_token_id(const bn_json_value *root, const char *key) {
    int64_t id;
    const bn_json_value *v = bn_json_object_get(root, key);
    if (bn_json_is(v, BN_JSON_ARRAY)) /* Llama-3.1 style: a list; the first is canonical */
        v = bn_json_array_at(v, 0);
    return bn_json_as_int64(v, &id) && id >= 0 ? id : -1;
}

/* transformers' should_convert_module for a pattern without regular
 * expression syntax: a prefix ending at a module boundary, or a suffix.
 * ('.' is a regex wildcard there; read literally it matches a subset.) */
static bool module_matches(const char *name, const char *pat) {
    size_t n = strlen(pat), len = strlen(name);
    if (n == 0 || n > len)
        return false;
    if (memcmp(name, pat, n) == 0 && (name[n] == '\0' || name[n] == '.' || pat[n - 1] == '.'))
        return true;
    return strcmp(name + len - n, pat) == 0;
}

/* quantization_config.modules_to_not_convert, as transformers' BitNet
 * quantizer applies it: null keeps only lm_head in full precision; a list
 * replaces that default, so every module it does not name becomes a
 * BitLinear. A GGUF holds every projection ternary and the output layer in
 * floats: a list that names a projection, or leaves lm_head out, describes
 * another model. */
static bn_status check_modules_to_not_convert(const bn_json_value *list, int64_t n_layer,
                                              bn_error *err) {
    static const char *const proj[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                        "mlp.down_proj"};
    if (!list || bn_json_is(list, BN_JSON_NULL))
        return BN_STATUS_OK;
    if (!bn_json_is(list, BN_JSON_ARRAY))
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "config.json: quantization_config.modules_to_not_convert is a %s, "
                            "not a list",
                            bn_json_type_name(bn_json_type_of(list)));
    bool lm_head_kept = false;
    for (size_t i = 0; i < bn_json_array_len(list); i++) {
        const char *pat;
        if (!bn_json_as_string(bn_json_array_at(list, i), &pat, NULL))
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "config.json: quantization_config.modules_to_not_convert[%zu] is "
                                "not a string",
                                i);
        if (strpbrk(pat, "*+?()[]{}|^$\\"))
            return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                "config.json: quantization_config.modules_to_not_convert entry "
                                "\"%s\" is a regular expression; which layers it keeps in full "
                                "precision is not checked, so it is not supported",
                                pat);
        lm_head_kept = lm_head_kept || module_matches("lm_head", pat);
        for (int64_t il = 0; il < n_layer; il++)
            for (int p = 0; p < 7; p++) {
                char name[96];
                snprintf(name, sizeof name, "model.layers.%" PRId64 ".%s", il, proj[p]);
                if (module_matches(name, pat))
                    return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                                        "config.json: quantization_config.modules_to_not_convert "
                                        "entry \"%s\" keeps %s in full precision; a BitNet GGUF "
                                        "holds every projection ternary",
                                        pat, name);
            }
    }
    if (!lm_head_kept)
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "config.json: quantization_config.modules_to_not_convert does not name "
                            "lm_head, so transformers runs the output layer as a BitLinear, which "
                            "a GGUF does not");
    return BN_STATUS_OK;
}

bn_status bn_hf_config_parse(const char *text, size_t len, bn_hf_config *out, bn_error *err) {
    bn_status s = BN_STATUS_OK;
    bn_json_doc *doc = NULL;
    if (!text || !out) {
        s = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_hf_config_parse: NULL argument");
        goto fail;
    }
    memset(out, 0, sizeof *out);
    bn_error jerr = {0};
    s = bn_json_parse(text, len, &doc, &jerr);
    if (s != BN_STATUS_OK) {
        s = bn_error_set(err, BN_STATUS_FORMAT, "config.json: %s", jerr.message);
        goto fail;
    }
    const bn_json_value *root = bn_json_root(doc);
    if (!bn_json_is(root, BN_JSON_OBJECT)) {
        s = bn_error_set(err, BN_STATUS_FORMAT, "config.json is not a JSON object");
        goto fail;
    }

    /* Family. */
    const char *hf_arch = NULL;
    bn_json_as_string(bn_json_array_at(bn_json_object_get(root, "architectures"), 0), &hf_arch,
                      NULL);
    char model_type[32];
    get_str(root, "model_type", model_type, sizeof model_type);
    const bn_json_value *qc = bn_json_object_get(root, "quantization_config");
    char quant_method[32];
    get_str(qc, "quant_method", quant_method, sizeof quant_method);
    get_str(qc, "linear_class", out->linear_class, sizeof out->linear_class);
    bool is_bitnet_config = false;
    bn_json_as_bool(bn_json_object_get(root, "is_bitnet_config"), &is_bitnet_config);
    snprintf(out->hf_arch, sizeof out->hf_arch, "%s", hf_arch ? hf_arch : "");
    if (hf_arch && strcmp(hf_arch, "BitNetForCausalLM") == 0) {
        out->family = BN_HF_FAMILY_BITNET_B158;
        snprintf(out->arch, sizeof out->arch, "bitnet-b1.58");
    } else if (hf_arch && strcmp(hf_arch, "BitnetForCausalLM") == 0) {
        out->family = BN_HF_FAMILY_BITNET;
        snprintf(out->arch, sizeof out->arch, "bitnet");
    } else if (hf_arch && strcmp(hf_arch, "LlamaForCausalLM") == 0 &&
               (strcmp(quant_method, "bitnet") == 0 || is_bitnet_config)) {
        out->family = BN_HF_FAMILY_LLAMA;
        snprintf(out->arch, sizeof out->arch, "llama");
    } else if (!hf_arch && strcmp(model_type, "bitnet") == 0) {
        out->family = BN_HF_FAMILY_BITNET_B158;
        snprintf(out->arch, sizeof out->arch, "bitnet-b1.58");
    } else {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: architecture \"%s\" (model_type \"%s\") is not a BitNet "
                         "checkpoint we convert (BitNetForCausalLM, BitnetForCausalLM, or "
                         "LlamaForCausalLM with a bitnet quantization_config)",
                         hf_arch ? hf_arch : "", model_type);
        goto fail;
    }

    /* Sizes. */
    if ((s = get_size(root, "vocab_size", true, 0, &out->vocab_size, err)) ||
        (s = get_size(root, "hidden_size", true, 0, &out->n_embd, err)) ||
        (s = get_size(root, "intermediate_size", true, 0, &out->n_ff, err)) ||
        (s = get_size(root, "num_hidden_layers", true, 0, &out->n_layer, err)) ||
        (s = get_size(root, "num_attention_heads", true, 0, &out->n_head, err)) ||
        (s = get_size(root, "num_key_value_heads", false, out->n_head, &out->n_head_kv, err)) ||
        (s = get_size(root, "max_position_embeddings", false, 2048, &out->n_ctx_train, err)))
        goto fail;
    if (out->n_head % out->n_head_kv != 0) {
        s = bn_error_set(err, BN_STATUS_FORMAT,
                         "config.json: num_attention_heads %" PRId64
                         " is not a multiple of num_key_value_heads %" PRId64,
                         out->n_head, out->n_head_kv);
        goto fail;
    }
    int64_t dflt_head_dim = out->n_embd / out->n_head;
    if ((s = get_size(root, "head_dim", false, dflt_head_dim, &out->head_dim, err)))
        goto fail;
    if (!bn_json_object_get(root, "head_dim") && out->n_embd % out->n_head != 0) {
        s = bn_error_set(err, BN_STATUS_FORMAT,
                         "config.json: hidden_size %" PRId64
                         " is not a multiple of num_attention_heads %" PRId64 " and no head_dim",
                         out->n_embd, out->n_head);
        goto fail;
    }
    if (out->head_dim % 2 != 0) {
        s = bn_error_set(err, BN_STATUS_FORMAT, "config.json: head dimension %" PRId64 " is odd",
                         out->head_dim);
        goto fail;
    }
    if ((s = get_real(root, "rms_norm_eps", 1e-5, &out->rms_eps, err)))
        goto fail;

    /* RoPE, read as transformers 5 standardizes it (modeling_rope_utils):
     * rope_scaling, when it is a non-empty object, stands in for
     * rope_parameters (the only form transformers >= 5 writes); rope_theta
     * comes from that object first, then the top-level key, then the config
     * class's default (BitNetConfig 500000, LlamaConfig 10000). Type
     * "default" (or none) is plain RoPE; "linear" divides positions by its
     * factor; other types, and a partial rotation, no BitNet graph runs. */
    const bn_json_value *rs = bn_json_object_get(root, "rope_scaling");
    if (!bn_json_is(rs, BN_JSON_OBJECT) || bn_json_object_len(rs) == 0)
        rs = bn_json_object_get(root, "rope_parameters");
    if (!bn_json_is(rs, BN_JSON_OBJECT))
        rs = NULL;
    double dflt_theta = out->family == BN_HF_FAMILY_BITNET_B158 ? 500000.0 : 10000.0;
    if ((s = get_real(root, "rope_theta", dflt_theta, &out->rope_theta, err)) ||
        (s = get_real(rs, "rope_theta", out->rope_theta, &out->rope_theta, err)))
        goto fail;
    out->rope_scale = 1.0;
    char type[32];
    get_str(rs, "rope_type", type, sizeof type);
    if (!type[0])
        get_str(rs, "type", type, sizeof type);
    if (strcmp(type, "linear") == 0) {
        if (!bn_json_as_double(bn_json_object_get(rs, "factor"), &out->rope_scale) ||
            !(out->rope_scale > 0)) {
            s = bn_error_set(err, BN_STATUS_FORMAT,
                             "config.json: linear rope scaling needs a positive \"factor\"");
            goto fail;
        }
    } else if (type[0] && strcmp(type, "default") != 0) {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: rope type \"%s\" is not supported (only default and linear)",
                         type);
        goto fail;
    }
    double partial = 1.0;
    if (!bn_json_as_double(bn_json_object_get(rs, "partial_rotary_factor"), &partial))
        bn_json_as_double(bn_json_object_get(root, "partial_rotary_factor"), &partial);
    if (partial != 1.0) {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: partial_rotary_factor %g (only a full rotation is "
                         "supported)",
                         partial);
        goto fail;
    }

    get_str(root, "hidden_act", out->hidden_act, sizeof out->hidden_act);
    if (!out->hidden_act[0])
        snprintf(out->hidden_act, sizeof out->hidden_act, "%s",
                 out->family == BN_HF_FAMILY_BITNET_B158 ? "relu2" : "silu");
    out->relu2 = strcmp(out->hidden_act, "relu2") == 0;
    if (!out->relu2 && strcmp(out->hidden_act, "silu") != 0) {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: hidden_act \"%s\" (only relu2 and silu are supported)",
                         out->hidden_act);
        goto fail;
    }
    char path[256];
    get_str(root, "_name_or_path", path, sizeof path);
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        path[--pl] = '\0';
    const char *slash = strrchr(path, '/');
    /* Cut to the field (the precision says so, which keeps -Wformat-truncation quiet). */
    snprintf(out->name, sizeof out->name, "%.*s", (int)(sizeof out->name - 1),
             slash ? slash + 1 : path);
    /* Absent tie_word_embeddings: transformers' BitNetConfig and
     * LlamaConfig both default to false. The 1bitLLM family runs its own
     * remote code, not transformers'; its models tie (FORMATS.md 2.1), so
     * it keeps that default. */
    out->tied = out->family == BN_HF_FAMILY_BITNET;
    bn_json_as_bool(bn_json_object_get(root, "tie_word_embeddings"), &out->tied);
    out->bos_id = get_token_id(root, "bos_token_id");
    out->eos_id = get_token_id(root, "eos_token_id");
    /* transformers' replace_with_bitnet_linear: AutoBitLinear only for
     * linear_class "autobitlinear" (output * weight_scale); otherwise the
     * default BitLinear (output / (input_scale * weight_scale)), whatever
     * the architecture. */
    if (out->linear_class[0] && strcmp(out->linear_class, "bitlinear") != 0 &&
        strcmp(out->linear_class, "autobitlinear") != 0) {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: quantization_config.linear_class \"%s\" (transformers "
                         "knows only \"bitlinear\" and \"autobitlinear\")",
                         out->linear_class);
        goto fail;
    }
    out->scale_divides = strcmp(out->linear_class, "autobitlinear") != 0;
    /* use_rms_norm puts a learned RMSNorm in front of every BitLinear, which
     * no GGUF graph has: converting without it would silently change the model. */
    bool use_rms_norm = false;
    bn_json_as_bool(bn_json_object_get(qc, "use_rms_norm"), &use_rms_norm);
    if (use_rms_norm) {
        s = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                         "config.json: quantization_config.use_rms_norm (an RMSNorm inside every "
                         "BitLinear) is not supported");
        goto fail;
    }
    if (strcmp(quant_method, "bitnet") == 0 &&
        (s = check_modules_to_not_convert(bn_json_object_get(qc, "modules_to_not_convert"),
                                          out->n_layer, err)))
        goto fail;
fail:
    bn_json_free(doc);
    return s;
}

bn_status bn_hf_config_load(const char *dir, bn_hf_config *out, bn_error *err) {
    char path[4096];
    if (!dir || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_hf_config_load: NULL argument");
    snprintf(path, sizeof path, "%s/config.json", dir);
    /* Read the bytes here so that parse errors say config.json. */
    FILE *f = fopen(path, "rb");
    if (!f)
        return bn_error_set(err, BN_STATUS_IO, "%s: cannot open", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    bn_status s = BN_STATUS_OK;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > ((size_t)16 << 20)) {
                s = bn_error_set(err, BN_STATUS_FORMAT, "%s: larger than 16 MB", path);
                break;
            }
            char *grown = realloc(text, cap);
            if (!grown) {
                s = bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: no memory", path);
                break;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (s == BN_STATUS_OK)
        s = bn_hf_config_parse(text ? text : "", len, out, err);
    free(text);
    return s;
}
