/* model_files.c: opening model files and naming their projections for the
 * suites that compare whole models (see model_files.h). */
#include "tests/support/model_files.h"

#include <criterion/criterion.h>
#include <string.h>

bn_gguf *bn_test_gguf_open(const char *path)
{
    bn_gguf *g = NULL;
    bn_error err = {0};
    cr_assert_eq(bn_gguf_open_file(path, NULL, &g, &err), BN_STATUS_OK, "%s: %s", path,
                 err.message);
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
