/* bench_report.h: one measured test and its md / json / csv rendering.
 *
 * Owns the statistics (mean, sample standard deviation, median of the
 * per-repetition tokens/s), the derived roofline numbers, and the three
 * output formats. JSON and CSV carry llama-bench's field names so scripts
 * written for llama-bench read bitnet's results, plus bitnet's own fields.
 * Writing is streaming: begin, one row per test, end, so a long run shows
 * its rows as they finish (as llama-bench does). Knows nothing about models
 * or timing: the caller fills the result.
 */
#ifndef BN_BENCH_REPORT_H
#define BN_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/bench/bench_args.h"

/* Facts about this build and machine, the same for every row. */
typedef struct bn_bench_build {
    const char *commit;   /* "unknown" when not built from git */
    const char *compiler; /* e.g. "gcc 12.2.0" */
    const char *c_flags;  /* the flags the tool's translation units saw */
    const char *openmp;   /* "OpenMP 201511" or "no OpenMP" */
    const char *cpu_info; /* "AMD EPYC" */
    int n_cpus;
} bn_bench_build;

typedef struct bn_bench_result {
    /* what ran */
    const char *model_filename;
    const char *model_type;    /* short label: "bitnet-b1.58 2.74B I2_S (Q6_K out)" */
    uint64_t model_size;       /* file bytes */
    uint64_t model_n_params;
    const char *kernels;       /* the table the model used */
    int n_threads;
    int32_t n_batch;
    bn_kv_type type_k, type_v;
    bool use_mmap;
    bool lm_head_i8;
    bn_kernel_choice prompt_kernels, decode_kernels;
    int32_t n_prompt, n_gen;
    char test_time[32];        /* ISO 8601, UTC, when the test started */
    /* measurements */
    const uint64_t *samples_ns; /* (n_samples) wall time of each repetition */
    size_t n_samples;
    double load_ms;             /* bn_model_load of this model */
    double ttft_ms;             /* load + session + first token, fresh model */
    uint64_t peak_rss_bytes;    /* process high-water mark since this model's load */
    uint64_t bytes_per_token;   /* weight bytes one generated token streams */
    double read_bandwidth_gbs;  /* measured at n_threads; <= 0 when unknown */
} bn_bench_result;

/* Derived numbers of one result. ts = tokens/s of each repetition. */
typedef struct bn_bench_stats {
    double avg_ns, stddev_ns;
    double avg_ts, stddev_ts, median_ts, min_ts, max_ts;
    double weight_gbs;     /* bytes_per_token x median_ts / 1e9 (tg only, else 0) */
    double roofline_ratio; /* weight_gbs / read bandwidth (tg only, else 0) */
    bool is_tg;            /* a pure generation test: the roofline applies */
} bn_bench_stats;

void bn_bench_stats_compute(const bn_bench_result *r, bn_bench_stats *out);

/* "pp512", "tg128", "pp512+tg128" (llama-bench's test names). */
void bn_bench_test_name(int32_t n_prompt, int32_t n_gen, char *buf, size_t cap);

/* Which optional md columns to show: those the run varies or sets away from
 * the default, as llama-bench does. */
typedef struct bn_bench_columns {
    bool n_batch, type_k, type_v, use_mmap, lm_head_i8, prompt_kernels, decode_kernels;
} bn_bench_columns;

void bn_bench_columns_from_params(const bn_bench_params *params, bn_bench_columns *out);

typedef struct bn_bench_writer {
    FILE *f;
    bn_bench_format format;
    bn_bench_columns columns;
    const bn_bench_build *build;
    size_t n_rows;
} bn_bench_writer;

void bn_bench_writer_begin(bn_bench_writer *w, FILE *f, bn_bench_format format,
                           const bn_bench_columns *columns, const bn_bench_build *build);
void bn_bench_writer_row(bn_bench_writer *w, const bn_bench_result *r);
/* Closes the array (json); md adds the build line and the read bandwidths
 * (bw_threads[i] threads -> bw_gbs[i]) under the table. */
void bn_bench_writer_end(bn_bench_writer *w, const int *bw_threads, const double *bw_gbs,
                         size_t n_bw);

#endif /* BN_BENCH_REPORT_H */
