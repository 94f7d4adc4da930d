/* test_chat_template.c: runtime/chat_template.c, every format rendered and
 * compared with exact strings, incremental rendering, and recognition from
 * the real tokenizer.chat_template texts of the models. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/chat_template.h"

static const bn_chat_message conversation[] = {
    {BN_CHAT_ROLE_SYSTEM, "You are a helpful assistant"},
    {BN_CHAT_ROLE_USER, "hi"},
    {BN_CHAT_ROLE_ASSISTANT, "Hello! How can I help?"},
    {BN_CHAT_ROLE_USER, "Tell me a joke."},
};
#define N_CONV (sizeof conversation / sizeof *conversation)

static char *render(bn_chat_template t, const bn_chat_message *m, size_t n, size_t first, bool gen)
{
    char *out = NULL;
    size_t len = 0;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_template_render(t, m, n, first, gen, &out, &len, &err), BN_STATUS_OK,
                 "%s", err.message);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), len);
    return out;
}

static void expect_render(bn_chat_template t, const char *expected)
{
    char *got = render(t, conversation, N_CONV, 0, true);
    cr_expect_str_eq(got, expected, "template %s", bn_chat_template_name(t));
    free(got);
}

Test(chat_template, renders_the_bitnet_2b4t_form)
{
    expect_render(BN_CHAT_TEMPLATE_BITNET,
                  "System: You are a helpful assistant<|eot_id|>"
                  "User: hi<|eot_id|>"
                  "Assistant: Hello! How can I help?<|eot_id|>"
                  "User: Tell me a joke.<|eot_id|>"
                  "Assistant: ");
}

Test(chat_template, renders_the_formats_md_single_turn_example_after_bos)
{
    /* FORMATS.md 6.4: "<|begin_of_text|>User: Hey, are you conscious? Can you
     * talk to me?<|eot_id|>Assistant: " (BOS is the tokenizer's). */
    bn_chat_message m = {BN_CHAT_ROLE_USER, "Hey, are you conscious? Can you talk to me?"};
    char *got = render(BN_CHAT_TEMPLATE_BITNET, &m, 1, 0, true);
    cr_expect_str_eq(got, "User: Hey, are you conscious? Can you talk to me?<|eot_id|>Assistant: ");
    free(got);
}

Test(chat_template, renders_the_llama3_header_form)
{
    expect_render(BN_CHAT_TEMPLATE_LLAMA3,
                  "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

Test(chat_template, renders_the_falcon3_form)
{
    expect_render(BN_CHAT_TEMPLATE_FALCON3,
                  "<|system|>\nYou are a helpful assistant\n"
                  "<|user|>\nhi\n"
                  "<|assistant|>\nHello! How can I help?<|endoftext|>\n"
                  "<|user|>\nTell me a joke.\n"
                  "<|assistant|>\n");
}

Test(chat_template, renders_the_plain_form_of_the_bundled_model)
{
    expect_render(BN_CHAT_TEMPLATE_PLAIN,
                  "System: You are a helpful assistant\n"
                  "User: hi\n"
                  "Assistant: Hello! How can I help?</s>"
                  "User: Tell me a joke.\n"
                  "Assistant:");
}

Test(chat_template, trims_content_where_the_model_template_does)
{
    bn_chat_message m = {BN_CHAT_ROLE_USER, "  \t hi there \n\n"};
    char *b = render(BN_CHAT_TEMPLATE_BITNET, &m, 1, 0, false);
    char *l = render(BN_CHAT_TEMPLATE_LLAMA3, &m, 1, 0, false);
    char *p = render(BN_CHAT_TEMPLATE_PLAIN, &m, 1, 0, false);
    char *f = render(BN_CHAT_TEMPLATE_FALCON3, &m, 1, 0, false);
    cr_expect_str_eq(b, "User: hi there<|eot_id|>");
    cr_expect_str_eq(l, "<|start_header_id|>user<|end_header_id|>\n\nhi there<|eot_id|>");
    cr_expect_str_eq(p, "User: hi there\n");
    /* Falcon3's template inserts content as is. */
    cr_expect_str_eq(f, "<|user|>\n  \t hi there \n\n\n");
    free(b);
    free(l);
    free(p);
    free(f);
}

Test(chat_template, keeps_utf8_content_intact)
{
    bn_chat_message m = {BN_CHAT_ROLE_USER, "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80"};
    char *got = render(BN_CHAT_TEMPLATE_BITNET, &m, 1, 0, true);
    cr_expect_str_eq(got, "User: caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80<|eot_id|>Assistant: ");
    free(got);
}

Test(chat_template, renders_prefix_stable_for_every_split)
{
    for (int t = 0; t < BN_CHAT_TEMPLATE_COUNT; t++) {
        char *whole = render((bn_chat_template)t, conversation, N_CONV, 0, true);
        for (size_t k = 0; k <= N_CONV; k++) {
            char *head = render((bn_chat_template)t, conversation, k, 0, false);
            char *tail = render((bn_chat_template)t, conversation, N_CONV, k, true);
            size_t hl = strlen(head);
            cr_expect_eq(strncmp(whole, head, hl), 0, "%s split at %zu: head",
                         bn_chat_template_name((bn_chat_template)t), k);
            cr_expect_str_eq(whole + hl, tail, "%s split at %zu: tail",
                             bn_chat_template_name((bn_chat_template)t), k);
            free(head);
            free(tail);
        }
        free(whole);
    }
}

/* What a chat evaluates turn by turn: start (system), then per turn the
 * user message and the generation prompt, the reply's tokens, and before the
 * next turn the end-of-turn marker. Concatenated, that is the full render. */
Test(chat_template, incremental_turns_add_up_to_the_full_conversation)
{
    for (int t = 0; t < BN_CHAT_TEMPLATE_COUNT; t++) {
        bn_chat_template tmpl = (bn_chat_template)t;
        char *start = render(tmpl, conversation, 1, 0, false);
        char *turn1 = render(tmpl, conversation, 2, 1, true);
        char *turn2 = render(tmpl, conversation, 4, 3, true);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s%s%s%s%s%s", start, turn1,
                 bn_chat_template_reply_sep(tmpl), conversation[2].content,
                 bn_chat_template_assistant_end(tmpl), turn2);
        char *whole = render(tmpl, conversation, N_CONV, 0, true);
        cr_expect_str_eq(buf, whole, "template %s", bn_chat_template_name(tmpl));
        /* The new turn is only the new message and the generation prompt. */
        char *user_only = render(tmpl, &conversation[3], 1, 0, true);
        cr_expect_str_eq(turn2, user_only);
        free(start);
        free(turn1);
        free(turn2);
        free(whole);
        free(user_only);
    }
}

Test(chat_template, an_empty_range_renders_nothing_or_only_the_generation_prompt)
{
    char *none = render(BN_CHAT_TEMPLATE_BITNET, conversation, 2, 2, false);
    char *gen = render(BN_CHAT_TEMPLATE_BITNET, conversation, 0, 0, true);
    cr_expect_str_eq(none, "");
    cr_expect_str_eq(gen, "Assistant: ");
    free(none);
    free(gen);
}

Test(chat_template, exposes_generation_prompt_end_marker_and_stop_texts)
{
    cr_expect_str_eq(bn_chat_template_generation_prompt(BN_CHAT_TEMPLATE_BITNET), "Assistant: ");
    cr_expect_str_eq(bn_chat_template_generation_prompt(BN_CHAT_TEMPLATE_FALCON3),
                     "<|assistant|>\n");
    cr_expect_str_eq(bn_chat_template_assistant_end(BN_CHAT_TEMPLATE_BITNET), "<|eot_id|>");
    cr_expect_str_eq(bn_chat_template_assistant_end(BN_CHAT_TEMPLATE_LLAMA3), "<|eot_id|>");
    cr_expect_str_eq(bn_chat_template_assistant_end(BN_CHAT_TEMPLATE_FALCON3),
                     "<|endoftext|>\n");
    cr_expect_str_eq(bn_chat_template_assistant_end(BN_CHAT_TEMPLATE_PLAIN), "</s>");
    cr_expect_str_eq(bn_chat_template_generation_prompt(BN_CHAT_TEMPLATE_PLAIN), "Assistant:");
    cr_expect_str_eq(bn_chat_template_reply_sep(BN_CHAT_TEMPLATE_PLAIN), " ");
    cr_expect_str_eq(bn_chat_template_reply_sep(BN_CHAT_TEMPLATE_BITNET), "");
    const char *const *s = bn_chat_template_stop_texts(BN_CHAT_TEMPLATE_BITNET);
    cr_expect_str_eq(s[0], "<|eot_id|>");
    cr_expect_str_eq(s[1], "<|end_of_text|>");
    cr_expect_null(s[2]);
    cr_expect_null(bn_chat_template_name(BN_CHAT_TEMPLATE_COUNT));
    cr_expect_null(bn_chat_template_generation_prompt((bn_chat_template)99));
}

Test(chat_template, rejects_bad_render_arguments)
{
    char *out = (char *)1;
    bn_error err;
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_template_render(BN_CHAT_TEMPLATE_BITNET, conversation, 2, 3, true, &out,
                                         NULL, &err),
                 BN_STATUS_INVALID_ARG);
    cr_expect_null(out);
    cr_expect_neq(err.message[0], '\0');
    bn_chat_message bad = {BN_CHAT_ROLE_USER, NULL};
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_template_render(BN_CHAT_TEMPLATE_BITNET, &bad, 1, 0, true, &out, NULL,
                                         &err),
                 BN_STATUS_INVALID_ARG);
    cr_expect(strstr(err.message, "message 0") != NULL, "%s", err.message);
    bn_chat_message role = {(bn_chat_role)7, "x"};
    cr_expect_eq(bn_chat_template_render(BN_CHAT_TEMPLATE_BITNET, &role, 1, 0, true, &out, NULL,
                                         NULL),
                 BN_STATUS_INVALID_ARG);
    cr_expect_eq(bn_chat_template_render((bn_chat_template)42, conversation, 1, 0, true, &out,
                                         NULL, NULL),
                 BN_STATUS_INVALID_ARG);
}

Test(chat_template, parses_names_and_aliases)
{
    static const struct {
        const char *name;
        bn_chat_template t;
    } cases[] = {{"bitnet", BN_CHAT_TEMPLATE_BITNET}, {"2b4t", BN_CHAT_TEMPLATE_BITNET},
                 {"llama3", BN_CHAT_TEMPLATE_LLAMA3}, {"llama-3", BN_CHAT_TEMPLATE_LLAMA3},
                 {"falcon3", BN_CHAT_TEMPLATE_FALCON3}, {"plain", BN_CHAT_TEMPLATE_PLAIN}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bn_chat_template t = BN_CHAT_TEMPLATE_COUNT;
        cr_expect_eq(bn_chat_template_from_name(cases[i].name, &t, NULL), BN_STATUS_OK);
        cr_expect_eq(t, cases[i].t, "%s", cases[i].name);
    }
    bn_error err;
    bn_error_clear(&err);
    bn_chat_template t;
    cr_expect_eq(bn_chat_template_from_name("chatml", &t, &err), BN_STATUS_INVALID_ARG);
    cr_expect(strstr(err.message, "'chatml'") && strstr(err.message, "falcon3"), "%s",
              err.message);
}

/* ---- recognition from real tokenizer.chat_template texts ---- */

/* microsoft/bitnet-b1.58-2B-4T, tokenizer_config.json. */
static const char tmpl_2b4t[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if "
    "loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor "
    "%}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";

/* The same form as quoted by projects that render it by hand. */
static const char tmpl_2b4t_short[] =
    "{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] | "
    "trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif "
    "%}";

/* The placeholder bitnet.cpp's converter writes into the published
 * ggml-model-i2_s.gguf ("Human: ... BITNETAssistant: " + eos_token). */
static const char tmpl_2b4t_gguf_placeholder[] =
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: ' + "
    "eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% "
    "endif %}{% endfor %}";

/* meta-llama/Meta-Llama-3-8B-Instruct (also HF1BitLLM/Llama3-8B-1.58). */
static const char tmpl_llama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% "
    "endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* tiiuae/Falcon3-*-Instruct(-1.58bit), the branch without tools. */
static const char tmpl_falcon3[] =
    "{%- if tools %}\n{{- '<|system|>\\n' }}\n{%- for message in remaining_messages %}\n"
    "{%- endfor %}\n{{- '<|assistant|>\\n' if add_generation_prompt }}\n{%- else %}\n"
    "{%- for message in messages %}\n{%- if message['role'] == 'system' %}\n"
    "{{- '<|system|>\\n' + message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'user' %}\n{{- '<|user|>\\n' + message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'assistant' %}\n{%- if not loop.last %}\n"
    "{{- '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}\n{%- else %}\n"
    "{{- '<|assistant|>\\n' + message['content'] + eos_token }}\n{%- endif %}\n{%- endif %}\n"
    "{%- if loop.last and add_generation_prompt %}\n{{- '<|assistant|>\\n' }}\n{%- endif %}\n"
    "{%- endfor %}\n{%- endif %}";

/* microsoft/Phi-3-mini: <|user|>/<|assistant|> too, but <|end|> turns. */
static const char tmpl_phi3[] =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + "
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + "
    "message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' "
    "%}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

static const char tmpl_chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' }}{% endif %}";

static void expect_detect(const char *jinja, bn_chat_template want)
{
    bn_chat_template t = BN_CHAT_TEMPLATE_COUNT;
    bn_error err;
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_template_detect(jinja, &t, &err), BN_STATUS_OK, "%s", err.message);
    cr_expect_eq(t, want, "got %s, want %s", bn_chat_template_name(t),
                 bn_chat_template_name(want));
}

Test(chat_template, recognises_the_2b4t_template)
{
    expect_detect(tmpl_2b4t, BN_CHAT_TEMPLATE_BITNET);
    expect_detect(tmpl_2b4t_short, BN_CHAT_TEMPLATE_BITNET);
}

Test(chat_template, maps_the_published_gguf_placeholder_to_the_real_2b4t_form)
{
    expect_detect(tmpl_2b4t_gguf_placeholder, BN_CHAT_TEMPLATE_BITNET);
}

Test(chat_template, recognises_the_llama3_template)
{
    expect_detect(tmpl_llama3, BN_CHAT_TEMPLATE_LLAMA3);
}

Test(chat_template, recognises_the_falcon3_template)
{
    expect_detect(tmpl_falcon3, BN_CHAT_TEMPLATE_FALCON3);
}

Test(chat_template, recognises_bare_names)
{
    expect_detect("llama3", BN_CHAT_TEMPLATE_LLAMA3);
    expect_detect("plain", BN_CHAT_TEMPLATE_PLAIN);
}

Test(chat_template, does_not_take_other_formats_for_ours)
{
    const char *others[] = {tmpl_phi3, tmpl_chatml, "", NULL};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        bn_chat_template t = BN_CHAT_TEMPLATE_COUNT;
        bn_error err;
        bn_error_clear(&err);
        cr_expect_eq(bn_chat_template_detect(others[i], &t, &err), BN_STATUS_NOT_FOUND,
                     "case %zu", i);
        cr_expect_eq(t, BN_CHAT_TEMPLATE_COUNT, "case %zu left *out alone", i);
        cr_expect_neq(err.message[0], '\0');
    }
}

/* ---- the formats against the real Llama-3 vocabulary (2B4T's) ----
 * Every marker must be one special token, or the model would see its
 * spelling in pieces instead of the token it was tuned on. */

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/tokenizer.h"

static uint8_t *l3_bytes;
static bn_gguf *l3_gguf;
static bn_tokenizer *l3_tok;

static void l3_setup(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/tokenizer/llama3/tokenizer.json", BN_SHARED_DIR);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fclose(f);
    bn_error err;
    bn_error_clear(&err);
    bn_gguf_writer *w = NULL;
    size_t size = 0;
    cr_assert_eq(bn_gguf_writer_new(&w, &err), BN_STATUS_OK);
    cr_assert_eq(bn_hf_tokenizer_import(path, w, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_gguf_writer_write_memory(w, &l3_bytes, &size, &err), BN_STATUS_OK, "%s",
                 err.message);
    bn_gguf_writer_free(w);
    cr_assert_eq(bn_gguf_open_memory(l3_bytes, size, &l3_gguf, &err), BN_STATUS_OK, "%s",
                 err.message);
    cr_assert_eq(bn_tokenizer_load(l3_gguf, &l3_tok, &err), BN_STATUS_OK, "%s", err.message);
}

static void l3_teardown(void)
{
    bn_tokenizer_free(l3_tok);
    bn_gguf_close(l3_gguf);
    free(l3_bytes);
    l3_tok = NULL;
    l3_gguf = NULL;
    l3_bytes = NULL;
}

static size_t l3_encode(const char *text, int32_t **ids)
{
    if (!l3_tok)
        cr_skip_test("../shared/data/tokenizer/llama3/tokenizer.json is absent");
    size_t n = 0;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tokenizer_encode_alloc(l3_tok, text, strlen(text), false, true, ids, &n, &err),
                 BN_STATUS_OK, "%s", err.message);
    return n;
}

static size_t count_id(const int32_t *ids, size_t n, int32_t id)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ids[i] == id;
    return c;
}

Test(chat_template_llama3_vocab, end_markers_and_stop_texts_are_single_eog_tokens,
     .init = l3_setup, .fini = l3_teardown)
{
    const bn_chat_template ts[] = {BN_CHAT_TEMPLATE_BITNET, BN_CHAT_TEMPLATE_LLAMA3};
    for (size_t t = 0; t < 2; t++) {
        int32_t *ids = NULL;
        size_t n = l3_encode(bn_chat_template_assistant_end(ts[t]), &ids);
        cr_expect_eq(n, 1);
        cr_expect_eq(ids[0], 128009, "<|eot_id|>");
        free(ids);
        const char *const *stop = bn_chat_template_stop_texts(ts[t]);
        const int32_t want[] = {128009, 128001};
        for (int i = 0; i < 2; i++) {
            n = l3_encode(stop[i], &ids);
            cr_expect_eq(n, 1, "%s", stop[i]);
            cr_expect_eq(ids[0], want[i], "%s", stop[i]);
            cr_expect(bn_tokenizer_is_eog(l3_tok, ids[0]), "%s is not end-of-generation",
                      stop[i]);
            free(ids);
        }
    }
}

Test(chat_template_llama3_vocab, a_rendered_2b4t_conversation_has_one_eot_per_message,
     .init = l3_setup, .fini = l3_teardown)
{
    char *text = render(BN_CHAT_TEMPLATE_BITNET, conversation, N_CONV, 0, true);
    int32_t *ids = NULL;
    size_t n = l3_encode(text, &ids);
    cr_expect_eq(count_id(ids, n, 128009), N_CONV);
    /* "Assistant: " ends in a lone space token (220): the generation
     * prompt as the HF template writes it. */
    cr_expect_eq(ids[n - 1], 220);
    free(ids);
    free(text);
    text = render(BN_CHAT_TEMPLATE_LLAMA3, conversation, N_CONV, 0, true);
    n = l3_encode(text, &ids);
    cr_expect_eq(count_id(ids, n, 128009), N_CONV);
    cr_expect_eq(count_id(ids, n, 128006), N_CONV + 1, "<|start_header_id|>");
    cr_expect_eq(count_id(ids, n, 128007), N_CONV + 1, "<|end_header_id|>");
    free(ids);
    free(text);
}
