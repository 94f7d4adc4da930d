/* bitnet-vocab-import: writes a vocab-only GGUF (tokenizer metadata, no
 * tensors) from a Hugging Face tokenizer.model / tokenizer.json or the
 * directory holding it.
 *
 *   bitnet-vocab-import HF_TOKENIZER_FILE_OR_DIR -o OUT.gguf
 */
#include <stdio.h>
#include <string.h>

#include "loader/gguf_writer.h"
#include "tokenizer/hf_import.h"

static int usage(void)
{
    fprintf(stderr, "usage: bitnet-vocab-import HF_TOKENIZER_FILE_OR_DIR -o OUT.gguf\n"
                    "  reads tokenizer.model (SentencePiece) or tokenizer.json (byte-level BPE)\n"
                    "  plus tokenizer_config.json / special_tokens_map.json / config.json next\n"
                    "  to it, and writes the tokenizer.ggml.* metadata as a GGUF file\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage();
        else if (argv[i][0] == '-' || in)
            return usage();
        else
            in = argv[i];
    }
    if (!in || !out)
        return usage();
    bn_error err = {0};
    bn_gguf_writer *w = NULL;
    bn_status st = bn_gguf_writer_new(&w, &err);
    if (st == BN_STATUS_OK)
        st = bn_gguf_writer_set_string(w, "general.architecture", "vocab", &err);
    if (st == BN_STATUS_OK)
        st = bn_hf_tokenizer_import(in, w, &err);
    if (st == BN_STATUS_OK)
        st = bn_gguf_writer_write_file(w, out, &err);
    bn_gguf_writer_free(w);
    if (st != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-vocab-import: error: %s\n", err.message);
        return 1;
    }
    return 0;
}
