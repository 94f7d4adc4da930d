/* bitnet-convert: a Hugging Face BitNet checkpoint folder to a GGUF file.
 *
 *   bitnet-convert HF_DIR -o OUT.gguf [--type i2_s|tq2_0|tq1_0|f16|f32]
 *                  [--embd-type f32|f16|q8_0|q6_k] [--no-tokenizer] [--keep-latent]
 *
 * A thin program over loader/convert.h: parses flags, draws a progress bar
 * on stderr, prints the library's notes, and turns a status into
 * "bitnet-convert: error: <message>" (exit 1; usage errors exit 2).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "loader/convert.h"

static void usage(void) {
    fprintf(stderr,
            "usage: bitnet-convert HF_DIR -o OUT.gguf [--type i2_s|tq2_0|tq1_0|f16|f32]\n"
            "                      [--embd-type f32|f16|q8_0|q6_k]\n"
            "  HF_DIR       folder with config.json, *.safetensors and the tokenizer files\n"
            "  -o FILE      output GGUF\n"
            "  --type T     projection weights type (default i2_s)\n"
            "  --embd-type  token embedding / untied output type (default f32 for --type f32,\n"
            "               else f16)\n"
            "  --no-tokenizer  write tensors and hyperparameters only (no tokenizer.* keys)\n"
            "  --keep-latent   with --type f32|f16: keep latent weights unternarized (input for\n"
            "                  bitnet-quantize --stats; not a runnable BitNet model)\n");
}

static int parse_type(const char *s, bn_tensor_type *out) {
    static const struct {
        const char *name;
        bn_tensor_type type;
    } names[] = {{"i2_s", BN_TYPE_I2_S}, {"tq2_0", BN_TYPE_TQ2_0}, {"tq1_0", BN_TYPE_TQ1_0},
                 {"f16", BN_TYPE_F16},   {"f32", BN_TYPE_F32},     {"q8_0", BN_TYPE_Q8_0},
                 {"q6_k", BN_TYPE_Q6_K}, {"bf16", BN_TYPE_BF16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].type;
            return 1;
        }
    return 0;
}

/* A bar redrawn in place on a terminal; on a pipe or file, only the end. */
static void progress(void *user, size_t done, size_t total, const char *name) {
    (void)user;
    if (!isatty(2) && done != total)
        return;
    enum { WIDTH = 30 };
    size_t filled = total ? done * WIDTH / total : WIDTH;
    char bar[WIDTH + 1];
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3zu/%zu %-40.40s", bar, done, total, name);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void note(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "\nbitnet-convert: note: %s\n", message);
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    bn_convert_options opt = {.type = BN_TYPE_I2_S, .progress = progress, .note = note};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--outfile") == 0) {
            if (++i >= argc)
                goto bad;
            out = argv[i];
        } else if (strcmp(a, "--type") == 0 || strcmp(a, "--outtype") == 0) {
            if (++i >= argc || !parse_type(argv[i], &opt.type) ||
                !(opt.type == BN_TYPE_I2_S || opt.type == BN_TYPE_TQ2_0 ||
                  opt.type == BN_TYPE_TQ1_0 || opt.type == BN_TYPE_F16 || opt.type == BN_TYPE_F32))
                goto bad;
        } else if (strcmp(a, "--embd-type") == 0) {
            if (++i >= argc || !parse_type(argv[i], &opt.embd_type) ||
                !(opt.embd_type == BN_TYPE_F32 || opt.embd_type == BN_TYPE_F16 ||
                  opt.embd_type == BN_TYPE_Q8_0 || opt.embd_type == BN_TYPE_Q6_K))
                goto bad;
            opt.embd_type_set = true;
        } else if (strcmp(a, "--keep-latent") == 0) {
            opt.keep_latent = true;
        } else if (strcmp(a, "--no-tokenizer") == 0) {
            opt.skip_tokenizer = true;
        } else if (a[0] == '-') {
            goto bad;
        } else if (!in) {
            in = a;
        } else {
            goto bad;
        }
    }
    if (!in || !out)
        goto bad;
    bn_error err = {0};
    if (bn_convert_hf(in, out, &opt, &err) != BN_STATUS_OK) {
        fprintf(stderr, "\nbitnet-convert: error: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "bitnet-convert: wrote %s\n", out);
    return 0;
bad:
    usage();
    return 2;
}
