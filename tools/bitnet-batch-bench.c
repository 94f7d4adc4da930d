/* bitnet-batch-bench: decode throughput of N sessions advanced together in
 * one bn_batch_eval per step, against the same N sessions advanced one at a
 * time (a step of one sequence each: the bn_session_eval path).
 *
 *   bitnet-batch-bench -m FILE [-t 2] [-s 1,4,8,16] [-p 64] [-n 16] [-r 3]
 *                      [--kernels NAME] [--batched-only]
 *
 * Per N: N batch_only sessions, each first given a prompt of p random
 * tokens; then n decode steps of one random token per session, batched
 * (one call with N sequences per step) and one at a time (N calls of one
 * sequence per step), each from the same cache positions, r times; the best
 * run of each counts (wall time, and the process's CPU time per token, which
 * a machine shared with other work disturbs less). Markdown table on stdout, errors on stderr; exit 1 on
 * a failure, 2 on bad flags. --batched-only skips the one-at-a-time runs
 * (for profiling the batched step alone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/bitnet.h"
#include "tools/cli_args.h"

#define MAX_N 64

static void usage(void)
{
    fprintf(stderr,
            "usage: bitnet-batch-bench -m FILE [-t THREADS] [-s N,N,...] [-p PROMPT] [-n STEPS]\n"
            "                          [-r REPS] [--kernels ref|avx2|avx512|avx512vbmi|neon|...]\n"
            "                          [--batched-only]\n");
    exit(2);
}

/* A count flag's value (1 .. 1e6), or usage() for anything else. */
static int count_arg(const char *v)
{
    long n;
    if (!bn_cli_parse_long(v, 1, 1000000, &n))
        usage();
    return (int)n;
}

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, const bn_error *err)
{
    fprintf(stderr, "bitnet-batch-bench: error: %s: %s\n", what, err->message);
    return 1;
}

/* n decode steps from position p for every session; batched or one at a
 * time. Returns wall seconds (and the process's CPU seconds in *cpu), < 0 on
 * error. */
static double decode(bn_batch *b, bn_session **s, int n_seq, int32_t p, int n_steps,
                     const int32_t *tok, bool batched, double *cpu, bn_error *err)
{
    bn_batch_seq q[MAX_N];
    for (int i = 0; i < n_seq; i++)
        if (bn_session_truncate(s[i], p, err) != BN_STATUS_OK)
            return -1;
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int step = 0; step < n_steps; step++) {
        for (int i = 0; i < n_seq; i++)
            q[i] = (bn_batch_seq){s[i], &tok[(step * n_seq + i) % 4096], 1, false, false};
        if (batched) {
            if (bn_batch_eval(b, q, (size_t)n_seq, err) != BN_STATUS_OK)
                return -1;
        } else {
            for (int i = 0; i < n_seq; i++)
                if (bn_batch_eval(b, &q[i], 1, err) != BN_STATUS_OK)
                    return -1;
        }
    }
    *cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return now_s(CLOCK_MONOTONIC) - t0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *kernels = getenv("BN_KERNELS"), *sizes = "1,4,8,16";
    int n_threads = 2, n_prompt = 64, n_steps = 16, reps = 3;
    bool batched_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--batched-only")) {
            batched_only = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "-m"))
            path = v;
        else if (!strcmp(a, "-t"))
            n_threads = count_arg(v);
        else if (!strcmp(a, "-s"))
            sizes = v;
        else if (!strcmp(a, "-p"))
            n_prompt = count_arg(v);
        else if (!strcmp(a, "-n"))
            n_steps = count_arg(v);
        else if (!strcmp(a, "-r"))
            reps = count_arg(v);
        else if (!strcmp(a, "--kernels"))
            kernels = v;
        else
            usage();
    }
    if (!path || n_threads < 1 || n_prompt < 1 || n_steps < 1 || reps < 1)
        usage();
    int ns[32], n_sizes = 0;
    for (const char *c = sizes; *c && n_sizes < 32;) {
        ns[n_sizes] = atoi(c);
        if (ns[n_sizes] < 1 || ns[n_sizes] > MAX_N)
            usage();
        n_sizes++;
        c = strchr(c, ',');
        if (!c)
            break;
        c++;
    }

    bn_error err;
    bn_error_clear(&err);
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = n_threads;
    mo.kernels = kernels;
    bn_model *m = NULL;
    if (bn_model_load(path, &mo, &m, &err) != BN_STATUS_OK)
        return die(path, &err);
    const int32_t nv = bn_model_n_vocab(m);
    static int32_t tok[4096];
    uint32_t seed = 12345;
    for (int i = 0; i < 4096; i++) {
        seed = seed * 1664525u + 1013904223u;
        tok[i] = (int32_t)((seed >> 8) % (uint32_t)nv);
    }
    printf("model: %s, kernels %s, %d threads, prompt %d, %d decode steps, best of %d\n\n",
           bn_model_description(m), bn_model_kernels_name(m), n_threads, n_prompt, n_steps,
           reps);
    printf("| sequences | batched t/s | one at a time t/s | speedup | batched ms/step | "
           "batched CPU ms/token | one at a time CPU ms/token |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);

    int rc = 0;
    for (int si = 0; si < n_sizes && rc == 0; si++) {
        const int n_seq = ns[si];
        bn_session *s[MAX_N] = {0};
        bn_batch *b = NULL;
        bn_batch_options bo;
        bn_batch_options_default(&bo);
        bo.n_tokens = n_prompt > n_seq ? n_prompt : n_seq;
        bo.n_seqs = n_seq;
        bo.n_threads = n_threads;
        bo.n_ctx = n_prompt + n_steps;
        if (bn_batch_new(m, &bo, &b, &err) != BN_STATUS_OK) {
            rc = die("bn_batch_new", &err);
            break;
        }
        bn_session_options so;
        bn_session_options_default(&so);
        so.n_ctx = n_prompt + n_steps;
        so.n_logits = 1;
        so.batch_only = true;
        for (int i = 0; i < n_seq && rc == 0; i++) {
            if (bn_session_new(m, &so, &s[i], &err) != BN_STATUS_OK) {
                rc = die("bn_session_new", &err);
                break;
            }
            bn_batch_seq q = {s[i], tok + i, n_prompt, false, false};
            if (bn_batch_eval(b, &q, 1, &err) != BN_STATUS_OK)
                rc = die("prompt", &err);
        }
        double best_b = 1e30, best_a = 1e30, cpu_b = 1e30, cpu_a = 1e30;
        for (int r = 0; r < reps && rc == 0; r++) {
            double cb = 0, ca = 0;
            double tb = decode(b, s, n_seq, n_prompt, n_steps, tok, true, &cb, &err);
            double ta = batched_only ? 1e30
                                     : decode(b, s, n_seq, n_prompt, n_steps, tok, false, &ca, &err);
            if (tb < 0 || ta < 0) {
                rc = die("decode", &err);
                break;
            }
            best_b = tb < best_b ? tb : best_b;
            best_a = ta < best_a ? ta : best_a;
            cpu_b = cb < cpu_b ? cb : cpu_b;
            cpu_a = ca < cpu_a ? ca : cpu_a;
        }
        if (rc == 0) {
            double tok_n = (double)n_seq * n_steps;
            if (batched_only) /* the one-at-a-time columns were not measured */
                printf("| %d | %.2f | - | - | %.1f | %.1f | - |\n", n_seq, tok_n / best_b,
                       best_b * 1e3 / n_steps, cpu_b * 1e3 / tok_n);
            else
                printf("| %d | %.2f | %.2f | %.2fx | %.1f | %.1f | %.1f |\n", n_seq,
                       tok_n / best_b, tok_n / best_a, best_a / best_b, best_b * 1e3 / n_steps,
                       cpu_b * 1e3 / tok_n, cpu_a * 1e3 / tok_n);
            fflush(stdout);
        }
        for (int i = 0; i < n_seq; i++)
            bn_session_free(s[i]);
        bn_batch_free(b);
    }
    bn_model_free(m);
    return rc;
}
