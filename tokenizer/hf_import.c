/* hf_import.c: Hugging Face tokenizer.model / tokenizer.json -> GGUF
 * tokenizer metadata (see hf_import.h for the keys and rules).
 *
 * The vocabulary is built as one table indexed by id (text, score, type);
 * texts point into the parsed input (JSON tree or protobuf bytes) or into
 * strings this file owns ("[PADn]", merges given as pairs). Everything is
 * handed to the writer, which copies, and then freed.
 */
#include "tokenizer/hf_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loader/file_read.h"
#include "loader/json.h"
#include "runtime/error.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer.h"

/* The Llama-3 split pattern as HF writes it, and llama.cpp's expanded form. */
static const char LLAMA3_REGEX_HF[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_REGEX_CPP[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Four times the largest real vocabulary (Gemma 3's 262144); bounds
 * allocations. An id is also a count: every missing id below the largest
 * becomes a "[PADn]" entry, so a few bytes of JSON naming id 16777215 made
 * 16.7M entries (about 40 s and 1 GB, found by tests/fuzz/fuzz_json). */
#define MAX_VOCAB (1 << 20)

typedef struct vocab_entry {
    const char *text; /* NULL: no token with this id yet */
    size_t len;
    float score;
    int32_t type;
} vocab_entry;

typedef struct importer {
    const char *path; /* the main file, for messages */
    vocab_entry *v;   /* (n) */
    size_t n;
    char **owned;     /* strings we allocated */
    size_t n_owned, cap_owned;
    const char **merges; /* (n_merges) "a b" */
    uint64_t *merge_lens;
    size_t n_merges;
    bn_json_doc *config, *tok_config, *special_map, *added_json, *tok_json;
    uint8_t *sp_bytes;
    bn_sp_model sp;
    bool is_spm;
} importer;

static char *own(importer *im, char *s)
{
    if (!s)
        return NULL;
    if (im->n_owned == im->cap_owned) {
        size_t cap = im->cap_owned ? im->cap_owned * 2 : 64;
        char **no = realloc(im->owned, cap * sizeof *no);
        if (!no) {
            free(s);
            return NULL;
        }
        im->owned = no;
        im->cap_owned = cap;
    }
    im->owned[im->n_owned++] = s;
    return s;
}

static bool vocab_resize(importer *im, size_t n)
{
    if (n <= im->n)
        return true;
    vocab_entry *nv = realloc(im->v, n * sizeof *nv);
    if (!nv)
        return false;
    memset(nv + im->n, 0, (n - im->n) * sizeof *nv);
    im->v = nv;
    im->n = n;
    return true;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Parses dir/name into *doc if the file exists (absent: *doc stays NULL). */
static bn_status load_sidecar(const char *dir, const char *name, bn_json_doc **doc, bn_error *err)
{
    char *p = join_path(dir, name);
    if (!p)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
    bn_status st = BN_STATUS_OK;
    if (is_file(p))
        st = bn_json_parse_file(p, doc, err);
    free(p);
    return st;
}

/* ---- SentencePiece ---- */

static bn_status import_spm(importer *im, bn_error *err)
{
    bn_status st;
    size_t size = 0;
    if ((st = bn_file_read_all(im->path, &im->sp_bytes, &size, err)) != BN_STATUS_OK)
        return st;
    bn_error sub = {0};
    if ((st = bn_sp_model_parse(im->sp_bytes, size, &im->sp, &sub)) != BN_STATUS_OK)
        return bn_error_set(err, st, "%s: %s", im->path, sub.message);
    if (im->sp.n_pieces > MAX_VOCAB)
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: %zu pieces is too many", im->path,
                            im->sp.n_pieces);
    if (!vocab_resize(im, im->sp.n_pieces))
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < im->sp.n_pieces; i++) {
        const bn_sp_piece *p = &im->sp.pieces[i];
        im->v[i] = (vocab_entry){p->text, p->len, p->score, p->type};
    }
    return BN_STATUS_OK;
}

/* ---- tokenizer.json (byte-level BPE) ---- */

/* True if v or anything inside it is a "Regex" string equal to want. */
static bool json_has_regex(const bn_json_value *v, const char *want, int depth)
{
    if (depth > 32)
        return false;
    if (bn_json_is(v, BN_JSON_OBJECT)) {
        const char *s;
        if (bn_json_as_string(bn_json_object_get(v, "Regex"), &s, NULL) && strcmp(s, want) == 0)
            return true;
        for (size_t i = 0; i < bn_json_object_len(v); i++)
            if (json_has_regex(bn_json_object_value_at(v, i), want, depth + 1))
                return true;
    } else if (bn_json_is(v, BN_JSON_ARRAY)) {
        for (size_t i = 0; i < bn_json_array_len(v); i++)
            if (json_has_regex(bn_json_array_at(v, i), want, depth + 1))
                return true;
    }
    return false;
}

static bool looks_special(const char *t, size_t n)
{
    if ((n == 5 && !memcmp(t, "<pad>", 5)) || (n == 6 && !memcmp(t, "<mask>", 6)) ||
        (n == 7 && !memcmp(t, "<2mass>", 7)) || (n == 7 && !memcmp(t, "[@BOS@]", 7)))
        return true;
    if (n >= 4 && !memcmp(t, "<|", 2) && !memcmp(t + n - 2, "|>", 2))
        return true;
    /* deepseek's fullwidth bars: "<｜" ... "｜>" */
    if (n >= 8 && !memcmp(t, "<\xef\xbd\x9c", 4) && !memcmp(t + n - 4, "\xef\xbd\x9c>", 4))
        return true;
    return n >= 8 && !memcmp(t, "<unused", 7) && t[n - 1] == '>';
}

static bn_status import_bpe(importer *im, bn_error *err)
{
    bn_status st;
    bn_error sub = {0};
    if ((st = bn_json_parse_file(im->path, &im->tok_json, &sub)) != BN_STATUS_OK)
        return bn_error_set(err, st, "%s", sub.message);
    const bn_json_value *root = bn_json_root(im->tok_json);
    const bn_json_value *model = bn_json_object_get(root, "model");
    const char *type = NULL;
    if (!bn_json_as_string(bn_json_object_get(model, "type"), &type, NULL) || strcmp(type, "BPE") != 0)
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "%s: model.type is \"%s\"; only byte-level \"BPE\" is supported",
                            im->path, type ? type : "(missing)");
    const bn_json_value *pre = bn_json_object_get(root, "pre_tokenizer");
    if (!json_has_regex(pre, LLAMA3_REGEX_HF, 0) && !json_has_regex(pre, LLAMA3_REGEX_CPP, 0))
        return bn_error_set(err, BN_STATUS_UNSUPPORTED,
                            "%s: the pre_tokenizer is not the Llama-3 split pattern (the only "
                            "byte-level BPE pre-tokenizer supported)",
                            im->path);

    /* model.vocab: {text: id} */
    const bn_json_value *vocab = bn_json_object_get(model, "vocab");
    if (!bn_json_is(vocab, BN_JSON_OBJECT))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: model.vocab is not an object", im->path);
    size_t n_max = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < bn_json_object_len(vocab); i++) {
            size_t klen;
            const char *key = bn_json_object_key_at(vocab, i, &klen);
            int64_t id;
            if (!bn_json_as_int64(bn_json_object_value_at(vocab, i), &id) || id < 0 || id >= MAX_VOCAB)
                return bn_error_set(err, BN_STATUS_FORMAT,
                                    "%s: model.vocab[\"%.40s\"] is not an id in 0..%d", im->path,
                                    key, MAX_VOCAB - 1);
            if (pass == 0) {
                if ((size_t)id + 1 > n_max)
                    n_max = (size_t)id + 1;
                continue;
            }
            if (im->v[id].text)
                return bn_error_set(err, BN_STATUS_FORMAT, "%s: id %lld is used twice in model.vocab",
                                    im->path, (long long)id);
            im->v[id] = (vocab_entry){key, klen, 0.0f, BN_TOKEN_TYPE_NORMAL};
        }
        if (pass == 0 && !vocab_resize(im, n_max))
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
    }

    /* added_tokens: [{id, content, special}] override or extend the vocab. */
    const bn_json_value *added = bn_json_object_get(root, "added_tokens");
    for (size_t i = 0; i < bn_json_array_len(added); i++) {
        const bn_json_value *a = bn_json_array_at(added, i);
        int64_t id;
        const char *content;
        size_t clen;
        bool special = false;
        if (!bn_json_as_int64(bn_json_object_get(a, "id"), &id) || id < 0 || id >= MAX_VOCAB ||
            !bn_json_as_string(bn_json_object_get(a, "content"), &content, &clen))
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "%s: added_tokens[%zu] needs an id in 0..%d and a content string",
                                im->path, i, MAX_VOCAB - 1);
        bn_json_as_bool(bn_json_object_get(a, "special"), &special);
        if (!vocab_resize(im, (size_t)id + 1))
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        int32_t ttype = special || looks_special(content, clen) ? BN_TOKEN_TYPE_CONTROL
                                                                : BN_TOKEN_TYPE_USER_DEFINED;
        im->v[id] = (vocab_entry){content, clen, 0.0f, ttype};
    }

    /* model.merges: ["a b", ...] or [["a", "b"], ...] */
    const bn_json_value *merges = bn_json_object_get(model, "merges");
    if (!bn_json_is(merges, BN_JSON_ARRAY))
        return bn_error_set(err, BN_STATUS_FORMAT, "%s: model.merges is not an array", im->path);
    im->n_merges = bn_json_array_len(merges);
    im->merges = malloc((im->n_merges ? im->n_merges : 1) * sizeof *im->merges);
    im->merge_lens = malloc((im->n_merges ? im->n_merges : 1) * sizeof *im->merge_lens);
    if (!im->merges || !im->merge_lens)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for %zu merges", im->n_merges);
    for (size_t i = 0; i < im->n_merges; i++) {
        const bn_json_value *m = bn_json_array_at(merges, i);
        const char *s, *a, *b;
        size_t sl, al, bl;
        if (bn_json_as_string(m, &s, &sl)) {
            im->merges[i] = s;
            im->merge_lens[i] = sl;
        } else if (bn_json_array_len(m) == 2 && bn_json_as_string(bn_json_array_at(m, 0), &a, &al) &&
                   bn_json_as_string(bn_json_array_at(m, 1), &b, &bl)) {
            char *j = own(im, malloc(al + 1 + bl + 1));
            if (!j)
                return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
            memcpy(j, a, al);
            j[al] = ' ';
            memcpy(j + al + 1, b, bl);
            j[al + 1 + bl] = 0;
            im->merges[i] = j;
            im->merge_lens[i] = al + 1 + bl;
        } else {
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                                im->path, i);
        }
    }
    return BN_STATUS_OK;
}

/* ---- sidecars: added tokens, special ids, flags, chat template ---- */

/* Puts an added token at id (llama.cpp's converter rules): control if
 * special or looking special, else user-defined; SentencePiece user-defined
 * texts get '▁' -> ' ' (they are matched against raw text). The same text
 * already at that id keeps the piece's own type and score. */
static bn_status add_token(importer *im, int64_t id, const char *content, size_t clen, bool special,
                           bn_error *err)
{
    if (!vocab_resize(im, (size_t)id + 1))
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
    if (im->v[id].text && im->v[id].len == clen && memcmp(im->v[id].text, content, clen) == 0)
        return BN_STATUS_OK;
    int32_t type = special || looks_special(content, clen) ? BN_TOKEN_TYPE_CONTROL
                                                           : BN_TOKEN_TYPE_USER_DEFINED;
    if (im->is_spm && type == BN_TOKEN_TYPE_USER_DEFINED && clen >= 3) {
        char *t = own(im, malloc(clen));
        if (!t)
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        size_t o = 0;
        for (size_t k = 0; k < clen;) {
            if (clen - k >= 3 && memcmp(content + k, "\xe2\x96\x81", 3) == 0) {
                t[o++] = ' ';
                k += 3;
            } else {
                t[o++] = content[k++];
            }
        }
        content = t;
        clen = o;
    }
    im->v[id] = (vocab_entry){content, clen, -1000.0f, type};
    return BN_STATUS_OK;
}

/* added_tokens.json {"text": id} (user-defined unless they look special)
 * and tokenizer_config.json "added_tokens_decoder": {"id": {content, special}}. */
static bn_status apply_added_tokens(importer *im, bn_error *err)
{
    bn_status st;
    const bn_json_value *at = bn_json_root(im->added_json);
    for (size_t i = 0; i < bn_json_object_len(at); i++) {
        size_t clen;
        const char *content = bn_json_object_key_at(at, i, &clen);
        int64_t id;
        if (!bn_json_as_int64(bn_json_object_value_at(at, i), &id) || id < 0 || id >= MAX_VOCAB)
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "added_tokens.json: \"%.40s\" is not mapped to an id in 0..%d",
                                content, MAX_VOCAB - 1);
        if ((st = add_token(im, id, content, clen, false, err)))
            return st;
    }
    const bn_json_value *dec =
        bn_json_object_get(bn_json_root(im->tok_config), "added_tokens_decoder");
    for (size_t i = 0; i < bn_json_object_len(dec); i++) {
        const char *key = bn_json_object_key_at(dec, i, NULL);
        const bn_json_value *a = bn_json_object_value_at(dec, i);
        char *end;
        long id = strtol(key, &end, 10);
        const char *content;
        size_t clen;
        bool special = false;
        if (*key == 0 || *end != 0 || id < 0 || id >= MAX_VOCAB ||
            !bn_json_as_string(bn_json_object_get(a, "content"), &content, &clen))
            return bn_error_set(err, BN_STATUS_FORMAT,
                                "tokenizer_config.json: added_tokens_decoder[\"%.20s\"] is not "
                                "an id with a content string",
                                key);
        bn_json_as_bool(bn_json_object_get(a, "special"), &special);
        if ((st = add_token(im, id, content, clen, special, err)))
            return st;
    }
    return BN_STATUS_OK;
}

static int32_t find_text(const importer *im, const char *t, size_t n)
{
    for (size_t i = 0; i < im->n; i++)
        if (im->v[i].text && im->v[i].len == n && memcmp(im->v[i].text, t, n) == 0)
            return (int32_t)i;
    return -1;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static bool token_text_of(const bn_json_doc *doc, const char *key, const char **t, size_t *n)
{
    const bn_json_value *v = bn_json_object_get(bn_json_root(doc), key);
    if (bn_json_as_string(v, t, n))
        return true;
    return bn_json_as_string(bn_json_object_get(v, "content"), t, n);
}

static int32_t special_id(const importer *im, const char *typ, int32_t fallback)
{
    char key[32];
    const char *t;
    size_t n;
    snprintf(key, sizeof key, "%s_token", typ);
    if (token_text_of(im->tok_config, key, &t, &n) || token_text_of(im->special_map, key, &t, &n)) {
        int32_t id = find_text(im, t, n);
        if (id >= 0)
            return id;
    }
    snprintf(key, sizeof key, "%s_token_id", typ);
    const bn_json_value *v = bn_json_object_get(bn_json_root(im->config), key);
    if (bn_json_is(v, BN_JSON_ARRAY))
        v = bn_json_array_at(v, 0); /* e.g. Llama-3 instruct lists several EOS ids */
    int64_t id;
    if (bn_json_as_int64(v, &id) && id >= 0 && (size_t)id < im->n)
        return (int32_t)id;
    return fallback >= 0 && (size_t)fallback < im->n ? fallback : -1;
}

static bn_status write_all(importer *im, bn_gguf_writer *w, bn_error *err)
{
    bn_status st;
    const char **texts = NULL;
    uint64_t *lens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    size_t n = im->n;
    texts = malloc(n * sizeof *texts);
    lens = malloc(n * sizeof *lens);
    scores = malloc(n * sizeof *scores);
    types = malloc(n * sizeof *types);
    if (!texts || !lens || !scores || !types) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory for %zu tokens", n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!im->v[i].text) {
            char *pad = own(im, malloc(32));
            if (!pad) {
                st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
                goto fail;
            }
            snprintf(pad, 32, "[PAD%zu]", i);
            im->v[i] = (vocab_entry){pad, strlen(pad), -10000.0f, BN_TOKEN_TYPE_UNUSED};
        }
        texts[i] = im->v[i].text;
        lens[i] = im->v[i].len;
        scores[i] = im->v[i].score;
        types[i] = im->v[i].type;
    }
    if ((st = bn_gguf_writer_set_string(w, "tokenizer.ggml.model", im->is_spm ? "llama" : "gpt2",
                                        err)) ||
        (st = bn_gguf_writer_set_string(w, "tokenizer.ggml.pre", im->is_spm ? "default" : "llama-bpe",
                                        err)) ||
        (st = bn_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", texts, lens, n, err)))
        goto fail;
    if (im->is_spm &&
        (st = bn_gguf_writer_set_array(w, "tokenizer.ggml.scores", BN_GGUF_FLOAT32, scores, n, err)))
        goto fail;
    if ((st = bn_gguf_writer_set_array(w, "tokenizer.ggml.token_type", BN_GGUF_INT32, types, n, err)))
        goto fail;
    if (!im->is_spm && (st = bn_gguf_writer_set_string_array(w, "tokenizer.ggml.merges", im->merges,
                                                             im->merge_lens, im->n_merges, err)))
        goto fail;

    static const char *const typs[] = {"bos", "eos", "unk", "pad"};
    static const char *const keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.unknown_token_id",
                                       "tokenizer.ggml.padding_token_id"};
    int32_t fallbacks[4] = {-1, -1, -1, -1};
    if (!im->is_spm) {
        fallbacks[0] = find_text(im, "<|begin_of_text|>", 17);
        fallbacks[1] = find_text(im, "<|end_of_text|>", 15);
    } else {
        fallbacks[0] = im->sp.bos_id;
        fallbacks[1] = im->sp.eos_id;
        fallbacks[2] = im->sp.unk_id;
        fallbacks[3] = im->sp.pad_id;
    }
    for (int k = 0; k < 4; k++) {
        int32_t id = special_id(im, typs[k], fallbacks[k]);
        if (id >= 0 && (st = bn_gguf_writer_set_u32(w, keys[k], (uint32_t)id, err)))
            goto fail;
    }
    const bn_json_value *cfg = bn_json_root(im->tok_config);
    bool b;
    if (bn_json_as_bool(bn_json_object_get(cfg, "add_bos_token"), &b) &&
        (st = bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", b, err)))
        goto fail;
    if (bn_json_as_bool(bn_json_object_get(cfg, "add_eos_token"), &b) &&
        (st = bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", b, err)))
        goto fail;
    if (im->is_spm && !im->sp.add_dummy_prefix &&
        (st = bn_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false, err)))
        goto fail;

    /* chat_template: a string, or [{name, template}] (take "default"). */
    const bn_json_value *ct = bn_json_object_get(cfg, "chat_template");
    const char *tmpl = NULL;
    size_t tl = 0;
    if (!bn_json_as_string(ct, &tmpl, &tl)) {
        for (size_t i = 0; i < bn_json_array_len(ct); i++) {
            const bn_json_value *e = bn_json_array_at(ct, i);
            const char *name;
            if (bn_json_as_string(bn_json_object_get(e, "name"), &name, NULL) &&
                strcmp(name, "default") == 0)
                bn_json_as_string(bn_json_object_get(e, "template"), &tmpl, &tl);
        }
    }
    if (tmpl && (st = bn_gguf_writer_set_string(w, "tokenizer.chat_template", tmpl, err)))
        goto fail;
    st = BN_STATUS_OK;
fail:
    free(texts);
    free(lens);
    free(scores);
    free(types);
    return st;
}

bn_status bn_hf_tokenizer_import(const char *hf_dir_or_file, bn_gguf_writer *w, bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    importer im = {0};
    char *dir = NULL, *main_path = NULL;
    if (!hf_dir_or_file || !w) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_hf_tokenizer_import: NULL argument");
        goto fail;
    }
    /* Find the main file and the directory of its sidecars. */
    if (is_dir(hf_dir_or_file)) {
        dir = strdup(hf_dir_or_file);
        char *spm = join_path(hf_dir_or_file, "tokenizer.model");
        char *js = join_path(hf_dir_or_file, "tokenizer.json");
        if (spm && is_file(spm)) {
            main_path = spm;
            free(js);
            im.is_spm = true;
        } else if (js && is_file(js)) {
            main_path = js;
            free(spm);
        } else {
            free(spm);
            free(js);
            st = bn_error_set(err, BN_STATUS_NOT_FOUND,
                              "%s: no tokenizer.model or tokenizer.json in this directory",
                              hf_dir_or_file);
            goto fail;
        }
    } else {
        if (!is_file(hf_dir_or_file)) {
            st = bn_error_set(err, BN_STATUS_IO, "%s: no such file or directory", hf_dir_or_file);
            goto fail;
        }
        main_path = strdup(hf_dir_or_file);
        const char *slash = strrchr(hf_dir_or_file, '/');
        dir = slash ? strndup(hf_dir_or_file, (size_t)(slash - hf_dir_or_file)) : strdup(".");
        size_t n = strlen(hf_dir_or_file);
        im.is_spm = !(n >= 5 && strcmp(hf_dir_or_file + n - 5, ".json") == 0);
    }
    if (!dir || !main_path) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    im.path = main_path;
    if ((st = load_sidecar(dir, "config.json", &im.config, err)) ||
        (st = load_sidecar(dir, "tokenizer_config.json", &im.tok_config, err)) ||
        (st = load_sidecar(dir, "special_tokens_map.json", &im.special_map, err)) ||
        (st = load_sidecar(dir, "added_tokens.json", &im.added_json, err)))
        goto fail;
    if ((st = im.is_spm ? import_spm(&im, err) : import_bpe(&im, err)))
        goto fail;
    if ((st = apply_added_tokens(&im, err)))
        goto fail;
    /* config.json vocab_size: the embedding rows; pad the vocabulary up to it. */
    int64_t vs;
    if (bn_json_as_int64(bn_json_object_get(bn_json_root(im.config), "vocab_size"), &vs) &&
        vs > 0 && vs <= MAX_VOCAB && (size_t)vs > im.n && !vocab_resize(&im, (size_t)vs)) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    if ((st = write_all(&im, w, err)))
        goto fail;
fail:
    for (size_t i = 0; i < im.n_owned; i++)
        free(im.owned[i]);
    free(im.owned);
    free(im.v);
    free(im.merges);
    free(im.merge_lens);
    bn_json_free(im.config);
    bn_json_free(im.tok_config);
    bn_json_free(im.special_map);
    bn_json_free(im.added_json);
    bn_json_free(im.tok_json);
    bn_sp_model_free(&im.sp);
    free(im.sp_bytes);
    free(dir);
    free(main_path);
    return st;
}
