/* fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (loader/safetensors.c): the 8-byte header length, the JSON header and its
 * offset table, as bitnet-convert reads a Hugging Face checkpoint.
 *
 * Any bytes must open or fail with a status and a message. An opened file
 * must keep the reader's promises (safetensors.h): every tensor's bytes lie
 * inside the input, n_bytes is the element count times the dtype size, the
 * element count is the product of the shape, and lookups by name find the
 * tensor. The first and last byte of each tensor are read so that
 * AddressSanitizer sees any view past the input. Seeds: corpus/safetensors/
 * (the tiny checkpoint's real header, small valid files).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"

static volatile uint64_t bn_fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_safetensors *st = NULL;
    bn_error err = {0};
    /* a private copy, so that ASan bounds are exactly the input's */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    if (bn_safetensors_open_memory(copy, size, "fuzz input", &st, &err) != BN_STATUS_OK) {
        if (st != NULL || err.message[0] == '\0')
            abort();
        free(copy);
        return 0;
    }
    for (size_t i = 0; i < bn_safetensors_count(st); i++) {
        const bn_st_tensor *t = bn_safetensors_at(st, i);
        if (!t || !t->name || bn_safetensors_find(st, t->name) != t)
            abort();
        if (t->dtype >= BN_ST_DTYPE_COUNT || t->n_dims > BN_ST_MAX_DIMS)
            abort();
        uint64_t count = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0)
                abort();
            count *= (uint64_t)t->shape[d];
        }
        if (count != t->n_elements || t->n_bytes != count * bn_st_dtype_size(t->dtype))
            abort();
        if (t->n_bytes > 0) {
            if (t->data < copy || t->data > copy + size || t->n_bytes > (uint64_t)(copy + size - t->data))
                abort();
            bn_fuzz_sink += t->data[0] + t->data[t->n_bytes - 1];
        }
    }
    bn_safetensors_close(st);
    free(copy);
    return 0;
}
