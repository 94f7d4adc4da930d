/* bench_args.h: bitnet-bench's command line and the list of tests it implies.
 *
 * Owns: parsing argv into bn_bench_params (every list flag takes a comma list
 * and may be repeated, as in llama-bench: "-t 1,2" and "-t 1 -t 2" are the
 * same) and expanding the params into test instances, one per combination of
 * model x kernels x mmap x output-layer int8 x prompt family x decode family
 * x K type x V type x batch x threads x test, in that nesting order so that
 * instances sharing a model load are adjacent. Does not
 * load models or print: the caller turns a status into a usage message.
 *
 * Tests follow llama-bench: each -p value is a prompt test (n_prompt = p,
 * n_gen = 0), each -n value a generation test (0, n), each -pg pair a prompt
 * followed by generation; zero values are skipped.
 */
#ifndef BN_BENCH_ARGS_H
#define BN_BENCH_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/bitnet.h"

#define BN_BENCH_MAX_LIST 64 /* values per list flag, after comma splitting */

typedef enum bn_bench_format {
    BN_BENCH_FORMAT_MD = 0,
    BN_BENCH_FORMAT_JSON,
    BN_BENCH_FORMAT_CSV,
} bn_bench_format;

typedef struct bn_bench_pair {
    int32_t n_prompt, n_gen;
} bn_bench_pair;

typedef struct bn_bench_params {
    char *models[BN_BENCH_MAX_LIST]; /* owned copies */
    size_t n_models;
    char *kernels[BN_BENCH_MAX_LIST]; /* owned; NULL entry = BN_KERNELS or the best table */
    size_t n_kernels;
    int32_t n_prompt[BN_BENCH_MAX_LIST];
    size_t n_n_prompt;
    int32_t n_gen[BN_BENCH_MAX_LIST];
    size_t n_n_gen;
    bn_bench_pair pg[BN_BENCH_MAX_LIST];
    size_t n_pg;
    int threads[BN_BENCH_MAX_LIST];
    size_t n_threads;
    int32_t n_batch[BN_BENCH_MAX_LIST];
    size_t n_n_batch;
    bn_kv_type type_k[BN_BENCH_MAX_LIST];
    size_t n_type_k;
    bn_kv_type type_v[BN_BENCH_MAX_LIST];
    size_t n_type_v;
    bool use_mmap[BN_BENCH_MAX_LIST];
    size_t n_use_mmap;
    bool lm_head_i8[BN_BENCH_MAX_LIST];
    size_t n_lm_head_i8;
    bn_kernel_choice prompt_kernels[BN_BENCH_MAX_LIST]; /* family for batches */
    size_t n_prompt_kernels;
    bn_kernel_choice decode_kernels[BN_BENCH_MAX_LIST]; /* family for one token */
    size_t n_decode_kernels;
    int reps;          /* measured repetitions per test, >= 1 */
    bool warmup;       /* one unmeasured run before the repetitions */
    bool progress;     /* progress lines on stderr */
    bn_bench_format format;
    uint64_t seed;     /* for the random prompt tokens */
} bn_bench_params;

/* One test: everything needed to run it and to label its row. Strings point
 * into the params, which must outlive the instances. */
typedef struct bn_bench_instance {
    const char *model;
    const char *kernels; /* NULL = default */
    bool use_mmap;
    bool lm_head_i8;
    bn_kernel_choice prompt_kernels, decode_kernels;
    bn_kv_type type_k, type_v;
    int32_t n_batch;
    int n_threads;
    int32_t n_prompt, n_gen;
} bn_bench_instance;

/* Fills the defaults (llama-bench's: -p 512 -n 128 -r 5, threads = the
 * number of online CPUs, n_batch 512, K/V f16, mmap on, warm-up on, md). */
void bn_bench_params_default(bn_bench_params *params, int n_cpus);

/* Parses argv[1..argc-1] over the defaults. A list flag given at least once
 * replaces its default list. *help is set for -h/--help (params then need not
 * be complete). Errors are INVALID_ARG with a message naming the flag and the
 * value. -m is required. The params must be freed even on failure. */
bn_status bn_bench_params_parse(bn_bench_params *params, int argc, char **argv, bool *help,
                                bn_error *err);
void bn_bench_params_free(bn_bench_params *params);

/* Number of test instances the params imply (0 when every test is skipped). */
size_t bn_bench_instance_count(const bn_bench_params *params);
/* Writes up to cap instances in run order; returns how many exist. */
size_t bn_bench_instances(const bn_bench_params *params, bn_bench_instance *out, size_t cap);

const char *bn_bench_kv_type_name(bn_kv_type type); /* "f16" / "f32" */
const char *bn_bench_format_name(bn_bench_format format);
const char *bn_bench_kernel_choice_name(bn_kernel_choice choice); /* "auto" / "mad" / "lut" */

/* The usage text (the caller prints it). */
const char *bn_bench_usage(void);

#endif /* BN_BENCH_ARGS_H */
