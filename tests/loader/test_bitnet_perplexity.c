/* test_bitnet_perplexity.c: the bitnet-perplexity tool (tools/bitnet-perplexity.c)
 * as a user runs it: the bundled model's perplexity on the reference text
 * with -c 128 matches llama-perplexity's method's reference figure, and bad
 * input gives exit 1 / bad flags exit 2. */
#include <criterion/criterion.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PPL BN_BUILD_DIR "/tools/bitnet-perplexity"
#define TINY BN_SHARED_DIR "/models/tiny-bitnet"

typedef struct run_result {
    int status;      /* exit code, or -1 if the tool did not exit normally */
    char *out, *err; /* captured stdout / stderr, NUL-terminated */
} run_result;

static char *slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    cr_assert(s);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            s = realloc(s, cap);
            cr_assert(s);
        }
        ssize_t r = read(fd, s + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    s[n] = '\0';
    close(fd);
    return s;
}

/* Runs tool with argv (NULL-terminated, argv[0] included). */
static run_result run_tool(const char *tool, char *const argv[]) {
    char out_path[] = "/tmp/bn_tool_out_XXXXXX", err_path[] = "/tmp/bn_tool_err_XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    unlink(out_path);
    unlink(err_path);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, tool, &fa, NULL, argv, environ);
    cr_assert_eq(rc, 0, "cannot run %s: %s", tool, strerror(rc));
    posix_spawn_file_actions_destroy(&fa);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    run_result r = {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, slurp_fd(out_fd), slurp_fd(err_fd)};
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

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
    run_result r = run_tool(PPL, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *line = strstr(r.out, "Final estimate: PPL = ");
    cr_assert(line, "%s", r.out);
    double ppl = 0, pm = 0;
    cr_assert_eq(sscanf(line, "Final estimate: PPL = %lf +/- %lf", &ppl, &pm), 2);
    cr_assert_lt(fabs(ppl - want) / want, 0.005, "PPL %.4f vs reference %.4f", ppl, want);
    cr_assert(pm > 0 && pm < 1.0, "uncertainty %g", pm);
    cr_assert(strstr(r.out, "[200]"), "200 chunks of 128 tokens");
    run_free(&r);
}

Test(bitnet_perplexity, reports_errors_and_usage) {
    char *missing[] = {PPL, "-m", "/nonexistent.gguf", "-f", "/nonexistent.txt", NULL};
    run_result r = run_tool(PPL, missing);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-perplexity: error:"), "%s", r.err);
    run_free(&r);
    char *bad_flag[] = {PPL, "-m", "x.gguf", "-f", "t.txt", "-c", "zero", NULL};
    r = run_tool(PPL, bad_flag);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage:"), "%s", r.err);
    run_free(&r);
    char *no_args[] = {PPL, NULL};
    r = run_tool(PPL, no_args);
    cr_assert_eq(r.status, 2);
    run_free(&r);
    if (!have_tiny())
        return;
    /* A text shorter than one chunk. */
    char *short_text[] = {PPL, "-m", TINY "/tiny-bitnet-I2_S.gguf", "-f", TINY "/hf/config.json",
                          "-c", "4096", NULL};
    r = run_tool(PPL, short_text);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "one chunk"), "%s", r.err);
    run_free(&r);
}
