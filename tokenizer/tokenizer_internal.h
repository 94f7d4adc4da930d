/* tokenizer_internal.h: the bn_tokenizer object and the pieces shared by the
 * files of tokenizer/ (not included from outside the module).
 *
 * Layout: every token text lives in one pool (texts[off[i] .. off[i+1])),
 * found by id in O(1) and by text through an open-addressing hash table.
 * BPE merges live in a second pool, found by (left, right) pair through a
 * second table; the rank of a merge is its index in tokenizer.ggml.merges.
 * Everything is read-only after bn_tokenizer_load; encode/decode allocate
 * their scratch per call.
 */
#ifndef BN_TOKENIZER_INTERNAL_H
#define BN_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* A growable id list; every push may fail with out-of-memory. */
typedef struct bn_id_list {
    int32_t *v;
    size_t n, cap;
} bn_id_list;

bool bn_id_list_push(bn_id_list *l, int32_t id);

struct bn_tokenizer {
    bn_tokenizer_kind kind;
    int32_t n_vocab;

    char *texts;          /* pool of token texts */
    size_t *off;          /* (n_vocab + 1) offsets into texts */
    float *scores;        /* (n_vocab) */
    uint8_t *types;       /* (n_vocab) bn_token_type */
    uint32_t *text_slots; /* (text_mask + 1) hash slots: id + 1, 0 = empty */
    size_t text_mask;

    /* BPE merges: merge i is mtexts[moff[i] .. moff[i+1]) = "left right",
     * split at msplit[i] (the first space after position 0). */
    char *mtexts;
    size_t *moff;          /* (n_merges + 1) */
    uint32_t *msplit;      /* (n_merges) */
    uint32_t n_merges;
    uint32_t *merge_slots; /* (merge_mask + 1): rank + 1, 0 = empty */
    size_t merge_mask;
    bool ignore_merges;    /* Llama-3: a whole pre-token in the vocab skips merging */

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_space_prefix;
    /* SPM: no piece has '▁' right after a non-'▁' byte sequence, so text can
     * be merged in independent segments that start at "▁word" (spm.c). */
    bool spm_split_at_space;

    int32_t *eog;          /* (n_eog) end-of-generation ids */
    size_t n_eog;
    /* Control, user-defined and unknown tokens with non-empty text, longest
     * first: the order in which text is split around them. */
    int32_t *specials;     /* (n_specials) */
    size_t n_specials;

    int32_t byte_ids[256]; /* SPM: <0xXX> (or the 1-byte piece) per byte; -1 if none */
};

uint64_t bn_tok_hash(const char *s, size_t n);
/* Id of the token whose text is s[0..n), or -1. */
int32_t bn_tok_lookup(const bn_tokenizer *tok, const char *s, size_t n);
/* Rank of the merge (left, right), or -1. */
int32_t bn_tok_merge_rank(const bn_tokenizer *tok, const char *l, size_t ln, const char *r,
                          size_t rn);

/* SentencePiece on one raw-text fragment (space prefix already decided by
 * the caller; ' ' -> '▁' is done here). */
bn_status bn_spm_encode(const bn_tokenizer *tok, const char *text, size_t len, bool space_prefix,
                        bn_id_list *out, bn_error *err);
/* Byte-level BPE on one raw-text fragment (Llama-3 split, then merges). */
bn_status bn_bpe_encode(const bn_tokenizer *tok, const char *text, size_t len, bn_id_list *out,
                        bn_error *err);

/* The Llama-3 split rule over code points cpts[0..n): writes the length (in
 * code points) of each pre-token to lens and returns their count (<= n). */
size_t bn_bpe_split_llama3(const uint32_t *cpts, size_t n, size_t *lens);

/* GPT-2 byte <-> unicode mapping. */
uint32_t bn_bpe_byte_to_cpt(unsigned char b);
int bn_bpe_cpt_to_byte(uint32_t cp); /* -1 if cp is not one of the 256 */

#endif /* BN_TOKENIZER_INTERNAL_H */
