/* chat_template.h: the chat formats bitnet knows, as text.
 *
 * Owns the mapping from a conversation (system, user and assistant
 * messages) to the text a model was fine-tuned on, for four fixed formats:
 *
 *   bitnet   BitNet b1.58 2B4T (FORMATS.md 6.4, the model repo's
 *            tokenizer_config.json): "Role: content<|eot_id|>" per message,
 *            roles capitalised, content trimmed; generation prompt
 *            "Assistant: " (with the trailing space).
 *   llama3   Llama-3 header form: "<|start_header_id|>role<|end_header_id|>\n\n"
 *            + trimmed content + "<|eot_id|>"; generation prompt
 *            "<|start_header_id|>assistant<|end_header_id|>\n\n".
 *   falcon3  Falcon3-Instruct (its tokenizer_config.json, the branch without
 *            tools): "<|role|>\n" + content + "\n"; an assistant message that
 *            is followed by more ends "<|endoftext|>\n" (Falcon3's eos_token)
 *            instead; generation prompt "<|assistant|>\n".
 *   plain    our own form for models without a chat template, such as the
 *            bundled tiny story model (SentencePiece vocab): "System: c\n",
 *            "User: c\n", "Assistant: c</s>"; content trimmed. </s> is the
 *            SPM end-of-sequence token, where such a model stops on its own.
 *            The generation prompt is "Assistant:" without the space: an SPM
 *            reply's first piece carries its own leading space (SPM's word mark),
 *            while a prompt ending in a space ends in a lone space piece.
 *
 * BOS is never part of the text: the caller adds the tokenizer's BOS token
 * before the first message (bn_model_add_bos), as HF's bos_token does.
 *
 * Rendering is prefix-stable: rendering messages [0, k) and then [k, n)
 * gives exactly the text of rendering [0, n), for every k. That is what lets
 * a chat evaluate only the new part of each turn. An assistant message is
 * always rendered in its "more follows" form; the end-of-turn marker that
 * closes it (bn_chat_template_assistant_end) is the tail of that rendering.
 *
 * Recognition (bn_chat_template_detect) looks for fixed substrings of the
 * Jinja text in tokenizer.chat_template, as llama.cpp does; it does not run
 * Jinja. Pure functions over strings: no model, no I/O, thread-safe.
 */
#ifndef BN_CHAT_TEMPLATE_H
#define BN_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/bitnet.h"

typedef enum bn_chat_template {
    BN_CHAT_TEMPLATE_BITNET = 0,
    BN_CHAT_TEMPLATE_LLAMA3,
    BN_CHAT_TEMPLATE_FALCON3,
    BN_CHAT_TEMPLATE_PLAIN,
    BN_CHAT_TEMPLATE_COUNT
} bn_chat_template;

typedef enum bn_chat_role {
    BN_CHAT_ROLE_SYSTEM = 0,
    BN_CHAT_ROLE_USER,
    BN_CHAT_ROLE_ASSISTANT,
} bn_chat_role;

typedef struct bn_chat_message {
    bn_chat_role role;
    const char *content; /* UTF-8, NUL-terminated */
} bn_chat_message;

/* "bitnet", "llama3", "falcon3", "plain"; NULL for an out-of-range value. */
const char *bn_chat_template_name(bn_chat_template tmpl);

/* Parses a --chat-template NAME (the names above; "2b4t" and "llama-3" are
 * accepted as aliases). INVALID_ARG with the list of names otherwise. */
bn_status bn_chat_template_from_name(const char *name, bn_chat_template *out, bn_error *err);

/* Recognises a tokenizer.chat_template text. NOT_FOUND (with a short
 * message) when jinja is NULL, empty or matches none of the formats. */
bn_status bn_chat_template_detect(const char *jinja, bn_chat_template *out, bn_error *err);

/* Renders msgs[first, n) (the conversation's earlier messages [0, first)
 * having been rendered already) and, when add_generation_prompt, the prompt
 * that opens the assistant's reply. *out is a NUL-terminated string the
 * caller frees; *out_len excludes the NUL. INVALID_ARG for first > n, a
 * NULL content or an unknown role/template; NO_MEMORY. */
bn_status bn_chat_template_render(bn_chat_template tmpl, const bn_chat_message *msgs, size_t n,
                                  size_t first, bool add_generation_prompt, char **out,
                                  size_t *out_len, bn_error *err);

/* The generation prompt alone ("Assistant: " for bitnet). */
const char *bn_chat_template_generation_prompt(bn_chat_template tmpl);

/* What the model's reply itself starts with, between the generation
 * prompt and a stored assistant message's content (" " for plain, else
 * ""): generation prompt + reply separator + content + assistant end is an
 * assistant message. */
const char *bn_chat_template_reply_sep(bn_chat_template tmpl);

/* What closes an assistant message that more messages follow
 * ("<|eot_id|>", "<|endoftext|>\n", "</s>"). A reply that stopped at the
 * end-of-generation token never had that token evaluated, and one cut by
 * -n or Ctrl-C never produced it, so a chat evaluates this text before the
 * next user message either way. */
const char *bn_chat_template_assistant_end(bn_chat_template tmpl);

/* Texts of the special tokens that end a reply in this format, beyond the
 * model's own end-of-generation set, as a NULL-terminated list. */
const char *const *bn_chat_template_stop_texts(bn_chat_template tmpl);

#endif /* BN_CHAT_TEMPLATE_H */
