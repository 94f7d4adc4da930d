/* test_bitnet_perplexity.c: the bitnet-perplexity tool (tools/bitnet-perplexity.c)
 * as a user runs it: the bundled model's perplexity on the reference text
 * with -c 128 matches llama-perplexity's method's reference figure, and bad
 * input gives exit 1 / bad flags exit 2. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/run_tool.h"

#define PPL BN_BUILD_DIR "/tools/bitnet-perplexity"
#define TINY BN_SHARED_DIR "/models/tiny-bitnet"

static bool have_tiny(void) { return access(TINY "/reference/ppl-c128.txt", R_OK) == 0; }

Test(bitnet_perplexity, matches_the_reference_perplexity_within_half_a_percent) {
    if (!have_tiny())
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    FILE *f = fopen(TINY "/reference/ppl-c128.txt", "r");
    double want = 0;
    cr_assert(f && fscanf(f, "%lf", &want) == 1);
    fclose(f);
    char *argv[] = {PPL, "-m", TINY "/tiny-bitnet-I2_S.gguf", "-f", TINY "/reference/ppl-text.txt",
                    "-c", "128", "-t", "1", NULL};
    bn_test_run r = bn_test_run_tool(PPL, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *line = strstr(r.out, "Final estimate: PPL = ");
    cr_assert(line, "%s", r.out);
    double ppl = 0, pm = 0;
    cr_assert_eq(sscanf(line, "Final estimate: PPL = %lf +/- %lf", &ppl, &pm), 2);
    cr_assert_lt(fabs(ppl - want) / want, 0.005, "PPL %.4f vs reference %.4f", ppl, want);
    cr_assert(pm > 0 && pm < 1.0, "uncertainty %g", pm);
    cr_assert(strstr(r.out, "[200]"), "200 chunks of 128 tokens");
    bn_test_run_free(&r);
}

Test(bitnet_perplexity, reports_errors_and_usage) {
    char *missing[] = {PPL, "-m", "/nonexistent.gguf", "-f", "/nonexistent.txt", NULL};
    bn_test_run r = bn_test_run_tool(PPL, missing);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-perplexity: error:"), "%s", r.err);
    bn_test_run_free(&r);
    char *bad_flag[] = {PPL, "-m", "x.gguf", "-f", "t.txt", "-c", "zero", NULL};
    r = bn_test_run_tool(PPL, bad_flag);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage:"), "%s", r.err);
    bn_test_run_free(&r);
    char *no_args[] = {PPL, NULL};
    r = bn_test_run_tool(PPL, no_args);
    cr_assert_eq(r.status, 2);
    bn_test_run_free(&r);
    if (!have_tiny())
        return;
    /* A text shorter than one chunk. */
    char *short_text[] = {PPL, "-m", TINY "/tiny-bitnet-I2_S.gguf", "-f", TINY "/hf/config.json",
                          "-c", "4096", NULL};
    r = bn_test_run_tool(PPL, short_text);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "one chunk"), "%s", r.err);
    bn_test_run_free(&r);
}
