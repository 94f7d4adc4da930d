/* spm.c: SentencePiece ("llama") encoding of one raw-text fragment, as
 * llama.cpp's llm_tokenizer_spm does it.
 *
 * The text (with an optional leading space) has every ' ' replaced by '▁'
 * and is cut into UTF-8 characters (lengths from the lead byte only, so any
 * byte string works). A max-heap holds adjacent symbol pairs whose
 * concatenation is a vocabulary piece, ordered by that piece's score (higher
 * first) and then by position (leftmost first); the best pair is merged,
 * stale pairs (a side already merged away) are skipped, and the new
 * neighbours are pushed. Each final symbol is a piece (merges only make
 * pieces) or a single character; characters not in the vocabulary become
 * their <0xXX> byte tokens (unk if the vocabulary has none).
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* 12 bytes: a megabyte of text queues millions of these, and the heap's
 * speed is its cache footprint. The right symbol is not stored: it is
 * syms[left].next for as long as the pair is current (see the pop loop). */
typedef struct spm_bigram {
    float score;
    int32_t left;
    uint32_t size; /* bytes of the pair when it was pushed */
} spm_bigram;

/* a comes out of the queue before b */
static bool before(const spm_bigram *a, const spm_bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

BN_BIGRAM_HEAP_DEFINE(spm_heap, spm_bigram, before)

static bool is_space_sym(const char *esc, const bn_merge_symbol *s)
{
    return s->n == 3 && memcmp(esc + s->start, "\xe2\x96\x81", 3) == 0;
}

static bool try_add_bigram(const bn_tokenizer *tok, const char *text, const bn_merge_symbol *syms,
                           spm_heap *h, int64_t left, int64_t right)
{
    if (left < 0 || right < 0)
        return true;
    size_t size = syms[left].n + syms[right].n;
    int32_t id = bn_tok_lookup(tok, text + syms[left].start, size);
    if (id < 0)
        return true;
    spm_bigram b = {tok->scores[id], (int32_t)left, (uint32_t)size};
    return spm_heap_push(h, b);
}

bn_status bn_spm_encode(const bn_tokenizer *tok, const char *text, size_t len, bool space_prefix,
                        bn_id_list *out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    char *esc = NULL;
    bn_merge_symbol *syms = NULL;
    spm_heap heap = {0};
    size_t n_sp = 0;

    /* Escape: optional prefix space, then ' ' -> U+2581 (3 bytes). */
    for (size_t i = 0; i < len; i++)
        n_sp += text[i] == ' ';
    if (len > (size_t)INT32_MAX / 3 - 1) { /* symbol indices are int32 in the queue */
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "SPM: text of %zu bytes is too long", len);
        goto fail;
    }
    size_t esc_len = len + 2 * n_sp + (space_prefix ? 3 : 0);
    if (esc_len == 0)
        return BN_STATUS_OK;
    esc = malloc(esc_len);
    syms = malloc(esc_len * sizeof *syms);
    if (!esc || !syms) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "SPM: out of memory for %zu bytes", esc_len);
        goto fail;
    }
    size_t o = 0;
    if (space_prefix) {
        memcpy(esc, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            esc[o++] = text[i];
        }
    }

    /* One symbol per UTF-8 character (a truncated tail is its own symbol). */
    int64_t n_syms = 0;
    for (size_t off = 0; off < esc_len;) {
        size_t n = bn_utf8_len_from_lead((unsigned char)esc[off]);
        if (n > esc_len - off)
            n = esc_len - off;
        syms[n_syms] = (bn_merge_symbol){off, n, n_syms - 1, n_syms + 1};
        off += n;
        n_syms++;
    }

    /* Merge segment by segment. When no piece has a '▁' after a non-'▁'
     * (checked at load), no piece can span the start of a "▁word", so no
     * pair ever crosses it; each side then merges exactly as it would in one
     * queue (same pairs, same relative order), and small queues stay in
     * cache. Otherwise the whole text is one segment. */
    for (int64_t seg = 0; seg < n_syms;) {
        int64_t seg_end = seg + 1;
        if (tok->spm_split_at_space) {
            while (seg_end < n_syms && !(is_space_sym(esc, &syms[seg_end]) &&
                                         !is_space_sym(esc, &syms[seg_end - 1])))
                seg_end++;
        } else {
            seg_end = n_syms;
        }
        syms[seg].prev = -1;
        syms[seg_end - 1].next = -1;
        heap.n = 0;
        for (int64_t i = seg + 1; i < seg_end; i++) {
            if (!try_add_bigram(tok, esc, syms, &heap, i - 1, i))
                goto oom;
        }
        while (heap.n) {
            spm_bigram b = spm_heap_pop(&heap);
            bn_merge_symbol *l = &syms[b.left];
            /* Stale when either side changed since the push: the left symbol
             * was merged away (n == 0), or it or its right neighbour grew, so
             * the two no longer span `size` bytes. While the pair is current,
             * the right side is the left's next symbol: only the left can
             * absorb it. */
            if (l->n == 0 || l->next < 0)
                continue;
            bn_merge_symbol *r = &syms[l->next];
            if (l->n + r->n != b.size)
                continue;
            bn_merge_symbol_join(syms, b.left, l->next);
            if (!try_add_bigram(tok, esc, syms, &heap, l->prev, b.left) ||
                !try_add_bigram(tok, esc, syms, &heap, b.left, l->next))
                goto oom;
        }

        /* Emit: a piece, or the byte tokens of a character the vocab lacks. */
        for (int64_t i = seg; i != -1; i = syms[i].next) {
            const bn_merge_symbol *sy = &syms[i];
            int32_t id = bn_tok_lookup(tok, esc + sy->start, sy->n);
            if (id >= 0) {
                if (!bn_id_list_push(out, id))
                    goto oom;
                continue;
            }
            for (size_t k = 0; k < sy->n; k++) {
                int32_t bid = tok->byte_ids[(unsigned char)esc[sy->start + k]];
                if (bid < 0)
                    bid = tok->unk;
                if (bid >= 0 && !bn_id_list_push(out, bid))
                    goto oom;
            }
        }
        seg = seg_end;
    }
fail:
    free(esc);
    free(syms);
    free(heap.v);
    return st;
oom:
    st = bn_error_set(err, BN_STATUS_NO_MEMORY, "SPM: out of memory encoding %zu bytes", len);
    goto fail;
}
