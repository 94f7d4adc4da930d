/* test_bitnet_bench.c: the bitnet-bench tool (tools/bitnet-bench.c) as a
 * user runs it, on the bundled tiny model: JSON rows for every combination,
 * exit 2 with the usage for bad flags, exit 1 with a message (and still
 * well-formed output) for a model that cannot be loaded. Runs are tiny
 * (-p 8 -n 4 -r 1) to keep the suite fast. */
#include <criterion/criterion.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader/json.h"
#include "tests/support/gguf_bytes.h"

#define BENCH BN_BUILD_DIR "/tools/bitnet-bench"
#define TINY BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf"

extern char **environ;

typedef struct run_result {
    int status;      /* exit code, or -1 if it did not exit normally */
    char *out, *err; /* captured stdout / stderr, NUL-terminated */
} run_result;

static char *slurp(const char *path)
{
    size_t n = 0;
    uint8_t *data = bn_test_read_file(path, &n);
    cr_assert_not_null(data);
    char *s = realloc(data, n + 1);
    s[n] = '\0';
    return s;
}

/* Runs bitnet-bench with a NULL-terminated argument list. */
static run_result run_bench(const char **args)
{
    struct stat sb;
    if (stat(BENCH, &sb) != 0)
        cr_skip_test("%s was not built", BENCH);
    char out_path[] = "/tmp/bn_bench_out_XXXXXX", err_path[] = "/tmp/bn_bench_err_XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    char *argv[32] = {(char *)BENCH};
    for (int i = 0; args[i]; i++)
        argv[i + 1] = (char *)args[i];
    pid_t pid;
    int rc = posix_spawn(&pid, BENCH, &fa, NULL, argv, environ);
    cr_assert_eq(rc, 0, "cannot run %s: %s", BENCH, strerror(rc));
    posix_spawn_file_actions_destroy(&fa);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    close(out_fd);
    close(err_fd);
    run_result r = {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, slurp(out_path), slurp(err_path)};
    unlink(out_path);
    unlink(err_path);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static bn_json_doc *parse_json(const char *text)
{
    bn_json_doc *doc = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_json_parse(text, strlen(text), &doc, &err), BN_STATUS_OK, "%s\n%s",
                 err.message, text);
    return doc;
}

Test(bitnet_bench, writes_one_json_object_per_combination_on_the_tiny_model)
{
    const char *a[] = {"-m", TINY, "-p", "8", "-n", "4", "-pg", "4,2", "-t", "1,2", "-r", "2",
                       "-o", "json", NULL};
    run_result r = run_bench(a);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    bn_json_doc *doc = parse_json(r.out);
    const bn_json_value *root = bn_json_root(doc);
    cr_assert_eq(bn_json_array_len(root), 6, "2 thread counts x (pp8, tg4, pp4+tg2)");
    static const int64_t want[6][3] = {{1, 8, 0}, {1, 0, 4}, {1, 4, 2},
                                       {2, 8, 0}, {2, 0, 4}, {2, 4, 2}};
    for (size_t i = 0; i < 6; i++) {
        const bn_json_value *o = bn_json_array_at(root, i);
        int64_t t, p, n, size, rss, bpt;
        double ts, median, load;
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_threads"), &t));
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_prompt"), &p));
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_gen"), &n));
        cr_assert(t == want[i][0] && p == want[i][1] && n == want[i][2], "row %zu", i);
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "model_size"), &size));
        cr_assert_eq(size, 3317024);
        cr_assert(bn_json_as_double(bn_json_object_get(o, "avg_ts"), &ts) && ts > 0);
        cr_assert(bn_json_as_double(bn_json_object_get(o, "median_ts"), &median) && median > 0);
        cr_assert_eq(bn_json_array_len(bn_json_object_get(o, "samples_ts")), 2);
        cr_assert(bn_json_as_double(bn_json_object_get(o, "load_ms"), &load) && load > 0);
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "peak_rss_bytes"), &rss) && rss > 0);
        cr_assert(bn_json_as_int64(bn_json_object_get(o, "bytes_per_token"), &bpt) && bpt > 0);
        const char *s;
        cr_assert(bn_json_as_string(bn_json_object_get(o, "kernels"), &s, NULL) && s[0]);
        cr_assert(bn_json_as_string(bn_json_object_get(o, "model_type"), &s, NULL));
        cr_assert(strstr(s, "I2_S"), "%s", s);
        /* roofline only on the pure generation rows */
        bool tg = p == 0;
        cr_assert_eq(bn_json_is(bn_json_object_get(o, "roofline_ratio"), BN_JSON_NUMBER), tg,
                     "row %zu", i);
    }
    bn_json_free(doc);
    run_free(&r);
}

Test(bitnet_bench, prints_a_markdown_table_and_csv)
{
    const char *md[] = {"-m", TINY, "-p", "8", "-n", "4", "-t", "1", "-r", "1", NULL};
    run_result r = run_bench(md);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "| model", 7) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "pp8 |") && strstr(r.out, "tg4 |"), "%s", r.out);
    cr_assert(strstr(r.out, "\nbuild: "), "%s", r.out);
    cr_assert(strstr(r.out, "read bandwidth: 1 thread "), "%s", r.out);
    run_free(&r);

    const char *csv[] = {"-m", TINY, "-p", "8", "-n", "0", "-t", "1", "-r", "1", "-o", "csv",
                         "--kernels", "ref", NULL};
    r = run_bench(csv);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "build_commit,", 13) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "\"ref\""), "the forced kernel table is reported: %s", r.out);
    int lines = 0;
    for (char *c = r.out; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 2, "%s", r.out);
    run_free(&r);
}

Test(bitnet_bench, exits_2_with_the_usage_for_bad_flags)
{
    const char *cases[][6] = {
        {"-m", TINY, "-t", "0", NULL},
        {"-m", TINY, "-o", "xml", NULL},
        {"-p", "8", NULL},
        {"-m", TINY, "--bogus", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = run_bench(cases[i]);
        cr_assert_eq(r.status, 2, "case %zu: status %d, stderr %s", i, r.status, r.err);
        cr_assert(strncmp(r.err, "bitnet-bench: error: ", 21) == 0, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "usage: bitnet-bench"), "case %zu: %s", i, r.err);
        cr_assert_eq(r.out[0], '\0', "case %zu: nothing on stdout", i);
        run_free(&r);
    }
    const char *help[] = {"--help", NULL};
    run_result r = run_bench(help);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "usage: bitnet-bench"));
    run_free(&r);
}

Test(bitnet_bench, exits_1_for_a_missing_or_garbage_model_and_keeps_json_valid)
{
    const char *missing[] = {"-m", "/nonexistent/model.gguf", "-p", "8", "-n", "0", "-t", "1",
                             "-r", "1", "-o", "json", NULL};
    run_result r = run_bench(missing);
    cr_assert_eq(r.status, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "bitnet-bench: error: /nonexistent/model.gguf: "), "%s", r.err);
    bn_json_doc *doc = parse_json(r.out);
    cr_assert_eq(bn_json_array_len(bn_json_root(doc)), 0);
    bn_json_free(doc);
    run_free(&r);

    char path[] = "/tmp/bn_bench_garbage_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "GGUF but not really a model\n", 28), 28);
    close(fd);
    /* a good model first: its rows stay in the output, then the bad one fails */
    char models[512];
    snprintf(models, sizeof models, "%s,%s", TINY, path);
    const char *mixed[] = {"-m", models, "-p", "8", "-n", "0", "-t", "1", "-r", "1", "-o",
                           "json", NULL};
    r = run_bench(mixed);
    cr_assert_eq(r.status, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, path), "%s", r.err);
    doc = parse_json(r.out);
    cr_assert_eq(bn_json_array_len(bn_json_root(doc)), 1);
    bn_json_free(doc);
    run_free(&r);
    unlink(path);
}
