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

#include "tests/fuzz/fuzz_import.h"
#include "tokenizer/sp_model.h"

static void import_model(const uint8_t *data, size_t size)
{
    static const char text[] = " Hello world! <s>\n\xe4\xb8\xad 123 </s> \xff";
    bn_fuzz_import_tokenizer("tokenizer.model", data, size, text, sizeof text - 1);
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
