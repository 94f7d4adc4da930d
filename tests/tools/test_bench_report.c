/* test_bench_report.c: bitnet-bench's statistics and its md / json / csv
 * output (tools/bench/bench_report.c). JSON output is read back with the
 * project's strict JSON reader, so it is valid JSON with llama-bench's
 * field names and types. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/json.h"
#include "tools/bench/bench_report.h"

static const bn_bench_build build = {"abc1234", "gcc 12", "Release -O3", "OpenMP 201511",
                                     "Test \"CPU\"", 2};

/* A tg128 row: 4 runs of 128 tokens taking 4, 4, 5 and 8 s-equivalents. */
static const uint64_t samples[] = {4000000000u, 4000000000u, 5000000000u, 8000000000u};

static bn_bench_result tg_row(void)
{
    bn_bench_result r = {
        .model_filename = "m.gguf", .model_type = "bitnet-b1.58 2.74B I2_S (Q6_K out)",
        .model_size = 800000000u, .model_n_params = 2741000000u, .kernels = "avx512",
        .n_threads = 2, .n_batch = 512, .type_k = BN_KV_TYPE_F16, .type_v = BN_KV_TYPE_F16,
        .use_mmap = true, .n_prompt = 0, .n_gen = 128, .test_time = "2026-11-23T06:00:00Z",
        .samples_ns = samples, .n_samples = 4, .load_ms = 120.5, .ttft_ms = 300.25,
        .peak_rss_bytes = 900u << 20, .bytes_per_token = 790000000u, .read_bandwidth_gbs = 35.0,
    };
    return r;
}

static char *render(bn_bench_format format, const bn_bench_result *rows, size_t n)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    bn_bench_columns cols = {0};
    bn_bench_writer w;
    bn_bench_writer_begin(&w, f, format, &cols, &build);
    for (size_t i = 0; i < n; i++)
        bn_bench_writer_row(&w, &rows[i]);
    int bw_threads[] = {1, 2};
    double bw_gbs[] = {34.5, 35.0};
    bn_bench_writer_end(&w, bw_threads, bw_gbs, 2);
    long len = ftell(f);
    cr_assert(len >= 0);
    char *text = malloc((size_t)len + 1);
    cr_assert_not_null(text);
    rewind(f);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}

Test(bench_report, computes_mean_stddev_median_and_roofline)
{
    bn_bench_result r = tg_row();
    bn_bench_stats s;
    bn_bench_stats_compute(&r, &s);
    /* tokens/s per run: 32, 32, 25.6, 16 */
    cr_assert_float_eq(s.avg_ts, (32 + 32 + 25.6 + 16) / 4, 1e-9);
    cr_assert_float_eq(s.median_ts, (25.6 + 32) / 2, 1e-9);
    cr_assert_float_eq(s.min_ts, 16, 1e-9);
    cr_assert_float_eq(s.max_ts, 32, 1e-9);
    double m = s.avg_ts, v = (2 * (32 - m) * (32 - m) + (25.6 - m) * (25.6 - m) +
                              (16 - m) * (16 - m)) / 3;
    cr_assert_float_eq(s.stddev_ts, sqrt(v), 1e-9);
    cr_assert_float_eq(s.avg_ns, 5.25e9, 1);
    cr_assert(s.is_tg);
    cr_assert_float_eq(s.weight_gbs, 0.79 * 28.8, 1e-9);
    cr_assert_float_eq(s.roofline_ratio, 0.79 * 28.8 / 35.0, 1e-9);
}

Test(bench_report, has_no_roofline_for_prompt_tests_or_unknown_bandwidth)
{
    bn_bench_result r = tg_row();
    r.n_prompt = 512;
    r.n_gen = 0;
    bn_bench_stats s;
    bn_bench_stats_compute(&r, &s);
    cr_assert_not(s.is_tg);
    cr_assert_eq(s.roofline_ratio, 0);
    cr_assert_float_eq(s.median_ts, (512 / 5.0 + 512 / 4.0) / 2, 1e-9);
    r = tg_row();
    r.read_bandwidth_gbs = 0;
    bn_bench_stats_compute(&r, &s);
    cr_assert_eq(s.roofline_ratio, 0);
    cr_assert(s.weight_gbs > 0);
}

Test(bench_report, names_tests_like_llama_bench)
{
    char b[32];
    bn_bench_test_name(512, 0, b, sizeof b);
    cr_assert_str_eq(b, "pp512");
    bn_bench_test_name(0, 128, b, sizeof b);
    cr_assert_str_eq(b, "tg128");
    bn_bench_test_name(512, 128, b, sizeof b);
    cr_assert_str_eq(b, "pp512+tg128");
}

Test(bench_report, writes_a_json_array_with_llama_bench_fields)
{
    bn_bench_result rows[2] = {tg_row(), tg_row()};
    rows[1].n_prompt = 512;
    rows[1].n_gen = 0;
    char *text = render(BN_BENCH_FORMAT_JSON, rows, 2);
    bn_json_doc *doc = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_json_parse(text, strlen(text), &doc, &err), BN_STATUS_OK, "%s\n%s",
                 err.message, text);
    const bn_json_value *root = bn_json_root(doc);
    cr_assert_eq(bn_json_array_len(root), 2);
    const bn_json_value *o = bn_json_array_at(root, 0);
    const char *s;
    int64_t i;
    double d;
    cr_assert(bn_json_as_string(bn_json_object_get(o, "model_filename"), &s, NULL));
    cr_assert_str_eq(s, "m.gguf");
    cr_assert(bn_json_as_string(bn_json_object_get(o, "cpu_info"), &s, NULL));
    cr_assert_str_eq(s, "Test \"CPU\"", "quotes are escaped");
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "model_size"), &i) && i == 800000000);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_prompt"), &i) && i == 0);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_gen"), &i) && i == 128);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "n_threads"), &i) && i == 2);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "avg_ns"), &i) && i == 5250000000);
    cr_assert(bn_json_as_double(bn_json_object_get(o, "avg_ts"), &d));
    cr_assert_float_eq(d, 26.4, 1e-5);
    cr_assert(bn_json_as_double(bn_json_object_get(o, "stddev_ts"), &d) && d > 0);
    const bn_json_value *ts = bn_json_object_get(o, "samples_ts");
    cr_assert_eq(bn_json_array_len(ts), 4);
    cr_assert(bn_json_as_double(bn_json_array_at(ts, 2), &d));
    cr_assert_float_eq(d, 25.6, 1e-5);
    cr_assert_eq(bn_json_array_len(bn_json_object_get(o, "samples_ns")), 4);
    cr_assert(bn_json_as_string(bn_json_object_get(o, "kernels"), &s, NULL));
    cr_assert_str_eq(s, "avx512");
    cr_assert(bn_json_as_double(bn_json_object_get(o, "median_ts"), &d));
    cr_assert_float_eq(d, 28.8, 1e-5);
    cr_assert(bn_json_as_double(bn_json_object_get(o, "roofline_ratio"), &d));
    cr_assert_float_eq(d, 0.79 * 28.8 / 35.0, 1e-5);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "peak_rss_bytes"), &i) && i == 900 << 20);
    cr_assert(bn_json_as_double(bn_json_object_get(o, "load_ms"), &d));
    cr_assert_float_eq(d, 120.5, 1e-5);
    cr_assert(bn_json_as_int64(bn_json_object_get(o, "bytes_per_token"), &i) && i == 790000000);
    cr_assert(bn_json_as_double(bn_json_object_get(o, "read_bandwidth_gbs"), &d) && d == 35.0);
    /* The prompt row has no roofline: null, not 0. */
    const bn_json_value *pp = bn_json_array_at(root, 1);
    cr_assert_eq(bn_json_type_of(bn_json_object_get(pp, "roofline_ratio")), BN_JSON_NULL);
    cr_assert(bn_json_object_get(pp, "roofline_ratio"), "the key is present");
    bn_json_free(doc);
    free(text);
}

Test(bench_report, writes_an_empty_json_array_when_nothing_ran)
{
    char *text = render(BN_BENCH_FORMAT_JSON, NULL, 0);
    cr_assert_str_eq(text, "[\n]\n");
    free(text);
}

Test(bench_report, writes_csv_with_one_header_and_as_many_fields_per_row)
{
    bn_bench_result rows[2] = {tg_row(), tg_row()};
    rows[1].n_prompt = 512;
    char *text = render(BN_BENCH_FORMAT_CSV, rows, 2);
    cr_assert(strncmp(text, "build_commit,cpu_info,", 22) == 0, "%s", text);
    cr_assert(strstr(text, ",model_filename,model_type,model_size,"));
    cr_assert(strstr(text, ",avg_ts,stddev_ts,samples_ns,samples_ts,"));
    cr_assert(strstr(text, ",median_ts,"));
    cr_assert(strstr(text, ",roofline_ratio,"));
    cr_assert(strstr(text, "\"Test \"\"CPU\"\"\""), "quotes are doubled: %s", text);
    cr_assert(strstr(text, "\"4000000000 4000000000 5000000000 8000000000\""), "%s", text);
    /* every line has the header's number of fields (commas outside quotes) */
    int lines = 0, want = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        int fields = 1;
        bool quoted = false;
        for (char *c = line; *c; c++) {
            if (*c == '"')
                quoted = !quoted;
            else if (*c == ',' && !quoted)
                fields++;
        }
        if (want < 0)
            want = fields;
        cr_assert_eq(fields, want, "line %d: %s", lines, line);
    }
    cr_assert_eq(lines, 3);
    free(text);
}

Test(bench_report, writes_a_markdown_table_like_llama_bench)
{
    bn_bench_result rows[1] = {tg_row()};
    char *text = render(BN_BENCH_FORMAT_MD, rows, 1);
    cr_assert(strncmp(text, "| model ", 8) == 0, "%s", text);
    cr_assert(strstr(text, "| size |") || strstr(text, "size |"));
    cr_assert(strstr(text, "| ------------------------------ |"), "%s", text);
    cr_assert(strstr(text, "tg128 |"), "%s", text);
    cr_assert(strstr(text, "26.40 \xC2\xB1 "), "mean \xC2\xB1 stddev: %s", text);
    cr_assert(strstr(text, "28.80 |"), "median: %s", text);
    cr_assert(strstr(text, "65% |"), "roofline 0.79*28.8/35: %s", text);
    cr_assert(strstr(text, "900 MiB |"), "%s", text);
    cr_assert(strstr(text, "build: abc1234 (gcc 12, Release -O3, OpenMP 201511)"), "%s", text);
    cr_assert(strstr(text, "1 thread 34.5 GB/s, 2 threads 35.0 GB/s"), "%s", text);
    /* the header, the rule and the row have the same number of cells */
    char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    int c1 = 0, c2 = 0, c3 = 0;
    for (char *c = l1; *c != '\n'; c++)
        c1 += *c == '|';
    for (char *c = l2; *c != '\n'; c++)
        c2 += *c == '|';
    for (char *c = l3; *c != '\n'; c++)
        c3 += *c == '|';
    cr_assert(c1 == c2 && c2 == c3, "%d %d %d", c1, c2, c3);
    free(text);
}

Test(bench_report, shows_optional_columns_only_when_the_run_sets_them)
{
    bn_bench_params p;
    bn_bench_params_default(&p, 2);
    bn_bench_columns c;
    bn_bench_columns_from_params(&p, &c);
    cr_assert_not(c.n_batch || c.type_k || c.type_v || c.use_mmap);
    p.type_k[0] = BN_KV_TYPE_F32;
    p.n_batch[0] = 64;
    bn_bench_columns_from_params(&p, &c);
    cr_assert(c.type_k && c.n_batch);
    cr_assert_not(c.type_v || c.use_mmap);
}
