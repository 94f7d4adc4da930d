/* fuzz_model_load.c: libFuzzer target for a whole model load
 * (runtime/model.c, hparams.c, the tokenizer load, kernels/ repacking):
 * a GGUF's tensors bound, shape-checked against the metadata and repacked,
 * then, when the load succeeds, one token evaluated in a small session.
 *
 * The input is the start of a GGUF file: the seeds (corpus/model_load/,
 * made by fuzz_gen_corpus from tests/support/tiny_model.c) are the header,
 * metadata and tensor table of tiny models in each ternary type, cut at the
 * data section. The harness appends a fixed data section (TAIL_BYTES of
 * pseudo-random bytes whose 2-bit fields are all 0, 1 or 2, so any ternary
 * layout decodes and every float read from it is finite) and loads the file
 * through bn_model_load, the public API. So the fuzzer's mutations land on
 * the metadata and tensor table, where the checks are, instead of on
 * megabytes of weights; an input that is a whole model also works (the tail
 * is then trailing bytes). The input's length picks mmap or read and the
 * best kernel table or the scalar one.
 *
 * Checks: a load either succeeds or fails with a message and no model; a
 * loaded model evaluates a token and gives logits. -rss_limit_mb (and the
 * malloc limit it implies) turns an allocation sized by a lying header into
 * a reported crash.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/bitnet.h"
#include "tests/fuzz/fuzz_util.h"

#define TAIL_BYTES (256u * 1024u)

static uint8_t *tail;

static void init_tail(void)
{
    tail = malloc(TAIL_BYTES);
    if (!tail)
        abort();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < TAIL_BYTES; i++) {
        uint8_t b = 0;
        for (int j = 0; j < 4; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b |= (uint8_t)((x >> 32) % 3) << (2 * j);
        }
        tail[i] = b;
    }
}

static volatile uint64_t bn_fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tail)
        init_tail();
    const char *path = bn_fuzz_write_file("model.gguf", data, size, tail, TAIL_BYTES);
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = 1;
    mo.use_mmap = size & 1;
    mo.kernels = size & 2 ? "ref" : NULL;
    bn_model *m = NULL;
    bn_session *s = NULL;
    bn_error err = {0};
    /* BN_FUZZ_VERBOSE=1: say what became of each input (to check seeds) */
    bool verbose = getenv("BN_FUZZ_VERBOSE") != NULL;
    if (bn_model_load(path, &mo, &m, &err) != BN_STATUS_OK) {
        if (m != NULL || err.message[0] == '\0')
            abort();
        if (verbose)
            fprintf(stderr, "fuzz_model_load: refused: %s\n", err.message);
        return 0;
    }
    if (verbose)
        fprintf(stderr, "fuzz_model_load: loaded %s\n", bn_model_description(m));
    /* the metadata strings a loaded model hands out */
    const char *keys[] = {"general.name", "general.architecture", "tokenizer.chat_template"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = bn_model_meta_string(m, keys[i]);
        if (v)
            bn_fuzz_sink += (uint8_t)v[0];
    }
    bn_fuzz_sink += (uint8_t)bn_model_description(m)[0] + (uint8_t)bn_model_arch(m)[0];
    int32_t n_vocab = bn_model_n_vocab(m);
    if (n_vocab <= 0)
        abort();
    int32_t token = (int32_t)(size % (size_t)n_vocab);
    if (bn_model_has_tokenizer(m)) {
        int32_t ids[64];
        size_t n_ids = 0;
        static const char text[] = "Once upon a time <s></s>\xe4\xb8\xad";
        if (bn_model_tokenize(m, text, sizeof text - 1, true, true, ids, 64, &n_ids, &err) ==
                BN_STATUS_OK &&
            n_ids > 0)
            token = ids[n_ids - 1];
        bn_error_clear(&err);
    }
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 8;
    so.n_batch = 4;
    so.n_logits = 1;
    so.n_threads = 1;
    if (bn_session_new(m, &so, &s, &err) == BN_STATUS_OK) {
        if (bn_session_eval(s, &token, 1, false, &err) != BN_STATUS_OK)
            abort(); /* a loaded model must run a token in range */
        const float *logits = bn_session_logits(s, -1);
        if (!logits)
            abort();
        bn_fuzz_sink += logits[0] == logits[0];
    } else if (err.message[0] == '\0') {
        abort();
    }
    bn_session_free(s);
    bn_model_free(m);
    return 0;
}
