/* test_forward.c: runtime/forward.c against the double-precision reference
 * (tests/support/ref_forward.c) on random tiny models, for every kernel
 * table this CPU runs, both kernel families, every ternary format, every
 * embedding type and architecture; plus thread-count and batching
 * invariance (bit for bit).
 *
 * Tolerances, measured: without a rounding flip our logits agree with the
 * double reference to ~2e-7 of max |logit|. A flip -- one activation that
 * lands on the other side of a .5 rounding boundary in float vs double --
 * moves that position's logits by up to ~1e-2 of their range, and through the
 * KV cache every later position too; flips hit a few positions in a hundred.
 * So: max |ours - ref| <= 2e-2 x max |ref| against the double reference, and
 * every kernel table (both families) within 1e-3 x max |logit| of the scalar
 * "ref" table (issue 4's bar; measured: equal up to the output layer's
 * summation order, ~1e-7).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "runtime/bitnet.h"
#include "tests/support/ref_forward.h"
#include "tests/support/tiny_model.h"

#define N_TOKENS 24
#define REF_TOL 2e-2   /* vs the double reference */
#define TABLE_TOL 1e-3 /* vs the scalar ref table */

static void temp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/bn-test-forward-%d-%s.gguf", (int)getpid(), tag);
}

static void write_model(const bn_tiny_model_spec *spec, const char *path)
{
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(spec, path, &err), BN_STATUS_OK, "%s", err.message);
}

static bn_model *load(const char *path, const char *kernels, bn_kernel_choice family)
{
    bn_model_options o;
    bn_model_options_default(&o);
    o.kernels = kernels;
    o.prompt_kernels = family;
    o.decode_kernels = family;
    bn_model *m = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(path, &o, &m, &err), BN_STATUS_OK, "%s: %s", path, err.message);
    return m;
}

static void tokens_for(int32_t n_vocab, int32_t *tok, int n, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        tok[i] = (int32_t)((seed >> 8) % (uint32_t)n_vocab);
    }
}

/* Runs tokens through a session and copies every position's logits. */
static void run(bn_model *m, const int32_t *tok, int n, int n_threads, int n_batch,
                bn_kv_type kv, bool one_by_one, float *out)
{
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = 64;
    so.n_threads = n_threads;
    so.n_batch = n_batch;
    so.n_logits = 64;
    so.type_k = kv;
    so.type_v = kv;
    bn_session *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_new(m, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    int32_t nv = bn_model_n_vocab(m);
    if (one_by_one) {
        for (int i = 0; i < n; i++) {
            cr_assert_eq(bn_session_eval(s, &tok[i], 1, false, &err), BN_STATUS_OK, "%s",
                         err.message);
            memcpy(out + (size_t)i * nv, bn_session_logits(s, -1), (size_t)nv * sizeof(float));
        }
    } else {
        cr_assert_eq(bn_session_eval(s, tok, (size_t)n, true, &err), BN_STATUS_OK, "%s",
                     err.message);
        for (int i = 0; i < n; i++)
            memcpy(out + (size_t)i * nv, bn_session_logits(s, i), (size_t)nv * sizeof(float));
    }
    cr_assert_eq(bn_session_n_past(s), n);
    bn_session_free(s);
}

/* max |a - ref| / max |ref| */
static double rel_err(const float *a, const double *ref, size_t n)
{
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - ref[i]));
        mr = fmax(mr, fabs(ref[i]));
    }
    return md / (mr > 0 ? mr : 1.0);
}

/* One spec through every table and family, against the reference. */
static void check_against_ref(const bn_tiny_model_spec *spec, const char *tag)
{
    char path[256];
    temp_path(path, sizeof path, tag);
    write_model(spec, path);

    bn_ref_model *ref = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_ref_model_load(path, &ref, &err), BN_STATUS_OK, "%s", err.message);
    int32_t nv = bn_ref_model_n_vocab(ref);
    int32_t tok[N_TOKENS];
    tokens_for(nv, tok, N_TOKENS, 7);
    double *want = malloc((size_t)N_TOKENS * nv * sizeof *want);
    float *got = malloc((size_t)N_TOKENS * nv * sizeof *got);
    cr_assert(want && got);
    cr_assert_eq(bn_ref_forward(ref, tok, N_TOKENS, want, &err), BN_STATUS_OK, "%s", err.message);

    /* the scalar table against the double reference */
    float *base = malloc((size_t)N_TOKENS * nv * sizeof *base);
    cr_assert(base);
    bn_model *m0 = load(path, "ref", BN_KERNEL_CHOICE_MAD);
    run(m0, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F32, false, base);
    bn_model_free(m0);
    double e0 = rel_err(base, want, (size_t)N_TOKENS * nv);
    cr_log_info("%s: ref table vs double reference: max|diff| = %.3g of max|logit|", tag, e0);
    cr_expect(e0 <= REF_TOL, "%s: ref table vs double reference: max|diff| = %.3g of max|logit| "
              "(limit %g)", tag, e0, REF_TOL);

    /* every table and family against the scalar table */
    double *based = malloc((size_t)N_TOKENS * nv * sizeof *based);
    cr_assert(based);
    for (size_t i = 0; i < (size_t)N_TOKENS * nv; i++)
        based[i] = base[i];
    const bn_kernels *tables[8];
    size_t nt = bn_kernels_available(tables, 8);
    cr_assert(nt >= 1);
    for (size_t ti = 0; ti < nt && ti < 8; ti++) {
        for (int fam = 0; fam < 2; fam++) {
            bn_kernel_choice c = fam ? BN_KERNEL_CHOICE_LUT : BN_KERNEL_CHOICE_MAD;
            bn_model *m = load(path, tables[ti]->name, c);
            run(m, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F32, false, got);
            double e = rel_err(got, based, (size_t)N_TOKENS * nv);
            cr_expect(e <= TABLE_TOL, "%s: table %s, %s vs ref table: max|diff| = %.3g of "
                      "max|logit| (limit %g)", tag, tables[ti]->name, fam ? "LUT" : "MAD", e,
                      TABLE_TOL);
            bn_model_free(m);
        }
    }
    free(base);
    free(based);
    free(want);
    free(got);
    bn_ref_model_free(ref);
    unlink(path);
}

Test(forward, i2s_b158_matches_the_double_reference_on_every_table)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    check_against_ref(&s, "i2s");
}

Test(forward, tq2_0_block_scales_match_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.ternary_type = BN_TYPE_TQ2_0;
    check_against_ref(&s, "tq2");
}

Test(forward, tq1_0_matches_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.ternary_type = BN_TYPE_TQ1_0;
    check_against_ref(&s, "tq1");
}

Test(forward, iq2_bn_and_iq1_bn_row_scales_match_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.ternary_type = BN_TYPE_IQ2_BN;
    check_against_ref(&s, "iq2bn");
    s.ternary_type = BN_TYPE_IQ1_BN;
    check_against_ref(&s, "iq1bn");
}

Test(forward, ternary_values_stored_as_f16_match_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.ternary_type = BN_TYPE_F16;
    s.embd_type = BN_TYPE_F16;
    check_against_ref(&s, "f16");
}

Test(forward, bitnet_arch_with_silu_and_scale_tensors_matches_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "bitnet";
    s.scale_tensors = true;
    s.embd_type = BN_TYPE_BF16;
    check_against_ref(&s, "bitnet-silu");
    s.hidden_activation = "relu2";
    check_against_ref(&s, "bitnet-relu2");
}

Test(forward, llama_arch_untied_q8_0_output_matches_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "llama";
    s.untied = true;
    s.embd_type = BN_TYPE_Q8_0;
    s.n_head = 8;
    s.n_head_kv = 8; /* MHA, head_dim 32 */
    check_against_ref(&s, "llama-q8");
}

Test(forward, q6_k_embedding_matches_the_reference)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.embd_type = BN_TYPE_Q6_K;
    check_against_ref(&s, "q6k");
}

Test(forward, logits_do_not_depend_on_threads_batching_or_sub_batches)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    char path[256];
    temp_path(path, sizeof path, "threads");
    write_model(&s, path);
    const bn_kernels *tables[8];
    size_t nt = bn_kernels_available(tables, 8);
    for (size_t ti = 0; ti < nt && ti < 8; ti++) {
        for (int fam = 0; fam < 2; fam++) {
            bn_model *m = load(path, tables[ti]->name,
                               fam ? BN_KERNEL_CHOICE_LUT : BN_KERNEL_CHOICE_MAD);
            int32_t nv = bn_model_n_vocab(m);
            size_t nl = (size_t)N_TOKENS * nv;
            float *a = malloc(nl * 4), *b = malloc(nl * 4), *c = malloc(nl * 4),
                  *d = malloc(nl * 4);
            int32_t tok[N_TOKENS];
            tokens_for(nv, tok, N_TOKENS, 3);
            for (int kv = 0; kv < 2; kv++) {
                bn_kv_type t = kv ? BN_KV_TYPE_F32 : BN_KV_TYPE_F16;
                run(m, tok, N_TOKENS, 1, 512, t, false, a);
                run(m, tok, N_TOKENS, 2, 512, t, false, b);
                run(m, tok, N_TOKENS, 2, 5, t, false, c);
                run(m, tok, N_TOKENS, 2, 512, t, true, d);
                cr_expect(memcmp(a, b, nl * 4) == 0, "%s: 1 and 2 threads differ",
                          tables[ti]->name);
                cr_expect(memcmp(a, c, nl * 4) == 0, "%s: sub-batches of 5 differ",
                          tables[ti]->name);
                cr_expect(memcmp(a, d, nl * 4) == 0, "%s: token by token differs from a batch",
                          tables[ti]->name);
            }
            free(a);
            free(b);
            free(c);
            free(d);
            bn_model_free(m);
        }
    }
    unlink(path);
}

Test(forward, f16_cache_stays_close_to_f32_cache)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    char path[256];
    temp_path(path, sizeof path, "kv");
    write_model(&s, path);
    bn_model *m = load(path, NULL, BN_KERNEL_CHOICE_AUTO);
    int32_t nv = bn_model_n_vocab(m);
    size_t nl = (size_t)N_TOKENS * nv;
    float *a = malloc(nl * 4), *b = malloc(nl * 4);
    int32_t tok[N_TOKENS];
    tokens_for(nv, tok, N_TOKENS, 5);
    run(m, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F32, false, a);
    run(m, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F16, false, b);
    double md = 0, mx = 0;
    for (size_t i = 0; i < nl; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)a[i]));
    }
    cr_expect(md > 0.0, "an F16 cache should round something");
    cr_expect(md <= 2e-2 * mx, "F16 vs F32 cache: max|diff| %.3g, max|logit| %.3g", md, mx);
    free(a);
    free(b);
    bn_model_free(m);
    unlink(path);
}

Test(forward, int8_output_layer_is_close_to_the_exact_one)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    char path[256];
    temp_path(path, sizeof path, "lmi8");
    write_model(&s, path);
    bn_model *exact = load(path, NULL, BN_KERNEL_CHOICE_AUTO);
    bn_model_options o;
    bn_model_options_default(&o);
    o.lm_head_i8 = true;
    bn_model *q = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(path, &o, &q, &err), BN_STATUS_OK, "%s", err.message);
    cr_expect(bn_model_bytes_per_token(q) < bn_model_bytes_per_token(exact));
    int32_t nv = bn_model_n_vocab(q);
    size_t nl = (size_t)N_TOKENS * nv;
    float *a = malloc(nl * 4), *b = malloc(nl * 4);
    int32_t tok[N_TOKENS];
    tokens_for(nv, tok, N_TOKENS, 9);
    run(exact, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F32, false, a);
    run(q, tok, N_TOKENS, 2, 512, BN_KV_TYPE_F32, false, b);
    double md = 0, mx = 0;
    for (size_t i = 0; i < nl; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)a[i]));
    }
    cr_expect(md <= 3e-2 * mx, "int8 lm head: max|diff| %.3g, max|logit| %.3g", md, mx);
    free(a);
    free(b);
    bn_model_free(exact);
    bn_model_free(q);
    unlink(path);
}

Test(forward, widths_that_are_not_multiples_of_128_match_the_reference)
{
    /* like 1bitLLM-3B (3200 / 8640, head_dim 100), whose projections only
     * float-ternary files can hold (I2_S and TQ need 128 / 256-wide rows):
     * the kernels repack them with padded rows */
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "bitnet";
    s.ternary_type = BN_TYPE_F16;
    s.n_embd = 320;
    s.n_ff = 864;
    s.n_head = 4;
    s.n_head_kv = 4; /* head_dim 80 */
    check_against_ref(&s, "odd-widths");
}
