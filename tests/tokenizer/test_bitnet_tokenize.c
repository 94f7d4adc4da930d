/* test_bitnet_tokenize.c: the bitnet-tokenize and bitnet-vocab-import tools
 * (tools/bitnet-tokenize.c, tools/bitnet-vocab-import.c), run as programs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vectors.h"

/* Runs a shell command; returns its exit code and its stdout (malloc'd). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int status = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *tool(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/tools/%s", BN_BUILD_DIR, name);
    if (!file_exists(buf))
        cr_skip_test("%s is not built", buf);
    return buf;
}

Test(bitnet_tokenize, prints_ids_and_pieces_of_the_tiny_model)
{
    char t[1024], m[1024], cmd[4096];
    tool("bitnet-tokenize", t, sizeof t);
    if (!shared_path(m, sizeof m, "models/tiny-bitnet/tiny-bitnet-I2_S.gguf"))
        cr_skip_test("tiny-bitnet is absent");
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p 'Anna had a red kite.' --ids", t, m);
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert_str_eq(out, "1 705 367 261 1014 1560 1993\n");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p 'Anna had' --no-bos", t, m);
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert_str_eq(out, "705\t Anna\n367\t had\n"); /* pieces keep their space */
    free(out);
}

Test(bitnet_tokenize, exits_2_on_bad_flags_and_1_on_bad_files)
{
    char t[1024], cmd[4096];
    tool("bitnet-tokenize", t, sizeof t);
    snprintf(cmd, sizeof cmd, "'%s' 2>/dev/null", t);
    cr_assert_eq(run(cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' -m x -p a --nope 2>/dev/null", t);
    cr_assert_eq(run(cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' -m x -p a -f b 2>/dev/null", t);
    cr_assert_eq(run(cmd, NULL), 2);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' -m /nonexistent.gguf -p a 2>&1", t);
    cr_assert_eq(run(cmd, &out), 1);
    cr_assert(strstr(out, "bitnet-tokenize: error: ") == out, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "printf 'GGUF\\3\\0\\0\\0garbage' > /tmp/bn_tok_cli_$$.gguf && "
                              "'%s' -m /tmp/bn_tok_cli_$$.gguf -p a 2>&1; rc=$?; rm -f /tmp/bn_tok_cli_$$.gguf; exit $rc",
             t);
    cr_assert_eq(run(cmd, &out), 1);
    cr_assert(strstr(out, "bitnet-tokenize: error: ") == out, "%s", out);
    free(out);
}

Test(bitnet_tokenize, vocab_import_writes_a_vocab_only_gguf_that_tokenizes)
{
    char t[1024], v[1024], hf[1024], cmd[4096];
    tool("bitnet-tokenize", t, sizeof t);
    tool("bitnet-vocab-import", v, sizeof v);
    if (!shared_path(hf, sizeof hf, "models/tiny-bitnet/hf"))
        cr_skip_test("tiny-bitnet/hf is absent");
    char *out = NULL;
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' -o /tmp/bn_vocab_cli_$$.gguf && '%s' -m /tmp/bn_vocab_cli_$$.gguf "
             "-p 'Anna had a red kite.' --ids; rc=$?; rm -f /tmp/bn_vocab_cli_$$.gguf; exit $rc",
             v, hf, t);
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert_str_eq(out, "1 705 367 261 1014 1560 1993\n");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' 2>/dev/null", v);
    cr_assert_eq(run(cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "'%s' /nonexistent -o /tmp/x.gguf 2>&1", v);
    cr_assert_eq(run(cmd, &out), 1);
    cr_assert(strstr(out, "bitnet-vocab-import: error: ") == out, "%s", out);
    free(out);
}
