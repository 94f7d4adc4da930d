/* bitnet-kernel-bench: micro-benchmark of the kernel tables.
 *
 * For each kernel table and ternary layout (I2 = MAD 2-bit, T5 = MAD
 * 1.6-bit, LUT2 = lookup table), on the BitNet b1.58 2B4T matrix shapes, at
 * the requested batch sizes and thread counts: time per product, effective
 * GB/s of weight bytes streamed, and GOPS (2 * K * rows * batch / time).
 * Also the output layer at batch 1: F16, Q8_0 and the int8 copy on a
 * 32768 x 2560 slice of the 128256 x 2560 embedding, and the whole 128256 x 2560 Q6_K
 * layer at each --batch size up to 64 (269 MB, the tied output layer of the
 * peer-shape models: the exact product decoding runs every token, and a
 * serving step's logits, one row per sequence), and, in the same run, the
 * machine's read bandwidth measured by a vectorised streaming read over a
 * buffer much larger than the last-level cache.
 *
 * Matrix-vector runs cycle through enough copies of each matrix that their
 * total exceeds the LLC by far (--set-mib, default 256 MiB), so they measure
 * streaming from DRAM, as decoding a real model does.
 * Threads: one OpenMP parallel region per product, rows split statically at
 * the table's granule (as the runtime does).
 * "CPU ms" is the process CPU time per call (all threads): on a machine
 * shared with other work, wall time includes time spent descheduled; CPU
 * time does not (but includes OpenMP threads spinning at the barrier).
 *
 * bitnet-kernel-bench [--threads 1,2] [--table NAME|all] [--batch 1,128]
 *                     [--shapes 2b4t] [--layouts i2,t5,t3,lut2] [--output f16,i8,q8_0,q6k]
 *                     [-o md|json] [--min-ms 200] [--set-mib 256] [--bw-mib 1024]
 * (--layouts none / --output none skip the ternary / output-layer runs.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(BN_HAVE_OPENMP)
#include <omp.h>
#endif

#include "kernels/kernels.h"
#include "loader/half.h"
#include "tools/bench/membw.h"

#define MAX_LIST 16

static bn_membw_result bw_info[MAX_LIST]; /* the bandwidth probe's details */

typedef struct options {
    int threads[MAX_LIST], n_threads;
    int64_t batch[MAX_LIST];
    int n_batch;
    const char *table; /* NULL = all */
    bool layouts[BN_LAYOUT_COUNT];
    bool out_f16, out_i8, out_q8, out_q6k; /* output-layer rows to run */
    bool json;
    double min_ms;
    int64_t set_mib, bw_mib;
} options;

typedef struct shape {
    const char *name;
    int64_t K, rows;
} shape;

static const shape shapes_2b4t[] = {
    {"attn_qo 2560x2560", 2560, 2560},
    {"attn_kv 2560x640", 2560, 640},
    {"ffn_gate/up 2560x6912", 2560, 6912},
    {"ffn_down 6912x2560", 6912, 2560},
};
static const char *layout_names[BN_LAYOUT_COUNT] = {"MAD I2 (2-bit)", "MAD T5 (1.6-bit)",
                                                    "LUT2 (2-bit)", "MAD T3 (1.67-bit)"};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): on a shared machine the
 * wall time includes time spent descheduled, the CPU time does not. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bitnet-kernel-bench [--threads 1,2] [--table NAME|all] [--batch 1,128]\n"
               "                           [--shapes 2b4t] [--layouts i2,t5,t3,lut2|none]\n"
               "                           [--output f16,i8,q8_0,q6k|none] [-o md|json]\n"
               "                           [--min-ms MS] [--set-mib MIB] [--bw-mib MIB]\n");
}

static int parse_list(const char *s, int64_t *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 1 || v > 4096 || n == max)
            return -1;
        out[n++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->threads[0] = 1;
    o->threads[1] = 2;
    o->n_threads = 2;
    o->batch[0] = 1;
    o->batch[1] = 128;
    o->n_batch = 2;
    for (int l = 0; l < BN_LAYOUT_COUNT; l++)
        o->layouts[l] = true;
    o->out_f16 = o->out_i8 = o->out_q8 = o->out_q6k = true;
    o->min_ms = 200;
    o->set_mib = 256;
    o->bw_mib = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t tmp[MAX_LIST];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "--threads")) {
            o->n_threads = parse_list(v, tmp, MAX_LIST);
            if (o->n_threads < 1)
                return -1;
            for (int j = 0; j < o->n_threads; j++)
                o->threads[j] = (int)tmp[j];
        } else if (!strcmp(a, "--batch")) {
            o->n_batch = parse_list(v, o->batch, MAX_LIST);
            if (o->n_batch < 1)
                return -1;
        } else if (!strcmp(a, "--table")) {
            o->table = strcmp(v, "all") ? v : NULL;
        } else if (!strcmp(a, "--shapes")) {
            if (strcmp(v, "2b4t"))
                return -1;
        } else if (!strcmp(a, "--layouts")) {
            for (int l = 0; l < BN_LAYOUT_COUNT; l++)
                o->layouts[l] = false;
            o->layouts[BN_LAYOUT_I2] = strstr(v, "i2") != NULL;
            o->layouts[BN_LAYOUT_T5] = strstr(v, "t5") != NULL;
            o->layouts[BN_LAYOUT_LUT2] = strstr(v, "lut2") != NULL;
            o->layouts[BN_LAYOUT_T3] = strstr(v, "t3") != NULL;
        } else if (!strcmp(a, "--output")) {
            o->out_f16 = strstr(v, "f16") != NULL;
            o->out_i8 = strstr(v, "i8") != NULL;
            o->out_q8 = strstr(v, "q8_0") != NULL;
            o->out_q6k = strstr(v, "q6k") != NULL;
        } else if (!strcmp(a, "-o")) {
            if (!strcmp(v, "json"))
                o->json = true;
            else if (strcmp(v, "md"))
                return -1;
        } else if (!strcmp(a, "--min-ms")) {
            o->min_ms = atof(v);
            if (!(o->min_ms > 0))
                return -1;
        } else if (!strcmp(a, "--set-mib")) {
            o->set_mib = atoll(v);
            if (o->set_mib < 1)
                return -1;
        } else if (!strcmp(a, "--bw-mib")) {
            o->bw_mib = atoll(v);
            if (o->bw_mib < 64)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Streaming read bandwidth: tools/bench/membw.c (the same probe as
 * bitnet-bench's roofline): the widest loads the CPU runs (AVX2 loads when
 * the avx2 table alone is benchmarked), 1-4 streams per thread with and
 * without prefetch, the kernels' thread split, best 16 MiB slice. */
static double measure_bandwidth(int64_t mib, int threads, const char *max_isa,
                                double *best_cpu_gbs, double *mean_gbs, bn_membw_result *r) {
    bn_error err = {0};
    if (bn_membw_measure(threads, (size_t)mib << 20, 3, max_isa, r, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-kernel-bench: warning: %s\n", err.message);
        *best_cpu_gbs = *mean_gbs = 0;
        return 0;
    }
    *best_cpu_gbs = r->cpu_gbs;
    *mean_gbs = r->mean_gbs;
    return r->gbs;
}

typedef struct result {
    const char *table, *kernel, *shape;
    int64_t batch;
    int threads;
    double ms, gbs, gops, bw_frac;
    double cpu_ms; /* process CPU time per call, all threads together */
    double mean_ms; /* mean wall time per call */
    double bw_frac_cpu; /* GB/s per CPU-second of the kernel / of the streaming read */
    int64_t weight_bytes;
} result;

static result results[4096];
static int n_results;

/* Runs `fn` on copies[i % n_copies] until min_ms has passed (at least once,
 * at least 3 times when fast), returns the median-free mean time per call. */
typedef struct job {
    const bn_kernels *k;
    const bn_ternary_matrix *copies;
    const bn_dense_matrix *dense;
    bool dense_i8;
    int n_copies;
    const bn_act_batch *act;
    const float *x; /* dense input (n_tokens rows of K) */
    float *y;
    int64_t n_tokens; /* dense products: tokens per call (1 for the others) */
} job;

static void run_once(const job *j, int idx, int threads) {
    const bn_kernels *k = j->k;
#if defined(BN_HAVE_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
    {
        int ith = 0, nth = 1;
#if defined(BN_HAVE_OPENMP)
        ith = omp_get_thread_num();
        nth = omp_get_num_threads();
#else
        (void)threads;
#endif
        int64_t b, e;
        if (j->dense) {
            bn_kernels_split_rows(j->dense->rows, 64, ith, nth, &b, &e);
            if (j->dense_i8)
                k->dense_gemm_i8(j->dense, j->act, b, e, j->y, j->dense->rows);
            else
                k->dense_gemm(j->dense, j->x, j->dense->K, j->n_tokens, b, e, j->y,
                              j->dense->rows);
        } else {
            const bn_ternary_matrix *m = &j->copies[idx % j->n_copies];
            bn_kernels_split_rows(m->rows, k->row_granule, ith, nth, &b, &e);
            bn_ternary_gemm(k, m, j->act, b, e, j->y, m->rows);
        }
    }
}

/* Returns the best (shortest) wall time of one call: on a machine shared
 * with other work, the mean mostly measures when the scheduler ran us; the
 * best call is the kernel's own speed (for matrix-vector runs every call
 * streams a different copy from DRAM, so the best is not a cache effect).
 * *mean_per_call and *cpu_per_call get the mean wall and CPU times. */
static double time_job(const job *j, int threads, double min_ms, double *mean_per_call,
                       double *cpu_per_call) {
    run_once(j, 0, threads); /* warm-up */
    int calls = 0;
    double t0 = now_s(), c0 = cpu_s(), dt, best = 1e30;
    do {
        double c = now_s();
        run_once(j, calls + 1, threads);
        c = now_s() - c;
        if (c < best)
            best = c;
        calls++;
        dt = now_s() - t0;
    } while (dt * 1e3 < min_ms || (calls < 3 && dt * 1e3 < 10 * min_ms));
    *cpu_per_call = (cpu_s() - c0) / calls;
    *mean_per_call = dt / calls;
    return best;
}

static void add_result(const char *table, const char *kernel, const char *shape_name, int64_t batch,
                       int threads, double sec, double mean_sec, double cpu_sec, int64_t bytes,
                       double ops, double bw, double bw_cpu) {
    if (n_results >= (int)(sizeof results / sizeof results[0]))
        return;
    result *r = &results[n_results++];
    r->table = table;
    r->kernel = kernel;
    r->shape = shape_name;
    r->batch = batch;
    r->threads = threads;
    r->ms = sec * 1e3;
    r->cpu_ms = cpu_sec * 1e3;
    r->mean_ms = mean_sec * 1e3;
    r->weight_bytes = bytes;
    r->gbs = (double)bytes / sec / 1e9;
    r->gops = ops / sec / 1e9;
    r->bw_frac = bw > 0 ? r->gbs / bw : 0;
    r->bw_frac_cpu = bw_cpu > 0 ? (double)bytes / (cpu_sec / threads) / 1e9 / bw_cpu : 0;
}

/* Builds a random ternary matrix in `layout` and `n` copies of its packed
 * bytes (one allocation), each copy a matrix struct pointing at its bytes. */
static int make_copies(bn_ternary_layout layout, const shape *s, int n, bn_ternary_matrix **out,
                       void **mem, bn_ternary_matrix *proto) {
    int8_t *v = malloc((size_t)(s->K * s->rows));
    if (!v)
        return -1;
    uint64_t st = 88172645463325252ull;
    for (int64_t i = 0; i < s->K * s->rows; i++) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        v[i] = (int8_t)(st % 3) - 1;
    }
    float scale = 0.5f;
    bn_error err = {0};
    if (bn_ternary_matrix_init_values(layout, v, &scale, BN_TERNARY_SCALE_TENSOR, s->K, s->rows,
                                      proto, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
        free(v);
        return -1;
    }
    free(v);
    size_t one = (size_t)(proto->data_bytes + 63) / 64 * 64;
    uint8_t *buf = aligned_alloc(64, one * (size_t)n);
    bn_ternary_matrix *ms = calloc((size_t)n, sizeof *ms);
    if (!buf || !ms) {
        free(buf);
        free(ms);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        memcpy(buf + one * (size_t)i, proto->data, proto->data_bytes);
        ms[i] = *proto;
        ms[i].data = buf + one * (size_t)i;
        ms[i].owned = NULL;
        ms[i].owned_scales = NULL;
        ms[i].zero_copy = true;
    }
    *out = ms;
    *mem = buf;
    return 0;
}

static void print_md(double bw_by_threads[], double bw_cpu[], double bw_mean[], const options *o) {
    printf("| table | kernel | shape | batch | threads | best ms | mean ms | weight GB/s | GOPS "
           "| %% of read BW | CPU ms | %% of BW, CPU time |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        printf("| %s | %s | %s | %lld | %d | %.3f | %.3f | %.1f | %.1f | %.0f%% | %.3f | %.0f%% |\n",
               r->table, r->kernel, r->shape, (long long)r->batch, r->threads, r->ms, r->mean_ms,
               r->gbs, r->gops, 100 * r->bw_frac, r->cpu_ms, 100 * r->bw_frac_cpu);
    }
    printf("\nread bandwidth (streaming, %lld MiB buffer, best 16 MiB slice):", (long long)o->bw_mib);
    for (int t = 0; t < o->n_threads; t++)
        printf(" %d thread%s %.1f GB/s (%s loads, %d stream%s, prefetch %d; mean %.1f; %.1f GB/s "
               "per thread per CPU-second)%s",
               o->threads[t], o->threads[t] > 1 ? "s" : "", bw_by_threads[t], bw_info[t].isa,
               bw_info[t].streams, bw_info[t].streams > 1 ? "s" : "", bw_info[t].prefetch_bytes,
               bw_mean[t], bw_cpu[t], t + 1 < o->n_threads ? ";" : "\n");
    printf("GB/s, GOPS and %% of read BW use the best call; CPU ms is the mean process CPU time "
           "per call.\n");
}

static void print_json(double bw_by_threads[], double bw_cpu[], double bw_mean[],
                       const options *o) {
    printf("{\n  \"read_bandwidth_gbs\": {");
    for (int t = 0; t < o->n_threads; t++)
        printf("%s\"%d\": %.2f", t ? ", " : "", o->threads[t], bw_by_threads[t]);
    printf("},\n  \"read_bandwidth_mean_gbs\": {");
    for (int t = 0; t < o->n_threads; t++)
        printf("%s\"%d\": %.2f", t ? ", " : "", o->threads[t], bw_mean[t]);
    printf("},\n  \"read_bandwidth_cpu_gbs_per_thread\": {");
    for (int t = 0; t < o->n_threads; t++)
        printf("%s\"%d\": %.2f", t ? ", " : "", o->threads[t], bw_cpu[t]);
    printf("},\n  \"results\": [\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        printf("    {\"table\": \"%s\", \"kernel\": \"%s\", \"shape\": \"%s\", \"batch\": %lld, "
               "\"threads\": %d, \"ms\": %.4f, \"mean_ms\": %.4f, \"weight_bytes\": %lld, \"gbs\": %.2f, "
               "\"gops\": %.2f, \"bw_fraction\": %.3f, \"cpu_ms\": %.4f, "
               "\"bw_fraction_cpu\": %.3f}%s\n",
               r->table, r->kernel, r->shape, (long long)r->batch, r->threads, r->ms, r->mean_ms,
               (long long)r->weight_bytes, r->gbs, r->gops, r->bw_frac, r->cpu_ms,
               r->bw_frac_cpu,
               i + 1 < n_results ? "," : "");
    }
    printf("  ]\n}\n");
}

int main(int argc, char **argv) {
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    const bn_kernels *tables[8];
    size_t n_tables = 0;
    if (o.table) {
        bn_error err = {0};
        if (bn_kernels_select(o.table, &tables[0], &err) != BN_STATUS_OK) {
            fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
            return 1;
        }
        n_tables = 1;
    } else {
        n_tables = bn_kernels_available(tables, 8);
        if (n_tables > 8)
            n_tables = 8;
    }
    double bw[MAX_LIST], bw_cpu[MAX_LIST], bw_mean[MAX_LIST];
    for (int t = 0; t < o.n_threads; t++)
        bw[t] = measure_bandwidth(o.bw_mib, o.threads[t], bn_membw_isa_for_kernels(o.table),
                                  &bw_cpu[t], &bw_mean[t], &bw_info[t]);
    int64_t max_batch = 1;
    for (int b = 0; b < o.n_batch; b++)
        if (o.batch[b] > max_batch)
            max_batch = o.batch[b];

    /* Activations: random floats, quantized by each table before its runs. */
    bn_act_batch act;
    bn_error err = {0};
    if (bn_act_batch_alloc(6912, max_batch, true, &act, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
        return 1;
    }
    float *x = malloc(sizeof(float) * 6912 * (size_t)max_batch);
    float *y = malloc(sizeof(float) * 128256 * (size_t)max_batch);
    if (!x || !y) {
        fprintf(stderr, "bitnet-kernel-bench: error: out of memory\n");
        return 1;
    }
    uint64_t st = 12345;
    for (int64_t i = 0; i < 6912 * max_batch; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(st >> 33) % 2001 - 1000) / 500.0f;
    }

    for (int l = 0; l < BN_LAYOUT_COUNT; l++) {
        if (!o.layouts[l])
            continue;
        for (size_t si = 0; si < sizeof shapes_2b4t / sizeof shapes_2b4t[0]; si++) {
            const shape *s = &shapes_2b4t[si];
            bn_ternary_matrix proto, *copies = NULL;
            void *mem = NULL;
            /* Enough copies to exceed the LLC by far (matrix-vector). */
            int64_t bytes_est = s->K * s->rows / (l == BN_LAYOUT_T5 || l == BN_LAYOUT_T3 ? 5 : 4);
            int n = (int)((o.set_mib << 20) / bytes_est) + 1;
            if (make_copies((bn_ternary_layout)l, s, n, &copies, &mem, &proto) != 0) {
                fprintf(stderr, "bitnet-kernel-bench: error: cannot build %s %s\n",
                        layout_names[l], s->name);
                return 1;
            }
            for (size_t ti = 0; ti < n_tables; ti++) {
                const bn_kernels *k = tables[ti];
                for (int bi = 0; bi < o.n_batch; bi++) {
                    int64_t nb = o.batch[bi];
                    bn_act_batch_reset(&act, s->K, nb, NULL);
                    k->act_quant(x, s->K, &act, 0, nb);
                    /* The scalar reference at batch 128 takes seconds a call:
                     * one call is enough to show it. */
                    double min_ms = !strcmp(k->name, "ref") ? 1 : o.min_ms;
                    /* Batched runs reuse one copy (the weights of a prompt
                     * step are read once per batch, from wherever they are). */
                    job j = {k, copies, NULL, false, nb == 1 ? n : 1, &act, NULL, y, 1};
                    for (int t = 0; t < o.n_threads; t++) {
                        double cpu, mean;
                        double sec = time_job(&j, o.threads[t], min_ms, &mean, &cpu);
                        add_result(k->name, layout_names[l], s->name, nb, o.threads[t], sec, mean,
                                   cpu,
                                   (int64_t)proto.data_bytes,
                                   2.0 * (double)s->K * (double)s->rows * (double)nb,
                                   nb == 1 ? bw[t] : 0, nb == 1 ? bw_cpu[t] : 0);
                        fprintf(stderr, "  %s %s %s batch %lld threads %d: %.3f ms\n", k->name,
                                layout_names[l], s->name, (long long)nb, o.threads[t], sec * 1e3);
                    }
                }
            }
            free(mem);
            free(copies);
            bn_ternary_matrix_free(&proto);
        }
    }

    /* Output layer slice, batch 1: F16 rows and the int8 copy. */
    if (o.out_f16 || o.out_i8) {
        const int64_t K = 2560, rows = 32768;
        uint16_t *w16 = malloc(sizeof(uint16_t) * (size_t)(K * rows));
        if (!w16)
            return 1;
        for (int64_t i = 0; i < K * rows; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            w16[i] = bn_f32_to_f16((float)((int64_t)(st >> 33) % 2001 - 1000) / 20000.0f);
        }
        bn_dense_matrix dm;
        if (bn_dense_matrix_init(BN_TYPE_F16, w16, sizeof(uint16_t) * (size_t)(K * rows), K, rows,
                                 true, &dm, &err) != BN_STATUS_OK) {
            fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
            return 1;
        }
        for (size_t ti = 0; ti < n_tables; ti++) {
            const bn_kernels *k = tables[ti];
            bn_act_batch_reset(&act, K, 1, NULL);
            k->act_quant(x, K, &act, 0, 1);
            for (int i8 = 0; i8 < 2; i8++) {
                if (!(i8 ? o.out_i8 : o.out_f16))
                    continue;
                job j = {k, NULL, &dm, i8 == 1, 1, &act, x, y, 1};
                for (int t = 0; t < o.n_threads; t++) {
                    double cpu, mean;
                    double sec = time_job(&j, o.threads[t], !strcmp(k->name, "ref") ? 1 : o.min_ms,
                                          &mean, &cpu);
                    int64_t bytes = i8 ? rows * K : rows * K * 2;
                    add_result(k->name, i8 ? "output i8 copy" : "output F16",
                               "lm_head 2560x32768", 1, o.threads[t], sec, mean, cpu, bytes,
                               2.0 * (double)K * (double)rows, bw[t], bw_cpu[t]);
                }
            }
        }
        bn_dense_matrix_free(&dm);
        free(w16);
    }

    /* The same slice as Q8_0 (34 bytes per 32 values, 89 MB: DRAM-resident),
     * batch 1: the output type of untied llama-family files. */
    if (o.out_q8) {
        const int64_t K = 2560, rows = 32768;
        const uint64_t n_bytes = (uint64_t)(K / 32) * 34 * (uint64_t)rows;
        uint8_t *wq = malloc(n_bytes);
        if (!wq)
            return 1;
        for (uint64_t i = 0; i < n_bytes; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            wq[i] = (uint8_t)(st >> 56);
        }
        for (uint64_t b = 0; b < n_bytes / 34; b++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            uint16_t d = bn_f32_to_f16(0.001f + 0.01f * (float)(st >> 40) / 16777216.0f);
            memcpy(wq + b * 34, &d, 2);
        }
        bn_dense_matrix dm;
        if (bn_dense_matrix_init(BN_TYPE_Q8_0, wq, n_bytes, K, rows, false, &dm, &err) !=
            BN_STATUS_OK) {
            fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
            return 1;
        }
        for (size_t ti = 0; ti < n_tables; ti++) {
            const bn_kernels *k = tables[ti];
            job j = {k, NULL, &dm, false, 1, &act, x, y, 1};
            for (int t = 0; t < o.n_threads; t++) {
                double cpu, mean;
                double sec = time_job(&j, o.threads[t], !strcmp(k->name, "ref") ? 1 : o.min_ms,
                                      &mean, &cpu);
                add_result(k->name, "output Q8_0", "lm_head 2560x32768", 1, o.threads[t], sec,
                           mean, cpu, (int64_t)n_bytes, 2.0 * (double)K * (double)rows, bw[t],
                           bw_cpu[t]);
            }
        }
        bn_dense_matrix_free(&dm);
        free(wq);
    }

    /* The whole Q6_K output layer at each --batch size up to 64 (one matrix of 269 MB: far past
     * the LLC, so every call streams it from DRAM). Random codes and
     * sub-block scales, d in [0.001, 0.011) as in tests/kernels/test_dense.c. */
    if (o.out_q6k) {
        const int64_t K = 2560, rows = 128256;
        const uint64_t row_bytes = (uint64_t)(K / 256) * 210, n_bytes = row_bytes * (uint64_t)rows;
        uint8_t *wq = malloc(n_bytes);
        if (!wq)
            return 1;
        for (uint64_t i = 0; i < n_bytes; i++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            wq[i] = (uint8_t)(st >> 56);
        }
        for (uint64_t b = 0; b < n_bytes / 210; b++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            uint16_t d = bn_f32_to_f16(0.001f + 0.01f * (float)(st >> 40) / 16777216.0f);
            memcpy(wq + b * 210 + 208, &d, 2);
        }
        bn_dense_matrix dm;
        if (bn_dense_matrix_init(BN_TYPE_Q6_K, wq, n_bytes, K, rows, false, &dm, &err) !=
            BN_STATUS_OK) {
            fprintf(stderr, "bitnet-kernel-bench: error: %s\n", err.message);
            return 1;
        }
        for (size_t ti = 0; ti < n_tables; ti++) {
            const bn_kernels *k = tables[ti];
            /* Every --batch size up to 64 (a serving step's logits: one row
             * per sequence); x rows of K values, y rows of `rows`. */
            for (int bi = 0; bi < o.n_batch; bi++) {
                const int64_t nt = o.batch[bi];
                if (nt > 64)
                    continue;
                job j = {k, NULL, &dm, false, 1, &act, x, y, nt};
                for (int t = 0; t < o.n_threads; t++) {
                    double cpu, mean;
                    double sec = time_job(&j, o.threads[t],
                                          !strcmp(k->name, "ref") ? 1 : o.min_ms, &mean, &cpu);
                    add_result(k->name, "output Q6_K", "lm_head 2560x128256", nt, o.threads[t],
                               sec, mean, cpu, (int64_t)n_bytes,
                               2.0 * (double)K * (double)rows * (double)nt, nt == 1 ? bw[t] : 0,
                               nt == 1 ? bw_cpu[t] : 0);
                    fprintf(stderr, "  %s output Q6_K batch %lld threads %d: %.3f ms\n", k->name,
                            (long long)nt, o.threads[t], sec * 1e3);
                }
            }
        }
        bn_dense_matrix_free(&dm);
        free(wq);
    }

    if (o.json)
        print_json(bw, bw_cpu, bw_mean, &o);
    else
        print_md(bw, bw_cpu, bw_mean, &o);
    bn_act_batch_free(&act);
    free(x);
    free(y);
    return 0;
}
