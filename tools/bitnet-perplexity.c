/* bitnet-perplexity: perplexity of a model on a text, llama-perplexity's way.
 *
 *   bitnet-perplexity -m FILE -f TEXT [-c 512] [-b N] [-t T] [--chunks N]
 *                     [-ctk f16|f32] [-ctv f16|f32]
 *
 * Method (llama.cpp's examples/perplexity, so figures compare across
 * runtimes): tokenize the whole text with BOS (when the model adds BOS), cut
 * it into chunks of c tokens (a partial last chunk is dropped), set the
 * first token of each chunk to BOS, evaluate each chunk from an empty cache
 * in batches of b tokens, and score only the second half: the logits at
 * positions c/2 .. c-2 predict the tokens after them. Per chunk it prints
 * the running perplexity ("[1]18.0123,[2]..."), then
 * "Final estimate: PPL = x.xxxx +/- y.yyyy" where the uncertainty is the
 * standard error of the mean token NLL carried through exp (as llama.cpp).
 *
 * Only tools print: errors are "bitnet-perplexity: error: <message>" with
 * exit 1; usage errors exit 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/bitnet.h"
#include "tools/cli_args.h"

static void usage(void) {
    fprintf(stderr,
            "usage: bitnet-perplexity -m FILE -f TEXT [-c 512] [-b N] [-t T] [--chunks N]\n"
            "                         [-ctk f16|f32] [-ctv f16|f32]\n"
            "  -m FILE      model (GGUF)\n"
            "  -f TEXT      text file to score\n"
            "  -c N         tokens per chunk (default 512)\n"
            "  -b N         tokens per forward batch (default min(512, c))\n"
            "  -t N         threads (default 1)\n"
            "  --chunks N   score at most N chunks (default all)\n"
            "  -ctk, -ctv   KV cache type for keys / values (default f16)\n");
}

static int parse_kv(const char *s, bn_kv_type *out) {
    if (strcmp(s, "f16") == 0)
        *out = BN_KV_TYPE_F16;
    else if (strcmp(s, "f32") == 0)
        *out = BN_KV_TYPE_F32;
    else
        return 0;
    return 1;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* -log softmax(logits)[target], in double. */
static double token_nll(const float *logits, int32_t n_vocab, int32_t target) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - max);
    return -((double)logits[target] - max - log(sum));
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    long n_ctx = 512, n_batch = 0, n_threads = 1, max_chunks = -1;
    bn_kv_type type_k = BN_KV_TYPE_F16, type_v = BN_KV_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        }
        if (i + 1 >= argc) /* every other flag takes a value */
            goto bad;
        const char *v = argv[++i];
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0)
            text_path = v;
        else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx-size") == 0) {
            if (!bn_cli_parse_long(v, 4, 1 << 20, &n_ctx))
                goto bad;
        } else if (strcmp(a, "-b") == 0 || strcmp(a, "--batch-size") == 0) {
            if (!bn_cli_parse_long(v, 1, 1 << 20, &n_batch))
                goto bad;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (!bn_cli_parse_long(v, 1, 1024, &n_threads))
                goto bad;
        } else if (strcmp(a, "--chunks") == 0) {
            if (!bn_cli_parse_long(v, 1, 1L << 30, &max_chunks))
                goto bad;
        } else if (strcmp(a, "-ctk") == 0 || strcmp(a, "--cache-type-k") == 0) {
            if (!parse_kv(v, &type_k))
                goto bad;
        } else if (strcmp(a, "-ctv") == 0 || strcmp(a, "--cache-type-v") == 0) {
            if (!parse_kv(v, &type_v))
                goto bad;
        } else
            goto bad;
    }
    if (!model_path || !text_path)
        goto bad;
    if (n_batch <= 0 || n_batch > n_ctx)
        n_batch = n_ctx < 512 ? n_ctx : 512;

    int rc = 1;
    bn_error err = {0};
    bn_model *model = NULL;
    bn_session *session = NULL;
    int32_t *tokens = NULL;
    size_t text_len = 0;
    char *text = read_text(text_path, &text_len);
    if (!text) {
        fprintf(stderr, "bitnet-perplexity: error: %s: cannot read the text file\n", text_path);
        return 1;
    }
    bn_model_options mopt;
    bn_model_options_default(&mopt);
    mopt.n_threads = (int)n_threads;
    mopt.kernels = getenv("BN_KERNELS");
    if (bn_model_load(model_path, &mopt, &model, &err) != BN_STATUS_OK)
        goto done;
    bool add_bos = bn_model_add_bos(model);
    int32_t bos = bn_model_bos(model);
    size_t n_tokens = 0;
    /* Every token covers at least one byte (byte fallback included), plus
     * BOS and SentencePiece's dummy-prefix space: len + 16 always fits. */
    size_t cap = text_len + 16;
    tokens = malloc(cap * sizeof *tokens);
    if (!tokens) {
        snprintf(err.message, sizeof err.message, "no memory for %zu tokens", cap);
        goto done;
    }
    if (bn_model_tokenize(model, text, text_len, add_bos, false, tokens, cap, &n_tokens, &err) !=
        BN_STATUS_OK)
        goto done;
    size_t n_chunks = n_tokens / (size_t)n_ctx;
    if (max_chunks > 0 && (size_t)max_chunks < n_chunks)
        n_chunks = (size_t)max_chunks;
    if (n_chunks == 0) {
        snprintf(err.message, sizeof err.message,
                 "the text has %zu tokens; at least %ld (one chunk of -c %ld) are needed", n_tokens,
                 n_ctx, n_ctx);
        goto done;
    }
    bn_session_options sopt;
    bn_session_options_default(&sopt);
    sopt.n_ctx = (int32_t)n_ctx;
    sopt.n_batch = (int32_t)n_batch;
    sopt.n_logits = (int32_t)n_batch;
    sopt.n_threads = (int)n_threads;
    sopt.type_k = type_k;
    sopt.type_v = type_v;
    if (bn_session_new(model, &sopt, &session, &err) != BN_STATUS_OK)
        goto done;
    fprintf(stderr,
            "bitnet-perplexity: %s; %zu tokens, %zu chunks of %ld, batch %ld, %ld threads, "
            "kernels %s\n",
            bn_model_description(model), n_tokens, n_chunks, n_ctx, n_batch, n_threads,
            bn_model_kernels_name(model));

    int32_t n_vocab = bn_model_n_vocab(model);
    size_t first = (size_t)n_ctx / 2;
    double nll = 0.0, nll2 = 0.0;
    size_t count = 0;
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    if (!chunk) {
        snprintf(err.message, sizeof err.message, "no memory");
        goto done;
    }
    for (size_t c = 0; c < n_chunks; c++) {
        size_t start = c * (size_t)n_ctx;
        memcpy(chunk, tokens + start, (size_t)n_ctx * sizeof *chunk);
        if (add_bos && bos >= 0)
            chunk[0] = bos; /* every chunk starts like a fresh text */
        if (bn_session_truncate(session, 0, &err) != BN_STATUS_OK) {
            free(chunk);
            goto done;
        }
        for (size_t b = 0; b < (size_t)n_ctx; b += (size_t)n_batch) {
            size_t nb = (size_t)n_ctx - b < (size_t)n_batch ? (size_t)n_ctx - b : (size_t)n_batch;
            if (bn_session_eval(session, chunk + b, nb, true, &err) != BN_STATUS_OK) {
                free(chunk);
                goto done;
            }
            /* Score positions first .. n_ctx-2 that fall in this batch. */
            for (size_t j = 0; j < nb; j++) {
                size_t pos = b + j;
                if (pos < first || pos + 1 >= (size_t)n_ctx)
                    continue;
                const float *logits = bn_session_logits(session, (int32_t)j);
                double v = token_nll(logits, n_vocab, tokens[start + pos + 1]);
                nll += v;
                nll2 += v * v;
                count++;
            }
        }
        printf("[%zu]%.4f,", c + 1, exp(nll / (double)count));
        fflush(stdout);
    }
    free(chunk);
    printf("\n");
    double mean = nll / (double)count;
    double var = nll2 / (double)count - mean * mean;
    double se = count > 1 && var > 0 ? sqrt(var / (double)(count - 1)) : 0.0;
    double ppl = exp(mean);
    printf("Final estimate: PPL = %.4f +/- %.4f\n", ppl, se * ppl);
    rc = 0;
done:
    if (rc != 0)
        fprintf(stderr, "bitnet-perplexity: error: %s\n", err.message[0] ? err.message : "failed");
    bn_session_free(session);
    bn_model_free(model);
    free(tokens);
    free(text);
    return rc;
bad:
    usage();
    return 2;
}
