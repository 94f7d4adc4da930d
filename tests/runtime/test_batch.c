/* test_batch.c: runtime/batch.c and the multi-sequence forward step
 * (runtime/forward.c): sessions advanced together in one bn_batch_eval
 * against the same sessions run alone with bn_session_eval, on random tiny
 * models for every kernel table this CPU runs and both kernel families, and
 * on the bundled trained model; the refusals that must leave every session
 * as it was.
 *
 * What is asserted, and why:
 *   - Greedy tokens (argmax, lowest id on ties) equal the alone run's.
 *   - Steps of one sequence, and every step with the int8 output layer
 *     (lm_head_i8, exact integer work): logits bit-identical to the alone
 *     run. Everything before the output layer (ternary products, norms,
 *     quantization, RoPE, attention) is integer-exact or in a fixed float
 *     order, so it is bit-identical in any step; the int8 output layer keeps
 *     it so.
 *   - Steps of several sequences with the float output layer: the product
 *     runs once over every sequence's logit rows, and a table's kernel for
 *     several rows may sum in another order than its kernel for one (e.g.
 *     avx512vbmi's one-token Q6_K bf16 product against the shared-code FMA
 *     kernel). test_dense bounds each logit by 2e-6 of sum_k |w_k x_k|; for
 *     these models sum_k |w_k x_k| stays within 50x of max |logit| (random
 *     signs over K = 256 terms), so we assert max |diff| <= 1e-4 of max
 *     |logit| (measured: 0, or ~1e-7 where the kernels differ).
 *   - 1 and 2 threads: bit-identical.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "runtime/bitnet.h"
#include "tests/support/tiny_model.h"

#define MODEL_PATH BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf"
#define FLOAT_TOL 1e-4 /* of max |logit|, several sequences, float output layer */

#define N_SEQ 4
#define SEQ_TOKENS 96 /* tokens of each sequence's stream */
#define N_GREEDY 6    /* greedy steps after the schedule */

static void temp_path(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/bn-test-batch-%d-%s.gguf", (int)getpid(), tag);
}

static void write_model(const bn_tiny_model_spec *spec, const char *path)
{
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_tiny_model_write(spec, path, &err), BN_STATUS_OK, "%s", err.message);
}

/* The default tiny model at a temp path named after tag. */
static void write_default_model(char *path, size_t cap, const char *tag)
{
    bn_tiny_model_spec spec;
    bn_tiny_model_spec_default(&spec);
    temp_path(path, cap, tag);
    write_model(&spec, path);
}

static bn_model *load(const char *path, const char *kernels, bn_kernel_choice family,
                      bool lm_head_i8)
{
    bn_model_options o;
    bn_model_options_default(&o);
    o.kernels = kernels;
    o.prompt_kernels = family;
    o.decode_kernels = family;
    o.lm_head_i8 = lm_head_i8;
    bn_model *m = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(path, &o, &m, &err), BN_STATUS_OK, "%s: %s", path, err.message);
    return m;
}

static bn_session *new_session(bn_model *m, int32_t n_ctx, bool batch_only, int n_threads)
{
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = n_ctx;
    so.n_logits = 32;
    so.n_threads = n_threads;
    so.batch_only = batch_only;
    bn_session *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_new(m, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    return s;
}

static bn_batch *new_batch(bn_model *m, int32_t n_tokens, int32_t n_seqs, int n_threads)
{
    bn_batch_options bo;
    bn_batch_options_default(&bo);
    bo.n_tokens = n_tokens;
    bo.n_seqs = n_seqs;
    bo.n_threads = n_threads;
    bn_batch *b = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_batch_new(m, &bo, &b, &err), BN_STATUS_OK, "%s", err.message);
    return b;
}

static void tokens_for(int32_t n_vocab, int32_t *tok, int n, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        tok[i] = (int32_t)((seed >> 8) % (uint32_t)n_vocab);
    }
}

static int32_t argmax(const float *l, int32_t n)
{
    int32_t am = 0;
    for (int32_t v = 1; v < n; v++)
        if (l[v] > l[am])
            am = v;
    return am;
}

/* One sequence's part of a step: n tokens of sequence `seq`. */
typedef struct part {
    int seq, n;
    bool all_logits;
} part;

typedef struct step {
    int n_parts;
    part p[N_SEQ];
} step;

/* Different lengths and positions, prefill chunks (longer than an attention
 * block too) mixed with single-token decodes, a step of one sequence, orders
 * that differ from step to step. */
static const step schedule[] = {
    {3, {{0, 7, false}, {1, 20, true}, {2, 1, false}}},
    {4, {{0, 1, false}, {1, 1, false}, {2, 12, true}, {3, 3, false}}},
    {4, {{3, 1, false}, {2, 1, false}, {1, 1, false}, {0, 1, false}}},
    {2, {{3, 5, true}, {0, 1, false}}},
    {1, {{1, 17, false}}},
    {3, {{2, 1, false}, {0, 33, false}, {1, 1, false}}},
};
#define N_STEPS (sizeof schedule / sizeof schedule[0])

/* Logit rows the schedule and the greedy steps produce, in order. */
static size_t record_rows(void)
{
    size_t rows = 0;
    for (size_t i = 0; i < N_STEPS; i++)
        for (int j = 0; j < schedule[i].n_parts; j++)
            rows += schedule[i].p[j].all_logits ? (size_t)schedule[i].p[j].n : 1;
    return rows + (size_t)N_GREEDY * N_SEQ;
}

/* What a run produced: every logit row, in schedule order, and the greedy
 * tokens. row_multi[r]: row r came from a step of several sequences. */
typedef struct record {
    float *logits;
    bool *row_multi;
    size_t rows;
    int32_t greedy[N_GREEDY][N_SEQ];
} record;

static void record_init(record *r, int32_t nv)
{
    r->rows = record_rows();
    r->logits = malloc(r->rows * (size_t)nv * sizeof(float));
    r->row_multi = calloc(r->rows, sizeof(bool));
    cr_assert(r->logits && r->row_multi);
}

static void record_free(record *r)
{
    free(r->logits);
    free(r->row_multi);
}

/* Runs the schedule, then N_GREEDY greedy steps of every sequence, either
 * each session alone (bn_session_eval, its own scratch) or as one
 * bn_batch_eval per step (batch_only sessions). */
static void run_schedule(bn_model *m, bool batched, int n_threads, record *rec)
{
    const int32_t nv = bn_model_n_vocab(m);
    int32_t toks[N_SEQ][SEQ_TOKENS];
    for (int q = 0; q < N_SEQ; q++)
        tokens_for(nv, toks[q], SEQ_TOKENS, 11u + 7u * (uint32_t)q);
    int off[N_SEQ] = {0};
    bn_session *s[N_SEQ];
    for (int q = 0; q < N_SEQ; q++)
        s[q] = new_session(m, 96, batched, n_threads);
    bn_batch *b = batched ? new_batch(m, 64, N_SEQ, n_threads) : NULL;
    bn_error err;
    bn_error_clear(&err);
    size_t row = 0;

    for (size_t i = 0; i < N_STEPS + N_GREEDY; i++) {
        step st;
        int32_t greedy_tok[N_SEQ];
        if (i < N_STEPS) {
            st = schedule[i];
        } else {
            /* every sequence decodes its argmax */
            st.n_parts = N_SEQ;
            for (int q = 0; q < N_SEQ; q++) {
                st.p[q] = (part){q, 1, false};
                greedy_tok[q] = argmax(bn_session_logits(s[q], -1), nv);
                rec->greedy[i - N_STEPS][q] = greedy_tok[q];
            }
        }
        const int32_t *tp[N_SEQ];
        for (int j = 0; j < st.n_parts; j++) {
            int q = st.p[j].seq;
            tp[j] = i < N_STEPS ? toks[q] + off[q] : &greedy_tok[q];
            cr_assert(off[q] + st.p[j].n <= SEQ_TOKENS);
        }
        if (batched) {
            bn_batch_seq bs[N_SEQ];
            for (int j = 0; j < st.n_parts; j++)
                bs[j] = (bn_batch_seq){s[st.p[j].seq], tp[j], st.p[j].n, st.p[j].all_logits, false};
            cr_assert_eq(bn_batch_eval(b, bs, (size_t)st.n_parts, &err), BN_STATUS_OK, "%s",
                         err.message);
        } else {
            for (int j = 0; j < st.n_parts; j++)
                cr_assert_eq(bn_session_eval(s[st.p[j].seq], tp[j], (size_t)st.p[j].n,
                                             st.p[j].all_logits, &err),
                             BN_STATUS_OK, "%s", err.message);
        }
        for (int j = 0; j < st.n_parts; j++) {
            int q = st.p[j].seq;
            off[q] += st.p[j].n;
            cr_assert_eq(bn_session_n_past(s[q]), off[q]);
            int nr = st.p[j].all_logits ? st.p[j].n : 1;
            for (int r = 0; r < nr; r++, row++) {
                const float *l = bn_session_logits(s[q], st.p[j].all_logits ? r : -1);
                cr_assert(l);
                memcpy(rec->logits + row * (size_t)nv, l, (size_t)nv * sizeof(float));
                rec->row_multi[row] = st.n_parts > 1;
            }
        }
    }
    cr_assert_eq(row, rec->rows);
    bn_batch_free(b);
    for (int q = 0; q < N_SEQ; q++)
        bn_session_free(s[q]);
}

/* Asserts the batched record against the alone one (see the file comment).
 * Returns max |diff| / max |logit| over rows of several-sequence steps. */
/* Grows *max_diff by the row's largest |want - got| and *max_abs by its
 * largest |want|: the two sides of the FLOAT_TOL check. */
static void track_diff(const float *want, const float *got, int32_t nv, double *max_diff,
                       double *max_abs)
{
    for (int32_t v = 0; v < nv; v++) {
        *max_diff = fmax(*max_diff, fabs((double)want[v] - got[v]));
        *max_abs = fmax(*max_abs, fabs((double)want[v]));
    }
}

static double compare(const record *batch, const record *alone, int32_t nv, bool exact,
                      const char *what)
{
    double md = 0.0, mx = 0.0;
    for (size_t r = 0; r < alone->rows; r++) {
        const float *a = alone->logits + r * (size_t)nv, *b = batch->logits + r * (size_t)nv;
        if (exact || !alone->row_multi[r]) {
            cr_expect(memcmp(a, b, (size_t)nv * sizeof(float)) == 0,
                      "%s: logit row %zu differs from the session run alone", what, r);
            continue;
        }
        track_diff(a, b, nv, &md, &mx);
    }
    double rel = md / (mx > 0 ? mx : 1.0);
    cr_expect(rel <= FLOAT_TOL, "%s: max|diff| %.3g of max|logit| (limit %g)", what, rel,
              FLOAT_TOL);
    cr_expect(memcmp(batch->greedy, alone->greedy, sizeof alone->greedy) == 0,
              "%s: greedy tokens differ from the sessions run alone", what);
    return rel;
}

/* One spec through every table and family: batched (1 and 2 threads) vs
 * alone. */
static void check_spec(const bn_tiny_model_spec *spec, bool lm_head_i8, const char *tag)
{
    char path[256];
    temp_path(path, sizeof path, tag);
    write_model(spec, path);
    const bn_kernels *tables[8];
    size_t nt = bn_kernels_available(tables, 8);
    cr_assert(nt >= 1);
    for (size_t ti = 0; ti < nt && ti < 8; ti++) {
        for (int fam = 0; fam < 2; fam++) {
            bn_model *m = load(path, tables[ti]->name,
                               fam ? BN_KERNEL_CHOICE_LUT : BN_KERNEL_CHOICE_MAD, lm_head_i8);
            int32_t nv = bn_model_n_vocab(m);
            record alone, b1, b2;
            record_init(&alone, nv);
            record_init(&b1, nv);
            record_init(&b2, nv);
            run_schedule(m, false, 2, &alone);
            run_schedule(m, true, 1, &b1);
            run_schedule(m, true, 2, &b2);
            char what[128];
            snprintf(what, sizeof what, "%s, table %s, %s", tag, tables[ti]->name,
                     fam ? "LUT" : "MAD");
            double rel = compare(&b2, &alone, nv, lm_head_i8, what);
            cr_log_info("%s: batched vs alone, several-sequence steps: max|diff| %.3g of "
                        "max|logit|", what, rel);
            cr_expect(memcmp(b1.logits, b2.logits, b1.rows * (size_t)nv * sizeof(float)) == 0,
                      "%s: batched logits differ between 1 and 2 threads", what);
            record_free(&alone);
            record_free(&b1);
            record_free(&b2);
            bn_model_free(m);
        }
    }
    unlink(path);
}

Test(batch, sequences_in_one_step_match_the_sessions_run_alone_on_every_table)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    check_spec(&s, false, "f32-out");
}

Test(batch, q6_k_output_layer_batched_stays_within_the_dense_tolerance)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.embd_type = BN_TYPE_Q6_K;
    s.seed = 5;
    check_spec(&s, false, "q6k-out");
}

Test(batch, int8_output_layer_gives_bit_identical_logits)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.seed = 9;
    check_spec(&s, true, "i8-out");
}

Test(batch, llama_arch_with_mha_and_block_scales_matches_alone)
{
    bn_tiny_model_spec s;
    bn_tiny_model_spec_default(&s);
    s.arch = "llama";
    s.untied = true;
    s.embd_type = BN_TYPE_F16;
    s.ternary_type = BN_TYPE_TQ2_0;
    s.n_head = 8;
    s.n_head_kv = 8;
    check_spec(&s, false, "llama");
}

/* The bundled trained model: three prompts of different lengths, the third
 * joining later (its prefill next to the others' decodes), greedy
 * continuations batched against alone. */
Test(batch, bundled_model_greedy_continuations_match_alone)
{
    bn_model *m = load(MODEL_PATH, NULL, BN_KERNEL_CHOICE_AUTO, false);
    const char *texts[3] = {"Once upon a time", "The little dog ran to the park because",
                            "One day, a girl named Lily found a big red ball in the garden. She"};
    const int start[3] = {0, 0, 3}; /* step at which each sequence starts */
    enum { N_GEN = 12 };
    const int32_t nv = bn_model_n_vocab(m);
    int32_t ids[3][128];
    size_t n_ids[3];
    bn_error err;
    bn_error_clear(&err);
    for (int q = 0; q < 3; q++)
        cr_assert_eq(bn_model_tokenize(m, texts[q], strlen(texts[q]), bn_model_add_bos(m), false,
                                       ids[q], 128, &n_ids[q], &err),
                     BN_STATUS_OK, "%s", err.message);

    int32_t gen[2][3][N_GEN];
    double worst = 0.0;
    float *alone_last = malloc((size_t)3 * (N_GEN + 1) * nv * sizeof(float));
    cr_assert(alone_last);
    for (int batched = 0; batched < 2; batched++) {
        bn_session *s[3];
        for (int q = 0; q < 3; q++)
            s[q] = new_session(m, 256, batched, 2);
        bn_batch *b = batched ? new_batch(m, 256, 4, 2) : NULL;
        int done[3] = {0}; /* tokens generated */
        for (int stp = 0; stp < start[2] + N_GEN + 1; stp++) {
            bn_batch_seq bs[3];
            int np = 0, who[3];
            int32_t next[3];
            for (int q = 0; q < 3; q++) {
                if (stp < start[q] || done[q] >= N_GEN + 1)
                    continue;
                if (stp == start[q]) {
                    bs[np] = (bn_batch_seq){s[q], ids[q], (int32_t)n_ids[q], false, false};
                } else {
                    next[q] = gen[batched][q][done[q] - 1];
                    bs[np] = (bn_batch_seq){s[q], &next[q], 1, false, false};
                }
                who[np++] = q;
            }
            if (np == 0)
                break;
            if (batched) {
                cr_assert_eq(bn_batch_eval(b, bs, (size_t)np, &err), BN_STATUS_OK, "%s",
                             err.message);
            } else {
                for (int j = 0; j < np; j++)
                    cr_assert_eq(bn_session_eval(bs[j].session, bs[j].tokens,
                                                 (size_t)bs[j].n_tokens, false, &err),
                                 BN_STATUS_OK, "%s", err.message);
            }
            for (int j = 0; j < np; j++) {
                int q = who[j];
                const float *l = bn_session_logits(s[q], -1);
                float *keep = alone_last + ((size_t)q * (N_GEN + 1) + (size_t)done[q]) * nv;
                if (!batched) {
                    memcpy(keep, l, (size_t)nv * sizeof(float));
                } else {
                    double md = 0, mx = 0;
                    for (int32_t v = 0; v < nv; v++) {
                        md = fmax(md, fabs((double)keep[v] - l[v]));
                        mx = fmax(mx, fabs((double)keep[v]));
                    }
                    worst = fmax(worst, md / (mx > 0 ? mx : 1.0));
                }
                if (done[q] < N_GEN)
                    gen[batched][q][done[q]] = argmax(l, nv);
                done[q]++;
            }
        }
        bn_batch_free(b);
        for (int q = 0; q < 3; q++)
            bn_session_free(s[q]);
    }
    cr_log_info("bundled model: batched vs alone max|diff| %.3g of max|logit|", worst);
    cr_expect(worst <= FLOAT_TOL, "bundled model: max|diff| %.3g of max|logit| (limit %g)",
              worst, FLOAT_TOL);
    for (int q = 0; q < 3; q++)
        cr_expect(memcmp(gen[0][q], gen[1][q], sizeof gen[0][q]) == 0,
                  "bundled model, prompt %d: greedy tokens differ batched vs alone", q);
    free(alone_last);
    bn_model_free(m);
}

/* ---- refusals: nothing runs, no session changes ---- */

static char err_path[256];
static bn_model *err_model;

static void err_setup(void)
{
    write_default_model(err_path, sizeof err_path, "errors");
    err_model = load(err_path, NULL, BN_KERNEL_CHOICE_AUTO, false);
}

static void err_teardown(void)
{
    bn_model_free(err_model);
    unlink(err_path);
}

/* Evaluates seqs expecting `want`, and checks that the sessions' positions
 * and last logits did not move. */
static void expect_refused(bn_batch *b, const bn_batch_seq *seqs, size_t n, bn_session **all,
                           int n_all, bn_status want)
{
    const int32_t nv = bn_model_n_vocab(err_model);
    int32_t past[8];
    float *before = malloc((size_t)n_all * nv * sizeof(float));
    cr_assert(before && n_all <= 8);
    for (int i = 0; i < n_all; i++) {
        past[i] = bn_session_n_past(all[i]);
        memcpy(before + (size_t)i * nv, bn_session_logits(all[i], -1), (size_t)nv * 4);
    }
    bn_error err;
    bn_error_clear(&err);
    bn_status st = bn_batch_eval(b, seqs, n, &err);
    cr_expect_eq(st, want, "got %s (%s), want %s", bn_status_name(st), err.message,
                 bn_status_name(want));
    cr_expect(err.message[0] != '\0', "a refusal says why");
    for (int i = 0; i < n_all; i++) {
        cr_expect_eq(bn_session_n_past(all[i]), past[i], "session %d moved", i);
        const float *l = bn_session_logits(all[i], -1);
        cr_expect(l && memcmp(l, before + (size_t)i * nv, (size_t)nv * 4) == 0,
                  "session %d's logits changed", i);
    }
    free(before);
}

TestSuite(batch_errors, .init = err_setup, .fini = err_teardown);

Test(batch_errors, refusals_leave_every_session_as_it_was)
{
    bn_session *s[3] = {new_session(err_model, 32, true, 1), new_session(err_model, 32, true, 1),
                        new_session(err_model, 32, false, 1)};
    bn_batch *b = new_batch(err_model, 16, 2, 2);
    int32_t tok[40];
    tokens_for(bn_model_n_vocab(err_model), tok, 40, 3);
    bn_error err;
    bn_error_clear(&err);
    /* give every session a position and logits */
    bn_batch_seq ok[2] = {{s[0], tok, 5, false, false}, {s[1], tok + 5, 3, false, false}};
    cr_assert_eq(bn_batch_eval(b, ok, 2, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_session_eval(s[2], tok, 4, false, &err), BN_STATUS_OK, "%s", err.message);

    /* too many tokens for the batch (10 + 7 > 16) */
    bn_batch_seq many[2] = {{s[0], tok, 10, false, false}, {s[1], tok, 7, false, false}};
    expect_refused(b, many, 2, s, 3, BN_STATUS_INVALID_ARG);
    /* too many sequences (3 > 2) */
    bn_batch_seq three[3] = {
        {s[0], tok, 1, false, false}, {s[1], tok, 1, false, false}, {s[2], tok, 1, false, false}};
    expect_refused(b, three, 3, s, 3, BN_STATUS_INVALID_ARG);
    /* one session twice */
    bn_batch_seq twice[2] = {{s[0], tok, 1, false, false}, {s[0], tok + 1, 1, false, false}};
    expect_refused(b, twice, 2, s, 3, BN_STATUS_INVALID_ARG);
    /* an id outside the vocabulary in the second sequence */
    int32_t bad[2] = {1, bn_model_n_vocab(err_model)};
    bn_batch_seq badid[2] = {{s[0], tok, 1, false, false}, {s[1], bad, 2, false, false}};
    expect_refused(b, badid, 2, s, 3, BN_STATUS_INVALID_ARG);
    /* an empty sequence */
    bn_batch_seq empty[2] = {{s[0], tok, 1, false, false}, {s[1], tok, 0, false, false}};
    expect_refused(b, empty, 2, s, 3, BN_STATUS_INVALID_ARG);
    /* context full in the second sequence: 3 + 16 > ... fill s[1] to 28 first */
    bn_batch_seq fill[1] = {{s[1], tok, 16, false, false}};
    cr_assert_eq(bn_batch_eval(b, fill, 1, &err), BN_STATUS_OK, "%s", err.message);
    bn_batch_seq grow[1] = {{s[1], tok, 9, false, false}};
    cr_assert_eq(bn_batch_eval(b, grow, 1, &err), BN_STATUS_OK, "%s", err.message);
    cr_assert_eq(bn_session_n_past(s[1]), 28);
    bn_batch_seq full[2] = {{s[0], tok, 1, false, false}, {s[1], tok, 5, false, false}};
    expect_refused(b, full, 2, s, 3, BN_STATUS_CONTEXT_FULL);
    /* more logit rows than the session keeps (n_logits 32 here: 33 is too many
     * for the batch anyway, so use a batch that holds them) */
    bn_batch *big = new_batch(err_model, 40, 2, 1);
    bn_session *t = new_session(err_model, 64, true, 1);
    bn_batch_seq rows[1] = {{t, tok, 33, true, false}};
    bn_session *tt[1] = {t};
    bn_batch_seq warm[1] = {{t, tok, 1, false, false}};
    cr_assert_eq(bn_batch_eval(big, warm, 1, &err), BN_STATUS_OK, "%s", err.message);
    expect_refused(big, rows, 1, tt, 1, BN_STATUS_INVALID_ARG);
    /* all logits and none at once */
    bn_batch_seq both[1] = {{s[0], tok, 2, true, true}};
    expect_refused(b, both, 1, s, 3, BN_STATUS_INVALID_ARG);
    /* a session of another model */
    bn_model *other = load(err_path, "ref", BN_KERNEL_CHOICE_AUTO, false);
    bn_session *o = new_session(other, 32, true, 1);
    bn_batch_seq foreign[2] = {{s[0], tok, 1, false, false}, {o, tok, 1, false, false}};
    expect_refused(b, foreign, 2, s, 3, BN_STATUS_INVALID_ARG);
    /* NULL and zero sequences */
    cr_expect_eq(bn_batch_eval(b, NULL, 0, &err), BN_STATUS_INVALID_ARG);
    cr_expect_eq(bn_batch_eval(NULL, ok, 1, &err), BN_STATUS_INVALID_ARG);
    bn_session_free(o);
    bn_model_free(other);
    bn_session_free(t);
    bn_batch_free(big);
    bn_batch_free(b);
    for (int i = 0; i < 3; i++)
        bn_session_free(s[i]);
}

Test(batch_errors, positions_past_the_batch_context_are_refused)
{
    bn_batch_options bo;
    bn_batch_options_default(&bo);
    bo.n_tokens = 32;
    bo.n_seqs = 2;
    bo.n_ctx = 20; /* attention scratch for 20 positions */
    bn_batch *b = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_batch_new(err_model, &bo, &b, &err), BN_STATUS_OK, "%s", err.message);
    bn_session *s[1] = {new_session(err_model, 64, true, 1)};
    int32_t tok[32];
    tokens_for(bn_model_n_vocab(err_model), tok, 32, 5);
    bn_batch_seq a[1] = {{s[0], tok, 18, false, false}};
    cr_assert_eq(bn_batch_eval(b, a, 1, &err), BN_STATUS_OK, "%s", err.message);
    bn_batch_seq over[1] = {{s[0], tok, 3, false, false}}; /* 18 + 3 > 20 */
    expect_refused(b, over, 1, s, 1, BN_STATUS_INVALID_ARG);
    bn_batch_seq fits[1] = {{s[0], tok, 2, false, false}};
    cr_expect_eq(bn_batch_eval(b, fits, 1, &err), BN_STATUS_OK, "%s", err.message);
    bn_batch_free(b);
    bn_session_free(s[0]);
}

Test(batch_errors, a_batch_only_session_refuses_bn_session_eval)
{
    bn_session *s = new_session(err_model, 32, true, 1);
    int32_t tok[1] = {1};
    bn_error err;
    bn_error_clear(&err);
    cr_expect_eq(bn_session_eval(s, tok, 1, false, &err), BN_STATUS_INVALID_ARG);
    cr_expect_eq(bn_session_n_past(s), 0);
    cr_expect_null(bn_session_logits(s, -1));
    bn_session_free(s);
}

Test(batch_errors, counts_each_session_s_tokens)
{
    bn_session *s[2] = {new_session(err_model, 32, true, 1), new_session(err_model, 32, true, 1)};
    bn_batch *b = new_batch(err_model, 16, 2, 1);
    int32_t tok[8];
    tokens_for(bn_model_n_vocab(err_model), tok, 8, 9);
    bn_error err;
    bn_error_clear(&err);
    bn_batch_seq q[2] = {{s[0], tok, 6, false, false}, {s[1], tok, 1, false, false}};
    cr_assert_eq(bn_batch_eval(b, q, 2, &err), BN_STATUS_OK, "%s", err.message);
    bn_session_stats a, c;
    bn_session_stats_get(s[0], &a);
    bn_session_stats_get(s[1], &c);
    cr_expect_eq(a.n_eval_calls, 1);
    cr_expect_eq(a.n_prompt_tokens, 6);
    cr_expect_eq(c.n_gen_tokens, 1);
    cr_expect_eq(c.n_tokens_evaluated, 1);
    bn_batch_free(b);
    bn_session_free(s[0]);
    bn_session_free(s[1]);
}

/* A step with more logit rows than the batch has sequences runs the output
 * layer in several passes (n_seqs rows at a time): every row must still be
 * the alone run's (bit for bit with the int8 output layer, within the
 * tolerance with the float one). */
Test(batch, logit_rows_beyond_the_batch_s_sequences_take_several_passes)
{
    char path[256];
    write_default_model(path, sizeof path, "passes");
    for (int i8 = 0; i8 < 2; i8++) {
        bn_model *m = load(path, NULL, BN_KERNEL_CHOICE_AUTO, i8 == 1);
        const int32_t nv = bn_model_n_vocab(m);
        int32_t tok[2][16];
        tokens_for(nv, tok[0], 16, 21);
        tokens_for(nv, tok[1], 16, 22);
        const int n[2] = {5, 11};
        bn_session *alone[2], *in[2];
        bn_error err;
        bn_error_clear(&err);
        for (int q = 0; q < 2; q++) {
            alone[q] = new_session(m, 32, false, 1);
            in[q] = new_session(m, 32, true, 1);
            cr_assert_eq(bn_session_eval(alone[q], tok[q], (size_t)n[q], true, &err),
                         BN_STATUS_OK, "%s", err.message);
        }
        bn_batch *b = new_batch(m, 32, 2, 2); /* 16 logit rows, 2 at a time */
        bn_batch_seq bs[2] = {{in[0], tok[0], n[0], true, false},
                              {in[1], tok[1], n[1], true, false}};
        cr_assert_eq(bn_batch_eval(b, bs, 2, &err), BN_STATUS_OK, "%s", err.message);
        double md = 0, mx = 0;
        for (int q = 0; q < 2; q++)
            for (int r = 0; r < n[q]; r++) {
                const float *a = bn_session_logits(alone[q], r), *c = bn_session_logits(in[q], r);
                cr_assert(a && c);
                if (i8)
                    cr_expect(memcmp(a, c, (size_t)nv * sizeof(float)) == 0,
                              "int8 output layer: sequence %d row %d differs", q, r);
                track_diff(a, c, nv, &md, &mx);
            }
        cr_expect(md <= FLOAT_TOL * mx, "max|diff| %.3g, max|logit| %.3g", md, mx);
        bn_batch_free(b);
        for (int q = 0; q < 2; q++) {
            bn_session_free(alone[q]);
            bn_session_free(in[q]);
        }
        bn_model_free(m);
    }
    unlink(path);
}

/* A prompt chunk that more chunks follow asks for no logits (the server's
 * chunked prefill): the session has none after that step, the sequence
 * beside it keeps its own, and the chunk's last logits after the final
 * chunk are the alone run's (within the tolerance: two sequences share the
 * output layer's step). */
Test(batch, a_prompt_chunk_without_logits_skips_the_output_layer)
{
    char path[256];
    write_default_model(path, sizeof path, "nologits");
    bn_model *m = load(path, NULL, BN_KERNEL_CHOICE_AUTO, false);
    const int32_t nv = bn_model_n_vocab(m);
    int32_t prompt[12], other[4];
    tokens_for(nv, prompt, 12, 31);
    tokens_for(nv, other, 4, 32);
    bn_error err;
    bn_error_clear(&err);
    bn_session *alone = new_session(m, 32, false, 1);
    cr_assert_eq(bn_session_eval(alone, prompt, 12, false, &err), BN_STATUS_OK, "%s", err.message);
    bn_session *a = new_session(m, 32, true, 1), *o = new_session(m, 32, true, 1);
    bn_batch *b = new_batch(m, 16, 2, 2);
    bn_batch_seq first[2] = {{a, prompt, 7, false, true}, {o, other, 3, false, false}};
    cr_assert_eq(bn_batch_eval(b, first, 2, &err), BN_STATUS_OK, "%s", err.message);
    cr_expect_null(bn_session_logits(a, -1), "a chunk without logits leaves none");
    cr_expect_not_null(bn_session_logits(o, -1), "the other sequence keeps its logits");
    cr_expect_eq(bn_session_n_past(a), 7);
    bn_batch_seq second[2] = {{a, prompt + 7, 5, false, false}, {o, other + 3, 1, false, false}};
    cr_assert_eq(bn_batch_eval(b, second, 2, &err), BN_STATUS_OK, "%s", err.message);
    const float *want = bn_session_logits(alone, -1), *got = bn_session_logits(a, -1);
    cr_assert(want && got);
    double md = 0, mx = 0;
    track_diff(want, got, nv, &md, &mx);
    cr_expect(md <= FLOAT_TOL * mx, "max|diff| %.3g, max|logit| %.3g", md, mx);
    cr_expect_eq(argmax(got, nv), argmax(want, nv));
    bn_batch_free(b);
    bn_session_free(a);
    bn_session_free(o);
    bn_session_free(alone);
    bn_model_free(m);
    unlink(path);
}
