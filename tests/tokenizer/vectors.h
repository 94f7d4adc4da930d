/* vectors.h: reading llama.cpp's tokenizer test vectors (.inp/.out) and
 * small file helpers for the tokenizer suites (tests only).
 *
 * .inp: test strings, each followed by "\n__ggml_vocab_test__\n";
 * .out: one line per string, ids separated by spaces. */
#ifndef BN_TESTS_TOKENIZER_VECTORS_H
#define BN_TESTS_TOKENIZER_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vector_case {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
} vector_case;

/* Whole file into a malloc'd buffer (NUL-terminated); NULL if absent. */
static inline char *read_whole_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static inline bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Returns the number of cases (0 if the files are absent). */
static inline size_t load_vectors(const char *inp_path, const char *out_path, vector_case **out)
{
    size_t inp_len = 0, out_len = 0;
    char *inp = read_whole_file(inp_path, &inp_len);
    char *outs = read_whole_file(out_path, &out_len);
    if (!inp || !outs) {
        free(inp);
        free(outs);
        return 0;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t n = 0, cap = 64;
    vector_case *v = calloc(cap, sizeof *v);
    char *p = inp, *end = inp + inp_len;
    char *line = outs;
    for (;;) {
        char *hit = strstr(p, sep);
        if (!hit || hit > end)
            break;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        vector_case *c = &v[n++];
        c->len = (size_t)(hit - p);
        c->text = malloc(c->len + 1);
        memcpy(c->text, p, c->len);
        c->text[c->len] = 0;
        p = hit + sizeof sep - 1;
        /* ids of this case: up to the next newline */
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        c->ids = malloc((strlen(line) / 2 + 1) * sizeof *c->ids);
        c->n_ids = 0;
        for (char *q = line;;) {
            char *e;
            long x = strtol(q, &e, 10);
            if (e == q)
                break;
            c->ids[c->n_ids++] = (int32_t)x;
            q = e;
        }
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(inp);
    free(outs);
    *out = v;
    return n;
}

static inline void free_vectors(vector_case *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].text);
        free(v[i].ids);
    }
    free(v);
}

/* The shared data path, or NULL (then the test should skip). */
static inline const char *shared_path(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", BN_SHARED_DIR, rel);
    return file_exists(buf) ? buf : NULL;
}

#endif /* BN_TESTS_TOKENIZER_VECTORS_H */
