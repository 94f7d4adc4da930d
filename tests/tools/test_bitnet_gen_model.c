/* test_bitnet_gen_model.c: tools/bitnet-gen-model writes files the runtime
 * loads and runs, in every ternary type, and refuses impossible ones. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/bitnet.h"

#define GEN BN_BUILD_DIR "/tools/bitnet-gen-model"

static int gen(const char *args, char *err_text, size_t cap)
{
    char errp[128], cmd[1024];
    snprintf(errp, sizeof errp, "/tmp/bn-test-gen-%d.err", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s %s 2>%s >/dev/null </dev/null", GEN, args, errp);
    int st = system(cmd);
    FILE *f = fopen(errp, "rb");
    size_t n = f ? fread(err_text, 1, cap - 1, f) : 0;
    err_text[n] = '\0';
    if (f)
        fclose(f);
    unlink(errp);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(bitnet_gen_model, tiny_shape_in_every_type_loads_tokenizes_and_runs)
{
    const char *types[] = {"i2_s", "tq2_0", "tq1_0", "iq2_bn", "iq1_bn", "f16"};
    const char *embd[] = {"f16", "q6_k", "f32", "f16", "q6_k", "f32"};
    for (int i = 0; i < 6; i++) {
        char path[128], args[512], err_text[4096];
        snprintf(path, sizeof path, "/tmp/bn-test-gen-%d-%s.gguf", (int)getpid(), types[i]);
        snprintf(args, sizeof args, "--shape tiny --type %s --embd-type %s --seed 3 -o %s",
                 types[i], embd[i], path);
        cr_assert_eq(gen(args, err_text, sizeof err_text), 0, "%s: %s", types[i], err_text);
        bn_model *m = NULL;
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_model_load(path, NULL, &m, &err), BN_STATUS_OK, "%s: %s", types[i],
                     err.message);
        cr_assert_eq(bn_model_n_vocab(m), 2048);
        cr_assert_eq(bn_model_n_layer(m), 6);
        cr_assert(bn_model_has_tokenizer(m));
        int32_t ids[64];
        size_t n = 0;
        cr_assert_eq(bn_model_tokenize(m, "the cat sat", 11, true, false, ids, 64, &n, &err),
                     BN_STATUS_OK, "%s", err.message);
        cr_assert(n >= 2);
        bn_session *s = NULL;
        cr_assert_eq(bn_session_new(m, NULL, &s, &err), BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(bn_session_eval(s, ids, n, false, &err), BN_STATUS_OK, "%s", err.message);
        const float *l = bn_session_logits(s, -1);
        for (int v = 0; v < 2048; v++)
            cr_assert(l[v] == l[v] && l[v] > -1e30f && l[v] < 1e30f, "%s: logit %d", types[i], v);
        bn_session_free(s);
        bn_model_free(m);
        unlink(path);
    }
}

Test(bitnet_gen_model, refuses_a_type_the_shape_cannot_hold)
{
    char path[128], args[512], err_text[4096];
    snprintf(path, sizeof path, "/tmp/bn-test-gen-%d-bad.gguf", (int)getpid());
    /* 1bitLLM-3B rows of 3200 are not a multiple of TQ2_0's 256 */
    snprintf(args, sizeof args, "--shape 1bitllm-3b --type tq2_0 -o %s", path);
    cr_assert_eq(gen(args, err_text, sizeof err_text), 1);
    cr_assert_not_null(strstr(err_text, "3200"), "%s", err_text);
    unlink(path);
}

Test(bitnet_gen_model, bad_flags_are_usage_errors)
{
    char err_text[4096];
    cr_assert_eq(gen("--shape 2b4t --type q4_0 -o /tmp/x.gguf", err_text, sizeof err_text), 2);
    cr_assert_eq(gen("--shape gpt5 --type i2_s -o /tmp/x.gguf", err_text, sizeof err_text), 2);
    cr_assert_eq(gen("--type i2_s", err_text, sizeof err_text), 2);
}
