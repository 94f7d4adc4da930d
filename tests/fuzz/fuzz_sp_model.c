/* fuzz_sp_model.c: libFuzzer target for the SentencePiece protobuf reader
 * (tokenizer/sp_model.c). */
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/sp_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_sp_model m;
    bn_error err = {0};
    if (bn_sp_model_parse(data, size, &m, &err) == BN_STATUS_OK)
        bn_sp_model_free(&m);
    return 0;
}
