/* fuzz_import.h: the Hugging Face tokenizer import check shared by
 * fuzz_json.c (tokenizer.json) and fuzz_sp_model.c (tokenizer.model).
 *
 * bn_hf_tokenizer_import picks the format from the file name, so both
 * targets run the same chain: input -> scratch file -> GGUF metadata ->
 * tokenizer -> encode a probe text. Only the file name and the probe (text
 * with the format's own special tokens) differ. Header-only, like
 * fuzz_util.h: each target is one source file in tests/fuzz/CMakeLists.txt.
 */
#ifndef BN_FUZZ_IMPORT_H
#define BN_FUZZ_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/tokenizer.h"

/* Writes data to the scratch file NAME and imports it. An import must
 * succeed or fail with a message; a GGUF it writes must open; its tokenizer
 * must load (or be refused with a message) and encode probe. Aborts
 * otherwise, for libFuzzer to report. */
static void bn_fuzz_import_tokenizer(const char *name, const uint8_t *data, size_t size,
                                     const char *probe, size_t probe_len)
{
    const char *path = bn_fuzz_write_file(name, data, size, NULL, 0);
    bn_gguf_writer *w = NULL;
    bn_gguf *g = NULL;
    bn_tokenizer *tok = NULL;
    uint8_t *bytes = NULL;
    size_t n = 0;
    bn_error err = {0};
    if (bn_gguf_writer_new(&w, &err) != BN_STATUS_OK)
        abort();
    if (bn_hf_tokenizer_import(path, w, &err) == BN_STATUS_OK) {
        if (bn_gguf_writer_write_memory(w, &bytes, &n, &err) != BN_STATUS_OK ||
            bn_gguf_open_memory(bytes, n, &g, &err) != BN_STATUS_OK)
            abort(); /* what the writer wrote, the reader must read */
        if (bn_tokenizer_load(g, &tok, &err) == BN_STATUS_OK) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (bn_tokenizer_encode_alloc(tok, probe, probe_len, true, true, &ids, &n_ids,
                                          &err) != BN_STATUS_OK)
                abort();
            free(ids);
        } else if (err.message[0] == '\0') {
            abort();
        }
    } else if (err.message[0] == '\0') {
        abort();
    }
    bn_tokenizer_free(tok);
    bn_gguf_close(g);
    free(bytes);
    bn_gguf_writer_free(w);
}

#endif /* BN_FUZZ_IMPORT_H */
