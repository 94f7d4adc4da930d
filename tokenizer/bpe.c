/* bpe.c: byte-level BPE ("gpt2") encoding of one raw-text fragment, as
 * llama.cpp's llm_tokenizer_bpe does it for the Llama-3 pre-tokenizer.
 *
 * Steps: decode the bytes to code points (invalid UTF-8 -> U+FFFD per bad
 * byte, as llama.cpp); split them into pre-tokens with the Llama-3 rule
 * (bpe_split.c); map each pre-token's UTF-8 bytes through the GPT-2
 * byte-to-unicode table; if ignore_merges and the whole mapped pre-token is
 * a vocabulary entry, emit it; otherwise cut it into characters and merge
 * the adjacent pair of lowest merge rank (leftmost on ties) until no pair
 * has a rank. A final symbol missing from the vocabulary falls back to its
 * single bytes (only those that are themselves entries).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

typedef struct bpe_bigram {
    int64_t left, right;
    int32_t rank;
    size_t size;
} bpe_bigram;

static bool before(const bpe_bigram *a, const bpe_bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

BN_BIGRAM_HEAP_DEFINE(bpe_heap, bpe_bigram, before)

/* Scratch reused across the pre-tokens of one fragment. */
typedef struct bpe_scratch {
    char *word;        /* the mapped pre-token (each byte -> 1..2 UTF-8 bytes) */
    size_t word_cap;
    bn_merge_symbol *syms;  /* (word bytes) */
    size_t syms_cap;
    bpe_heap heap;
} bpe_scratch;

static bool add_bigram(const bn_tokenizer *tok, const char *w, const bn_merge_symbol *syms,
                       bpe_heap *h, int64_t left, int64_t right)
{
    if (left < 0 || right < 0)
        return true;
    const bn_merge_symbol *l = &syms[left], *r = &syms[right];
    int32_t rank = bn_tok_merge_rank(tok, w + l->start, l->n, w + r->start, r->n);
    if (rank < 0)
        return true;
    bpe_bigram b = {left, right, rank, l->n + r->n};
    return bpe_heap_push(h, b);
}

/* Encodes one mapped pre-token w[0..n). */
static bool encode_word(const bn_tokenizer *tok, bpe_scratch *sc, const char *w, size_t n,
                        bn_id_list *out)
{
    if (tok->ignore_merges) {
        int32_t id = bn_tok_lookup(tok, w, n);
        if (id >= 0)
            return bn_id_list_push(out, id);
    }
    bn_merge_symbol *syms = sc->syms;
    int64_t n_syms = 0;
    for (size_t off = 0; off < n;) {
        size_t len = bn_utf8_len_from_lead((unsigned char)w[off]);
        if (len > n - off)
            len = n - off;
        syms[n_syms] = (bn_merge_symbol){off, len, n_syms - 1, off + len == n ? -1 : n_syms + 1};
        off += len;
        n_syms++;
    }
    sc->heap.n = 0;
    for (int64_t i = 1; i < n_syms; i++) {
        if (!add_bigram(tok, w, syms, &sc->heap, i - 1, i))
            return false;
    }
    while (sc->heap.n) {
        bpe_bigram b = bpe_heap_pop(&sc->heap);
        bn_merge_symbol *l = &syms[b.left], *r = &syms[b.right];
        /* Stale when either side changed: the pair's span no longer matches. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        bn_merge_symbol_join(syms, b.left, b.right);
        if (!add_bigram(tok, w, syms, &sc->heap, l->prev, b.left) ||
            !add_bigram(tok, w, syms, &sc->heap, b.left, l->next))
            return false;
    }
    for (int64_t i = 0; i != -1 && n_syms > 0; i = syms[i].next) {
        const bn_merge_symbol *s = &syms[i];
        int32_t id = bn_tok_lookup(tok, w + s->start, s->n);
        if (id >= 0) {
            if (!bn_id_list_push(out, id))
                return false;
            continue;
        }
        for (size_t k = 0; k < s->n; k++) {
            int32_t bid = bn_tok_lookup(tok, w + s->start + k, 1);
            if (bid >= 0 && !bn_id_list_push(out, bid))
                return false;
        }
    }
    return true;
}

bn_status bn_bpe_encode(const bn_tokenizer *tok, const char *text, size_t len, bn_id_list *out,
                        bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    uint32_t *cpts = NULL;
    size_t *lens = NULL;
    bpe_scratch sc = {0};
    if (len == 0)
        return BN_STATUS_OK;

    cpts = malloc(len * sizeof *cpts); /* (<= len code points) */
    lens = malloc(len * sizeof *lens); /* (<= len pre-tokens) */
    if (!cpts || !lens)
        goto oom;
    size_t n_cpts = 0;
    for (size_t pos = 0; pos < len;)
        cpts[n_cpts++] = bn_utf8_decode((const unsigned char *)text, len, &pos);
    size_t n_words = bn_bpe_split_llama3(cpts, n_cpts, lens);

    size_t c0 = 0;
    for (size_t wi = 0; wi < n_words; wi++) {
        /* Map: code points -> UTF-8 bytes -> GPT-2 characters (<= 2 bytes each). */
        size_t need = 0;
        for (size_t k = c0; k < c0 + lens[wi]; k++) {
            unsigned char u[4];
            need += 2 * bn_utf8_encode(cpts[k], u);
        }
        if (need > sc.word_cap) {
            char *nw = realloc(sc.word, need);
            bn_merge_symbol *ns = realloc(sc.syms, need * sizeof *ns);
            if (nw)
                sc.word = nw;
            if (ns)
                sc.syms = ns;
            if (!nw || !ns)
                goto oom;
            sc.word_cap = need;
        }
        size_t wn = 0;
        for (size_t k = c0; k < c0 + lens[wi]; k++) {
            unsigned char u[4];
            size_t ub = bn_utf8_encode(cpts[k], u);
            for (size_t j = 0; j < ub; j++) {
                unsigned char m[4];
                size_t mb = bn_utf8_encode(bn_bpe_byte_to_cpt(u[j]), m);
                memcpy(sc.word + wn, m, mb);
                wn += mb;
            }
        }
        c0 += lens[wi];
        if (!encode_word(tok, &sc, sc.word, wn, out))
            goto oom;
    }
fail:
    free(cpts);
    free(lens);
    free(sc.word);
    free(sc.syms);
    free(sc.heap.v);
    return st;
oom:
    st = bn_error_set(err, BN_STATUS_NO_MEMORY, "BPE: out of memory encoding %zu bytes", len);
    goto fail;
}
