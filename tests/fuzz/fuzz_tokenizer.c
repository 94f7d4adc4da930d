/* fuzz_tokenizer.c: libFuzzer target for encoding and decoding
 * (tokenizer/tokenizer.c, spm.c, bpe.c, bpe_split.c).
 *
 * Byte 0 picks the vocabulary (the bundled tiny SPM model, the LLaMA SPM
 * test vocabulary, the Llama-3 BPE vocabulary imported from tokenizer.json;
 * the last two only when ../shared is present) and the flags; the rest is
 * the text. Checks: encode and decode succeed, every id is in range, and
 * valid UTF-8 without '▁' and without special parsing round-trips exactly.
 */
#include <stdbool.h>
#include <stdint.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!n_toks)
        init();
    if (size < 1)
        return 0;
    const bn_tokenizer *tok = toks[data[0] % n_toks];
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
    bool has_marker = false;
    for (size_t i = 0; i + 3 <= len && !has_marker; i++)
        has_marker = memcmp(text + i, "\xe2\x96\x81", 3) == 0;
    if (!special && !has_marker && valid_utf8(data + 1, len) &&
        (back_len != len || memcmp(back, text, len) != 0))
        abort();
    for (size_t i = 0; i < n; i++) {
        char piece[512];
        size_t pn = 0;
        bn_tokenizer_token_to_piece(tok, ids[i], true, piece, sizeof piece, &pn, &err);
    }
    free(back);
    free(ids);
    return 0;
}
