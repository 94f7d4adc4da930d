/* fuzz_tokenizer_load.c: libFuzzer target for bn_tokenizer_load on arbitrary
 * GGUF bytes (seed it with vocab-only files): whatever metadata a file holds,
 * loading either fails with a status or gives a tokenizer that encodes and
 * decodes a fixed text without crashing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "loader/gguf.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_gguf *g = NULL;
    bn_tokenizer *tok = NULL;
    bn_error err = {0};
    static const char text[] = " Hello world! <s>\n\xe4\xb8\xad 123 </s> \xff";
    if (bn_gguf_open_memory(data, size, &g, &err) == BN_STATUS_OK &&
        bn_tokenizer_load(g, &tok, &err) == BN_STATUS_OK) {
        for (int special = 0; special < 2; special++) {
            int32_t *ids = NULL;
            char *back = NULL;
            size_t n = 0, bn = 0;
            if (bn_tokenizer_encode_alloc(tok, text, sizeof text - 1, true, special, &ids, &n, &err) ==
                BN_STATUS_OK)
                bn_tokenizer_decode_alloc(tok, ids, n, special, &back, &bn, &err);
            free(back);
            free(ids);
        }
    }
    bn_tokenizer_free(tok);
    bn_gguf_close(g);
    return 0;
}
