/* chat_template.c: rendering and recognising the chat formats (see
 * chat_template.h for the formats themselves).
 *
 * Each format is one row of a table: a prefix and a suffix per role, the
 * generation prompt (always the assistant's prefix) and whether content is
 * trimmed. A message renders as prefix + content + suffix, nothing depends
 * on a message's neighbours, so rendering is prefix-stable by construction.
 * Falcon3's own template drops the "\n" after the very last assistant
 * message of a conversation; a chat never renders that case (a reply is
 * always followed by the next user message), so the table keeps the
 * "more follows" form.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/chat_template.h"
#include "runtime/error.h"

typedef struct bn_chat_format {
    const char *name;
    const char *prefix[3]; /* by bn_chat_role: system, user, assistant */
    const char *suffix[3];
    /* Put between the assistant prefix and a stored reply, not part of the
     * generation prompt: the model writes it itself (see plain). */
    const char *reply_sep;
    bool trim;             /* Jinja's `content | trim` */
    const char *stop_texts[3];
} bn_chat_format;

static const bn_chat_format formats[BN_CHAT_TEMPLATE_COUNT] = {
    [BN_CHAT_TEMPLATE_BITNET] = {
        "bitnet",
        {"System: ", "User: ", "Assistant: "},
        {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
        "",
        true,
        {"<|eot_id|>", "<|end_of_text|>", NULL},
    },
    [BN_CHAT_TEMPLATE_LLAMA3] = {
        "llama3",
        {"<|start_header_id|>system<|end_header_id|>\n\n",
         "<|start_header_id|>user<|end_header_id|>\n\n",
         "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
        "",
        true,
        {"<|eot_id|>", "<|end_of_text|>", NULL},
    },
    [BN_CHAT_TEMPLATE_FALCON3] = {
        "falcon3",
        {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
        {"\n", "\n", "<|endoftext|>\n"},
        "",
        false,
        {"<|endoftext|>", NULL, NULL},
    },
    /* The generation prompt has no trailing space: with a SentencePiece
     * vocabulary a final space is a lone "▁" piece, which the tiny story
     * model never saw before a word (it then starts every reply with a rare
     * word such as "Zac"); its own first piece ("▁Once") brings the space. */
    [BN_CHAT_TEMPLATE_PLAIN] = {
        "plain",
        {"System: ", "User: ", "Assistant:"},
        {"\n", "\n", "</s>"},
        " ",
        true,
        {"</s>", NULL, NULL},
    },
};

const char *bn_chat_template_name(bn_chat_template tmpl)
{
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT)
        return NULL;
    return formats[tmpl].name;
}

bn_status bn_chat_template_from_name(const char *name, bn_chat_template *out, bn_error *err)
{
    static const struct {
        const char *alias;
        bn_chat_template tmpl;
    } aliases[] = {{"2b4t", BN_CHAT_TEMPLATE_BITNET}, {"llama-3", BN_CHAT_TEMPLATE_LLAMA3}};
    if (!name || !out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "chat template name is NULL");
    for (int t = 0; t < BN_CHAT_TEMPLATE_COUNT; t++) {
        if (strcmp(name, formats[t].name) == 0) {
            *out = (bn_chat_template)t;
            return BN_STATUS_OK;
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        if (strcmp(name, aliases[i].alias) == 0) {
            *out = aliases[i].tmpl;
            return BN_STATUS_OK;
        }
    }
    return bn_error_set(err, BN_STATUS_INVALID_ARG,
                        "unknown chat template '%s' (known: bitnet, llama3, falcon3, plain)", name);
}

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

bn_status bn_chat_template_detect(const char *jinja, bn_chat_template *out, bn_error *err)
{
    if (!out)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "chat template detect: out is NULL");
    if (!jinja || !*jinja)
        return bn_error_set(err, BN_STATUS_NOT_FOUND, "the model has no chat template");
    /* A bare name, as llama.cpp also accepts in tokenizer.chat_template. */
    for (int t = 0; t < BN_CHAT_TEMPLATE_COUNT; t++) {
        if (strcmp(jinja, formats[t].name) == 0) {
            *out = (bn_chat_template)t;
            return BN_STATUS_OK;
        }
    }
    /* Order matters only where the signatures could overlap: Phi-3 also has
     * <|user|>/<|assistant|> but ends turns with <|end|>, which we do not
     * render, so it is not taken for Falcon3. */
    if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|end_header_id|>")) {
        *out = BN_CHAT_TEMPLATE_LLAMA3;
        return BN_STATUS_OK;
    }
    if (contains(jinja, "<|user|>") && contains(jinja, "<|assistant|>") &&
        !contains(jinja, "<|end|>")) {
        *out = BN_CHAT_TEMPLATE_FALCON3;
        return BN_STATUS_OK;
    }
    /* 2B4T's own template (tokenizer_config.json): the capitalised role, ": ",
     * the content and <|eot_id|>, generation prompt 'Assistant: '. */
    if (contains(jinja, "<|eot_id|>") &&
        (contains(jinja, "'Assistant: '") || contains(jinja, "| capitalize + ': '"))) {
        *out = BN_CHAT_TEMPLATE_BITNET;
        return BN_STATUS_OK;
    }
    /* The published 2B4T GGUF (ggml-model-i2_s.gguf) carries a placeholder
     * written by bitnet.cpp's converter ("Human: ... BITNETAssistant: " with
     * eos_token after the generation prompt), not the format the model was
     * tuned on; several projects report endless, looping replies under it.
     * Render the model's real format instead. */
    if (contains(jinja, "BITNETAssistant")) {
        *out = BN_CHAT_TEMPLATE_BITNET;
        return BN_STATUS_OK;
    }
    return bn_error_set(err, BN_STATUS_NOT_FOUND,
                        "the model's chat template (%zu bytes) matches none of bitnet, llama3, "
                        "falcon3; choose one with --chat-template",
                        strlen(jinja));
}

const char *bn_chat_template_generation_prompt(bn_chat_template tmpl)
{
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT)
        return NULL;
    return formats[tmpl].prefix[BN_CHAT_ROLE_ASSISTANT];
}

const char *bn_chat_template_reply_sep(bn_chat_template tmpl)
{
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT)
        return NULL;
    return formats[tmpl].reply_sep;
}

const char *bn_chat_template_assistant_end(bn_chat_template tmpl)
{
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT)
        return NULL;
    return formats[tmpl].suffix[BN_CHAT_ROLE_ASSISTANT];
}

const char *const *bn_chat_template_stop_texts(bn_chat_template tmpl)
{
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT)
        return NULL;
    return formats[tmpl].stop_texts;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A growable string; a failed append sets failed and leaves it unchanged. */
typedef struct bn_text {
    char *data;
    size_t len, cap;
    bool failed;
} bn_text;

static void text_append(bn_text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *d = realloc(t->data, cap);
        if (!d) {
            t->failed = true;
            return;
        }
        t->data = d;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

bn_status bn_chat_template_render(bn_chat_template tmpl, const bn_chat_message *msgs, size_t n,
                                  size_t first, bool add_generation_prompt, char **out,
                                  size_t *out_len, bn_error *err)
{
    bn_text t = {0};
    bn_status st = BN_STATUS_OK;
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if ((unsigned)tmpl >= BN_CHAT_TEMPLATE_COUNT || !out || (n > 0 && !msgs) || first > n) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "chat render: bad arguments (template %d, %zu messages from %zu)",
                          (int)tmpl, n, first);
        goto fail;
    }
    const bn_chat_format *f = &formats[tmpl];
    text_append(&t, "", 0); /* an empty render is "" rather than NULL */
    for (size_t i = first; i < n; i++) {
        const bn_chat_message *m = &msgs[i];
        if ((unsigned)m->role > BN_CHAT_ROLE_ASSISTANT || !m->content) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                              "chat render: message %zu has %s", i,
                              m->content ? "an unknown role" : "no content");
            goto fail;
        }
        const char *c = m->content;
        size_t len = strlen(c);
        if (f->trim) {
            while (len > 0 && is_space(*c)) {
                c++;
                len--;
            }
            while (len > 0 && is_space(c[len - 1]))
                len--;
        }
        text_append(&t, f->prefix[m->role], strlen(f->prefix[m->role]));
        if (m->role == BN_CHAT_ROLE_ASSISTANT)
            text_append(&t, f->reply_sep, strlen(f->reply_sep));
        text_append(&t, c, len);
        text_append(&t, f->suffix[m->role], strlen(f->suffix[m->role]));
    }
    if (add_generation_prompt) {
        const char *gp = f->prefix[BN_CHAT_ROLE_ASSISTANT];
        text_append(&t, gp, strlen(gp));
    }
    if (t.failed) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "chat render: out of memory at %zu bytes",
                          t.len);
        goto fail;
    }
    *out = t.data;
    if (out_len)
        *out_len = t.len;
    return BN_STATUS_OK;
fail:
    free(t.data);
    return st;
}
