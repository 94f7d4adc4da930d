/* fuzz_sp_model.c: libFuzzer target for a SentencePiece tokenizer.model
 * (tokenizer/sp_model.c, the protobuf reader) and its import into GGUF
 * tokenizer metadata (tokenizer/hf_import.c), as bitnet-vocab-import and
 * bitnet-convert read it.
 *
 * Any bytes must parse or fail with a status and a message. A model that
 * parses is also written to a scratch tokenizer.model and imported; an
 * import that succeeds must give a GGUF the reader opens, whose tokenizer
 * loads (or is refused with a message) and encodes a fixed text. Seeds:
 * corpus/sp_model/ (the tiny model's tokenizer.model cut to 300 pieces).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "loader/gguf.h"
#include "loader/gguf_writer.h"
#include "tests/fuzz/fuzz_util.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/sp_model.h"
#include "tokenizer/tokenizer.h"

static void import_model(const uint8_t *data, size_t size)
{
    const char *path = bn_fuzz_write_file("tokenizer.model", data, size, NULL, 0);
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
            static const char text[] = " Hello world! <s>\n\xe4\xb8\xad 123 </s> \xff";
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (bn_tokenizer_encode_alloc(tok, text, sizeof text - 1, true, true, &ids, &n_ids,
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_sp_model m;
    bn_error err = {0};
    if (bn_sp_model_parse(data, size, &m, &err) == BN_STATUS_OK) {
        bn_sp_model_free(&m);
        import_model(data, size);
    } else if (err.message[0] == '\0') {
        abort();
    }
    return 0;
}
