/* bitnet-quantize: GGUF -> GGUF ternary (re)quantization, with statistics.
 *
 *   bitnet-quantize IN.gguf OUT.gguf TYPE [--group-size N]
 *                   [--token-embedding-type f32|f16|q8_0|q6_k] [--stats]
 *
 * TYPE: i2_s, tq2_0, tq1_0, iq2_bn, iq1_bn, f16 or f32. A thin program over
 * loader/quantize.h: --stats prints, per quantized tensor and in total, the
 * compression ratio against F32 and F16, the quantization MSE and relative
 * error (against the input's own weights), the fraction of zero weights and
 * the throughput (GB of F32 weights per second). Errors:
 * "bitnet-quantize: error: <message>", exit 1; usage errors exit 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loader/quantize.h"

static void usage(void) {
    fprintf(stderr,
            "usage: bitnet-quantize IN.gguf OUT.gguf TYPE [--group-size N]\n"
            "                       [--token-embedding-type T] [--stats]\n"
            "  TYPE            i2_s | tq2_0 | tq1_0 | iq2_bn | iq1_bn | f16 | f32\n"
            "  --group-size N  absmean per group of N (64, 128 or 256) for float inputs;\n"
            "                  TQ types only (their 256-blocks store the scales)\n"
            "  --token-embedding-type T  f32 | f16 | q8_0 | q6_k for token_embd (and an untied\n"
            "                  output.weight); default: copied as it is\n"
            "  --stats         per-tensor and total size, error and speed report on stdout\n");
}

static int parse_type(const char *s, bn_tensor_type *out) {
    static const struct {
        const char *name;
        bn_tensor_type type;
    } names[] = {{"i2_s", BN_TYPE_I2_S},     {"tq2_0", BN_TYPE_TQ2_0}, {"tq1_0", BN_TYPE_TQ1_0},
                 {"iq2_bn", BN_TYPE_IQ2_BN}, {"iq1_bn", BN_TYPE_IQ1_BN}, {"f16", BN_TYPE_F16},
                 {"f32", BN_TYPE_F32},       {"q8_0", BN_TYPE_Q8_0},   {"q6_k", BN_TYPE_Q6_K}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].type;
            return 1;
        }
    return 0;
}

static void print_row(const bn_quantize_stats *s) {
    printf("%-28s %-6s -> %-6s %10llu %9.2f %9.2f %11.4e %9.5f %7.2f%% %8.3f\n", s->name,
           s->in_type == BN_TYPE_COUNT ? "mixed" : bn_tensor_type_name(s->in_type),
           bn_tensor_type_name(s->out_type),
           (unsigned long long)s->n_elements, bn_quantize_stats_ratio(s, BN_TYPE_F32),
           bn_quantize_stats_ratio(s, BN_TYPE_F16), bn_quantize_stats_mse(s),
           bn_quantize_stats_rel_err(s),
           s->n_elements ? 100.0 * (double)s->n_zeros / (double)s->n_elements : 0.0,
           bn_quantize_stats_gbps(s));
}

static void on_tensor(void *user, const bn_quantize_stats *s, size_t index, size_t count) {
    int stats = *(int *)user;
    if (!stats)
        return;
    if (index == 0 && count > 0)
        printf("%-28s %-6s    %-6s %10s %9s %9s %11s %9s %8s %8s\n", "tensor", "in", "out",
               "weights", "x vs F32", "x vs F16", "MSE", "rel.err", "zeros", "GB/s");
    if (!s->quantized)
        return;
    if (index == count)
        printf("---- all ternary tensors:\n");
    print_row(s);
}

int main(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0, stats = 0;
    bn_quantize_options opt = {.on_tensor = on_tensor, .user = &stats};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--stats") == 0) {
            stats = 1;
        } else if (strcmp(a, "--token-embedding-type") == 0 || strcmp(a, "--embd-type") == 0) {
            if (++i >= argc || !parse_type(argv[i], &opt.embd_type) ||
                !(opt.embd_type == BN_TYPE_F32 || opt.embd_type == BN_TYPE_F16 ||
                  opt.embd_type == BN_TYPE_Q8_0 || opt.embd_type == BN_TYPE_Q6_K))
                goto bad;
            opt.embd_type_set = true;
        } else if (strcmp(a, "--group-size") == 0) {
            char *end = NULL;
            if (++i >= argc)
                goto bad;
            long g = strtol(argv[i], &end, 10);
            if (!end || *end || (g != 64 && g != 128 && g != 256))
                goto bad;
            opt.group_size = (int)g;
        } else if (a[0] == '-' && a[1]) {
            goto bad;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            goto bad;
        }
    }
    if (n_pos != 3 || !parse_type(pos[2], &opt.type) || opt.type == BN_TYPE_Q8_0 ||
        opt.type == BN_TYPE_Q6_K)
        goto bad;
    bn_error err = {0};
    bn_quantize_stats total;
    if (bn_quantize_gguf(pos[0], pos[1], &opt, &total, &err) != BN_STATUS_OK) {
        fflush(stdout);
        fprintf(stderr, "bitnet-quantize: error: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "bitnet-quantize: wrote %s (%llu weights quantized, %.2fx smaller than F32)\n",
            pos[1], (unsigned long long)total.n_elements, bn_quantize_stats_ratio(&total, BN_TYPE_F32));
    return 0;
bad:
    usage();
    return 2;
}
