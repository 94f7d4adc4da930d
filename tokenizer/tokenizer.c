/* tokenizer.c: loading a tokenizer from GGUF metadata, lookups, the
 * special-token split that comes before SPM/BPE encoding, and decoding.
 *
 * Encoding follows llama.cpp's llama_vocab::tokenize: the text is first cut
 * around special tokens (longest texts first; control and unknown tokens
 * only when parse_special, user-defined tokens always, as llama.cpp and HF
 * do), then each raw piece goes to spm.c or bpe.c. SPM puts its space prefix
 * at the start of the text and after each special token.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

#define K_MODEL "tokenizer.ggml.model"
#define K_PRE "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_MERGES "tokenizer.ggml.merges"

/* ---- small shared helpers ---- */

bool bn_id_list_push(bn_id_list *l, int32_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return false;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return true;
}

/* FNV-1a, then a final avalanche so that the low bits used for the slot
 * index depend on every byte. */
uint64_t bn_tok_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t pair_hash(const char *l, size_t ln, const char *r, size_t rn)
{
    return bn_tok_hash(l, ln) * 31 + bn_tok_hash(r, rn);
}

int32_t bn_tok_lookup(const bn_tokenizer *tok, const char *s, size_t n)
{
    size_t i = (size_t)bn_tok_hash(s, n) & tok->text_mask;
    for (;;) {
        uint32_t slot = tok->text_slots[i];
        if (slot == 0)
            return -1;
        int32_t id = (int32_t)(slot - 1);
        size_t len = tok->off[id + 1] - tok->off[id];
        if (len == n && memcmp(tok->texts + tok->off[id], s, n) == 0)
            return id;
        i = (i + 1) & tok->text_mask;
    }
}

int32_t bn_tok_merge_rank(const bn_tokenizer *tok, const char *l, size_t ln, const char *r,
                          size_t rn)
{
    if (!tok->merge_slots)
        return -1;
    size_t i = (size_t)pair_hash(l, ln, r, rn) & tok->merge_mask;
    for (;;) {
        uint32_t slot = tok->merge_slots[i];
        if (slot == 0)
            return -1;
        uint32_t m = slot - 1;
        const char *t = tok->mtexts + tok->moff[m];
        size_t tl = tok->moff[m + 1] - tok->moff[m], sp = tok->msplit[m];
        if (sp == ln && tl == ln + 1 + rn && memcmp(t, l, ln) == 0 && memcmp(t + ln + 1, r, rn) == 0)
            return (int32_t)m;
        i = (i + 1) & tok->merge_mask;
    }
}

static size_t table_size_for(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

/* ---- loading ---- */

void bn_tokenizer_free(bn_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->texts);
    free(tok->off);
    free(tok->scores);
    free(tok->types);
    free(tok->text_slots);
    free(tok->mtexts);
    free(tok->moff);
    free(tok->msplit);
    free(tok->merge_slots);
    free(tok->eog);
    free(tok->specials);
    free(tok);
}

/* Reads an optional token id key into *id. A value past the vocabulary is
 * ignored (the default stays), as llama.cpp does: real files carry such
 * ids (a padding id equal to the vocabulary size), and refusing the whole
 * model for them would help nobody. A value of the wrong type is an error. */
static bn_status read_id(const bn_gguf *gguf, const char *key, int32_t n_vocab, int32_t *id,
                         bn_error *err)
{
    if (bn_gguf_find_kv(gguf, key) < 0)
        return BN_STATUS_OK;
    uint32_t v;
    bn_status st = bn_gguf_get_u32(gguf, key, &v, err);
    if (st != BN_STATUS_OK)
        return st;
    if (v < (uint32_t)n_vocab)
        *id = (int32_t)v;
    return BN_STATUS_OK;
}

static bn_status read_bool(const bn_gguf *gguf, const char *key, bool *out, bn_error *err)
{
    if (bn_gguf_find_kv(gguf, key) < 0)
        return BN_STATUS_OK;
    return bn_gguf_get_bool(gguf, key, out, err);
}

static bool eq_str(bn_gguf_string s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.data, lit, n) == 0;
}

static bn_status load_tokens(const bn_gguf *gguf, bn_tokenizer *tok, bn_error *err)
{
    bn_status st;
    bn_gguf_value_type et;
    uint64_t n;
    if ((st = bn_gguf_get_array(gguf, K_TOKENS, &et, &n, err)) != BN_STATUS_OK)
        return st;
    if (et != BN_GGUF_STRING || n == 0 || n > INT32_MAX - 1)
        return bn_error_set(err, BN_STATUS_FORMAT,
                            "%s: expected a non-empty string array, got type %d with %llu entries",
                            K_TOKENS, (int)et, (unsigned long long)n);
    tok->n_vocab = (int32_t)n;
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        bn_gguf_string s;
        if ((st = bn_gguf_array_string(gguf, K_TOKENS, i, &s, err)) != BN_STATUS_OK)
            return st;
        total += s.len;
    }
    tok->texts = malloc(total ? total : 1);
    tok->off = malloc((n + 1) * sizeof *tok->off);
    tok->scores = calloc(n, sizeof *tok->scores);
    tok->types = malloc(n);
    if (!tok->texts || !tok->off || !tok->scores || !tok->types)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory for %llu tokens",
                            (unsigned long long)n);
    size_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        bn_gguf_string s;
        bn_gguf_array_string(gguf, K_TOKENS, i, &s, err);
        memcpy(tok->texts + o, s.data, s.len);
        tok->off[i] = o;
        o += s.len;
    }
    tok->off[n] = o;
    memset(tok->types, BN_TOKEN_TYPE_NORMAL, n);

    if (bn_gguf_find_kv(gguf, K_SCORES) >= 0) {
        uint64_t ns;
        if ((st = bn_gguf_get_array(gguf, K_SCORES, &et, &ns, err)) != BN_STATUS_OK)
            return st;
        if (ns != n || et != BN_GGUF_FLOAT32)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "%s: expected %llu f32 values, got %llu of type %d", K_SCORES,
                                (unsigned long long)n, (unsigned long long)ns, (int)et);
        memcpy(tok->scores, bn_gguf_array_raw(gguf, K_SCORES), n * sizeof(float));
    }
    if (bn_gguf_find_kv(gguf, K_TYPES) >= 0) {
        uint64_t nt;
        if ((st = bn_gguf_get_array(gguf, K_TYPES, &et, &nt, err)) != BN_STATUS_OK)
            return st;
        if (nt != n)
            return bn_error_set(err, BN_STATUS_FORMAT, "%s: expected %llu values, got %llu",
                                K_TYPES, (unsigned long long)n, (unsigned long long)nt);
        for (uint64_t i = 0; i < n; i++) {
            int64_t t;
            if ((st = bn_gguf_array_i64(gguf, K_TYPES, i, &t, err)) != BN_STATUS_OK)
                return st;
            /* An unknown type reads as undefined (never split out, decodes
             * to nothing), as llama.cpp treats it. */
            tok->types[i] = t >= BN_TOKEN_TYPE_UNDEFINED && t <= BN_TOKEN_TYPE_BYTE
                                ? (uint8_t)t
                                : (uint8_t)BN_TOKEN_TYPE_UNDEFINED;
        }
    }

    /* Text -> id; a duplicated text maps to its last id, as in llama.cpp. */
    size_t cap = table_size_for(n);
    tok->text_mask = cap - 1;
    tok->text_slots = calloc(cap, sizeof *tok->text_slots);
    if (!tok->text_slots)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory for the token table");
    for (uint64_t i = 0; i < n; i++) {
        const char *s = tok->texts + tok->off[i];
        size_t len = tok->off[i + 1] - tok->off[i];
        size_t k = (size_t)bn_tok_hash(s, len) & tok->text_mask;
        for (;;) {
            uint32_t slot = tok->text_slots[k];
            if (slot == 0) {
                tok->text_slots[k] = (uint32_t)i + 1;
                break;
            }
            size_t j = slot - 1;
            if (tok->off[j + 1] - tok->off[j] == len && memcmp(tok->texts + tok->off[j], s, len) == 0) {
                tok->text_slots[k] = (uint32_t)i + 1;
                break;
            }
            k = (k + 1) & tok->text_mask;
        }
    }
    return BN_STATUS_OK;
}

static bn_status load_merges(const bn_gguf *gguf, bn_tokenizer *tok, bn_error *err)
{
    bn_status st;
    bn_gguf_value_type et;
    uint64_t n;
    if (bn_gguf_find_kv(gguf, K_MERGES) < 0)
        return bn_error_set(err, BN_STATUS_FORMAT, "BPE tokenizer without %s", K_MERGES);
    if ((st = bn_gguf_get_array(gguf, K_MERGES, &et, &n, err)) != BN_STATUS_OK)
        return st;
    if (et != BN_GGUF_STRING || n > INT32_MAX - 1)
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: expected a string array (%llu entries)",
                            K_MERGES, (unsigned long long)n);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        bn_gguf_string s;
        if ((st = bn_gguf_array_string(gguf, K_MERGES, i, &s, err)) != BN_STATUS_OK)
            return st;
        total += s.len;
    }
    tok->n_merges = (uint32_t)n;
    tok->mtexts = malloc(total ? total : 1);
    tok->moff = malloc((n + 1) * sizeof *tok->moff);
    tok->msplit = malloc((n ? n : 1) * sizeof *tok->msplit);
    size_t cap = table_size_for(n);
    tok->merge_mask = cap - 1;
    tok->merge_slots = calloc(cap, sizeof *tok->merge_slots);
    if (!tok->mtexts || !tok->moff || !tok->msplit || !tok->merge_slots)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory for %llu merges",
                            (unsigned long long)n);
    size_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        bn_gguf_string s;
        bn_gguf_array_string(gguf, K_MERGES, i, &s, err);
        memcpy(tok->mtexts + o, s.data, s.len);
        tok->moff[i] = o;
        o += s.len;
        /* Split at the first space after position 0 (a merge may start with
         * a space character). Without one, the merge can never match. */
        const char *sp = s.len > 1 ? memchr(s.data + 1, ' ', s.len - 1) : NULL;
        tok->msplit[i] = sp ? (uint32_t)(sp - s.data) : UINT32_MAX;
    }
    tok->moff[n] = o;
    /* First occurrence wins on duplicate pairs (llama.cpp uses emplace). */
    for (uint64_t i = 0; i < n; i++) {
        if (tok->msplit[i] == UINT32_MAX)
            continue;
        const char *t = tok->mtexts + tok->moff[i];
        size_t tl = tok->moff[i + 1] - tok->moff[i], sp = tok->msplit[i];
        if (bn_tok_merge_rank(tok, t, sp, t + sp + 1, tl - sp - 1) >= 0)
            continue;
        size_t k = (size_t)pair_hash(t, sp, t + sp + 1, tl - sp - 1) & tok->merge_mask;
        while (tok->merge_slots[k])
            k = (k + 1) & tok->merge_mask;
        tok->merge_slots[k] = (uint32_t)i + 1;
    }
    return BN_STATUS_OK;
}

/* Sort keys: longest text first, then lower id (a stable, defined order). */
typedef struct special_key {
    size_t len;
    int32_t id;
} special_key;

static int cmp_special_key(const void *a, const void *b)
{
    const special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bn_status build_specials_and_eog(bn_tokenizer *tok, bn_error *err)
{
    size_t n = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        uint8_t t = tok->types[i];
        if ((t == BN_TOKEN_TYPE_CONTROL || t == BN_TOKEN_TYPE_USER_DEFINED ||
             t == BN_TOKEN_TYPE_UNKNOWN) &&
            tok->off[i + 1] > tok->off[i])
            n++;
    }
    special_key *keys = malloc((n ? n : 1) * sizeof *keys);
    tok->specials = malloc((n ? n : 1) * sizeof *tok->specials);
    if (!keys || !tok->specials) {
        free(keys);
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory");
    }
    size_t k = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        uint8_t t = tok->types[i];
        if ((t == BN_TOKEN_TYPE_CONTROL || t == BN_TOKEN_TYPE_USER_DEFINED ||
             t == BN_TOKEN_TYPE_UNKNOWN) &&
            tok->off[i + 1] > tok->off[i])
            keys[k++] = (special_key){tok->off[i + 1] - tok->off[i], i};
    }
    qsort(keys, n, sizeof *keys, cmp_special_key);
    for (size_t i = 0; i < n; i++)
        tok->specials[i] = keys[i].id;
    tok->n_specials = n;
    free(keys);

    /* End of generation: EOS, EOT, EOM and the usual end-of-turn texts. */
    static const char *const eog_texts[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
                                            "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<EOT>"};
    size_t n_texts = sizeof eog_texts / sizeof eog_texts[0];
    tok->eog = malloc((n_texts + 3) * sizeof *tok->eog);
    if (!tok->eog)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory");
    int32_t cand[3 + sizeof eog_texts / sizeof eog_texts[0]];
    size_t nc = 0;
    cand[nc++] = tok->eos;
    cand[nc++] = tok->eot;
    cand[nc++] = tok->eom;
    for (size_t i = 0; i < n_texts; i++)
        cand[nc++] = bn_tok_lookup(tok, eog_texts[i], strlen(eog_texts[i]));
    for (size_t i = 0; i < nc; i++) {
        bool dup = cand[i] < 0;
        for (size_t j = 0; j < tok->n_eog && !dup; j++)
            dup = tok->eog[j] == cand[i];
        if (!dup)
            tok->eog[tok->n_eog++] = cand[i];
    }
    return BN_STATUS_OK;
}

/* True when no piece holds "▁" (E2 96 81) at a byte offset k > 0 unless the
 * 3 bytes before it are "▁" too: then no piece can cross the start of a
 * "▁" that follows something else (see spm.c). Checked on bytes, so it
 * also holds for pieces that are not valid UTF-8. */
static bool spm_pieces_allow_split(const bn_tokenizer *tok)
{
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        const char *t = tok->texts + tok->off[i];
        size_t n = tok->off[i + 1] - tok->off[i];
        for (size_t k = 1; k + 3 <= n; k++) {
            if (memcmp(t + k, "\xe2\x96\x81", 3) != 0)
                continue;
            if (k < 3 || memcmp(t + k - 3, "\xe2\x96\x81", 3) != 0)
                return false;
        }
    }
    return true;
}

bn_status bn_tokenizer_load(const bn_gguf *gguf, bn_tokenizer **out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_tokenizer *tok = NULL;
    if (!gguf || !out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_tokenizer_load: NULL argument");
        goto fail;
    }
    *out = NULL;
    if (bn_gguf_find_kv(gguf, K_MODEL) < 0) {
        st = bn_error_set(err, BN_STATUS_NOT_FOUND,
                          "the file has no tokenizer (metadata key %s is absent)", K_MODEL);
        goto fail;
    }
    bn_gguf_string model, pre = {"", 0};
    if ((st = bn_gguf_get_string(gguf, K_MODEL, &model, err)) != BN_STATUS_OK)
        goto fail;
    if (bn_gguf_find_kv(gguf, K_PRE) >= 0 &&
        (st = bn_gguf_get_string(gguf, K_PRE, &pre, err)) != BN_STATUS_OK)
        goto fail;
    tok = calloc(1, sizeof *tok);
    if (!tok) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory");
        goto fail;
    }
    if (eq_str(model, "llama")) {
        tok->kind = BN_TOKENIZER_SPM;
        tok->add_bos = true;
        tok->add_space_prefix = true;
    } else if (eq_str(model, "gpt2")) {
        tok->kind = BN_TOKENIZER_BPE;
        /* Every pre-tokenizer we accept uses the Llama-3 split rule. */
        static const char *const pres[] = {"llama-bpe", "llama3", "llama-v3", "falcon3", "default", ""};
        bool known = false;
        for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++)
            known = known || eq_str(pre, pres[i]);
        if (!known) {
            st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                              "%s = \"%.*s\" is not supported (we run the Llama-3 split rule: "
                              "llama-bpe, llama3, llama-v3, falcon3, default)",
                              K_PRE, (int)(pre.len > 64 ? 64 : pre.len), pre.data);
            goto fail;
        }
        tok->ignore_merges = true;
        tok->add_bos = true;
    } else {
        st = bn_error_set(err, BN_STATUS_UNSUPPORTED,
                          "%s = \"%.*s\" is not supported (only \"llama\" and \"gpt2\")", K_MODEL,
                          (int)(model.len > 64 ? 64 : model.len), model.data);
        goto fail;
    }
    if ((st = load_tokens(gguf, tok, err)) != BN_STATUS_OK)
        goto fail;
    if (tok->kind == BN_TOKENIZER_BPE && (st = load_merges(gguf, tok, err)) != BN_STATUS_OK)
        goto fail;

    /* Special ids: SentencePiece's defaults when the keys are absent; for
     * BPE the Llama-3 texts (llama.cpp's GPT-2 default 11 is "," in
     * Llama-3, never a sensible BOS). */
    tok->bos = tok->kind == BN_TOKENIZER_SPM ? 1 : bn_tok_lookup(tok, "<|begin_of_text|>", 17);
    tok->eos = tok->kind == BN_TOKENIZER_SPM ? 2 : bn_tok_lookup(tok, "<|end_of_text|>", 15);
    tok->unk = tok->kind == BN_TOKENIZER_SPM ? 0 : -1;
    tok->eot = tok->eom = tok->pad = -1;
    if (tok->bos >= tok->n_vocab)
        tok->bos = -1;
    if (tok->eos >= tok->n_vocab)
        tok->eos = -1;
    if (tok->unk >= tok->n_vocab)
        tok->unk = -1;
    if ((st = read_id(gguf, "tokenizer.ggml.bos_token_id", tok->n_vocab, &tok->bos, err)) ||
        (st = read_id(gguf, "tokenizer.ggml.eos_token_id", tok->n_vocab, &tok->eos, err)) ||
        (st = read_id(gguf, "tokenizer.ggml.eot_token_id", tok->n_vocab, &tok->eot, err)) ||
        (st = read_id(gguf, "tokenizer.ggml.eom_token_id", tok->n_vocab, &tok->eom, err)) ||
        (st = read_id(gguf, "tokenizer.ggml.unknown_token_id", tok->n_vocab, &tok->unk, err)) ||
        (st = read_id(gguf, "tokenizer.ggml.padding_token_id", tok->n_vocab, &tok->pad, err)) ||
        (st = read_bool(gguf, "tokenizer.ggml.add_bos_token", &tok->add_bos, err)) ||
        (st = read_bool(gguf, "tokenizer.ggml.add_space_prefix", &tok->add_space_prefix, err)))
        goto fail;
    if (tok->eot < 0) {
        static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                                "<end_of_turn>", "<|endoftext|>", "<EOT>"};
        for (size_t i = 0; i < sizeof eot_texts / sizeof eot_texts[0] && tok->eot < 0; i++)
            tok->eot = bn_tok_lookup(tok, eot_texts[i], strlen(eot_texts[i]));
    }
    if (tok->eom < 0)
        tok->eom = bn_tok_lookup(tok, "<|eom_id|>", 10);

    /* SPM byte fallback: <0xXX> with uppercase hex, else the 1-byte piece. */
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        char one = (char)b;
        int32_t id = bn_tok_lookup(tok, name, 6);
        tok->byte_ids[b] = id >= 0 ? id : bn_tok_lookup(tok, &one, 1);
    }
    if ((st = build_specials_and_eog(tok, err)) != BN_STATUS_OK)
        goto fail;
    tok->spm_split_at_space = tok->kind == BN_TOKENIZER_SPM && spm_pieces_allow_split(tok);
    *out = tok;
    return BN_STATUS_OK;
fail:
    bn_tokenizer_free(tok);
    return st;
}

/* ---- accessors ---- */

bn_tokenizer_kind bn_tokenizer_kind_of(const bn_tokenizer *tok) { return tok ? tok->kind : BN_TOKENIZER_SPM; }
int32_t bn_tokenizer_n_vocab(const bn_tokenizer *tok) { return tok ? tok->n_vocab : 0; }
int32_t bn_tokenizer_bos(const bn_tokenizer *tok) { return tok ? tok->bos : -1; }
int32_t bn_tokenizer_eos(const bn_tokenizer *tok) { return tok ? tok->eos : -1; }
int32_t bn_tokenizer_eot(const bn_tokenizer *tok) { return tok ? tok->eot : -1; }
bool bn_tokenizer_add_bos(const bn_tokenizer *tok) { return tok && tok->add_bos; }

bool bn_tokenizer_is_eog(const bn_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0)
        return false;
    for (size_t i = 0; i < tok->n_eog; i++)
        if (tok->eog[i] == id)
            return true;
    return false;
}

const char *bn_tokenizer_token_text(const bn_tokenizer *tok, int32_t id, size_t *len)
{
    if (!tok || id < 0 || id >= tok->n_vocab)
        return NULL;
    if (len)
        *len = tok->off[id + 1] - tok->off[id];
    return tok->texts + tok->off[id];
}

bn_token_type bn_tokenizer_token_type(const bn_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0 || id >= tok->n_vocab)
        return BN_TOKEN_TYPE_UNDEFINED;
    return (bn_token_type)tok->types[id];
}

int32_t bn_tokenizer_find(const bn_tokenizer *tok, const char *text, size_t len)
{
    if (!tok || (!text && len))
        return -1;
    return bn_tok_lookup(tok, text ? text : "", len);
}

/* ---- encoding ---- */

/* A piece of the input: raw text [start, start+len) or a special token. */
typedef struct fragment {
    size_t start, len;
    int32_t id; /* -1 for raw text */
} fragment;

typedef struct fragment_list {
    fragment *v;
    size_t n, cap;
} fragment_list;

static bool frag_push(fragment_list *l, fragment f)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        fragment *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return false;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = f;
    return true;
}

static const char *find_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return NULL;
    const char *end = hay + hn - nn;
    for (const char *p = hay; p <= end;) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, nn) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* Cuts the raw fragments around every occurrence of each special token,
 * longest texts first (llama.cpp's tokenizer_st_partition). */
static bool split_specials(const bn_tokenizer *tok, const char *text, bool parse_special,
                           fragment_list *frags)
{
    fragment_list next = {0};
    for (size_t si = 0; si < tok->n_specials; si++) {
        int32_t id = tok->specials[si];
        uint8_t type = tok->types[id];
        if (!parse_special && (type == BN_TOKEN_TYPE_CONTROL || type == BN_TOKEN_TYPE_UNKNOWN))
            continue;
        const char *st = tok->texts + tok->off[id];
        size_t sl = tok->off[id + 1] - tok->off[id];
        bool any = false;
        for (size_t i = 0; i < frags->n && !any; i++)
            any = frags->v[i].id < 0 && find_bytes(text + frags->v[i].start, frags->v[i].len, st, sl);
        if (!any)
            continue;
        next.n = 0;
        for (size_t i = 0; i < frags->n; i++) {
            fragment f = frags->v[i];
            if (f.id >= 0) {
                if (!frag_push(&next, f))
                    goto oom;
                continue;
            }
            size_t pos = f.start, end = f.start + f.len;
            for (;;) {
                const char *hit = find_bytes(text + pos, end - pos, st, sl);
                if (!hit)
                    break;
                size_t at = (size_t)(hit - text);
                if (at > pos && !frag_push(&next, (fragment){pos, at - pos, -1}))
                    goto oom;
                if (!frag_push(&next, (fragment){at, sl, id}))
                    goto oom;
                pos = at + sl;
            }
            if (end > pos && !frag_push(&next, (fragment){pos, end - pos, -1}))
                goto oom;
        }
        fragment_list tmp = *frags;
        *frags = next;
        next = tmp;
    }
    free(next.v);
    return true;
oom:
    free(next.v);
    return false;
}

static bn_status encode_list(const bn_tokenizer *tok, const char *text, size_t len, bool add_bos,
                             bool parse_special, bn_id_list *out, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    fragment_list frags = {0};
    if (!tok || (!text && len)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_tokenizer_encode: NULL argument");
        goto fail;
    }
    if (add_bos && tok->bos >= 0 && !bn_id_list_push(out, tok->bos))
        goto oom;
    if (len == 0)
        goto fail; /* nothing more to do: st is OK */
    if (!frag_push(&frags, (fragment){0, len, -1}) ||
        !split_specials(tok, text, parse_special, &frags))
        goto oom;
    bool prev_special = true; /* SPM: a space prefix at the start and after specials */
    for (size_t i = 0; i < frags.n; i++) {
        const fragment *f = &frags.v[i];
        if (f->id >= 0) {
            if (!bn_id_list_push(out, f->id))
                goto oom;
            prev_special = true;
            continue;
        }
        if (tok->kind == BN_TOKENIZER_SPM)
            st = bn_spm_encode(tok, text + f->start, f->len, tok->add_space_prefix && prev_special,
                               out, err);
        else
            st = bn_bpe_encode(tok, text + f->start, f->len, out, err);
        if (st != BN_STATUS_OK)
            goto fail;
        prev_special = false;
    }
fail:
    free(frags.v);
    return st;
oom:
    st = bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory encoding %zu bytes", len);
    goto fail;
}

bn_status bn_tokenizer_encode(const bn_tokenizer *tok, const char *text, size_t len, bool add_bos,
                              bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                              bn_error *err)
{
    bn_id_list l = {0};
    bn_status st = encode_list(tok, text, len, add_bos, parse_special, &l, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (n_ids)
        *n_ids = l.n;
    if (l.n > cap || (l.n && !ids)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "tokenizer: the text needs %zu token ids, the buffer holds %zu", l.n, cap);
        goto fail;
    }
    if (l.n)
        memcpy(ids, l.v, l.n * sizeof *ids);
fail:
    free(l.v);
    return st;
}

bn_status bn_tokenizer_encode_alloc(const bn_tokenizer *tok, const char *text, size_t len,
                                    bool add_bos, bool parse_special, int32_t **ids,
                                    size_t *n_ids, bn_error *err)
{
    bn_id_list l = {0};
    bn_status st = BN_STATUS_OK;
    if (!ids || !n_ids) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_tokenizer_encode_alloc: NULL argument");
        goto fail;
    }
    *ids = NULL;
    *n_ids = 0;
    if ((st = encode_list(tok, text, len, add_bos, parse_special, &l, err)) != BN_STATUS_OK)
        goto fail;
    *ids = l.v;
    *n_ids = l.n;
    return BN_STATUS_OK;
fail:
    free(l.v);
    return st;
}

/* ---- decoding ---- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends the piece of id to out (which has room: see piece_bound). */
static size_t piece_write(const bn_tokenizer *tok, int32_t id, bool render_special, char *out)
{
    const char *t = tok->texts + tok->off[id];
    size_t n = tok->off[id + 1] - tok->off[id];
    uint8_t type = tok->types[id];
    if (type == BN_TOKEN_TYPE_CONTROL || type == BN_TOKEN_TYPE_UNKNOWN) {
        if (!render_special)
            return 0;
        memcpy(out, t, n);
        return n;
    }
    if (type == BN_TOKEN_TYPE_USER_DEFINED) {
        memcpy(out, t, n);
        return n;
    }
    if (tok->kind == BN_TOKENIZER_SPM) {
        if (type == BN_TOKEN_TYPE_BYTE) {
            int hi = n == 6 ? hex_val(t[3]) : -1, lo = n == 6 ? hex_val(t[4]) : -1;
            if (hi < 0 || lo < 0)
                return 0;
            out[0] = (char)(hi * 16 + lo);
            return 1;
        }
        if (type != BN_TOKEN_TYPE_NORMAL)
            return 0;
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (n - i >= 3 && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                out[o++] = ' ';
                i += 3;
            } else {
                out[o++] = t[i++];
            }
        }
        return o;
    }
    if (type != BN_TOKEN_TYPE_NORMAL)
        return 0;
    /* BPE: each GPT-2 character back to its byte; a character outside the
     * mapping is copied through as UTF-8 (defined, never lost). */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp = bn_utf8_decode((const unsigned char *)t, n, &i);
        int b = bn_bpe_cpt_to_byte(cp);
        if (b >= 0) {
            out[o++] = (char)b;
        } else {
            memcpy(out + o, t + at, i - at);
            o += i - at;
        }
    }
    return o;
}

bn_status bn_tokenizer_token_to_piece(const bn_tokenizer *tok, int32_t id, bool render_special,
                                      char *buf, size_t cap, size_t *n_bytes, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    char *tmp = NULL;
    if (!tok || id < 0 || id >= tok->n_vocab) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "token id %d is outside the vocabulary of %d",
                          (int)id, tok ? (int)tok->n_vocab : 0);
        goto fail;
    }
    /* A piece is never longer than its stored text. */
    size_t bound = tok->off[id + 1] - tok->off[id];
    tmp = malloc(bound ? bound : 1);
    if (!tmp) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory");
        goto fail;
    }
    size_t n = piece_write(tok, id, render_special, tmp);
    if (n_bytes)
        *n_bytes = n;
    if (n > cap || (n && !buf)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "token %d decodes to %zu bytes, the buffer holds %zu", (int)id, n, cap);
        goto fail;
    }
    if (n)
        memcpy(buf, tmp, n);
fail:
    free(tmp);
    return st;
}

static bn_status decode_into(const bn_tokenizer *tok, const int32_t *ids, size_t n_ids,
                             bool render_special, char **out, size_t *out_len, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    char *buf = NULL;
    *out = NULL;
    if (!tok || (!ids && n_ids)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_tokenizer_decode: NULL argument");
        goto fail;
    }
    size_t bound = 1;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) {
            st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                              "token id %d at position %zu is outside the vocabulary of %d",
                              (int)ids[i], i, (int)tok->n_vocab);
            goto fail;
        }
        bound += tok->off[ids[i] + 1] - tok->off[ids[i]];
    }
    buf = malloc(bound);
    if (!buf) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "tokenizer: out of memory decoding %zu ids",
                          n_ids);
        goto fail;
    }
    size_t o = 0;
    bool strip = tok->kind == BN_TOKENIZER_SPM && tok->add_space_prefix;
    for (size_t i = 0; i < n_ids; i++) {
        size_t k = piece_write(tok, ids[i], render_special, buf + o);
        /* SPM: the first text of the sequence carries the prefix space. */
        if (strip && k > 0) {
            if (buf[o] == ' ') {
                memmove(buf + o, buf + o + 1, k - 1);
                k--;
            }
            strip = false;
        }
        o += k;
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return BN_STATUS_OK;
fail:
    free(buf);
    return st;
}

bn_status bn_tokenizer_decode(const bn_tokenizer *tok, const int32_t *ids, size_t n_ids,
                              bool render_special, char *buf, size_t cap, size_t *n_bytes,
                              bn_error *err)
{
    char *text = NULL;
    size_t n = 0;
    bn_status st = decode_into(tok, ids, n_ids, render_special, &text, &n, err);
    if (st != BN_STATUS_OK)
        goto fail;
    if (n_bytes)
        *n_bytes = n;
    if (n > cap || (n && !buf)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "tokenizer: the ids decode to %zu bytes, the buffer holds %zu", n, cap);
        goto fail;
    }
    if (n)
        memcpy(buf, text, n);
fail:
    free(text);
    return st;
}

bn_status bn_tokenizer_decode_alloc(const bn_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                    bool render_special, char **text, size_t *n_bytes,
                                    bn_error *err)
{
    size_t n = 0;
    if (!text)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_tokenizer_decode_alloc: NULL argument");
    bn_status st = decode_into(tok, ids, n_ids, render_special, text, &n, err);
    if (st == BN_STATUS_OK && n_bytes)
        *n_bytes = n;
    return st;
}

size_t bn_tokenizer_utf8_pending(const char *buf, size_t len)
{
    /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        unsigned char c = (unsigned char)buf[len - k];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for its lead */
        size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > k ? k : 0;
    }
    return 0;
}
