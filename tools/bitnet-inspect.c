/* bitnet-inspect: print what a GGUF file holds.
 *
 *   bitnet-inspect FILE [--json] [--no-mmap]
 *
 * Prints the container facts (version, alignment, data offset), every
 * metadata key (arrays longer than BN_INSPECT_ARRAY_SHOWN elements are
 * summarised as "[type x count] first, ..., last"), every tensor (name,
 * type, dims, bytes, offset) and a summary: the architecture and the tensor
 * types present, with counts, bytes and bits per weight, ternary layouts
 * first, and how many float matrices hold ternary values (checked on a
 * sample of each). --json prints the same as one JSON object.
 *
 * All validation is the loader's: this tool only formats. A broken file
 * gives "bitnet-inspect: error: FILE: <message>" and exit 1; bad flags give
 * the usage on stderr and exit 2.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "loader/half.h"

#define BN_INSPECT_ARRAY_SHOWN 8      /* arrays up to this length print in full */
#define BN_INSPECT_ARRAY_HEAD 3       /* else: this many first elements and the last */
#define BN_INSPECT_TEXT_STRING_MAX 160 /* text mode cuts longer strings */
#define BN_INSPECT_TERNARY_SAMPLE 65536 /* values checked per float matrix */

typedef struct bn_inspect {
    const bn_gguf *g;
    bool json;
} bn_inspect;

static void usage(FILE *f)
{
    fprintf(f, "usage: bitnet-inspect FILE [--json] [--no-mmap]\n"
               "  Prints a GGUF file's version, metadata, tensors and detected layouts.\n"
               "  --json     print the same as JSON\n"
               "  --no-mmap  read the file into memory instead of mapping it\n");
}

static const char *value_type_name(bn_gguf_value_type t)
{
    static const char *const names[BN_GGUF_VALUE_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64",
        "f64",
    };
    return (unsigned)t < BN_GGUF_VALUE_TYPE_COUNT ? names[t] : "invalid";
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates and values past U+10FFFF are invalid */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A quoted string. JSON: escaped, invalid UTF-8 bytes become U+FFFD.
 * Text: control and invalid bytes as \xNN, cut after max bytes. */
static void print_string(const bn_inspect *in, const char *data, uint64_t len, uint64_t max)
{
    const unsigned char *s = (const unsigned char *)data;
    uint64_t shown = len > max ? max : len;
    putchar('"');
    for (uint64_t i = 0; i < shown;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
            i++;
        } else if (c == '\n') {
            fputs("\\n", stdout);
            i++;
        } else if (c == '\t') {
            fputs("\\t", stdout);
            i++;
        } else if (c == '\r') {
            fputs("\\r", stdout);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            printf(in->json ? "\\u%04x" : "\\x%02x", c);
            i++;
        } else {
            size_t n = utf8_len(s + i, (size_t)(shown - i));
            if (n == 0) {
                if (in->json)
                    fputs("\\ufffd", stdout);
                else
                    printf("\\x%02x", c);
                i++;
            } else {
                fwrite(s + i, 1, n, stdout);
                i += n;
            }
        }
    }
    putchar('"');
    if (shown < len)
        printf("... (%" PRIu64 " bytes)", len);
}

static void print_double(const bn_inspect *in, double v, bool is_f64)
{
    if (!isfinite(v))
        fputs(in->json ? "null" : (isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf")), stdout);
    else
        printf(is_f64 ? "%.17g" : "%.9g", v);
}

/* Element i of array key (its elements are of type t). */
static void print_element(const bn_inspect *in, const char *key, bn_gguf_value_type t,
                          uint64_t i)
{
    bn_error err = {0};
    const uint8_t *raw = bn_gguf_array_raw(in->g, key);
    switch (t) {
    case BN_GGUF_STRING: {
        bn_gguf_string s = {0};
        bn_gguf_array_string(in->g, key, i, &s, &err);
        print_string(in, s.data, s.len, in->json ? UINT64_MAX : BN_INSPECT_TEXT_STRING_MAX);
        return;
    }
    case BN_GGUF_BOOL:
        fputs(raw[i] ? "true" : "false", stdout);
        return;
    case BN_GGUF_FLOAT32: {
        float f;
        memcpy(&f, raw + 4 * i, 4);
        print_double(in, f, false);
        return;
    }
    case BN_GGUF_FLOAT64: {
        double d;
        memcpy(&d, raw + 8 * i, 8);
        print_double(in, d, true);
        return;
    }
    case BN_GGUF_UINT64: {
        uint64_t u;
        memcpy(&u, raw + 8 * i, 8);
        printf("%" PRIu64, u);
        return;
    }
    default: {
        int64_t v = 0;
        bn_gguf_array_i64(in->g, key, i, &v, &err);
        printf("%" PRId64, v);
        return;
    }
    }
}

static void print_array(const bn_inspect *in, const char *key)
{
    bn_gguf_value_type t;
    uint64_t n;
    bn_error err = {0};
    if (bn_gguf_get_array(in->g, key, &t, &n, &err) != BN_STATUS_OK)
        return;
    bool summarise = n > BN_INSPECT_ARRAY_SHOWN;
    if (in->json) {
        printf("{\"type\": \"array\", \"elem_type\": \"%s\", \"count\": %" PRIu64 ", ",
               value_type_name(t), n);
        fputs(summarise ? "\"head\": [" : "\"values\": [", stdout);
        uint64_t shown = summarise ? BN_INSPECT_ARRAY_HEAD : n;
        for (uint64_t i = 0; i < shown; i++) {
            if (i)
                fputs(", ", stdout);
            print_element(in, key, t, i);
        }
        putchar(']');
        if (summarise) {
            fputs(", \"last\": ", stdout);
            print_element(in, key, t, n - 1);
        }
        putchar('}');
        return;
    }
    if (summarise) {
        printf("[%s x %" PRIu64 "] ", value_type_name(t), n);
        for (uint64_t i = 0; i < BN_INSPECT_ARRAY_HEAD; i++) {
            print_element(in, key, t, i);
            fputs(", ", stdout);
        }
        fputs("..., ", stdout);
        print_element(in, key, t, n - 1);
        return;
    }
    putchar('[');
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", stdout);
        print_element(in, key, t, i);
    }
    putchar(']');
}

static void print_value(const bn_inspect *in, size_t index)
{
    const char *key = bn_gguf_kv_key(in->g, index);
    bn_gguf_value_type t = bn_gguf_kv_type(in->g, index);
    bn_error err = {0};
    switch (t) {
    case BN_GGUF_UINT8: case BN_GGUF_UINT16: case BN_GGUF_UINT32: case BN_GGUF_UINT64: {
        uint64_t u = 0;
        bn_gguf_get_u64(in->g, key, &u, &err);
        printf("%" PRIu64, u);
        break;
    }
    case BN_GGUF_INT8: case BN_GGUF_INT16: case BN_GGUF_INT32: case BN_GGUF_INT64: {
        int64_t v = 0;
        bn_gguf_get_i64(in->g, key, &v, &err);
        printf("%" PRId64, v);
        break;
    }
    case BN_GGUF_FLOAT32: case BN_GGUF_FLOAT64: {
        double d = 0;
        bn_gguf_get_f64(in->g, key, &d, &err);
        print_double(in, d, t == BN_GGUF_FLOAT64);
        break;
    }
    case BN_GGUF_BOOL: {
        bool b = false;
        bn_gguf_get_bool(in->g, key, &b, &err);
        fputs(b ? "true" : "false", stdout);
        break;
    }
    case BN_GGUF_STRING: {
        bn_gguf_string s = {0};
        bn_gguf_get_string(in->g, key, &s, &err);
        print_string(in, s.data, s.len, in->json ? UINT64_MAX : BN_INSPECT_TEXT_STRING_MAX);
        break;
    }
    case BN_GGUF_ARRAY:
        print_array(in, key);
        break;
    default:
        fputs("null", stdout);
        break;
    }
}

/* ---- summary ---- */

typedef struct bn_type_stats {
    size_t count;
    uint64_t bytes;
    uint64_t elements;
    size_t ternary_valued; /* float matrices whose sampled values are {-s, 0, +s} */
} bn_type_stats;

/* Whether a float matrix holds ternary values times one scale, as the
 * converters that store ternary weights as F32/F16/BF16 write them. Only
 * the first BN_INSPECT_TERNARY_SAMPLE values are read: latent float weights
 * fail within a few values, and a full scan of a large model would read
 * gigabytes. */
static bool looks_ternary(const bn_gguf_tensor *t)
{
    if (t->n_dims < 2 || (t->type != BN_TYPE_F32 && t->type != BN_TYPE_F16 &&
                          t->type != BN_TYPE_BF16))
        return false;
    uint64_t n = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    if (n > BN_INSPECT_TERNARY_SAMPLE)
        n = BN_INSPECT_TERNARY_SAMPLE;
    float scale = 0.0f;
    for (uint64_t i = 0; i < n; i++) {
        float v;
        if (t->type == BN_TYPE_F32) {
            memcpy(&v, t->data + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, t->data + 2 * i, 2);
            v = t->type == BN_TYPE_F16 ? bn_f16_to_f32(h) : bn_bf16_to_f32(h);
        }
        float a = fabsf(v);
        if (a == 0.0f)
            continue;
        if (scale == 0.0f)
            scale = a;
        else if (a != scale)
            return false;
    }
    return scale > 0.0f && isfinite(scale);
}

static const char *family_of(const char *arch, size_t len)
{
    static const struct { const char *arch, *what; } known[] = {
        {"bitnet-b1.58", "BitNet b1.58 2B4T layout (bitnet.cpp)"},
        {"bitnet-25", "BitNet b1.58 2B4T layout (bitnet.cpp, older name)"},
        {"bitnet", "BitNet b1.58 (1bitLLM / llama.cpp naming)"},
        {"llama", "Llama (ternary models such as Llama3-8B-1.58 and Falcon3 use it)"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].arch) == len && memcmp(known[i].arch, arch, len) == 0)
            return known[i].what;
    return "not a BitNet architecture";
}

static void collect_stats(const bn_gguf *g, bn_type_stats stats[BN_TYPE_COUNT])
{
    memset(stats, 0, sizeof(bn_type_stats) * BN_TYPE_COUNT);
    for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        bn_type_stats *s = &stats[t->type];
        s->count++;
        s->bytes += t->n_bytes;
        s->elements += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        s->ternary_valued += looks_ternary(t);
    }
}

/* Ternary types first, then the rest, each in table order. */
static void print_type_stats(const bn_inspect *in, const bn_type_stats *stats, bool ternary)
{
    bool first = true;
    for (int ty = 0; ty < BN_TYPE_COUNT; ty++) {
        const bn_tensor_type_traits *tr = bn_tensor_type_traits_of((bn_tensor_type)ty);
        const bn_type_stats *s = &stats[ty];
        if (s->count == 0 || tr->is_ternary != ternary)
            continue;
        double bpw = s->elements ? 8.0 * (double)s->bytes / (double)s->elements : 0.0;
        if (in->json) {
            printf("%s\n      {\"type\": \"%s\", \"tensors\": %zu, \"bytes\": %" PRIu64
                   ", \"elements\": %" PRIu64 ", \"bits_per_weight\": %.4f, "
                   "\"ternary_valued_matrices\": %zu}",
                   first ? "" : ",", tr->name, s->count, s->bytes, s->elements, bpw,
                   s->ternary_valued);
        } else {
            printf("    %-7s %4zu tensors, %12" PRIu64 " bytes, %7.4f bits/weight", tr->name,
                   s->count, s->bytes, bpw);
            if (s->ternary_valued)
                printf(" (%zu matrices hold ternary values)", s->ternary_valued);
            putchar('\n');
        }
        first = false;
    }
    if (first && !in->json)
        printf("    (none)\n");
}

/* ---- the two output formats ---- */

static void print_text(const bn_inspect *in, const char *path)
{
    const bn_gguf *g = in->g;
    printf("file:         %s\n", path);
    printf("GGUF version: %u\n", bn_gguf_version(g));
    printf("file size:    %" PRIu64 " bytes\n", bn_gguf_file_size(g));
    printf("alignment:    %" PRIu64 "\n", bn_gguf_alignment(g));
    printf("data offset:  %" PRIu64 "\n", bn_gguf_data_offset(g));
    printf("access:       %s\n", bn_gguf_is_mmapped(g) ? "mmap" : "read into memory");

    printf("\nmetadata (%zu keys):\n", bn_gguf_kv_count(g));
    for (size_t i = 0; i < bn_gguf_kv_count(g); i++) {
        bn_gguf_value_type t = bn_gguf_kv_type(g, i);
        printf("  %-40s %-6s = ", bn_gguf_kv_key(g, i), value_type_name(t));
        print_value(in, i);
        putchar('\n');
    }

    printf("\ntensors (%zu):\n", bn_gguf_tensor_count(g));
    if (bn_gguf_tensor_count(g) > 0)
        printf("  %-40s %-7s %-24s %12s %12s\n", "name", "type", "dims", "bytes", "offset");
    for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        char dims[96];
        int n = snprintf(dims, sizeof dims, "[");
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(dims + n, sizeof dims - (size_t)n, "%s%" PRId64, d ? ", " : "",
                          t->ne[d]);
        snprintf(dims + n, sizeof dims - (size_t)n, "]");
        printf("  %-40s %-7s %-24s %12" PRIu64 " %12" PRIu64 "\n", t->name,
               bn_tensor_type_name(t->type), dims, t->n_bytes, t->offset);
    }

    bn_type_stats stats[BN_TYPE_COUNT];
    collect_stats(g, stats);
    bn_gguf_string arch = {0};
    bn_error err = {0};
    printf("\nsummary:\n");
    if (bn_gguf_get_string(g, "general.architecture", &arch, &err) == BN_STATUS_OK) {
        printf("  architecture: ");
        print_string(in, arch.data, arch.len, 64);
        printf(" (%s)\n", family_of(arch.data, (size_t)arch.len));
    } else {
        printf("  architecture: (general.architecture not set)\n");
    }
    printf("  ternary layouts:\n");
    print_type_stats(in, stats, true);
    printf("  other types:\n");
    print_type_stats(in, stats, false);
}

static void print_json(const bn_inspect *in, const char *path)
{
    const bn_gguf *g = in->g;
    printf("{\n  \"file\": ");
    print_string(in, path, strlen(path), UINT64_MAX);
    printf(",\n  \"version\": %u,\n  \"file_size\": %" PRIu64 ",\n  \"alignment\": %" PRIu64
           ",\n  \"data_offset\": %" PRIu64 ",\n  \"mmapped\": %s,\n",
           bn_gguf_version(g), bn_gguf_file_size(g), bn_gguf_alignment(g),
           bn_gguf_data_offset(g), bn_gguf_is_mmapped(g) ? "true" : "false");

    printf("  \"metadata\": [");
    for (size_t i = 0; i < bn_gguf_kv_count(g); i++) {
        const char *key = bn_gguf_kv_key(g, i);
        printf("%s\n    {\"key\": ", i ? "," : "");
        print_string(in, key, strlen(key), UINT64_MAX);
        printf(", \"type\": \"%s\", \"value\": ", value_type_name(bn_gguf_kv_type(g, i)));
        print_value(in, i);
        putchar('}');
    }
    printf("%s],\n", bn_gguf_kv_count(g) ? "\n  " : "");

    printf("  \"tensors\": [");
    for (size_t i = 0; i < bn_gguf_tensor_count(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        printf("%s\n    {\"name\": ", i ? "," : "");
        print_string(in, t->name, strlen(t->name), UINT64_MAX);
        printf(", \"type\": \"%s\", \"ggml_type\": %u, \"ne\": [", bn_tensor_type_name(t->type),
               (unsigned)t->ggml_id);
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
        printf("], \"bytes\": %" PRIu64 ", \"offset\": %" PRIu64 "}", t->n_bytes, t->offset);
    }
    printf("%s],\n", bn_gguf_tensor_count(g) ? "\n  " : "");

    bn_type_stats stats[BN_TYPE_COUNT];
    collect_stats(g, stats);
    bn_gguf_string arch = {0};
    bn_error err = {0};
    printf("  \"summary\": {\n    \"architecture\": ");
    if (bn_gguf_get_string(g, "general.architecture", &arch, &err) == BN_STATUS_OK) {
        print_string(in, arch.data, arch.len, UINT64_MAX);
        printf(",\n    \"family\": \"%s\",\n", family_of(arch.data, (size_t)arch.len));
    } else {
        printf("null,\n    \"family\": null,\n");
    }
    printf("    \"ternary_layouts\": [");
    print_type_stats(in, stats, true);
    printf("\n    ],\n    \"other_types\": [");
    print_type_stats(in, stats, false);
    printf("\n    ]\n  }\n}\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bn_gguf_open_options opts = {0};
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--no-mmap") == 0) {
            opts.no_mmap = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "bitnet-inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "bitnet-inspect: more than one FILE given\n");
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }

    bn_gguf *g = NULL;
    bn_error err = {0};
    if (bn_gguf_open_file(path, &opts, &g, &err) != BN_STATUS_OK) {
        fprintf(stderr, "bitnet-inspect: error: %s: %s\n", path, err.message);
        return 1;
    }
    bn_inspect in = {g, json};
    if (json)
        print_json(&in, path);
    else
        print_text(&in, path);
    bn_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "bitnet-inspect: error: writing the output failed\n");
        return 1;
    }
    return 0;
}
