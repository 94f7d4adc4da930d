/* fuzz_tokenizer.c: libFuzzer target for encoding and decoding
 * (tokenizer/tokenizer.c, spm.c, bpe.c, bpe_split.c): prompts and chat
 * input are any bytes.
 *
 * Byte 0 picks the vocabulary (bits 0-3, modulo the count: the bundled tiny
 * SPM model, the LLaMA SPM test vocabulary, the Llama-3 BPE vocabulary
 * imported from tokenizer.json; the last two only when ../shared is
 * present), special-token parsing (bit 4) and BOS (bit 5); the rest is the
 * text. Properties (tokenizer.h), abort on violation:
 *   - encode succeeds on any bytes, with and without special parsing, and
 *     every id is in the vocabulary; decode succeeds;
 *   - without special parsing, valid UTF-8 round-trips exactly:
 *     decode(encode(x)) == x. SPM modulo its documented rules: decode drops
 *     the one leading space the space prefix made, and a literal '▁' in the
 *     text is SPM's own space mark, so texts containing one are skipped;
 *   - SPM with byte fallback also round-trips invalid UTF-8 when the text
 *     has no space and no '▁' (tokenizer.h: a malformed lead byte takes the
 *     bytes its high nibble announces as one character, as llama.cpp does,
 *     so an escaped space among them would come back as the bytes of '▁');
 *   - streaming: the pieces of the ids (bn_tokenizer_token_to_piece)
 *     concatenate to the decoded text, plus the one leading space SPM's
 *     decode drops.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/tokenizer.h"

/* Loaded once for the whole run and never freed (the fuzzer's lifetime);
 * kept in globals so that LeakSanitizer sees them as reachable. */
static bn_tokenizer *toks[3];
static bn_gguf *ggufs[3];
static uint8_t *bpe_bytes;
static size_t n_toks;

static void load_gguf(const char *path)
{
    bn_error err = {0};
    if (bn_gguf_open_file(path, NULL, &ggufs[n_toks], &err) == BN_STATUS_OK &&
        bn_tokenizer_load(ggufs[n_toks], &toks[n_toks], &err) == BN_STATUS_OK)
        n_toks++;
}

static void init(void)
{
    load_gguf(BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf");
    load_gguf(BN_SHARED_DIR "/data/tokenizer/ggml-vocab-llama-spm.gguf");
    bn_gguf_writer *w = NULL;
    bn_error err = {0};
    size_t size = 0;
    if (bn_gguf_writer_new(&w, &err) == BN_STATUS_OK &&
        bn_hf_tokenizer_import(BN_SHARED_DIR "/data/tokenizer/llama3/tokenizer.json", w, &err) ==
            BN_STATUS_OK &&
        bn_gguf_writer_write_memory(w, &bpe_bytes, &size, &err) == BN_STATUS_OK &&
        bn_gguf_open_memory(bpe_bytes, size, &ggufs[n_toks], &err) == BN_STATUS_OK &&
        bn_tokenizer_load(ggufs[n_toks], &toks[n_toks], &err) == BN_STATUS_OK)
        n_toks++;
    bn_gguf_writer_free(w);
    if (n_toks == 0)
        abort(); /* the bundled model must load */
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], k, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (unsigned j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* The vocabulary has all 256 byte tokens <0x00>..<0xFF>. */
static bool has_byte_fallback(const bn_tokenizer *tok)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        if (bn_tokenizer_find(tok, name, 6) < 0)
            return false;
    }
    return true;
}

static bool byte_fallback[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!n_toks) {
        init();
        for (size_t i = 0; i < n_toks; i++)
            byte_fallback[i] = bn_tokenizer_kind_of(toks[i]) == BN_TOKENIZER_SPM &&
                               has_byte_fallback(toks[i]);
    }
    if (size < 1)
        return 0;
    size_t which = (data[0] & 0x0F) % n_toks;
    const bn_tokenizer *tok = toks[which];
    bool spm = bn_tokenizer_kind_of(tok) == BN_TOKENIZER_SPM;
    bool special = data[0] & 0x10, bos = data[0] & 0x20;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    char *back = NULL;
    size_t n = 0, back_len = 0;
    bn_error err = {0};
    if (bn_tokenizer_encode_alloc(tok, text, len, bos, special, &ids, &n, &err) != BN_STATUS_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bn_tokenizer_n_vocab(tok))
            abort();
    if (bn_tokenizer_decode_alloc(tok, ids, n, special, &back, &back_len, &err) != BN_STATUS_OK)
        abort();
    bool has_marker = false, has_space = memchr(text, ' ', len) != NULL;
    for (size_t i = 0; i + 3 <= len && !has_marker; i++)
        has_marker = memcmp(text + i, "\xe2\x96\x81", 3) == 0;
    bool round_trips = !special && (!spm || !has_marker) &&
                       (valid_utf8(data + 1, len) || (byte_fallback[which] && !has_space));
    if (round_trips && (back_len != len || memcmp(back, text, len) != 0))
        abort();
    /* streaming: the pieces make the decoded text */
    char *pieces = malloc(back_len + 2);
    size_t pieces_len = 0;
    bool fits = pieces != NULL;
    for (size_t i = 0; i < n && fits; i++) {
        size_t pn = 0;
        if (bn_tokenizer_token_to_piece(tok, ids[i], special, NULL, 0, &pn, &err) !=
                BN_STATUS_INVALID_ARG &&
            pn != 0)
            abort(); /* cap 0 asks for the size */
        bn_error_clear(&err);
        if (pieces_len + pn > back_len + 1) {
            fits = false;
            break;
        }
        if (pn && bn_tokenizer_token_to_piece(tok, ids[i], special, pieces + pieces_len, pn, &pn,
                                              &err) != BN_STATUS_OK)
            abort();
        pieces_len += pn;
    }
    if (!special) {
        bool same = fits && pieces_len == back_len && memcmp(pieces, back, back_len) == 0;
        bool one_space = fits && spm && pieces_len == back_len + 1 && pieces[0] == ' ' &&
                         memcmp(pieces + 1, back, back_len) == 0;
        if (!same && !one_space)
            abort();
    }
    free(pieces);
    free(back);
    free(ids);
    return 0;
}
