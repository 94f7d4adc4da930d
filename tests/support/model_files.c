/* model_files.c: opening GGUF files and buffers that must be valid, and
 * naming a model's projections, for the loader suites (see model_files.h). */
#include "tests/support/model_files.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

char *bn_test_tiny_path(char *buf, size_t size, const char *file)
{
    snprintf(buf, size, "%s/models/tiny-bitnet/%s", BN_SHARED_DIR, file);
    return buf;
}

bool bn_test_tiny_has(const char *file)
{
    char path[1200];
    return access(bn_test_tiny_path(path, sizeof path, file), R_OK) == 0;
}

void bn_test_require_tiny(const char *file)
{
    if (!bn_test_tiny_has(file))
        cr_skip_test("../shared/models/tiny-bitnet is absent");
}

char *bn_test_out_path(char *buf, size_t size, const char *suite, const char *tag)
{
    snprintf(buf, size, "%s/%s_%s_%d.gguf", BN_BUILD_DIR, suite, tag, (int)getpid());
    return buf;
}

bn_gguf *bn_test_gguf_open(const char *path)
{
    bn_gguf *g = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file(path, NULL, &g, &err), BN_STATUS_OK, "%s: %s", path,
                 err.message);
    return g;
}

bn_gguf *bn_test_gguf_open_bytes(const void *data, size_t size)
{
    bn_gguf *g = NULL;
    bn_error err = {0};
    bn_status st = bn_gguf_open_memory(data, size, &g, &err);
    cr_assert_eq(st, BN_STATUS_OK, "%s: %s", bn_status_name(st), err.message);
    return g;
}

bool bn_test_is_projection(const char *name)
{
    static const char *const parts[] = {"attn_q.", "attn_k.", "attn_v.", "attn_output.",
                                        "ffn_gate.", "ffn_up.", "ffn_down."};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(name, parts[i]))
            return true;
    return false;
}
