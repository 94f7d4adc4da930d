/* test_inspect.c: the bitnet-inspect tool (tools/bitnet-inspect.c) as a
 * user runs it: exit codes and messages for good files, broken files and
 * bad flags. The tool is run with posix_spawn from the build tree. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/gguf_bytes.h"
#include "tests/support/run_tool.h"

#define INSPECT BN_BUILD_DIR "/tools/bitnet-inspect"
#define SPM_VOCAB BN_SHARED_DIR "/data/tokenizer/ggml-vocab-llama-spm.gguf"

/* Runs bitnet-inspect with up to three arguments (NULL ends the list). */
static bn_test_run run_inspect(const char *a1, const char *a2, const char *a3)
{
    char *argv[5] = {(char *)INSPECT, (char *)a1, (char *)a2, (char *)a3, NULL};
    return bn_test_run_tool(INSPECT, argv);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void require_tool(void)
{
    struct stat sb;
    if (stat(INSPECT, &sb) != 0)
        cr_skip_test("%s was not built", INSPECT);
}

Test(inspect, prints_a_valid_file)
{
    require_tool();
    size_t size;
    uint8_t *file = bn_test_gguf_small(&size);
    char path[] = "/tmp/bn_inspect_ok_XXXXXX";
    close(mkstemp(path));
    write_file(path, file, size);
    bn_test_run r = run_inspect(path, NULL, NULL);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "GGUF version: 3"), "%s", r.out);
    cr_assert(strstr(r.out, "t.i2s"), "%s", r.out);
    cr_assert(strstr(r.out, "I2_S"), "%s", r.out);
    cr_assert(strstr(r.out, "\"hello\""), "%s", r.out);
    cr_assert_eq(r.err[0], '\0');
    bn_test_run_free(&r);

    r = run_inspect("--json", path, "--no-mmap");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_eq(r.out[0], '{');
    cr_assert(strstr(r.out, "\"mmapped\": false"), "%s", r.out);
    cr_assert(strstr(r.out, "\"ternary_layouts\""), "%s", r.out);
    bn_test_run_free(&r);
    unlink(path);
    free(file);
}

Test(inspect, exits_1_with_a_message_for_truncated_and_garbage_files)
{
    require_tool();
    size_t size;
    uint8_t *file = NULL;
    struct stat sb;
    if (stat(SPM_VOCAB, &sb) == 0)
        file = bn_test_read_file(SPM_VOCAB, &size);
    else
        file = bn_test_gguf_small(&size);
    char path[] = "/tmp/bn_inspect_bad_XXXXXX";
    close(mkstemp(path));
    const size_t cuts[] = {0, 3, 23, 100, size / 3, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file(path, file, cuts[i]);
        bn_test_run r = run_inspect(path, NULL, NULL);
        cr_assert_eq(r.status, 1, "cut at %zu: status %d", cuts[i], r.status);
        cr_assert(strstr(r.err, "bitnet-inspect: error: ") && strstr(r.err, path) &&
                  strstr(r.err, "truncated"), "cut at %zu: %s", cuts[i], r.err);
        bn_test_run_free(&r);
    }
    write_file(path, "this is not a model file at all, just text\n", 43);
    bn_test_run r = run_inspect(path, "--json", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "not a GGUF file"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0');
    bn_test_run_free(&r);

    r = run_inspect("/nonexistent/model.gguf", NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "cannot open /nonexistent/model.gguf"), "%s", r.err);
    bn_test_run_free(&r);
    unlink(path);
    free(file);
}

Test(inspect, exits_2_with_usage_for_bad_flags)
{
    require_tool();
    bn_test_run r = run_inspect("--bogus", "x.gguf", NULL);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage: bitnet-inspect"), "%s", r.err);
    bn_test_run_free(&r);
    r = run_inspect(NULL, NULL, NULL);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
    r = run_inspect("a.gguf", "b.gguf", NULL);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
}

Test(inspect, finds_ternary_values_stored_as_f32)
{
    require_tool();
    const char *path = BN_SHARED_DIR "/models/tiny-bitnet/tiny-bitnet-f32.gguf";
    struct stat sb;
    if (stat(path, &sb) != 0)
        cr_skip_test("%s is absent (../shared not available)", path);
    bn_test_run r = run_inspect(path, NULL, NULL);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "F32       68 tensors"), "%s", r.out);
    cr_assert(strstr(r.out, "(42 matrices hold ternary values)"), "%s", r.out);
    bn_test_run_free(&r);
}
