/* test_session.c: runtime/session.c: context limits, argument checks,
 * truncation and KV reuse, logits access and counters. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "tests/support/tiny_model.h"

static char path[256];
static bn_model *model;

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/bn-test-session-%d.gguf", (int)getpid());
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(&s, path, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_model_load(path, NULL, &model, &err), BN_STATUS_OK, "%s", err.message);
}

static void teardown(void)
{
    bn_model_free(model);
    unlink(path);
}

static bn_session *session(int n_ctx, int n_logits)
{
    bn_session_options o;
    bn_session_options_default(&o);
    o.n_ctx = n_ctx;
    o.n_logits = n_logits;
    o.n_threads = 2;
    bn_session *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_new(model, &o, &s, &err), BN_STATUS_OK, "%s", err.message);
    return s;
}

TestSuite(session, .init = setup, .fini = teardown);

Test(session, prompt_longer_than_the_context_is_context_full_and_changes_nothing)
{
    bn_session *s = session(16, 0);
    int32_t tok[20] = {0};
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 20, false, &err), BN_STATUS_CONTEXT_FULL);
    cr_assert_not_null(strstr(err.message, "16"), "%s", err.message);
    cr_assert_eq(bn_session_n_past(s), 0);
    cr_assert_null(bn_session_logits(s, -1));
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 16, false, &err), BN_STATUS_OK, "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 1, false, &err), BN_STATUS_CONTEXT_FULL);
    cr_assert_eq(bn_session_n_past(s), 16);
    bn_session_free(s);
}

Test(session, rejects_bad_token_ids_and_empty_batches)
{
    bn_session *s = session(32, 0);
    int32_t tok[3] = {1, 320, 2};
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 3, false, &err), BN_STATUS_INVALID_ARG);
    cr_assert_not_null(strstr(err.message, "320"), "%s", err.message);
    tok[1] = -5;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 3, false, &err), BN_STATUS_INVALID_ARG);
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 0, false, &err), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_session_n_past(s), 0);
    bn_session_free(s);
}

Test(session, all_logits_beyond_the_logit_rows_is_refused)
{
    bn_session *s = session(32, 4);
    int32_t tok[6] = {1, 2, 3, 4, 5, 6};
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 6, true, &err), BN_STATUS_INVALID_ARG);
    cr_assert_not_null(strstr(err.message, "n_logits"), "%s", err.message);
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 4, true, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_not_null(bn_session_logits(s, 3));
    cr_assert_null(bn_session_logits(s, 4));
    cr_assert_eq(bn_session_logits(s, -1), bn_session_logits(s, 3));
    bn_session_free(s);
}

Test(session, truncate_and_re_evaluate_gives_the_same_logits)
{
    bn_session *s = session(64, 0);
    int32_t tok[10] = {1, 17, 42, 99, 3, 250, 7, 8, 9, 10};
    int32_t nv = bn_model_n_vocab(model);
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 10, false, &err), BN_STATUS_OK, "%s", err.message);
    float *want = malloc((size_t)nv * sizeof *want);
    memcpy(want, bn_session_logits(s, -1), (size_t)nv * sizeof *want);
    cr_assert_eq(bn_session_truncate(s, 6, &err), BN_STATUS_OK);
    cr_assert_eq(bn_session_n_past(s), 6);
    cr_assert_null(bn_session_logits(s, -1));
    cr_assert_eq(bn_session_eval(s, tok + 6, 4, false, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert(memcmp(want, bn_session_logits(s, -1), (size_t)nv * sizeof *want) == 0);
    bn_error_clear(&err);
    cr_assert_eq(bn_session_truncate(s, 11, &err), BN_STATUS_INVALID_ARG);
    cr_assert_eq(bn_session_truncate(s, 0, &err), BN_STATUS_OK);
    free(want);
    bn_session_free(s);
}

Test(session, counts_tokens_and_calls)
{
    bn_session *s = session(64, 0);
    int32_t tok[5] = {1, 2, 3, 4, 5};
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 5, false, &err), BN_STATUS_OK);
    cr_assert_eq(bn_session_eval(s, tok, 1, false, &err), BN_STATUS_OK);
    cr_assert_eq(bn_session_eval(s, tok, 1, false, &err), BN_STATUS_OK);
    bn_session_stats st;
    bn_session_stats_get(s, &st);
    cr_assert_eq(st.n_eval_calls, 3);
    cr_assert_eq(st.n_tokens_evaluated, 7);
    cr_assert_eq(st.n_prompt_tokens, 5);
    cr_assert_eq(st.n_gen_tokens, 2);
    cr_assert(st.prompt_ms >= 0.0 && st.gen_ms >= 0.0);
    bn_session_stats_reset(s);
    bn_session_stats_get(s, &st);
    cr_assert_eq(st.n_tokens_evaluated, 0);
    bn_session_free(s);
}

Test(session, default_context_is_the_training_context)
{
    bn_session *s = session(0, 0);
    cr_assert_eq(bn_session_n_ctx(s), 128);
    bn_session_free(s);
}

Test(session, logits_are_finite)
{
    bn_session *s = session(64, 0);
    int32_t tok[12];
    for (int i = 0; i < 12; i++)
        tok[i] = (i * 37) % 320;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, tok, 12, false, &err), BN_STATUS_OK);
    const float *l = bn_session_logits(s, -1);
    for (int i = 0; i < bn_model_n_vocab(model); i++)
        cr_assert(isfinite(l[i]));
    bn_session_free(s);
}
