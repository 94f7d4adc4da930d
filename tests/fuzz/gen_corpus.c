/* gen_corpus.c: writes the generated seeds of the fuzz corpus.
 *
 *   fuzz_gen_corpus CORPUS_DIR [SHARED_DIR]
 *
 * CORPUS_DIR/gguf/: small valid files from the writer (every value type,
 * every tensor type, a custom alignment, a vocab-only file) plus, when
 * SHARED_DIR is given, prefixes of real files: the llama-spm vocab (16 KB)
 * and the metadata and tensor table of the tiny-bitnet I2_S model.
 *
 * CORPUS_DIR/model_load/: the header (metadata and tensor table, up to the
 * data section) of tiny random models (tests/support/tiny_model.c) in each
 * ternary type and architecture; fuzz_model_load appends a data section of
 * valid ternary codes to every input (see there). Each file is a few KB so
 * the fuzzer's mutations stay cheap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf_writer.h"
#include "loader/gguf.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/tiny_model.h"

static int write_out(const char *dir, const char *name, const uint8_t *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "fuzz_gen_corpus: error: cannot write %s\n", path);
        return 1;
    }
    printf("%s: %zu bytes\n", path, n);
    return 0;
}

static void check(bn_status st, const bn_error *err)
{
    if (st != BN_STATUS_OK) {
        fprintf(stderr, "fuzz_gen_corpus: error: %s\n", err->message);
        exit(1);
    }
}

/* One small tensor of every type, in a BitNet file with alignment 64. */
static uint8_t *all_types(size_t *size)
{
    static uint8_t data[8192];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    bn_error err = {0};
    bn_gguf_writer *w = NULL;
    check(bn_gguf_writer_new(&w, &err), &err);
    check(bn_gguf_writer_set_string(w, "general.architecture", "bitnet-b1.58", &err), &err);
    check(bn_gguf_writer_set_u32(w, "general.alignment", 64, &err), &err);
    check(bn_gguf_writer_set_u32(w, "bitnet-b1.58.block_count", 1, &err), &err);
    for (int ty = 0; ty < BN_TYPE_COUNT; ty++) {
        const bn_tensor_type_traits *tr = bn_tensor_type_traits_of((bn_tensor_type)ty);
        int64_t ne[3] = {tr->block_size > 1 ? tr->block_size : 8, 2, 1};
        uint64_t n = 0;
        check(bn_tensor_type_nbytes((bn_tensor_type)ty, (int64_t[4]){ne[0], ne[1], 1, 1}, &n,
                                    &err), &err);
        char name[64];
        snprintf(name, sizeof name, "blk.0.%s.weight", tr->name);
        check(bn_gguf_writer_add_tensor(w, name, (bn_tensor_type)ty, ty % 2 ? 3 : 2, ne, data, n,
                                        &err), &err);
    }
    uint8_t *out = NULL;
    check(bn_gguf_writer_write_memory(w, &out, size, &err), &err);
    bn_gguf_writer_free(w);
    return out;
}

/* The header of a tiny model: its bytes up to the data section. */
static int model_head(const char *dir, const char *name, const bn_tiny_model_spec *spec)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    bn_error err = {0};
    check(bn_tiny_model_write(spec, tmp, &err), &err);
    size_t n = 0;
    uint8_t *f = bn_test_read_file(tmp, &n);
    remove(tmp);
    bn_gguf *g = NULL;
    if (!f)
        return 1;
    check(bn_gguf_open_memory(f, n, &g, &err), &err);
    size_t head = (size_t)bn_gguf_data_offset(g);
    bn_gguf_close(g);
    int rc = write_out(dir, name, f, head);
    free(f);
    return rc;
}

/* Tiny shapes: K = 256 (the TQ block; 64 for the 2-byte F16 weights), one
 * layer, two heads and one KV head, so that each data section fits in
 * fuzz_model_load's 256 KiB tail. */
static int model_heads(const char *dir)
{
    static const struct {
        const char *name, *arch;
        bn_tensor_type ternary, embd;
        bool tok, untied;
        int n_embd;
    } models[] = {
        {"i2s.gguf", "bitnet-b1.58", BN_TYPE_I2_S, BN_TYPE_F16, false, false, 256},
        {"i2s-vocab.gguf", "bitnet-b1.58", BN_TYPE_I2_S, BN_TYPE_Q8_0, true, false, 256},
        {"tq2_0.gguf", "bitnet-b1.58", BN_TYPE_TQ2_0, BN_TYPE_F32, false, true, 256},
        {"tq1_0.gguf", "llama", BN_TYPE_TQ1_0, BN_TYPE_F16, false, false, 256},
        {"iq2_bn.gguf", "bitnet", BN_TYPE_IQ2_BN, BN_TYPE_BF16, false, false, 256},
        {"iq1_bn.gguf", "bitnet-b1.58", BN_TYPE_IQ1_BN, BN_TYPE_Q6_K, false, false, 256},
        {"f16.gguf", "llama", BN_TYPE_F16, BN_TYPE_F16, false, false, 64},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        bn_tiny_model_spec spec;
        bn_tiny_model_spec_default(&spec);
        spec.arch = models[i].arch;
        spec.ternary_type = models[i].ternary;
        spec.embd_type = models[i].embd;
        spec.untied = models[i].untied;
        spec.with_tokenizer = models[i].tok;
        spec.n_embd = models[i].n_embd;
        spec.n_ff = models[i].n_embd;
        spec.n_layer = 1;
        spec.n_head = 2;
        spec.n_head_kv = 1;
        spec.n_vocab = models[i].tok ? 260 : 32;
        spec.n_ctx = 16;
        spec.seed = 1 + i;
        rc |= model_head(dir, models[i].name, &spec);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fuzz_gen_corpus CORPUS_DIR [SHARED_DIR]\n");
        return 2;
    }
    char dir[4096], model_dir[4096];
    snprintf(dir, sizeof dir, "%s/gguf", argv[1]);
    snprintf(model_dir, sizeof model_dir, "%s/model_load", argv[1]);
    int rc = 0;
    size_t n;
    uint8_t *f = bn_test_gguf_small(&n);
    rc |= write_out(dir, "small.gguf", f, n);
    free(f);
    f = bn_test_gguf_vocab_only(&n);
    rc |= write_out(dir, "vocab-only.gguf", f, n);
    free(f);
    f = all_types(&n);
    rc |= write_out(dir, "all-types.gguf", f, n);
    free(f);
    if (argc == 3) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data/tokenizer/ggml-vocab-llama-spm.gguf", argv[2]);
        f = bn_test_read_file(path, &n);
        if (f) {
            rc |= write_out(dir, "spm-vocab-prefix.gguf", f, n < 16384 ? n : 16384);
            free(f);
        }
        snprintf(path, sizeof path, "%s/models/tiny-bitnet/tiny-bitnet-I2_S.gguf", argv[2]);
        f = bn_test_read_file(path, &n);
        if (f) {
            /* metadata and tensor table only: data offset of that file */
            rc |= write_out(dir, "tiny-i2s-head.gguf", f, n < 50144 ? n : 50144);
            free(f);
        }
    }
    rc |= model_heads(model_dir);
    return rc;
}
