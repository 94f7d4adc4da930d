/* test_bitnet_run.c: tools/bitnet-run as a user runs it: output, flags,
 * exit codes and messages for bad input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "tests/support/tiny_model.h"

#define RUN BN_BUILD_DIR "/tools/bitnet-run"

static char out_path[128], err_path[128];
static char out_text[65536], err_text[65536];

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs bitnet-run with args (a shell fragment); returns its exit code. */
static int run(const char *args)
{
    snprintf(out_path, sizeof out_path, "/tmp/bn-test-run-%d.out", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/bn-test-run-%d.err", (int)getpid());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", RUN, args, out_path, err_path);
    int st = system(cmd);
    slurp(out_path, out_text, sizeof out_text);
    slurp(err_path, err_text, sizeof err_text);
    unlink(out_path);
    unlink(err_path);
    cr_assert(WIFEXITED(st), "bitnet-run did not exit normally (%s)", args);
    return WEXITSTATUS(st);
}

Test(bitnet_run, greedy_on_the_bundled_model_prints_the_prompt_and_the_reference_text)
{
    /* reference.json: safe_text of this prompt */
    int rc = run("-p 'The little dog wanted to' -n 7 --temp 0 -t 1");
    cr_assert_eq(rc, 0, "stderr: %s", err_text);
    cr_assert_str_eq(out_text, "The little dog wanted to help the little boy, but he\n");
    cr_assert_not_null(strstr(err_text, "tokens/s"), "%s", err_text);
}

Test(bitnet_run, the_same_seed_gives_the_same_sampled_text)
{
    cr_assert_eq(run("-p 'Once upon a time' -n 24 -s 7 -t 1 --no-display-prompt"), 0, "%s",
                 err_text);
    char first[65536];
    strcpy(first, out_text);
    cr_assert(strlen(first) > 10);
    cr_assert_eq(run("-p 'Once upon a time' -n 24 -s 7 -t 2 --no-display-prompt"), 0, "%s",
                 err_text);
    cr_assert_str_eq(out_text, first);
}

Test(bitnet_run, verbose_names_the_kernel_table_and_load_time)
{
    cr_assert_eq(run("-p 'Hi' -n 2 --temp 0 -t 1 --verbose"), 0, "%s", err_text);
    cr_assert_not_null(strstr(err_text, "kernels:"), "%s", err_text);
    cr_assert_not_null(strstr(err_text, "loaded in"), "%s", err_text);
}

Test(bitnet_run, no_mmap_reads_the_file_and_gives_the_same_greedy_text)
{
    cr_assert_eq(run("-p 'The little dog wanted to' -n 7 --temp 0 -t 1 --no-mmap --verbose"), 0,
                 "%s", err_text);
    cr_assert_str_eq(out_text, "The little dog wanted to help the little boy, but he\n");
    cr_assert_not_null(strstr(err_text, "read into memory in"), "%s", err_text);
}

Test(bitnet_run, dump_logits_writes_every_prompt_position)
{
    char dump[128];
    snprintf(dump, sizeof dump, "/tmp/bn-test-run-%d.logits", (int)getpid());
    char args[512];
    snprintf(args, sizeof args, "-p 'Anna had a red kite.' -n 1 --temp 0 -t 1 --dump-logits %s",
             dump);
    cr_assert_eq(run(args), 0, "%s", err_text);
    FILE *f = fopen(dump, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    /* "Anna had a red kite." -> 7 ids with BOS; vocabulary 2048 */
    cr_assert_eq(size, 7L * 2048 * 4);
    fseek(f, 0, SEEK_SET);
    float l[2048];
    cr_assert_eq(fread(l, 4, 2048, f), 2048);
    fclose(f);
    unlink(dump);
    int am = 0;
    for (int i = 1; i < 2048; i++)
        if (l[i] > l[am])
            am = i;
    cr_assert(l[am] > 0.0f && l[am] < 100.0f);
}

Test(bitnet_run, bad_flags_are_usage_errors)
{
    cr_assert_eq(run("--bogus"), 2);
    cr_assert_not_null(strstr(err_text, "usage"), "%s", err_text);
    cr_assert_eq(run("-p hi -n"), 2);
    cr_assert_eq(run("-p hi -t zero"), 2);
    cr_assert_eq(run("-p hi -ctk q4"), 2);
    cr_assert_eq(run("-h"), 0);
    cr_assert_not_null(strstr(out_text, "--temp"));
}

Test(bitnet_run, missing_or_garbage_model_is_an_error_with_a_message)
{
    cr_assert_eq(run("-m /nonexistent.gguf -p hi"), 1);
    cr_assert_not_null(strstr(err_text, "bitnet-run: error:"), "%s", err_text);
    cr_assert_eq(run("-m " BN_SOURCE_DIR "/CMakeLists.txt -p hi"), 1);
    cr_assert_not_null(strstr(err_text, "bitnet-run: error:"), "%s", err_text);
}

Test(bitnet_run, prompt_longer_than_the_context_is_refused)
{
    cr_assert_eq(run("-c 4 -p 'The little dog wanted to play in the park'"), 1);
    cr_assert_not_null(strstr(err_text, "context"), "%s", err_text);
}

Test(bitnet_run, generation_stops_cleanly_when_the_context_is_full)
{
    cr_assert_eq(run("-c 12 -n 100 --temp 0 --ignore-eos -p 'The little dog'"), 0, "%s",
                 err_text);
    cr_assert_not_null(strstr(err_text, "full"), "%s", err_text);
}

Test(bitnet_run, empty_prompt_is_refused)
{
    cr_assert_eq(run("-p ''"), 1);
    cr_assert_not_null(strstr(err_text, "empty"), "%s", err_text);
    cr_assert_eq(run(""), 1);
}

Test(bitnet_run, model_without_tokenizer_is_refused)
{
    char path[128], args[256];
    snprintf(path, sizeof path, "/tmp/bn-test-run-%d.gguf", (int)getpid());
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(&s, path, &err), BN_STATUS_OK, "%s", err.message);
    snprintf(args, sizeof args, "-m %s -p hi", path);
    cr_assert_eq(run(args), 1);
    unlink(path);
    cr_assert_not_null(strstr(err_text, "tokenizer"), "%s", err_text);
}
