/* test_hf_config.c: config.json -> family, arch string, sizes, scale rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "loader/hf_config.h"

static bn_status parse(const char *json, bn_hf_config *c, bn_error *err) {
    return bn_hf_config_parse(json, strlen(json), c, err);
}

#define SIZES                                                                                   \
    "\"vocab_size\":128256,\"hidden_size\":2560,\"intermediate_size\":6912,"                    \
    "\"num_hidden_layers\":30,\"num_attention_heads\":20,\"num_key_value_heads\":5,"            \
    "\"max_position_embeddings\":4096,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0"

Test(hf_config, reads_2b4t_as_bitnet_b158_with_relu2_and_multiplying_scales) {
    const char *j = "{\"architectures\":[\"BitNetForCausalLM\"],\"model_type\":\"bitnet\","
                    "\"hidden_act\":\"relu2\",\"tie_word_embeddings\":true," SIZES ","
                    "\"quantization_config\":{\"quant_method\":\"bitnet\","
                    "\"linear_class\":\"autobitlinear\",\"quantization_mode\":\"offline\"},"
                    "\"bos_token_id\":128000,\"eos_token_id\":128001,"
                    "\"_name_or_path\":\"microsoft/bitnet-b1.58-2B-4T/\"}";
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse(j, &c, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(c.arch, "bitnet-b1.58");
    cr_assert_eq(c.family, BN_HF_FAMILY_BITNET_B158);
    cr_assert(c.relu2);
    cr_assert(c.tied);
    cr_assert_not(c.scale_divides);
    cr_assert_eq(c.head_dim, 128);
    cr_assert_eq(c.n_head_kv, 5);
    cr_assert_eq(c.bos_id, 128000);
    cr_assert_float_eq(c.rope_theta, 500000.0, 1e-9);
    cr_assert_float_eq(c.rope_scale, 1.0, 1e-12);
    cr_assert_str_eq(c.name, "bitnet-b1.58-2B-4T");
}

Test(hf_config, reads_1bitllm_as_bitnet_with_silu) {
    const char *j = "{\"architectures\":[\"BitnetForCausalLM\"],\"model_type\":\"llama\","
                    "\"hidden_act\":\"silu\"," SIZES "}";
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse(j, &c, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(c.arch, "bitnet");
    cr_assert_not(c.relu2);
    cr_assert(c.tied, "1bitLLM ties by default");
    cr_assert(c.scale_divides);
}

Test(hf_config, reads_llama_bitnet_checkpoints_with_dividing_scales_and_head_dim) {
    const char *j = "{\"architectures\":[\"LlamaForCausalLM\"],\"head_dim\":256,"
                    "\"tie_word_embeddings\":false," SIZES ","
                    "\"quantization_config\":{\"quant_method\":\"bitnet\"},\"rope_scaling\":null}";
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse(j, &c, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_str_eq(c.arch, "llama");
    cr_assert_eq(c.head_dim, 256);
    cr_assert_not(c.tied);
    cr_assert(c.scale_divides);
    cr_assert_not(c.relu2);
}

/* transformers builds AutoBitLinear (multiplies by weight_scale) only for
 * linear_class "autobitlinear"; BitLinear (divides) is the default and does
 * not depend on the architecture. */
Test(hf_config, scale_direction_follows_the_layer_class_not_the_architecture) {
    struct {
        const char *arch, *qc;
        bool divides;
    } cases[] = {
        {"BitNetForCausalLM", ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                              "\"linear_class\":\"bitlinear\"}", true},
        {"BitNetForCausalLM", ",\"quantization_config\":{\"quant_method\":\"bitnet\"}", true},
        {"BitNetForCausalLM", "", true},
        {"LlamaForCausalLM", ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                             "\"linear_class\":\"autobitlinear\"}", false},
        {"LlamaForCausalLM", ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                             "\"linear_class\":\"bitlinear\"}", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char j[1024];
        snprintf(j, sizeof j, "{\"architectures\":[\"%s\"]," SIZES "%s}", cases[i].arch,
                 cases[i].qc);
        bn_hf_config c;
        bn_error err = {0};
        cr_assert_eq(parse(j, &c, &err), BN_STATUS_OK, "%s: %s", j, err.message);
        cr_assert_eq(c.scale_divides, cases[i].divides, "%s", j);
    }
}

/* The published Llama3-8B-1.58 config.json has quantization_config twice;
 * Python's json (so transformers) takes the last. */
Test(hf_config, the_last_of_two_quantization_configs_counts) {
    const char *j = "{\"architectures\":[\"LlamaForCausalLM\"]," SIZES ","
                    "\"quantization_config\":{\"quant_method\":\"bitnet\","
                    "\"linear_class\":\"autobitlinear\"},"
                    "\"quantization_config\":{\"quant_method\":\"bitnet\"}}";
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse(j, &c, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert(c.scale_divides);
    cr_assert_str_eq(c.linear_class, "");
}

Test(hf_config, refuses_unknown_linear_classes_and_rms_norm_inside_bitlinear) {
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                       "\"linear_class\":\"BitLinear158\"}}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "linear_class \"BitLinear158\""), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"LlamaForCausalLM\"]," SIZES
                       ",\"quantization_config\":{\"quant_method\":\"bitnet\","
                       "\"use_rms_norm\":true}}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "use_rms_norm"), "%s", err.message);
}

/* transformers >= 5 writes rope_parameters instead of rope_theta and
 * rope_scaling, and fills absent values from the config class: BitNetConfig
 * has rope_theta 500000 and untied embeddings, LlamaConfig 10000. */
Test(hf_config, reads_rope_parameters_and_transformers_defaults) {
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES "}", &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_theta, 500000.0, 1e-9); /* SIZES has 500000 too: */
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"vocab_size\":10,"
                       "\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":1,"
                       "\"num_attention_heads\":8}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_theta, 500000.0, 1e-9, "BitNetConfig.default_theta");
    cr_assert_not(c.tied, "BitNetConfig ties nothing by default");
    cr_assert_eq(parse("{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,"
                       "\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":1,"
                       "\"num_attention_heads\":8,\"quantization_config\":{\"quant_method\":\"bitnet\"}}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_theta, 10000.0, 1e-9);
    /* rope_parameters, as transformers 5 saves it, wins over the top-level key. */
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_parameters\":{\"rope_theta\":10000.0,\"rope_type\":\"default\"}}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_theta, 10000.0, 1e-9);
    cr_assert_float_eq(c.rope_scale, 1.0, 1e-12);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_parameters\":{\"rope_theta\":1e4,\"rope_type\":\"linear\","
                       "\"factor\":4.0}}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_scale, 4.0, 1e-12);
    /* A legacy rope_scaling replaces rope_parameters; an empty one does not. */
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0},"
                       "\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":4.0}}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_scale, 2.0, 1e-12);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_scaling\":{},\"rope_parameters\":{\"rope_theta\":7.0}}",
                       &c, &err),
                 BN_STATUS_OK, "%s", err.message);
    cr_assert_float_eq(c.rope_theta, 7.0, 1e-12);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":4.0}}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "\"yarn\""), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_parameters\":{\"rope_type\":\"default\",\"partial_rotary_factor\":0.5}}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "partial_rotary_factor"), "%s", err.message);
}

/* transformers keeps in full precision what modules_to_not_convert names
 * (null: lm_head only) and makes every other linear layer a BitLinear. */
Test(hf_config, modules_to_not_convert_must_keep_exactly_the_output_layer_in_floats) {
    struct {
        const char *list;
        bn_status want;
        const char *msg;
    } cases[] = {
        {"null", BN_STATUS_OK, NULL},
        {"[\"lm_head\"]", BN_STATUS_OK, NULL},
        /* "layers.1" starts no module name and ends none: it keeps nothing. */
        {"[\"lm_head\", \"vision_tower\", \"layers.1\"]", BN_STATUS_OK, NULL},
        {"[]", BN_STATUS_UNSUPPORTED, "does not name lm_head"},
        {"[\"model.layers.1\", \"lm_head\"]", BN_STATUS_UNSUPPORTED,
         "keeps model.layers.1.self_attn.q_proj in full precision"},
        {"[\"lm_head\", \"down_proj\"]", BN_STATUS_UNSUPPORTED,
         "keeps model.layers.0.mlp.down_proj"},
        {"[\"lm_head\", \"model.layers.*.mlp\"]", BN_STATUS_UNSUPPORTED, "regular expression"},
        {"\"lm_head\"", BN_STATUS_FORMAT, "not a list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char j[1024];
        snprintf(j, sizeof j,
                 "{\"architectures\":[\"LlamaForCausalLM\"]," SIZES
                 ",\"quantization_config\":{\"quant_method\":\"bitnet\",\"modules_to_not_convert\":%s}}",
                 cases[i].list);
        bn_hf_config c;
        bn_error err = {0};
        cr_assert_eq(parse(j, &c, &err), cases[i].want, "%s: %s", cases[i].list, err.message);
        if (cases[i].msg)
            cr_assert(strstr(err.message, cases[i].msg), "%s: %s", cases[i].list, err.message);
    }
}

Test(hf_config, refuses_plain_llama_and_unknown_architectures) {
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse("{\"architectures\":[\"LlamaForCausalLM\"]," SIZES "}", &c, &err),
                 BN_STATUS_UNSUPPORTED);
    cr_assert(strstr(err.message, "LlamaForCausalLM"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"GPT2LMHeadModel\"]}", &c, &err),
                 BN_STATUS_UNSUPPORTED);
}

Test(hf_config, refuses_broken_json_missing_and_inconsistent_sizes) {
    bn_hf_config c;
    bn_error err = {0};
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],", &c, &err), BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "config.json"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"hidden_size\":256}", &c, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "vocab_size"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"vocab_size\":10,"
                       "\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":1,"
                       "\"num_attention_heads\":8,\"num_key_value_heads\":3}",
                       &c, &err),
                 BN_STATUS_FORMAT);
    cr_assert(strstr(err.message, "num_key_value_heads"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"vocab_size\":-10,"
                       "\"hidden_size\":256,\"intermediate_size\":512,\"num_hidden_layers\":1,"
                       "\"num_attention_heads\":8}",
                       &c, &err),
                 BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"vocab_size\":10,"
                       "\"hidden_size\":\"256\",\"intermediate_size\":512,\"num_hidden_layers\":1,"
                       "\"num_attention_heads\":8}",
                       &c, &err),
                 BN_STATUS_FORMAT);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"],\"hidden_act\":\"gelu\"," SIZES
                       "}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
    bn_error_clear(&err);
    cr_assert_eq(parse("{\"architectures\":[\"BitNetForCausalLM\"]," SIZES
                       ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0}}",
                       &c, &err),
                 BN_STATUS_UNSUPPORTED);
}
