/* bitnet-tokenize: tokenizes text with the tokenizer of a GGUF file (a
 * model or a vocab-only file) and prints the ids.
 *
 *   bitnet-tokenize -m FILE (-p TEXT | -f FILE) [--ids] [--no-bos]
 *                   [--parse-special] [--bench]
 *
 * Default output: one "id<TAB>piece" line per token (the piece as the
 * decoder renders it, control tokens shown by their text). --ids: the ids
 * space-separated on one line. --bench: encode the text repeatedly for about
 * a second and print MB/s as JSON instead.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader/gguf.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: bitnet-tokenize -m FILE (-p TEXT | -f FILE) [--ids] [--no-bos]\n"
            "                       [--parse-special] [--bench]\n"
            "  -m FILE          GGUF model or vocab-only file\n"
            "  -p TEXT          text to tokenize\n"
            "  -f FILE          read the text from FILE\n"
            "  --ids            print the ids space-separated on one line\n"
            "  --no-bos         do not prepend BOS\n"
            "  --parse-special  turn special-token texts (e.g. <|eot_id|>) into their ids\n"
            "  --bench          time the encoding and print MB/s\n");
    return 2;
}

static char *read_text(const char *path, size_t *len, bn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bn_error_set(err, BN_STATUS_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        bn_error_set(err, BN_STATUS_IO, "%s: read error", path);
        return NULL;
    }
    *len = n;
    return buf;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool ids_only = false, no_bos = false, parse_special = false, bench = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-m") == 0 && i + 1 < argc)
            model = argv[++i];
        else if (strcmp(a, "-p") == 0 && i + 1 < argc)
            prompt = argv[++i];
        else if (strcmp(a, "-f") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(a, "--ids") == 0)
            ids_only = true;
        else if (strcmp(a, "--no-bos") == 0)
            no_bos = true;
        else if (strcmp(a, "--parse-special") == 0)
            parse_special = true;
        else if (strcmp(a, "--bench") == 0)
            bench = true;
        else
            return usage();
    }
    if (!model || (!prompt == !file))
        return usage();

    bn_error err = {0};
    bn_gguf *gguf = NULL;
    bn_tokenizer *tok = NULL;
    char *text = NULL, *piece = NULL;
    int32_t *ids = NULL;
    size_t len = 0, n = 0;
    int rc = 1;
    if (file) {
        if (!(text = read_text(file, &len, &err)))
            goto done;
    } else {
        len = strlen(prompt);
    }
    const char *t = file ? text : prompt;
    if (bn_gguf_open_file(model, NULL, &gguf, &err) != BN_STATUS_OK ||
        bn_tokenizer_load(gguf, &tok, &err) != BN_STATUS_OK)
        goto done;
    bool add_bos = !no_bos && bn_tokenizer_add_bos(tok);

    if (bench) {
        /* Wall time and this process's CPU time: on a shared machine the
         * second is the fairer measure of the tokenizer itself. */
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t1, c1;
        size_t reps = 0;
        do {
            free(ids);
            ids = NULL;
            if (bn_tokenizer_encode_alloc(tok, t, len, add_bos, parse_special, &ids, &n, &err))
                goto done;
            reps++;
            t1 = clock_s(CLOCK_MONOTONIC);
        } while (t1 - t0 < 1.0);
        c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        double mb = (double)len * reps / 1e6;
        printf("{\"bytes\": %zu, \"tokens\": %zu, \"reps\": %zu, \"seconds\": %.3f, "
               "\"cpu_seconds\": %.3f, \"mb_per_s\": %.2f, \"mb_per_cpu_s\": %.2f}\n",
               len, n, reps, t1 - t0, c1 - c0, mb / (t1 - t0), mb / (c1 - c0));
        rc = 0;
        goto done;
    }

    if (bn_tokenizer_encode_alloc(tok, t, len, add_bos, parse_special, &ids, &n, &err))
        goto done;
    if (ids_only) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    } else {
        size_t cap = 256;
        piece = malloc(cap);
        for (size_t i = 0; i < n && piece; i++) {
            size_t pn = 0;
            bn_error perr = {0};
            if (bn_tokenizer_token_to_piece(tok, ids[i], true, piece, cap, &pn, &perr)) {
                char *np = realloc(piece, cap = pn + 1);
                if (!np)
                    break;
                piece = np;
                if (bn_tokenizer_token_to_piece(tok, ids[i], true, piece, cap, &pn, &err))
                    goto done;
            }
            printf("%d\t%.*s\n", ids[i], (int)pn, piece);
        }
    }
    rc = 0;
done:
    if (rc != 0)
        fprintf(stderr, "bitnet-tokenize: error: %s\n", err.message);
    free(piece);
    free(ids);
    free(text);
    bn_tokenizer_free(tok);
    bn_gguf_close(gguf);
    return rc;
}
