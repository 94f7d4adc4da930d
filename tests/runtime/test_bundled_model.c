/* test_bundled_model.c: the whole runtime on the bundled trained model
 * (models/tiny-bitnet-I2_S.gguf) against its PyTorch reference outputs
 * (models/reference/reference.json), and the same weights in the other
 * formats (../shared/models/tiny-bitnet: F32 with arch bitnet + relu2,
 * TQ2_0, TQ1_0).
 *
 * Acceptance bars (issue 4): with an F32 KV cache, over the top-20 logits of
 * every prompt position, mean |diff| <= 0.01 and max <= 0.15; with the
 * default F16 cache mean <= 0.05; the same argmax wherever the reference's
 * top-2 gap exceeds 0.15; greedy text equal to safe_text.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/json.h"
#include "runtime/bitnet.h"

#define MODEL_PATH BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf"
#define REF_PATH BN_SOURCE_DIR "/models/reference/reference.json"
#define SHARED_MODELS BN_SHARED_DIR "/models/tiny-bitnet"

static bn_json_doc *ref_doc;

static const bn_json_value *prompts(void)
{
    bn_error err;
    bn_error_clear(&err);
    if (!ref_doc)
        cr_assert_eq(bn_json_parse_file(REF_PATH, &ref_doc, &err), BN_STATUS_OK, "%s",
                     err.message);
    return bn_json_object_get(bn_json_root(ref_doc), "prompts");
}

static void fini(void)
{
    bn_json_free(ref_doc);
    ref_doc = NULL;
}

TestSuite(bundled_model, .fini = fini);

static size_t int_array(const bn_json_value *a, int32_t *out, size_t cap)
{
    size_t n = bn_json_array_len(a);
    cr_assert(n <= cap);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        cr_assert(bn_json_as_int64(bn_json_array_at(a, i), &v));
        out[i] = (int32_t)v;
    }
    return n;
}

static bn_model *load(const char *path)
{
    bn_model_options o;
    bn_model_options_default(&o);
    o.n_threads = 2;
    bn_model *m = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(path, &o, &m, &err), BN_STATUS_OK, "%s: %s", path, err.message);
    return m;
}

static bn_session *session(bn_model *m, bn_kv_type kv)
{
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_threads = 2;
    so.type_k = kv;
    so.type_v = kv;
    bn_session *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_new(m, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    return s;
}

typedef struct top20_stats {
    double sum, max;
    size_t count;
    int argmax_checked, argmax_wrong;
} top20_stats;

/* Compares every prompt position's logits with the reference top-20. */
static void compare_top20(bn_model *m, bn_kv_type kv, top20_stats *st)
{
    memset(st, 0, sizeof *st);
    const bn_json_value *ps = prompts();
    int32_t nv = bn_model_n_vocab(m);
    for (size_t pi = 0; pi < bn_json_array_len(ps); pi++) {
        const bn_json_value *p = bn_json_array_at(ps, pi);
        int32_t ids[512];
        size_t n = int_array(bn_json_object_get(p, "ids"), ids, 512);
        bn_session *s = session(m, kv);
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_session_eval(s, ids, n, true, &err), BN_STATUS_OK, "%s", err.message);
        const bn_json_value *top = bn_json_object_get(p, "top20");
        cr_assert_eq(bn_json_array_len(top), n);
        for (size_t t = 0; t < n; t++) {
            const float *l = bn_session_logits(s, (int32_t)t);
            const bn_json_value *e = bn_json_array_at(top, t);
            const bn_json_value *tid = bn_json_object_get(e, "ids");
            const bn_json_value *tl = bn_json_object_get(e, "logits");
            double r0 = 0, r1 = 0;
            int64_t best = -1;
            for (size_t j = 0; j < bn_json_array_len(tid); j++) {
                int64_t id;
                double want;
                cr_assert(bn_json_as_int64(bn_json_array_at(tid, j), &id));
                cr_assert(bn_json_as_double(bn_json_array_at(tl, j), &want));
                cr_assert(id >= 0 && id < nv);
                double d = fabs((double)l[id] - want);
                st->sum += d;
                st->max = fmax(st->max, d);
                st->count++;
                if (j == 0) {
                    r0 = want;
                    best = id;
                } else if (j == 1) {
                    r1 = want;
                }
            }
            if (r0 - r1 > 0.15) {
                int32_t am = 0;
                for (int32_t v = 1; v < nv; v++)
                    if (l[v] > l[am])
                        am = v;
                st->argmax_checked++;
                st->argmax_wrong += am != best;
            }
        }
        bn_session_free(s);
    }
}

Test(bundled_model, matches_the_pytorch_top20_logits_with_an_f32_cache)
{
    bn_model *m = load(MODEL_PATH);
    top20_stats st;
    compare_top20(m, BN_KV_TYPE_F32, &st);
    double mean = st.sum / (double)st.count;
    cr_log_info("F32 cache: mean |diff| %.5f, max %.5f over %zu logits; argmax %d/%d", mean,
                st.max, st.count, st.argmax_checked - st.argmax_wrong, st.argmax_checked);
    cr_expect(mean <= 0.01, "mean |diff| %.5f > 0.01", mean);
    cr_expect(st.max <= 0.15, "max |diff| %.5f > 0.15", st.max);
    cr_expect(st.argmax_checked > 0);
    cr_expect_eq(st.argmax_wrong, 0, "%d of %d argmaxes differ", st.argmax_wrong,
                 st.argmax_checked);
    bn_model_free(m);
}

Test(bundled_model, matches_the_pytorch_top20_logits_with_the_default_f16_cache)
{
    bn_model *m = load(MODEL_PATH);
    top20_stats st;
    compare_top20(m, BN_KV_TYPE_F16, &st);
    double mean = st.sum / (double)st.count;
    cr_log_info("F16 cache: mean |diff| %.5f, max %.5f over %zu logits; argmax %d/%d", mean,
                st.max, st.count, st.argmax_checked - st.argmax_wrong, st.argmax_checked);
    cr_expect(mean <= 0.05, "mean |diff| %.5f > 0.05", mean);
    cr_expect_eq(st.argmax_wrong, 0, "%d of %d argmaxes differ", st.argmax_wrong,
                 st.argmax_checked);
    bn_model_free(m);
}

Test(bundled_model, tokenizes_the_reference_prompts_identically)
{
    bn_model *m = load(MODEL_PATH);
    const bn_json_value *ps = prompts();
    for (size_t pi = 0; pi < bn_json_array_len(ps); pi++) {
        const bn_json_value *p = bn_json_array_at(ps, pi);
        const char *text;
        size_t len;
        cr_assert(bn_json_as_string(bn_json_object_get(p, "prompt"), &text, &len));
        int32_t want[512], got[512];
        size_t n = int_array(bn_json_object_get(p, "ids"), want, 512), ng = 0;
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_model_tokenize(m, text, len, bn_model_add_bos(m), false, got, 512, &ng,
                                       &err), BN_STATUS_OK, "%s", err.message);
        cr_assert_eq(ng, n, "prompt %zu: %zu ids, want %zu", pi, ng, n);
        cr_assert(memcmp(got, want, n * sizeof *got) == 0, "prompt %zu ids differ", pi);
    }
    bn_model_free(m);
}

Test(bundled_model, greedy_text_equals_safe_text)
{
    bn_model *m = load(MODEL_PATH);
    const bn_json_value *ps = prompts();
    for (int kv = 0; kv < 2; kv++) {
        for (size_t pi = 0; pi < bn_json_array_len(ps); pi++) {
            const bn_json_value *p = bn_json_array_at(ps, pi);
            int32_t ids[512], greedy[128];
            size_t n = int_array(bn_json_object_get(p, "ids"), ids, 512);
            size_t ng = int_array(bn_json_object_get(p, "greedy64"), greedy, 128);
            int64_t safe;
            cr_assert(bn_json_as_int64(bn_json_object_get(p, "safe_tokens"), &safe));
            const char *safe_text;
            size_t safe_len;
            cr_assert(bn_json_as_string(bn_json_object_get(p, "safe_text"), &safe_text,
                                        &safe_len));
            cr_assert((size_t)safe <= ng);
            bn_session *s = session(m, kv ? BN_KV_TYPE_F32 : BN_KV_TYPE_F16);
            bn_error err;
            bn_error_clear(&err);
            cr_assert_eq(bn_session_eval(s, ids, n, false, &err), BN_STATUS_OK, "%s",
                         err.message);
            int32_t out[128];
            for (int64_t i = 0; i < safe; i++) {
                const float *l = bn_session_logits(s, -1);
                int32_t am = 0;
                for (int32_t v = 1; v < bn_model_n_vocab(m); v++)
                    if (l[v] > l[am])
                        am = v;
                out[i] = am;
                cr_assert_eq(bn_session_eval(s, &am, 1, false, &err), BN_STATUS_OK, "%s",
                             err.message);
            }
            /* decode the prompt + continuation and compare the continuation */
            char text[4096], ptext[4096];
            size_t tl = 0, pl = 0;
            int32_t all[640];
            memcpy(all, ids, n * sizeof *ids);
            memcpy(all + n, out, (size_t)safe * sizeof *out);
            cr_assert_eq(bn_model_detokenize(m, all, n + (size_t)safe, text, sizeof text, &tl,
                                             &err), BN_STATUS_OK, "%s", err.message);
            cr_assert_eq(bn_model_detokenize(m, ids, n, ptext, sizeof ptext, &pl, &err),
                         BN_STATUS_OK, "%s", err.message);
            cr_assert(tl >= pl);
            const char *cont = text + pl;
            /* safe_text is the continuation, possibly without its leading space */
            if (*cont == ' ' && safe_len > 0 && safe_text[0] != ' ')
                cont++;
            cr_expect(strlen(cont) == safe_len && memcmp(cont, safe_text, safe_len) == 0,
                      "prompt %zu (%s cache): got '%s', want '%.*s'", pi, kv ? "F32" : "F16",
                      cont, (int)safe_len, safe_text);
            cr_expect(memcmp(out, greedy, (size_t)safe * sizeof *out) == 0,
                      "prompt %zu: greedy ids differ within safe_tokens", pi);
            bn_session_free(s);
        }
    }
    bn_model_free(m);
}

/* Last-position logits of prompt 0 for a model file. */
static void last_logits(const char *path, float *out, int32_t nv_expect)
{
    bn_model *m = load(path);
    cr_assert_eq(bn_model_n_vocab(m), nv_expect);
    const bn_json_value *p = bn_json_array_at(prompts(), 0);
    int32_t ids[512];
    size_t n = int_array(bn_json_object_get(p, "ids"), ids, 512);
    bn_session *s = session(m, BN_KV_TYPE_F32);
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(s, ids, n, false, &err), BN_STATUS_OK, "%s", err.message);
    memcpy(out, bn_session_logits(s, -1), (size_t)nv_expect * sizeof *out);
    bn_session_free(s);
    bn_model_free(m);
}

Test(bundled_model, f32_tq2_0_and_tq1_0_files_give_the_same_logits_as_i2_s)
{
    if (access(SHARED_MODELS "/tiny-bitnet-f32.gguf", R_OK) != 0)
        cr_skip_test("../shared/models/tiny-bitnet is absent");
    const int32_t nv = 2048;
    float *base = malloc(nv * sizeof *base), *other = malloc(nv * sizeof *other);
    last_logits(MODEL_PATH, base, nv);
    double mx = 0;
    for (int i = 0; i < nv; i++)
        mx = fmax(mx, fabs(base[i]));
    const char *files[] = {"tiny-bitnet-f32.gguf", "tiny-bitnet-TQ2_0.gguf",
                           "tiny-bitnet-TQ1_0.gguf"};
    /* F32 holds the same trits and f32 scales as I2_S: measured identical.
     * TQ files round each scale to f16 (relative 2^-11), and that can flip
     * an int8 activation here and there: measured max |diff| 0.09 = 8.5e-3
     * of max |logit| for both TQ files (prompt 0); limit 2e-2. */
    const double tol[] = {1e-4, 2e-2, 2e-2};
    for (int f = 0; f < 3; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", SHARED_MODELS, files[f]);
        last_logits(path, other, nv);
        double md = 0;
        for (int i = 0; i < nv; i++)
            md = fmax(md, fabs((double)base[i] - other[i]));
        cr_log_info("%s vs I2_S: max |diff| %.3g = %.3g of max |logit|", files[f], md, md / mx);
        cr_expect(md <= tol[f] * mx, "%s: max |diff| %.3g > %.3g", files[f], md, tol[f] * mx);
    }
    free(base);
    free(other);
}
