/* hf_import.h: Hugging Face tokenizer files -> GGUF tokenizer metadata.
 *
 * Owns: turning a SentencePiece `tokenizer.model` or a byte-level BPE
 * `tokenizer.json` (plus the optional sidecars tokenizer_config.json,
 * special_tokens_map.json, added_tokens.json and config.json found next to
 * it) into the tokenizer.ggml.* keys that bn_tokenizer_load reads, written
 * into a bn_gguf_writer the caller owns. It is the tokenizer half of the HF
 * checkpoint converter and the whole of tools/bitnet-vocab-import.
 *
 * Keys written: tokenizer.ggml.model ("llama" | "gpt2"), .pre ("default" |
 * "llama-bpe"), .tokens, .token_type, .scores (SentencePiece only), .merges
 * (BPE only), .bos/.eos/.unknown/.padding_token_id when known,
 * .add_bos_token/.add_eos_token when tokenizer_config.json says,
 * .add_space_prefix (SentencePiece without add_dummy_prefix), and
 * tokenizer.chat_template when tokenizer_config.json has one. Token types as
 * llama.cpp's converter assigns them (added tokens: control if special or
 * looking like <|...|>, else user-defined; ids not in the vocabulary become
 * "[PADn]" unused entries up to config.json's vocab_size).
 *
 * Not supported (BN_STATUS_UNSUPPORTED): tokenizer.json models other than
 * BPE, and BPE pre-tokenizers other than the Llama-3 split pattern.
 */
#ifndef BN_HF_IMPORT_H
#define BN_HF_IMPORT_H

#include "loader/gguf_writer.h"
#include "runtime/bitnet.h"

/* hf_dir_or_file: a directory (tokenizer.model is preferred over
 * tokenizer.json, as llama.cpp's converter does for Llama models), or one of
 * those files directly (".json" -> BPE, anything else -> SentencePiece). */
bn_status bn_hf_tokenizer_import(const char *hf_dir_or_file, bn_gguf_writer *w, bn_error *err);

#endif /* BN_HF_IMPORT_H */
