/* test_bitnet_convert.c: the bitnet-convert and bitnet-quantize tools
 * (tools/bitnet-convert.c, tools/bitnet-quantize.c) as a user runs them:
 * a conversion with a progress bar, a --stats report, and exit codes 1 for
 * broken input and 2 for bad flags. */
#include <criterion/criterion.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CONVERT BN_BUILD_DIR "/tools/bitnet-convert"
#define QUANTIZE BN_BUILD_DIR "/tools/bitnet-quantize"
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

static bool have_tiny(void) { return access(TINY "/hf/config.json", R_OK) == 0; }

Test(bitnet_convert, converts_the_tiny_checkpoint_and_quantizes_it_with_stats) {
    if (!have_tiny())
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    char out[512], out2[512];
    snprintf(out, sizeof out, "%s/cli_convert_%d.gguf", BN_BUILD_DIR, (int)getpid());
    snprintf(out2, sizeof out2, "%s/cli_quantize_%d.gguf", BN_BUILD_DIR, (int)getpid());
    char *argv[] = {CONVERT, TINY "/hf", "-o", out, "--type", "tq2_0", NULL};
    run_result r = run_tool(CONVERT, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "68/68"), "progress reaches the end: %s", r.err);
    cr_assert(strstr(r.err, "wrote"), "%s", r.err);
    run_free(&r);
    char *q[] = {QUANTIZE, out, out2, "i2_s", "--stats", NULL};
    r = run_tool(QUANTIZE, q);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "blk.5.ffn_down.weight"), "%s", r.out);
    cr_assert(strstr(r.out, "x vs F32"), "%s", r.out);
    cr_assert(strstr(r.out, "TQ2_0  -> I2_S"), "%s", r.out);
    run_free(&r);
    remove(out);
    remove(out2);
}

Test(bitnet_convert, broken_input_exits_1_and_bad_flags_exit_2) {
    char *no_dir[] = {CONVERT, "/nonexistent-dir", "-o", "/tmp/x.gguf", NULL};
    run_result r = run_tool(CONVERT, no_dir);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-convert: error:") && strstr(r.err, "config.json"), "%s", r.err);
    run_free(&r);
    char *bad_type[] = {CONVERT, "dir", "-o", "x.gguf", "--type", "q4_0", NULL};
    r = run_tool(CONVERT, bad_type);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "usage:"), "%s", r.err);
    run_free(&r);
    char *no_out[] = {CONVERT, "dir", NULL};
    r = run_tool(CONVERT, no_out);
    cr_assert_eq(r.status, 2);
    run_free(&r);
    char *q_missing[] = {QUANTIZE, "/nonexistent.gguf", "/tmp/y.gguf", "tq2_0", NULL};
    r = run_tool(QUANTIZE, q_missing);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "bitnet-quantize: error:"), "%s", r.err);
    run_free(&r);
    char *q_bad[] = {QUANTIZE, "a.gguf", "b.gguf", "tq3_0", NULL};
    r = run_tool(QUANTIZE, q_bad);
    cr_assert_eq(r.status, 2);
    run_free(&r);
    char *q_group[] = {QUANTIZE, "a.gguf", "b.gguf", "tq2_0", "--group-size", "32", NULL};
    r = run_tool(QUANTIZE, q_group);
    cr_assert_eq(r.status, 2);
    run_free(&r);
}
