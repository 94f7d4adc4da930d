/* bitnet-bench: prompt-processing and generation throughput, llama-bench style.
 *
 *   bitnet-bench -m FILE[,FILE...] -p 512 -n 128 [-pg 512,128] -t 1,2 -r 5
 *                [-o md|json|csv] [--kernels NAME] [-ctk f16|f32]
 *                [-pk auto|mad|lut] [-dk auto|mad|lut] [--lm-head-i8 0|1]
 *
 * Every combination of the list flags is a test (tools/bench/bench_args.h).
 * Per model: load (timed), time to the first token on a fresh model, then per
 * test a fresh session, one unmeasured warm-up run and -r measured runs; a
 * prompt test evaluates its p random tokens as one call (batched), a
 * generation test evaluates n random tokens one call each, both from an empty
 * cache, as llama-bench does. Before any model is loaded the read bandwidth
 * is measured at each thread count of the run; generation rows report the
 * weight-streaming rate (bytes per token x median t/s) and its ratio to that
 * bandwidth. The memory high-water mark is reset before each model load, so
 * peak RSS is the model's own (load, KV cache, scratch), not the bandwidth
 * buffer's or an earlier model's.
 *
 * Output on stdout (md table, JSON array or CSV), progress and errors on
 * stderr. Exit 0 on success, 1 when a model or test fails (the output is
 * still closed, so the rows so far stay readable), 2 on bad flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "runtime/bitnet.h"
#include "runtime/error.h"
#include "tools/bench/bench_args.h"
#include "tools/bench/bench_report.h"
#include "tools/bench/bench_sys.h"
#include "tools/bench/membw.h"

#ifndef BN_BENCH_COMMIT
#define BN_BENCH_COMMIT "unknown"
#endif
#ifndef BN_BENCH_C_FLAGS
#define BN_BENCH_C_FLAGS "unknown flags"
#endif

#if defined(__clang__)
#define BN_BENCH_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define BN_BENCH_COMPILER "gcc " __VERSION__
#else
#define BN_BENCH_COMPILER "unknown compiler"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)
#if defined(_OPENMP)
#define BN_BENCH_OPENMP "OpenMP " STR(_OPENMP)
#else
#define BN_BENCH_OPENMP "no OpenMP"
#endif

static void die_usage(const char *msg)
{
    fprintf(stderr, "bitnet-bench: error: %s\n\n%s", msg, bn_bench_usage());
    exit(2);
}

/* Short model label for the table: "<arch> <params>B <ternary type> (<output
 * layer type> out)", read from the file's tensor table. The runtime's own
 * description is longer and goes to the progress line. */
static void model_label(const char *path, const bn_model *m, char *buf, size_t cap)
{
    const char *ternary = "?", *out = "?";
    bn_gguf *g = NULL;
    bn_error err;
    bn_error_clear(&err);
    if (bn_gguf_open_file(path, NULL, &g, &err) == BN_STATUS_OK) {
        const bn_gguf_tensor *q = bn_gguf_find_tensor(g, "blk.0.attn_q.weight");
        const bn_gguf_tensor *o = bn_gguf_find_tensor(g, "output.weight");
        if (!o)
            o = bn_gguf_find_tensor(g, "token_embd.weight"); /* tied output layer */
        if (q)
            ternary = bn_tensor_type_name(q->type);
        if (o)
            out = bn_tensor_type_name(o->type);
    }
    double n = (double)bn_model_n_params(m);
    snprintf(buf, cap, "%s %.*f%s %s (%s out)", bn_model_arch(m), n >= 1e9 ? 2 : 1,
             n >= 1e9 ? n / 1e9 : n / 1e6, n >= 1e9 ? "B" : "M", ternary, out);
    bn_gguf_close(g);
}

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64: the prompt's ids only need to be spread over the vocabulary */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One run of a test from an empty cache: the prompt as one call, then the
 * generated tokens one call each. */
static bn_status run_once(bn_session *s, const int32_t *prompt, int32_t n_prompt,
                          const int32_t *gen, int32_t n_gen, bn_error *err)
{
    bn_status st = bn_session_truncate(s, 0, err);
    if (st == BN_STATUS_OK && n_prompt > 0)
        st = bn_session_eval(s, prompt, (size_t)n_prompt, false, err);
    for (int32_t i = 0; st == BN_STATUS_OK && i < n_gen; i++)
        st = bn_session_eval(s, &gen[i], 1, false, err);
    return st;
}

/* A loaded model with what the rows of its tests share. */
typedef struct loaded {
    bn_model *model;
    const char *path, *kernels;
    bool use_mmap, lm_head_i8;
    bn_kernel_choice prompt_kernels, decode_kernels;
    char label[160];
    double load_ms, ttft_ms;
} loaded;

static bn_status load_model(const bn_bench_instance *in, int max_threads, loaded *L,
                            bn_error *err)
{
    bn_status st;
    bn_session *s = NULL;
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = max_threads;
    mo.kernels = in->kernels ? in->kernels : getenv("BN_KERNELS");
    mo.use_mmap = in->use_mmap;
    mo.lm_head_i8 = in->lm_head_i8;
    mo.prompt_kernels = in->prompt_kernels;
    mo.decode_kernels = in->decode_kernels;
    uint64_t t0 = bn_bench_now_ns();
    st = bn_model_load(in->model, &mo, &L->model, err);
    if (st != BN_STATUS_OK)
        goto fail;
    uint64_t t1 = bn_bench_now_ns();
    /* Time to first token: a small session and one token on the fresh model
     * (the first touch of every mapped weight page is part of it). */
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 16;
    so.n_batch = 16;
    so.n_logits = 1;
    so.n_threads = max_threads;
    st = bn_session_new(L->model, &so, &s, err);
    if (st != BN_STATUS_OK)
        goto fail;
    int32_t first = bn_model_bos(L->model) >= 0 ? bn_model_bos(L->model) : 0;
    st = bn_session_eval(s, &first, 1, false, err);
    if (st != BN_STATUS_OK)
        goto fail;
    uint64_t t2 = bn_bench_now_ns();
    L->load_ms = (double)(t1 - t0) / 1e6;
    L->ttft_ms = (double)(t2 - t0) / 1e6;
    L->path = in->model;
    L->kernels = in->kernels;
    L->use_mmap = in->use_mmap;
    L->lm_head_i8 = in->lm_head_i8;
    L->prompt_kernels = in->prompt_kernels;
    L->decode_kernels = in->decode_kernels;
    model_label(in->model, L->model, L->label, sizeof L->label);
fail:
    bn_session_free(s);
    return st;
}

/* Runs one test: fresh session, warm-up, repetitions. samples_ns has reps
 * entries. */
static bn_status run_test(const bn_bench_params *p, const bn_bench_instance *in,
                          const bn_model *model, uint64_t *samples_ns, bn_error *err)
{
    bn_status st;
    bn_session *s = NULL;
    int32_t *tokens = NULL; /* (n_prompt + n_gen) random ids */
    size_t n_tok = (size_t)in->n_prompt + (size_t)in->n_gen;
    tokens = malloc((n_tok ? n_tok : 1) * sizeof *tokens);
    if (!tokens) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "cannot allocate %zu prompt tokens", n_tok);
        goto fail;
    }
    uint64_t rs = p->seed;
    int32_t n_vocab = bn_model_n_vocab(model);
    for (size_t i = 0; i < n_tok; i++)
        tokens[i] = (int32_t)(next_random(&rs) % (uint64_t)n_vocab);
    if (in->n_prompt > 0 && bn_model_bos(model) >= 0)
        tokens[0] = bn_model_bos(model); /* prompts start with BOS, as in llama-bench */

    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = (int32_t)(n_tok > 0 ? n_tok : 1);
    so.n_batch = in->n_batch;
    so.n_logits = 1;
    so.n_threads = in->n_threads;
    so.type_k = in->type_k;
    so.type_v = in->type_v;
    st = bn_session_new(model, &so, &s, err);
    if (st != BN_STATUS_OK)
        goto fail;
    const int32_t *gen = tokens + in->n_prompt;
    if (p->warmup) {
        /* llama-bench's warm-up: the whole prompt, or one generated token. */
        st = run_once(s, tokens, in->n_prompt, gen, in->n_gen > 0 ? 1 : 0, err);
        if (st != BN_STATUS_OK)
            goto fail;
    }
    for (int r = 0; r < p->reps; r++) {
        uint64_t t0 = bn_bench_now_ns();
        st = run_once(s, tokens, in->n_prompt, gen, in->n_gen, err);
        samples_ns[r] = bn_bench_now_ns() - t0;
        if (st != BN_STATUS_OK)
            goto fail;
    }
fail:
    bn_session_free(s);
    free(tokens);
    return st;
}

int main(int argc, char **argv)
{
    int rc = 0;
    bn_bench_params p;
    bn_error err;
    bn_error_clear(&err);
    int n_cpus = bn_bench_n_cpus();
    bn_bench_params_default(&p, n_cpus);
    bool help = false;
    if (bn_bench_params_parse(&p, argc, argv, &help, &err) != BN_STATUS_OK) {
        bn_bench_params_free(&p);
        die_usage(err.message);
    }
    if (help) {
        fputs(bn_bench_usage(), stdout);
        bn_bench_params_free(&p);
        return 0;
    }

    size_t n_inst = bn_bench_instance_count(&p);
    bn_bench_instance *inst = calloc(n_inst ? n_inst : 1, sizeof *inst);
    uint64_t *samples = calloc((size_t)p.reps, sizeof *samples);
    if (!inst || !samples) {
        fprintf(stderr, "bitnet-bench: error: out of memory for %zu tests\n", n_inst);
        free(inst);
        free(samples);
        bn_bench_params_free(&p);
        return 1;
    }
    bn_bench_instances(&p, inst, n_inst);
    int max_threads = 1;
    for (size_t i = 0; i < p.n_threads; i++)
        max_threads = p.threads[i] > max_threads ? p.threads[i] : max_threads;

    char cpu_info[128];
    bn_bench_cpu_info(cpu_info, sizeof cpu_info);
    bn_bench_build build = {BN_BENCH_COMMIT, BN_BENCH_COMPILER, BN_BENCH_C_FLAGS,
                            BN_BENCH_OPENMP, cpu_info, n_cpus};

    /* Read bandwidth at every thread count of the run, before any model is
     * mapped (the buffer is freed before the high-water mark is reset). */
    /* The loads of the machine the run stands for: AVX2 ones when only the
     * avx2 table runs (an AVX2-only CPU has no wider loads). */
    const char *bw_isa = NULL;
    if (p.n_kernels == 1)
        bw_isa = bn_membw_isa_for_kernels(p.kernels[0] ? p.kernels[0] : getenv("BN_KERNELS"));
    int bw_threads[BN_BENCH_MAX_LIST];
    double bw_gbs[BN_BENCH_MAX_LIST];
    size_t n_bw = 0;
    for (size_t i = 0; i < p.n_threads && n_inst > 0; i++) {
        bool seen = false;
        for (size_t j = 0; j < n_bw; j++)
            seen = seen || bw_threads[j] == p.threads[i];
        if (seen)
            continue;
        double gbs = 0;
        bn_membw_result bw;
        if (bn_membw_measure(p.threads[i], BN_MEMBW_DEFAULT_BYTES, 7, bw_isa, &bw, &err) ==
            BN_STATUS_OK) {
            gbs = bw.gbs;
        } else {
            /* The roofline is then unknown; the speed rows are still worth having. */
            fprintf(stderr, "bitnet-bench: warning: %s\n", err.message);
            bn_error_clear(&err);
            gbs = 0;
        }
        if (p.progress && gbs > 0)
            fprintf(stderr,
                    "bitnet-bench: read bandwidth, %d thread(s): %.1f GB/s (%s loads, %d "
                    "stream(s), prefetch %d; best pass %.1f, mean %.1f)\n",
                    p.threads[i], gbs, bw.isa, bw.streams, bw.prefetch_bytes, bw.pass_gbs,
                    bw.mean_gbs);
        bw_threads[n_bw] = p.threads[i];
        bw_gbs[n_bw++] = gbs;
    }

    bn_bench_columns cols;
    bn_bench_columns_from_params(&p, &cols);
    bn_bench_writer w;
    bn_bench_writer_begin(&w, stdout, p.format, &cols, &build);

    loaded L = {0};
    bool rss_reset_ok = true;
    for (size_t i = 0; i < n_inst; i++) {
        const bn_bench_instance *in = &inst[i];
        bool same = L.model && L.path == in->model && L.kernels == in->kernels &&
                    L.use_mmap == in->use_mmap && L.lm_head_i8 == in->lm_head_i8 &&
                    L.prompt_kernels == in->prompt_kernels &&
                    L.decode_kernels == in->decode_kernels;
        if (!same) {
            bn_model_free(L.model);
            memset(&L, 0, sizeof L);
            rss_reset_ok = bn_bench_peak_rss_reset() && rss_reset_ok;
            if (load_model(in, max_threads, &L, &err) != BN_STATUS_OK) {
                fprintf(stderr, "bitnet-bench: error: %s: %s\n", in->model, err.message);
                rc = 1;
                break;
            }
            if (p.progress)
                fprintf(stderr, "bitnet-bench: loaded %s: %s, kernels %s, %.0f ms (first token %.0f ms)\n",
                        in->model, bn_model_description(L.model), bn_model_kernels_name(L.model),
                        L.load_ms, L.ttft_ms);
        }
        bn_bench_result r = {0};
        bn_bench_utc_now(r.test_time, sizeof r.test_time);
        if (p.progress) {
            char name[64];
            bn_bench_test_name(in->n_prompt, in->n_gen, name, sizeof name);
            fprintf(stderr, "bitnet-bench: %s, %d thread(s), %s\n", in->model, in->n_threads, name);
        }
        if (run_test(&p, in, L.model, samples, &err) != BN_STATUS_OK) {
            fprintf(stderr, "bitnet-bench: error: %s: %s\n", in->model, err.message);
            rc = 1;
            break;
        }
        r.model_filename = in->model;
        r.model_type = L.label;
        r.model_size = bn_model_file_bytes(L.model);
        r.model_n_params = bn_model_n_params(L.model);
        r.kernels = bn_model_kernels_name(L.model);
        r.n_threads = in->n_threads;
        r.n_batch = in->n_batch;
        r.type_k = in->type_k;
        r.type_v = in->type_v;
        r.use_mmap = in->use_mmap;
        r.lm_head_i8 = in->lm_head_i8;
        r.prompt_kernels = in->prompt_kernels;
        r.decode_kernels = in->decode_kernels;
        r.n_prompt = in->n_prompt;
        r.n_gen = in->n_gen;
        r.samples_ns = samples;
        r.n_samples = (size_t)p.reps;
        r.load_ms = L.load_ms;
        r.ttft_ms = L.ttft_ms;
        r.peak_rss_bytes = bn_bench_peak_rss_bytes();
        r.bytes_per_token = bn_model_bytes_per_token(L.model);
        for (size_t j = 0; j < n_bw; j++)
            if (bw_threads[j] == in->n_threads)
                r.read_bandwidth_gbs = bw_gbs[j];
        bn_bench_writer_row(&w, &r);
    }
    bn_bench_writer_end(&w, bw_threads, bw_gbs, n_bw);
    if (!rss_reset_ok)
        fprintf(stderr, "bitnet-bench: warning: cannot reset the peak RSS (/proc/self/clear_refs); "
                        "peak RSS spans the whole run\n");
    bn_model_free(L.model);
    free(inst);
    free(samples);
    bn_bench_params_free(&p);
    return rc;
}
