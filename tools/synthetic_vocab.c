/* synthetic_vocab.c: the synthetic SentencePiece-style vocabulary written
 * into generated models, so that bitnet-run and bitnet-bench can encode text
 * with models that have random weights. One definition for the benchmark
 * model generator and the tests' tiny models, so both tokenize alike.
 */
#include "tools/synthetic_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

/* SPM's tokenizer types (tokenizer.ggml.token_type) */
enum { BN_PIECE_NORMAL = 1, BN_PIECE_UNKNOWN = 2, BN_PIECE_CONTROL = 3, BN_PIECE_BYTE = 6 };

#define BN_PIECE_MAX 16

/* Piece i of the vocabulary into t (BN_PIECE_MAX bytes); its type and score. */
static void synthetic_piece(int32_t i, char *t, int32_t *type, float *score)
{
    static const char *letters = "etaoinshrdlucmfwypvbgkjqxz";
    *score = 0.0f;
    if (i == 0) {
        strcpy(t, "<unk>");
        *type = BN_PIECE_UNKNOWN;
    } else if (i == 1) {
        strcpy(t, "<s>");
        *type = BN_PIECE_CONTROL;
    } else if (i == 2) {
        strcpy(t, "</s>");
        *type = BN_PIECE_CONTROL;
    } else if (i < 259) {
        snprintf(t, BN_PIECE_MAX, "<0x%02X>", i - 3);
        *type = BN_PIECE_BYTE;
    } else {
        /* Filler pieces: single letters, "▁" + letter ("\xe2\x96\x81" is
         * U+2581, SentencePiece's space marker), then "▁" + a word in
         * bijective base 26, so that no two pieces are equal. */
        int32_t j = i - 259;
        *type = BN_PIECE_NORMAL;
        *score = -(float)j;
        if (j < 26) {
            snprintf(t, BN_PIECE_MAX, "%c", letters[j]);
        } else if (j < 52) {
            snprintf(t, BN_PIECE_MAX, "\xe2\x96\x81%c", letters[j - 26]);
        } else {
            int32_t v = j - 52 + 27;
            char word[12];
            int len = 0;
            while (v > 0 && len < 11) {
                v -= 1;
                word[len++] = letters[v % 26];
                v /= 26;
            }
            word[len] = '\0';
            snprintf(t, BN_PIECE_MAX, "\xe2\x96\x81%s", word);
        }
    }
}

bn_status bn_synthetic_vocab_write(bn_gguf_writer *w, int32_t n_vocab, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    if (n_vocab < 260)
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "synthetic vocabulary: n_vocab %d is below 260 (3 special and 256 "
                            "byte tokens, then pieces)", (int)n_vocab);
    size_t n = (size_t)n_vocab;
    char *text = malloc(n * BN_PIECE_MAX);
    const char **tok = malloc(n * sizeof *tok);
    float *scores = malloc(n * sizeof *scores);
    int32_t *types = malloc(n * sizeof *types);
    if (!text || !tok || !scores || !types) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY,
                          "synthetic vocabulary: no memory for %d tokens", (int)n_vocab);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        tok[i] = text + i * BN_PIECE_MAX;
        synthetic_piece((int32_t)i, text + i * BN_PIECE_MAX, &types[i], &scores[i]);
    }
    if ((st = bn_gguf_writer_set_string(w, "tokenizer.ggml.model", "llama", err)) ||
        (st = bn_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", tok, NULL, n, err)) ||
        (st = bn_gguf_writer_set_array(w, "tokenizer.ggml.scores", BN_GGUF_FLOAT32, scores, n,
                                       err)) ||
        (st = bn_gguf_writer_set_array(w, "tokenizer.ggml.token_type", BN_GGUF_INT32, types, n,
                                       err)) ||
        (st = bn_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (st = bn_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (st = bn_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (st = bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, err)))
        goto done;
done:
    free(text);
    free(tok);
    free(scores);
    free(types);
    return st;
}
