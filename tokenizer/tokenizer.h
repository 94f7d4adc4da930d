/* tokenizer.h: text <-> token ids, from a GGUF file's tokenizer.ggml.* metadata.
 *
 * Owns: the two tokenizers the runtime runs, exactly as llama.cpp runs them:
 *   - SentencePiece ("llama"): score-driven merges, add_space_prefix,
 *     byte fallback <0xXX>;
 *   - byte-level BPE ("gpt2", pre-tokenizer llama-bpe / llama3 / llama-v3 /
 *     falcon3 / default, all with the Llama-3 split rule): ranked merges,
 *     ignore_merges, the GPT-2 byte-to-unicode mapping;
 * plus special-token splitting (only when the caller asks: chat prompts),
 * decoding (whole sequences and one token at a time for streaming), the
 * end-of-generation set and lookups by id and by text. Does not render chat
 * templates (runtime/) and does not import Hugging Face files
 * (tokenizer/hf_import.h).
 *
 * Lifetime and threads: bn_tokenizer_load copies what it needs, so the
 * bn_gguf may be closed afterwards. A loaded tokenizer is immutable; every
 * call below may run concurrently from several threads (scratch memory is
 * per call).
 *
 * Sizing convention (encode, token_to_piece, decode): the caller gives a
 * buffer and its capacity; the call always stores the full needed count in
 * *n_out. If it does not fit, nothing is promised about the buffer's
 * contents and the status is BN_STATUS_INVALID_ARG ("needs N, buffer holds
 * M"); call again with a larger buffer. cap may be 0 with a NULL buffer to
 * ask for the size. The _alloc variants do this for you.
 */
#ifndef BN_TOKENIZER_H
#define BN_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/gguf.h"
#include "runtime/bitnet.h"

typedef struct bn_tokenizer bn_tokenizer;

/* Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type). */
typedef enum bn_token_type {
    BN_TOKEN_TYPE_UNDEFINED = 0,
    BN_TOKEN_TYPE_NORMAL = 1,
    BN_TOKEN_TYPE_UNKNOWN = 2,
    BN_TOKEN_TYPE_CONTROL = 3,
    BN_TOKEN_TYPE_USER_DEFINED = 4,
    BN_TOKEN_TYPE_UNUSED = 5,
    BN_TOKEN_TYPE_BYTE = 6,
} bn_token_type;

typedef enum bn_tokenizer_kind {
    BN_TOKENIZER_SPM = 0, /* tokenizer.ggml.model = "llama" */
    BN_TOKENIZER_BPE = 1, /* tokenizer.ggml.model = "gpt2" */
} bn_tokenizer_kind;

/* Reads tokenizer.ggml.* (model, pre, tokens, scores, token_type, merges,
 * bos/eos/eot/unk/pad ids, add_bos_token, add_space_prefix). A file without
 * tokenizer metadata: BN_STATUS_NOT_FOUND; an unknown model or pre-tokenizer:
 * BN_STATUS_UNSUPPORTED; inconsistent arrays or a key of the wrong type:
 * BN_STATUS_FORMAT. A special-token id past the vocabulary is ignored (the
 * default stays), as llama.cpp does. */
bn_status bn_tokenizer_load(const bn_gguf *gguf, bn_tokenizer **out, bn_error *err);
void bn_tokenizer_free(bn_tokenizer *tok);

bn_tokenizer_kind bn_tokenizer_kind_of(const bn_tokenizer *tok);
int32_t bn_tokenizer_n_vocab(const bn_tokenizer *tok);
int32_t bn_tokenizer_bos(const bn_tokenizer *tok); /* -1 if none */
int32_t bn_tokenizer_eos(const bn_tokenizer *tok); /* -1 if none */
int32_t bn_tokenizer_eot(const bn_tokenizer *tok); /* <|eot_id|> etc.; -1 if none */
/* tokenizer.ggml.add_bos_token, or the model's default (true for SPM,
 * true for Llama-3 BPE) when the key is absent. */
bool bn_tokenizer_add_bos(const bn_tokenizer *tok);
/* End of generation: EOS, EOT, EOM, and <|eot_id|>, <|eom_id|>,
 * <|end_of_text|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, <EOT>
 * when present in the vocabulary (as llama.cpp). */
bool bn_tokenizer_is_eog(const bn_tokenizer *tok, int32_t id);

/* The stored vocabulary string of id (SPM: with '▁'; BPE: GPT-2 byte
 * characters such as 'Ġ'), not NUL-terminated; NULL if id is out of range. */
const char *bn_tokenizer_token_text(const bn_tokenizer *tok, int32_t id, size_t *len);
bn_token_type bn_tokenizer_token_type(const bn_tokenizer *tok, int32_t id); /* UNDEFINED if out of range */
/* Id whose stored text is exactly text[0..len) (e.g. "<|eot_id|>"), or -1. */
int32_t bn_tokenizer_find(const bn_tokenizer *tok, const char *text, size_t len);

/* Encodes text[0..len) (any bytes; invalid UTF-8 has a defined result:
 * SentencePiece sends each byte of a character it lacks through byte
 * fallback, so it round-trips, except that a malformed lead byte takes the
 * bytes its high nibble announces as one character, as llama.cpp does, so
 * a space among those comes back as the bytes of '▁'; BPE reads each byte
 * that does not start a well-formed sequence as U+FFFD, as llama.cpp does).
 * add_bos: prepend BOS (callers usually pass bn_tokenizer_add_bos(tok));
 * EOS is never appended.
 * parse_special: split out the texts of control tokens (<|eot_id|>, <s>...)
 * and emit their ids; otherwise they are encoded as plain text.
 * User-defined tokens are split out either way, as llama.cpp and HF do. */
bn_status bn_tokenizer_encode(const bn_tokenizer *tok, const char *text, size_t len, bool add_bos,
                              bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                              bn_error *err);
/* Same, into a malloc'd array the caller frees (*ids may be NULL when *n_ids == 0). */
bn_status bn_tokenizer_encode_alloc(const bn_tokenizer *tok, const char *text, size_t len,
                                    bool add_bos, bool parse_special, int32_t **ids,
                                    size_t *n_ids, bn_error *err);

/* The bytes id decodes to on its own, for streaming output. SPM: '▁' ->
 * ' ', <0xXX> -> that raw byte (a UTF-8 character may span several tokens;
 * the caller reassembles). BPE: GPT-2 characters -> bytes. Control tokens
 * (BOS, EOS, <|eot_id|>...) give nothing unless render_special, then their
 * text. No leading-space stripping here. Out-of-range id: BN_STATUS_INVALID_ARG. */
bn_status bn_tokenizer_token_to_piece(const bn_tokenizer *tok, int32_t id, bool render_special,
                                      char *buf, size_t cap, size_t *n_bytes, bn_error *err);

/* Decodes a whole sequence assumed to start at the beginning of the text:
 * concatenates the pieces and, for SPM with add_space_prefix, drops the one
 * leading space the prefix produced (so decode(encode(x)) == x). Output is
 * raw bytes, not NUL-terminated. */
bn_status bn_tokenizer_decode(const bn_tokenizer *tok, const int32_t *ids, size_t n_ids,
                              bool render_special, char *buf, size_t cap, size_t *n_bytes,
                              bn_error *err);
/* Same, into a malloc'd NUL-terminated string (the NUL is not counted). */
bn_status bn_tokenizer_decode_alloc(const bn_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                    bool render_special, char **text, size_t *n_bytes,
                                    bn_error *err);

/* Streaming helper: how many bytes at the end of buf[0..len) are the start
 * of a UTF-8 character that is not complete yet (0..3). Print
 * buf[0..len - pending) now and keep the tail for the next piece; invalid
 * bytes are never held back. */
size_t bn_tokenizer_utf8_pending(const char *buf, size_t len);

#endif /* BN_TOKENIZER_H */
