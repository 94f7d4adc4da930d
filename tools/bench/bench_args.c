/* bench_args.c: bitnet-bench's flags and the expansion into test instances.
 *
 * Owns the flag table, comma-list splitting with strict integer parsing
 * (no trailing garbage, explicit ranges), and the combination order. Prints
 * nothing: errors go into a bn_error for the tool to show with the usage.
 */
#include "tools/bench/bench_args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

#define BN_BENCH_MAX_TOKENS (1 << 20) /* per test; far past any context we run */
#define BN_BENCH_MAX_THREADS 1024
#define BN_BENCH_MAX_REPS 100000

static const char usage_text[] =
    "usage: bitnet-bench -m FILE[,FILE...] [options]\n"
    "\n"
    "Measures prompt processing (pp) and generation (tg) speed, llama-bench style.\n"
    "List flags take comma lists and may be repeated; every combination is run.\n"
    "\n"
    "  -m, --model FILE[,FILE...]     GGUF models (required)\n"
    "  -p, --n-prompt N[,N...]        prompt tests of N tokens as one batch (default 512)\n"
    "  -n, --n-gen N[,N...]           generation tests of N tokens one at a time (default 128)\n"
    "  -pg P,N                        prompt of P tokens then N generated (repeatable)\n"
    "  -t, --threads N[,N...]         threads (default: online CPUs)\n"
    "  -b, --batch-size N[,N...]      tokens per forward step (default 512)\n"
    "  -ctk, --cache-type-k f16|f32   K cache type (list; default f16)\n"
    "  -ctv, --cache-type-v f16|f32   V cache type (list; default f16)\n"
    "  -mmp, --mmap 0|1               map the file (1, default) or read it (0) (list)\n"
    "  --kernels NAME[,NAME...]       kernel table: ref|avx2|avx512|avx512vbmi|neon|neon-dotprod|auto\n"
    "                                 (default: $BN_KERNELS, else the best for this CPU)\n"
    "  -pk, --prompt-kernels auto|mad|lut   ternary kernel family for batches (list)\n"
    "  -dk, --decode-kernels auto|mad|lut   ternary kernel family for one token (list)\n"
    "  --lm-head-i8 0|1               int8 copy of the output layer (list; default 0)\n"
    "  -r, --repetitions N            measured runs per test (default 5)\n"
    "  --no-warmup                    skip the unmeasured warm-up run\n"
    "  -o, --output md|json|csv       output format (default md)\n"
    "  --seed N                       seed of the random prompt tokens (default 1234)\n"
    "  --progress                     progress lines on stderr\n"
    "  -h, --help                     this text\n"
    "\n"
    "tg rows also report the weight-streaming rate (bytes per token x t/s) and its\n"
    "ratio to this machine's read bandwidth, measured at the start of the run.\n";

const char *bn_bench_usage(void) { return usage_text; }

const char *bn_bench_kv_type_name(bn_kv_type type)
{
    return type == BN_KV_TYPE_F32 ? "f32" : "f16";
}

const char *bn_bench_kernel_choice_name(bn_kernel_choice choice)
{
    switch (choice) {
    case BN_KERNEL_CHOICE_MAD: return "mad";
    case BN_KERNEL_CHOICE_LUT: return "lut";
    default: return "auto";
    }
}

const char *bn_bench_format_name(bn_bench_format format)
{
    switch (format) {
    case BN_BENCH_FORMAT_JSON: return "json";
    case BN_BENCH_FORMAT_CSV: return "csv";
    default: return "md";
    }
}

void bn_bench_params_default(bn_bench_params *p, int n_cpus)
{
    memset(p, 0, sizeof *p);
    p->n_kernels = 1; /* kernels[0] = NULL: the default table */
    p->n_prompt[0] = 512;
    p->n_n_prompt = 1;
    p->n_gen[0] = 128;
    p->n_n_gen = 1;
    p->threads[0] = n_cpus > 0 ? n_cpus : 1;
    p->n_threads = 1;
    p->n_batch[0] = 512;
    p->n_n_batch = 1;
    p->type_k[0] = BN_KV_TYPE_F16;
    p->n_type_k = 1;
    p->type_v[0] = BN_KV_TYPE_F16;
    p->n_type_v = 1;
    p->use_mmap[0] = true;
    p->n_use_mmap = 1;
    p->lm_head_i8[0] = false;
    p->n_lm_head_i8 = 1;
    p->prompt_kernels[0] = BN_KERNEL_CHOICE_AUTO;
    p->n_prompt_kernels = 1;
    p->decode_kernels[0] = BN_KERNEL_CHOICE_AUTO;
    p->n_decode_kernels = 1;
    p->reps = 5;
    p->warmup = true;
    p->format = BN_BENCH_FORMAT_MD;
    p->seed = 1234;
}

void bn_bench_params_free(bn_bench_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_models; i++)
        free(p->models[i]);
    for (size_t i = 0; i < p->n_kernels; i++)
        free(p->kernels[i]);
    p->n_models = 0;
    p->n_kernels = 0;
}

/* Parses a whole decimal integer in [lo, hi]; false on anything else. */
static bool parse_int(const char *s, size_t len, long lo, long hi, long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!(buf[i] >= '0' && buf[i] <= '9') && !(i == 0 && buf[i] == '-'))
            return false;
    errno = 0;
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Calls item(ctx, piece, len) for each comma-separated piece of value. Empty
 * pieces ("1,,2", trailing comma) are errors: they are always typos. */
typedef bn_status (*item_fn)(bn_bench_params *p, const char *flag, const char *s, size_t len,
                             bn_error *err);

static bn_status each_item(bn_bench_params *p, const char *flag, const char *value, item_fn item,
                           bn_error *err)
{
    const char *s = value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0)
            return bn_error_set(err, BN_STATUS_INVALID_ARG, "%s: empty item in '%s'", flag,
                                value);
        bn_status st = item(p, flag, s, len, err);
        if (st != BN_STATUS_OK)
            return st;
        if (!comma)
            return BN_STATUS_OK;
        s = comma + 1;
    }
}

static bn_status list_full(const char *flag, bn_error *err)
{
    return bn_error_set(err, BN_STATUS_INVALID_ARG, "%s: more than %d values", flag,
                        BN_BENCH_MAX_LIST);
}

static bn_status bad_value(const char *flag, const char *s, size_t len, const char *want,
                           bn_error *err)
{
    return bn_error_set(err, BN_STATUS_INVALID_ARG, "%s: '%.*s' is not %s", flag, (int)len, s,
                        want);
}

static char *dup_n(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static bn_status add_model(bn_bench_params *p, const char *flag, const char *s, size_t len,
                           bn_error *err)
{
    if (p->n_models == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    char *d = dup_n(s, len);
    if (!d)
        return bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: out of memory", flag);
    p->models[p->n_models++] = d;
    return BN_STATUS_OK;
}

static bn_status add_kernels(bn_bench_params *p, const char *flag, const char *s, size_t len,
                             bn_error *err)
{
    if (p->n_kernels == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    char *d = NULL;
    /* "auto" asks for the default choice, like not giving the flag. */
    if (!(len == 4 && memcmp(s, "auto", 4) == 0)) {
        d = dup_n(s, len);
        if (!d)
            return bn_error_set(err, BN_STATUS_NO_MEMORY, "%s: out of memory", flag);
    }
    p->kernels[p->n_kernels++] = d;
    return BN_STATUS_OK;
}

static bn_status add_n_prompt(bn_bench_params *p, const char *flag, const char *s, size_t len,
                              bn_error *err)
{
    long v;
    if (!parse_int(s, len, 0, BN_BENCH_MAX_TOKENS, &v))
        return bad_value(flag, s, len, "a token count in [0, 1048576]", err);
    if (p->n_n_prompt == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->n_prompt[p->n_n_prompt++] = (int32_t)v;
    return BN_STATUS_OK;
}

static bn_status add_n_gen(bn_bench_params *p, const char *flag, const char *s, size_t len,
                           bn_error *err)
{
    long v;
    if (!parse_int(s, len, 0, BN_BENCH_MAX_TOKENS, &v))
        return bad_value(flag, s, len, "a token count in [0, 1048576]", err);
    if (p->n_n_gen == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->n_gen[p->n_n_gen++] = (int32_t)v;
    return BN_STATUS_OK;
}

static bn_status add_threads(bn_bench_params *p, const char *flag, const char *s, size_t len,
                             bn_error *err)
{
    long v;
    if (!parse_int(s, len, 1, BN_BENCH_MAX_THREADS, &v))
        return bad_value(flag, s, len, "a thread count in [1, 1024]", err);
    if (p->n_threads == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->threads[p->n_threads++] = (int)v;
    return BN_STATUS_OK;
}

static bn_status add_n_batch(bn_bench_params *p, const char *flag, const char *s, size_t len,
                             bn_error *err)
{
    long v;
    if (!parse_int(s, len, 1, BN_BENCH_MAX_TOKENS, &v))
        return bad_value(flag, s, len, "a batch size in [1, 1048576]", err);
    if (p->n_n_batch == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->n_batch[p->n_n_batch++] = (int32_t)v;
    return BN_STATUS_OK;
}

static bool parse_kv(const char *s, size_t len, bn_kv_type *out)
{
    if (len == 3 && memcmp(s, "f16", 3) == 0) {
        *out = BN_KV_TYPE_F16;
        return true;
    }
    if (len == 3 && memcmp(s, "f32", 3) == 0) {
        *out = BN_KV_TYPE_F32;
        return true;
    }
    return false;
}

static bn_status add_type_k(bn_bench_params *p, const char *flag, const char *s, size_t len,
                            bn_error *err)
{
    bn_kv_type t;
    if (!parse_kv(s, len, &t))
        return bad_value(flag, s, len, "f16 or f32", err);
    if (p->n_type_k == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->type_k[p->n_type_k++] = t;
    return BN_STATUS_OK;
}

static bn_status add_type_v(bn_bench_params *p, const char *flag, const char *s, size_t len,
                            bn_error *err)
{
    bn_kv_type t;
    if (!parse_kv(s, len, &t))
        return bad_value(flag, s, len, "f16 or f32", err);
    if (p->n_type_v == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->type_v[p->n_type_v++] = t;
    return BN_STATUS_OK;
}

static bn_status add_mmap(bn_bench_params *p, const char *flag, const char *s, size_t len,
                          bn_error *err)
{
    long v;
    if (!parse_int(s, len, 0, 1, &v))
        return bad_value(flag, s, len, "0 or 1", err);
    if (p->n_use_mmap == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->use_mmap[p->n_use_mmap++] = v != 0;
    return BN_STATUS_OK;
}

static bn_status add_lm_head_i8(bn_bench_params *p, const char *flag, const char *s, size_t len,
                                bn_error *err)
{
    long v;
    if (!parse_int(s, len, 0, 1, &v))
        return bad_value(flag, s, len, "0 or 1", err);
    if (p->n_lm_head_i8 == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->lm_head_i8[p->n_lm_head_i8++] = v != 0;
    return BN_STATUS_OK;
}

static bool parse_choice(const char *s, size_t len, bn_kernel_choice *out)
{
    static const struct {
        const char *name;
        bn_kernel_choice choice;
    } names[] = {{"auto", BN_KERNEL_CHOICE_AUTO}, {"mad", BN_KERNEL_CHOICE_MAD},
                 {"lut", BN_KERNEL_CHOICE_LUT}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(s, names[i].name, len) == 0) {
            *out = names[i].choice;
            return true;
        }
    return false;
}

static bn_status add_prompt_kernels(bn_bench_params *p, const char *flag, const char *s,
                                    size_t len, bn_error *err)
{
    bn_kernel_choice c;
    if (!parse_choice(s, len, &c))
        return bad_value(flag, s, len, "auto, mad or lut", err);
    if (p->n_prompt_kernels == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->prompt_kernels[p->n_prompt_kernels++] = c;
    return BN_STATUS_OK;
}

static bn_status add_decode_kernels(bn_bench_params *p, const char *flag, const char *s,
                                    size_t len, bn_error *err)
{
    bn_kernel_choice c;
    if (!parse_choice(s, len, &c))
        return bad_value(flag, s, len, "auto, mad or lut", err);
    if (p->n_decode_kernels == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->decode_kernels[p->n_decode_kernels++] = c;
    return BN_STATUS_OK;
}

static bn_status set_pg(bn_bench_params *p, const char *flag, const char *value, bn_error *err)
{
    const char *comma = strchr(value, ',');
    long a, b;
    if (!comma || !parse_int(value, (size_t)(comma - value), 0, BN_BENCH_MAX_TOKENS, &a) ||
        !parse_int(comma + 1, strlen(comma + 1), 0, BN_BENCH_MAX_TOKENS, &b))
        return bn_error_set(err, BN_STATUS_INVALID_ARG,
                            "%s: '%s' is not a pair of token counts P,N", flag, value);
    if (p->n_pg == BN_BENCH_MAX_LIST)
        return list_full(flag, err);
    p->pg[p->n_pg].n_prompt = (int32_t)a;
    p->pg[p->n_pg].n_gen = (int32_t)b;
    p->n_pg++;
    return BN_STATUS_OK;
}

/* Which list flags have been given: the first use clears the default. */
typedef struct seen {
    bool p, n, t, b, ctk, ctv, mmp, kernels, i8, pk, dk;
} seen;

bn_status bn_bench_params_parse(bn_bench_params *p, int argc, char **argv, bool *help,
                                bn_error *err)
{
    seen s = {0};
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            return BN_STATUS_OK;
        }
        if (strcmp(a, "--no-warmup") == 0) {
            p->warmup = false;
            continue;
        }
        if (strcmp(a, "--progress") == 0) {
            p->progress = true;
            continue;
        }
        /* Every other flag takes a value. */
        bool known = false;
        static const char *const with_value[] = {
            "-m", "--model", "-p", "--n-prompt", "-n", "--n-gen", "-pg", "-t", "--threads",
            "-b", "--batch-size", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v", "-mmp",
            "--mmap", "--kernels", "-r", "--repetitions", "-o", "--output", "--seed",
            "--lm-head-i8", "-pk", "--prompt-kernels", "-dk", "--decode-kernels"};
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known = known || strcmp(a, with_value[k]) == 0;
        if (!known)
            return bn_error_set(err, BN_STATUS_INVALID_ARG, "unknown argument '%s'", a);
        if (i + 1 >= argc)
            return bn_error_set(err, BN_STATUS_INVALID_ARG, "%s needs a value", a);
        const char *v = argv[++i];
        bn_status st = BN_STATUS_OK;
        long num;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            st = each_item(p, a, v, add_model, err);
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0) {
            if (!s.p)
                p->n_n_prompt = 0;
            s.p = true;
            st = each_item(p, a, v, add_n_prompt, err);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0) {
            if (!s.n)
                p->n_n_gen = 0;
            s.n = true;
            st = each_item(p, a, v, add_n_gen, err);
        } else if (strcmp(a, "-pg") == 0) {
            st = set_pg(p, a, v, err);
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (!s.t)
                p->n_threads = 0;
            s.t = true;
            st = each_item(p, a, v, add_threads, err);
        } else if (strcmp(a, "-b") == 0 || strcmp(a, "--batch-size") == 0) {
            if (!s.b)
                p->n_n_batch = 0;
            s.b = true;
            st = each_item(p, a, v, add_n_batch, err);
        } else if (strcmp(a, "-ctk") == 0 || strcmp(a, "--cache-type-k") == 0) {
            if (!s.ctk)
                p->n_type_k = 0;
            s.ctk = true;
            st = each_item(p, a, v, add_type_k, err);
        } else if (strcmp(a, "-ctv") == 0 || strcmp(a, "--cache-type-v") == 0) {
            if (!s.ctv)
                p->n_type_v = 0;
            s.ctv = true;
            st = each_item(p, a, v, add_type_v, err);
        } else if (strcmp(a, "-mmp") == 0 || strcmp(a, "--mmap") == 0) {
            if (!s.mmp)
                p->n_use_mmap = 0;
            s.mmp = true;
            st = each_item(p, a, v, add_mmap, err);
        } else if (strcmp(a, "--lm-head-i8") == 0) {
            if (!s.i8)
                p->n_lm_head_i8 = 0;
            s.i8 = true;
            st = each_item(p, a, v, add_lm_head_i8, err);
        } else if (strcmp(a, "-pk") == 0 || strcmp(a, "--prompt-kernels") == 0) {
            if (!s.pk)
                p->n_prompt_kernels = 0;
            s.pk = true;
            st = each_item(p, a, v, add_prompt_kernels, err);
        } else if (strcmp(a, "-dk") == 0 || strcmp(a, "--decode-kernels") == 0) {
            if (!s.dk)
                p->n_decode_kernels = 0;
            s.dk = true;
            st = each_item(p, a, v, add_decode_kernels, err);
        } else if (strcmp(a, "--kernels") == 0) {
            if (!s.kernels)
                p->n_kernels = 0; /* the default entry is NULL: nothing to free */
            s.kernels = true;
            st = each_item(p, a, v, add_kernels, err);
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--repetitions") == 0) {
            if (!parse_int(v, strlen(v), 1, BN_BENCH_MAX_REPS, &num))
                st = bad_value(a, v, strlen(v), "a repetition count in [1, 100000]", err);
            else
                p->reps = (int)num;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (strcmp(v, "md") == 0)
                p->format = BN_BENCH_FORMAT_MD;
            else if (strcmp(v, "json") == 0)
                p->format = BN_BENCH_FORMAT_JSON;
            else if (strcmp(v, "csv") == 0)
                p->format = BN_BENCH_FORMAT_CSV;
            else
                st = bad_value(a, v, strlen(v), "md, json or csv", err);
        } else { /* --seed */
            if (!parse_int(v, strlen(v), 0, LONG_MAX, &num))
                st = bad_value(a, v, strlen(v), "a non-negative integer", err);
            else
                p->seed = (uint64_t)num;
        }
        if (st != BN_STATUS_OK)
            return st;
    }
    if (p->n_models == 0)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "no model: -m FILE is required");
    return BN_STATUS_OK;
}

/* The tests of one configuration, in llama-bench's order: pp, tg, pg. */
static size_t tests_of(const bn_bench_params *p, bn_bench_pair *out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_n_prompt; i++)
        if (p->n_prompt[i] > 0)
            out[n++] = (bn_bench_pair){p->n_prompt[i], 0};
    for (size_t i = 0; i < p->n_n_gen; i++)
        if (p->n_gen[i] > 0)
            out[n++] = (bn_bench_pair){0, p->n_gen[i]};
    for (size_t i = 0; i < p->n_pg; i++)
        if (p->pg[i].n_prompt > 0 || p->pg[i].n_gen > 0)
            out[n++] = p->pg[i];
    return n;
}

size_t bn_bench_instance_count(const bn_bench_params *p)
{
    bn_bench_pair tests[3 * BN_BENCH_MAX_LIST];
    return p->n_models * p->n_kernels * p->n_use_mmap * p->n_lm_head_i8 * p->n_prompt_kernels *
           p->n_decode_kernels * p->n_type_k * p->n_type_v * p->n_n_batch * p->n_threads *
           tests_of(p, tests);
}

size_t bn_bench_instances(const bn_bench_params *p, bn_bench_instance *out, size_t cap)
{
    bn_bench_pair tests[3 * BN_BENCH_MAX_LIST];
    size_t n_tests = tests_of(p, tests), n = 0;
    /* One odometer over the list flags, the last digit (tests) fastest. */
    enum { D_MODEL, D_KERNELS, D_MMAP, D_I8, D_PK, D_DK, D_TK, D_TV, D_BATCH, D_THREADS, D_TEST, D_N };
    const size_t len[D_N] = {p->n_models,       p->n_kernels,        p->n_use_mmap,
                             p->n_lm_head_i8,   p->n_prompt_kernels, p->n_decode_kernels,
                             p->n_type_k,       p->n_type_v,         p->n_n_batch,
                             p->n_threads,      n_tests};
    size_t d[D_N] = {0};
    for (int i = 0; i < D_N; i++)
        if (len[i] == 0)
            return 0;
    for (;;) {
        if (n < cap)
            out[n] = (bn_bench_instance){
                .model = p->models[d[D_MODEL]],
                .kernels = p->kernels[d[D_KERNELS]],
                .use_mmap = p->use_mmap[d[D_MMAP]],
                .lm_head_i8 = p->lm_head_i8[d[D_I8]],
                .prompt_kernels = p->prompt_kernels[d[D_PK]],
                .decode_kernels = p->decode_kernels[d[D_DK]],
                .type_k = p->type_k[d[D_TK]],
                .type_v = p->type_v[d[D_TV]],
                .n_batch = p->n_batch[d[D_BATCH]],
                .n_threads = p->threads[d[D_THREADS]],
                .n_prompt = tests[d[D_TEST]].n_prompt,
                .n_gen = tests[d[D_TEST]].n_gen,
            };
        n++;
        int i = D_N - 1;
        while (i >= 0 && ++d[i] == len[i])
            d[i--] = 0;
        if (i < 0)
            break;
    }
    return n;
}
