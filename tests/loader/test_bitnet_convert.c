/* test_bitnet_convert.c: the bitnet-convert and bitnet-quantize tools
 * (tools/bitnet-convert.c, tools/bitnet-quantize.c) as a user runs them:
 * a conversion with a progress bar, a --stats report, the note on a
 * projection that falls back to F32, and exit codes 1 for broken input and
 * 2 for bad flags. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/model_files.h"
#include "tests/support/run_tool.h"

#define CONVERT BN_BUILD_DIR "/tools/bitnet-convert"
#define QUANTIZE BN_BUILD_DIR "/tools/bitnet-quantize"
#define TINY BN_SHARED_DIR "/models/tiny-bitnet"


Test(bitnet_convert, converts_the_tiny_checkpoint_and_quantizes_it_with_stats) {
    bn_test_require_tiny("hf/config.json");
    char out[512], out2[512];
    snprintf(out, sizeof out, "%s/cli_convert_%d.gguf", BN_BUILD_DIR, (int)getpid());
    snprintf(out2, sizeof out2, "%s/cli_quantize_%d.gguf", BN_BUILD_DIR, (int)getpid());
    char *argv[] = {CONVERT, TINY "/hf", "-o", out, "--type", "tq2_0", NULL};
    bn_test_run r = bn_test_run_tool(CONVERT, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "68/68"), "progress reaches the end: %s", r.err);
    cr_assert(strstr(r.err, "wrote"), "%s", r.err);
    bn_test_run_free(&r);
    char *q[] = {QUANTIZE, out, out2, "i2_s", "--stats", NULL};
    r = bn_test_run_tool(QUANTIZE, q);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "blk.5.ffn_down.weight"), "%s", r.out);
    cr_assert(strstr(r.out, "x vs F32"), "%s", r.out);
    cr_assert(strstr(r.out, "TQ2_0  -> I2_S"), "%s", r.out);
    bn_test_run_free(&r);
    remove(out);
    remove(out2);
}

/* A packed BitLinear checkpoint whose ffn_down rows (192) do not fit I2_S:
 * the user is told which tensors fall back, and that they stay exact. */
Test(bitnet_convert, says_which_projections_fall_back_to_exact_f32) {
    char out[512];
    snprintf(out, sizeof out, "%s/cli_convert_packed_%d.gguf", BN_BUILD_DIR, (int)getpid());
    char *argv[] = {CONVERT, BN_SOURCE_DIR "/tests/loader/data/hf-packed/bitnet-bitlinear",
                    "-o", out, "--type", "i2_s", NULL};
    bn_test_run r = bn_test_run_tool(CONVERT, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "blk.1.ffn_down.weight: rows of 192 values are not a multiple of 128; "
                            "writing F32 ternary values (exact) instead of I2_S"),
              "%s", r.err);
    cr_assert_null(strstr(r.err, "blk.1.ffn_up.weight: rows"), "%s", r.err);
    bn_test_run_free(&r);
    remove(out);
}

Test(bitnet_convert, broken_input_exits_1_and_bad_flags_exit_2) {
    char *no_dir[] = {CONVERT, "/nonexistent-dir", "-o", "/tmp/x.gguf", NULL};
    bn_test_run r = bn_test_run_tool(CONVERT, no_dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-convert: error:") && strstr(r.err, "config.json"), "%s", r.err);
    bn_test_run_free(&r);
    char *bad_type[] = {CONVERT, "dir", "-o", "x.gguf", "--type", "q4_0", NULL};
    r = bn_test_run_tool(CONVERT, bad_type);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage:"), "%s", r.err);
    bn_test_run_free(&r);
    char *no_out[] = {CONVERT, "dir", NULL};
    r = bn_test_run_tool(CONVERT, no_out);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
    char *q_missing[] = {QUANTIZE, "/nonexistent.gguf", "/tmp/y.gguf", "tq2_0", NULL};
    r = bn_test_run_tool(QUANTIZE, q_missing);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-quantize: error:"), "%s", r.err);
    bn_test_run_free(&r);
    char *q_bad[] = {QUANTIZE, "a.gguf", "b.gguf", "tq3_0", NULL};
    r = bn_test_run_tool(QUANTIZE, q_bad);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
    char *q_group[] = {QUANTIZE, "a.gguf", "b.gguf", "tq2_0", "--group-size", "32", NULL};
    r = bn_test_run_tool(QUANTIZE, q_group);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
}
