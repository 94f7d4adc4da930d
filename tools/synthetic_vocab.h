/* synthetic_vocab.h: the synthetic SentencePiece-style vocabulary written
 * into generated models (bitnet-gen-model and the tests' tiny models).
 */
#ifndef BN_SYNTHETIC_VOCAB_H
#define BN_SYNTHETIC_VOCAB_H

#include <stdint.h>

#include "loader/gguf_writer.h"
#include "runtime/bitnet.h"

/* Sets the tokenizer.ggml.* keys of an n_vocab-token "llama" (SPM)
 * vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then
 * unique filler pieces (single letters, "▁" + letter, "▁" + a word), with
 * descending scores so that longer pieces are never preferred by accident.
 * n_vocab >= 260. Values are copied into the writer. */
bn_status bn_synthetic_vocab_write(bn_gguf_writer *w, int32_t n_vocab, bn_error *err);

#endif
