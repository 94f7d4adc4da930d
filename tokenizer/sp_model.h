/* sp_model.h: a minimal reader of SentencePiece's tokenizer.model
 * (a ModelProto protobuf), internal to tokenizer/.
 *
 * Reads only what the GGUF tokenizer metadata needs: each piece's text,
 * score and type, the trainer's unk/bos/eos/pad ids and byte_fallback, and
 * the normalizer's add_dummy_prefix. Every length and varint is checked
 * against the bytes that remain; unknown fields are skipped by wire type.
 */
#ifndef BN_TOKENIZER_SP_MODEL_H
#define BN_TOKENIZER_SP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

typedef struct bn_sp_piece {
    const char *text; /* into the caller's bytes, not NUL-terminated */
    size_t len;
    float score;
    int32_t type;     /* SentencePiece's Type = GGUF token_type (1..6) */
} bn_sp_piece;

typedef struct bn_sp_model {
    bn_sp_piece *pieces; /* (n_pieces) */
    size_t n_pieces;
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1: none */
    bool byte_fallback;
    bool add_dummy_prefix;
} bn_sp_model;

/* Parses data[0..size) (which must outlive the model). */
bn_status bn_sp_model_parse(const uint8_t *data, size_t size, bn_sp_model *out, bn_error *err);
void bn_sp_model_free(bn_sp_model *m);

#endif /* BN_TOKENIZER_SP_MODEL_H */
