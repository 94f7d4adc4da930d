/* bench_report.c: statistics and the md / json / csv writers of bitnet-bench.
 *
 * The md table follows llama-bench's columns (model, size, params, backend,
 * threads, test, t/s as mean ± standard deviation) and adds bitnet's: bits
 * per weight, kernel table, median t/s, weight-streaming GB/s, roofline
 * ratio, load time and peak RSS. JSON is an array of flat objects; CSV has
 * one header line and the same fields in the same order, with arrays written
 * as space-separated numbers in quotes (llama-bench's CSV convention).
 */
#include "tools/bench/bench_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t n_tokens_of(const bn_bench_result *r)
{
    return (uint64_t)r->n_prompt + (uint64_t)r->n_gen;
}

void bn_bench_stats_compute(const bn_bench_result *r, bn_bench_stats *s)
{
    memset(s, 0, sizeof *s);
    size_t n = r->n_samples;
    s->is_tg = r->n_prompt == 0 && r->n_gen > 0;
    if (n == 0)
        return;
    double ts_sorted[64], *ts = n <= 64 ? ts_sorted : malloc(n * sizeof *ts);
    if (!ts)
        return; /* only for > 64 repetitions; the row then shows zeros */
    double sum_ns = 0, sum_ts = 0;
    for (size_t i = 0; i < n; i++) {
        double ns = (double)r->samples_ns[i];
        ts[i] = ns > 0 ? 1e9 * (double)n_tokens_of(r) / ns : 0;
        sum_ns += ns;
        sum_ts += ts[i];
    }
    s->avg_ns = sum_ns / (double)n;
    s->avg_ts = sum_ts / (double)n;
    /* Sample standard deviation (n - 1), 0 for a single run, as llama-bench. */
    if (n > 1) {
        double v_ns = 0, v_ts = 0;
        for (size_t i = 0; i < n; i++) {
            double d_ns = (double)r->samples_ns[i] - s->avg_ns, d_ts = ts[i] - s->avg_ts;
            v_ns += d_ns * d_ns;
            v_ts += d_ts * d_ts;
        }
        s->stddev_ns = sqrt(v_ns / (double)(n - 1));
        s->stddev_ts = sqrt(v_ts / (double)(n - 1));
    }
    qsort(ts, n, sizeof *ts, cmp_double);
    s->median_ts = n % 2 ? ts[n / 2] : 0.5 * (ts[n / 2 - 1] + ts[n / 2]);
    s->min_ts = ts[0];
    s->max_ts = ts[n - 1];
    if (s->is_tg) {
        s->weight_gbs = (double)r->bytes_per_token * s->median_ts / 1e9;
        if (r->read_bandwidth_gbs > 0)
            s->roofline_ratio = s->weight_gbs / r->read_bandwidth_gbs;
    }
    if (ts != ts_sorted)
        free(ts);
}

void bn_bench_test_name(int32_t n_prompt, int32_t n_gen, char *buf, size_t cap)
{
    if (n_prompt > 0 && n_gen > 0)
        snprintf(buf, cap, "pp%d+tg%d", (int)n_prompt, (int)n_gen);
    else if (n_prompt > 0)
        snprintf(buf, cap, "pp%d", (int)n_prompt);
    else
        snprintf(buf, cap, "tg%d", (int)n_gen);
}

void bn_bench_columns_from_params(const bn_bench_params *p, bn_bench_columns *c)
{
    c->n_batch = p->n_n_batch > 1 || p->n_batch[0] != 512;
    c->type_k = p->n_type_k > 1 || p->type_k[0] != BN_KV_TYPE_F16;
    c->type_v = p->n_type_v > 1 || p->type_v[0] != BN_KV_TYPE_F16;
    c->use_mmap = p->n_use_mmap > 1 || !p->use_mmap[0];
    c->lm_head_i8 = p->n_lm_head_i8 > 1 || p->lm_head_i8[0];
    c->prompt_kernels = p->n_prompt_kernels > 1 || p->prompt_kernels[0] != BN_KERNEL_CHOICE_AUTO;
    c->decode_kernels = p->n_decode_kernels > 1 || p->decode_kernels[0] != BN_KERNEL_CHOICE_AUTO;
}

/* ---- JSON / CSV helpers ---- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* CSV: quote every text field, doubling inner quotes (RFC 4180). */
static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p == '\n' ? ' ' : *p, f);
    }
    fputc('"', f);
}

/* One field list drives both JSON and CSV, so the two never disagree. */
typedef enum field_kind { F_STR, F_U64, F_I64, F_F64, F_BOOL, F_F64_OR_NULL, F_NS_ARR, F_TS_ARR } field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    const char *s;
    uint64_t u;
    int64_t i;
    double d;
    bool b, present;
} field;

#define MAX_FIELDS 48

static size_t collect_fields(const bn_bench_writer *w, const bn_bench_result *r,
                             const bn_bench_stats *s, field *fs)
{
    size_t n = 0;
#define STR(nm, v) fs[n++] = (field){.name = nm, .kind = F_STR, .s = (v)}
#define U64(nm, v) fs[n++] = (field){.name = nm, .kind = F_U64, .u = (v)}
#define I64(nm, v) fs[n++] = (field){.name = nm, .kind = F_I64, .i = (v)}
#define F64(nm, v) fs[n++] = (field){.name = nm, .kind = F_F64, .d = (v)}
#define BOOL(nm, v) fs[n++] = (field){.name = nm, .kind = F_BOOL, .b = (v)}
    const bn_bench_build *b = w->build;
    /* llama-bench's fields, in llama-bench's order */
    STR("build_commit", b->commit);
    STR("cpu_info", b->cpu_info);
    STR("gpu_info", "");
    STR("backends", "CPU");
    STR("model_filename", r->model_filename);
    STR("model_type", r->model_type);
    U64("model_size", r->model_size);
    U64("model_n_params", r->model_n_params);
    I64("n_batch", r->n_batch);
    I64("n_ubatch", r->n_batch);
    I64("n_threads", r->n_threads);
    STR("type_k", bn_bench_kv_type_name(r->type_k));
    STR("type_v", bn_bench_kv_type_name(r->type_v));
    I64("n_gpu_layers", 0);
    BOOL("use_mmap", r->use_mmap);
    I64("n_prompt", r->n_prompt);
    I64("n_gen", r->n_gen);
    STR("test_time", r->test_time);
    U64("avg_ns", (uint64_t)llround(s->avg_ns));
    U64("stddev_ns", (uint64_t)llround(s->stddev_ns));
    F64("avg_ts", s->avg_ts);
    F64("stddev_ts", s->stddev_ts);
    fs[n++] = (field){.name = "samples_ns", .kind = F_NS_ARR};
    fs[n++] = (field){.name = "samples_ts", .kind = F_TS_ARR};
    /* bitnet's own */
    STR("kernels", r->kernels);
    STR("prompt_kernels", bn_bench_kernel_choice_name(r->prompt_kernels));
    STR("decode_kernels", bn_bench_kernel_choice_name(r->decode_kernels));
    BOOL("lm_head_i8", r->lm_head_i8);
    F64("median_ts", s->median_ts);
    F64("min_ts", s->min_ts);
    F64("max_ts", s->max_ts);
    F64("bits_per_weight",
        r->model_n_params ? 8.0 * (double)r->model_size / (double)r->model_n_params : 0);
    U64("bytes_per_token", r->bytes_per_token);
    fs[n++] = (field){.name = "weight_gbs", .kind = F_F64_OR_NULL, .d = s->weight_gbs,
                      .present = s->is_tg};
    fs[n++] = (field){.name = "read_bandwidth_gbs", .kind = F_F64_OR_NULL,
                      .d = r->read_bandwidth_gbs, .present = r->read_bandwidth_gbs > 0};
    fs[n++] = (field){.name = "roofline_ratio", .kind = F_F64_OR_NULL, .d = s->roofline_ratio,
                      .present = s->is_tg && r->read_bandwidth_gbs > 0};
    F64("load_ms", r->load_ms);
    F64("ttft_ms", r->ttft_ms);
    U64("peak_rss_bytes", r->peak_rss_bytes);
    STR("compiler", b->compiler);
    STR("build_flags", b->c_flags);
    STR("openmp", b->openmp);
#undef STR
#undef U64
#undef I64
#undef F64
#undef BOOL
    return n;
}

static void write_samples(FILE *f, const bn_bench_result *r, bool ts, const char *sep)
{
    for (size_t i = 0; i < r->n_samples; i++) {
        if (i)
            fputs(sep, f);
        if (ts) {
            double ns = (double)r->samples_ns[i];
            fprintf(f, "%.6f", ns > 0 ? 1e9 * (double)n_tokens_of(r) / ns : 0.0);
        } else {
            fprintf(f, "%llu", (unsigned long long)r->samples_ns[i]);
        }
    }
}

static void write_value(FILE *f, const field *x, const bn_bench_result *r, bool json)
{
    switch (x->kind) {
    case F_STR:
        if (json)
            json_string(f, x->s);
        else
            csv_string(f, x->s);
        break;
    case F_U64: fprintf(f, "%llu", (unsigned long long)x->u); break;
    case F_I64: fprintf(f, "%lld", (long long)x->i); break;
    case F_F64: fprintf(f, "%.6f", x->d); break;
    case F_BOOL: fputs(x->b ? (json ? "true" : "1") : (json ? "false" : "0"), f); break;
    case F_F64_OR_NULL:
        if (x->present)
            fprintf(f, "%.6f", x->d);
        else if (json)
            fputs("null", f);
        break;
    case F_NS_ARR:
    case F_TS_ARR:
        fputs(json ? "[" : "\"", f);
        write_samples(f, r, x->kind == F_TS_ARR, json ? ", " : " ");
        fputs(json ? "]" : "\"", f);
        break;
    }
}

/* ---- md ---- */

typedef struct md_col {
    const char *head;
    int width;
    bool right;
} md_col;

static void md_cell(FILE *f, const md_col *c, const char *text)
{
    /* "±" is two bytes but one column: pad by display width, not bytes. */
    int len = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        len += (*p & 0xC0) != 0x80;
    int pad = c->width > len ? c->width - len : 0;
    fprintf(f, " %*s%s%*s |", c->right ? pad : 0, "", text, c->right ? 0 : pad, "");
}

enum {
    C_MODEL, C_SIZE, C_PARAMS, C_BPW, C_BACKEND, C_KERNELS, C_PK, C_DK, C_I8, C_THREADS, C_BATCH,
    C_TYPE_K, C_TYPE_V, C_MMAP, C_TEST, C_TS, C_MEDIAN, C_GBS, C_ROOF, C_LOAD, C_RSS, C_COUNT
};

static const md_col md_cols[C_COUNT] = {
    [C_MODEL] = {"model", 30, false},     [C_SIZE] = {"size", 10, true},
    [C_PARAMS] = {"params", 10, true},    [C_BPW] = {"bpw", 5, true},
    [C_BACKEND] = {"backend", 7, false},  [C_KERNELS] = {"kernels", 7, false},
    [C_PK] = {"pp kernels", 10, false},   [C_DK] = {"tg kernels", 10, false},
    [C_I8] = {"lm_head_i8", 10, true},
    [C_THREADS] = {"threads", 7, true},   [C_BATCH] = {"n_batch", 7, true},
    [C_TYPE_K] = {"type_k", 6, false},    [C_TYPE_V] = {"type_v", 6, false},
    [C_MMAP] = {"mmap", 4, true},         [C_TEST] = {"test", 13, true},
    [C_TS] = {"t/s", 20, true},           [C_MEDIAN] = {"median t/s", 10, true},
    [C_GBS] = {"GB/s", 6, true},          [C_ROOF] = {"roofline", 8, true},
    [C_LOAD] = {"load ms", 7, true},      [C_RSS] = {"peak RSS", 10, true},
};

static bool md_shown(const bn_bench_columns *c, int col)
{
    switch (col) {
    case C_BATCH: return c->n_batch;
    case C_TYPE_K: return c->type_k;
    case C_TYPE_V: return c->type_v;
    case C_MMAP: return c->use_mmap;
    case C_PK: return c->prompt_kernels;
    case C_DK: return c->decode_kernels;
    case C_I8: return c->lm_head_i8;
    default: return true;
    }
}

static void md_header(const bn_bench_writer *w)
{
    fputc('|', w->f);
    for (int c = 0; c < C_COUNT; c++)
        if (md_shown(&w->columns, c))
            md_cell(w->f, &md_cols[c], md_cols[c].head);
    fputs("\n|", w->f);
    for (int c = 0; c < C_COUNT; c++) {
        if (!md_shown(&w->columns, c))
            continue;
        fputc(' ', w->f);
        for (int i = 0; i < md_cols[c].width - (md_cols[c].right ? 1 : 0); i++)
            fputc('-', w->f);
        fputs(md_cols[c].right ? ": |" : " |", w->f);
    }
    fputc('\n', w->f);
}

static void md_row(const bn_bench_writer *w, const bn_bench_result *r, const bn_bench_stats *s)
{
    char cell[C_COUNT][96];
    snprintf(cell[C_MODEL], sizeof cell[0], "%s", r->model_type);
    if (r->model_size >= (1u << 30))
        snprintf(cell[C_SIZE], sizeof cell[0], "%.2f GiB", (double)r->model_size / (1u << 30));
    else
        snprintf(cell[C_SIZE], sizeof cell[0], "%.2f MiB", (double)r->model_size / (1u << 20));
    if (r->model_n_params >= 1000000000u)
        snprintf(cell[C_PARAMS], sizeof cell[0], "%.2f B", (double)r->model_n_params / 1e9);
    else
        snprintf(cell[C_PARAMS], sizeof cell[0], "%.2f M", (double)r->model_n_params / 1e6);
    snprintf(cell[C_BPW], sizeof cell[0], "%.2f",
             r->model_n_params ? 8.0 * (double)r->model_size / (double)r->model_n_params : 0);
    snprintf(cell[C_BACKEND], sizeof cell[0], "CPU");
    snprintf(cell[C_KERNELS], sizeof cell[0], "%s", r->kernels);
    snprintf(cell[C_PK], sizeof cell[0], "%s", bn_bench_kernel_choice_name(r->prompt_kernels));
    snprintf(cell[C_DK], sizeof cell[0], "%s", bn_bench_kernel_choice_name(r->decode_kernels));
    snprintf(cell[C_I8], sizeof cell[0], "%d", r->lm_head_i8 ? 1 : 0);
    snprintf(cell[C_THREADS], sizeof cell[0], "%d", r->n_threads);
    snprintf(cell[C_BATCH], sizeof cell[0], "%d", (int)r->n_batch);
    snprintf(cell[C_TYPE_K], sizeof cell[0], "%s", bn_bench_kv_type_name(r->type_k));
    snprintf(cell[C_TYPE_V], sizeof cell[0], "%s", bn_bench_kv_type_name(r->type_v));
    snprintf(cell[C_MMAP], sizeof cell[0], "%d", r->use_mmap ? 1 : 0);
    bn_bench_test_name(r->n_prompt, r->n_gen, cell[C_TEST], sizeof cell[0]);
    snprintf(cell[C_TS], sizeof cell[0], "%.2f \xC2\xB1 %.2f", s->avg_ts, s->stddev_ts);
    snprintf(cell[C_MEDIAN], sizeof cell[0], "%.2f", s->median_ts);
    if (s->is_tg)
        snprintf(cell[C_GBS], sizeof cell[0], "%.1f", s->weight_gbs);
    else
        snprintf(cell[C_GBS], sizeof cell[0], "-");
    if (s->is_tg && r->read_bandwidth_gbs > 0)
        snprintf(cell[C_ROOF], sizeof cell[0], "%.0f%%", 100.0 * s->roofline_ratio);
    else
        snprintf(cell[C_ROOF], sizeof cell[0], "-");
    snprintf(cell[C_LOAD], sizeof cell[0], "%.0f", r->load_ms);
    snprintf(cell[C_RSS], sizeof cell[0], "%.0f MiB", (double)r->peak_rss_bytes / (1024.0 * 1024));
    fputc('|', w->f);
    for (int c = 0; c < C_COUNT; c++)
        if (md_shown(&w->columns, c))
            md_cell(w->f, &md_cols[c], cell[c]);
    fputc('\n', w->f);
}

/* ---- the writer ---- */

void bn_bench_writer_begin(bn_bench_writer *w, FILE *f, bn_bench_format format,
                           const bn_bench_columns *columns, const bn_bench_build *build)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->format = format;
    w->columns = *columns;
    w->build = build;
    if (format == BN_BENCH_FORMAT_JSON) {
        fputs("[\n", f);
    } else if (format == BN_BENCH_FORMAT_MD) {
        md_header(w);
    } else {
        /* The CSV header is the field list of an empty row. */
        bn_bench_result r = {0};
        bn_bench_stats s = {0};
        field fs[MAX_FIELDS];
        size_t n = collect_fields(w, &r, &s, fs);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%s", i ? "," : "", fs[i].name);
        fputc('\n', f);
    }
    fflush(f);
}

void bn_bench_writer_row(bn_bench_writer *w, const bn_bench_result *r)
{
    bn_bench_stats s;
    bn_bench_stats_compute(r, &s);
    if (w->format == BN_BENCH_FORMAT_MD) {
        md_row(w, r, &s);
    } else {
        field fs[MAX_FIELDS];
        size_t n = collect_fields(w, r, &s, fs);
        bool json = w->format == BN_BENCH_FORMAT_JSON;
        if (json)
            fputs(w->n_rows ? ",\n  {\n" : "  {\n", w->f);
        for (size_t i = 0; i < n; i++) {
            if (json) {
                fprintf(w->f, "    \"%s\": ", fs[i].name);
            } else if (i) {
                fputc(',', w->f);
            }
            write_value(w->f, &fs[i], r, json);
            if (json)
                fputs(i + 1 < n ? ",\n" : "\n", w->f);
        }
        fputs(json ? "  }" : "\n", w->f);
    }
    w->n_rows++;
    fflush(w->f);
}

void bn_bench_writer_end(bn_bench_writer *w, const int *bw_threads, const double *bw_gbs,
                         size_t n_bw)
{
    if (w->format == BN_BENCH_FORMAT_JSON) {
        fputs(w->n_rows ? "\n]\n" : "]\n", w->f);
    } else if (w->format == BN_BENCH_FORMAT_MD) {
        const bn_bench_build *b = w->build;
        fprintf(w->f, "\nbuild: %s (%s, %s, %s), CPU: %s, %d CPUs\n", b->commit, b->compiler,
                b->c_flags, b->openmp, b->cpu_info, b->n_cpus);
        if (n_bw) {
            fputs("read bandwidth:", w->f);
            for (size_t i = 0; i < n_bw; i++)
                fprintf(w->f, "%s %d thread%s %.1f GB/s", i ? "," : "", bw_threads[i],
                        bw_threads[i] == 1 ? "" : "s", bw_gbs[i]);
            fputs(" (roofline = GB/s / read bandwidth at the row's thread count)\n", w->f);
        }
    }
    fflush(w->f);
}
