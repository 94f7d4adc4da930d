/* run_tool.h: runs a built tool (bitnet-inspect, bitnet-convert, ...) as a
 * user would, for the CLI test suites: spawns it with posix_spawn, waits for
 * it, and hands back its exit code with everything it wrote to stdout and
 * stderr.
 *
 * Test support only: a tool that cannot be started, or running out of
 * memory, fails the calling Criterion test. The caller frees the result with
 * bn_test_run_free.
 */
#ifndef BN_TEST_RUN_TOOL_H
#define BN_TEST_RUN_TOOL_H

typedef struct bn_test_run {
    int status;      /* exit code, or -1 if the tool did not exit normally */
    char *out, *err; /* captured stdout / stderr, NUL-terminated */
} bn_test_run;

/* Runs the program at path with argv (NULL-terminated, argv[0] included) and
 * the caller's environment. */
bn_test_run bn_test_run_tool(const char *path, char *const argv[]);

/* Frees the captured output; accepts NULL. */
void bn_test_run_free(bn_test_run *r);

#endif
