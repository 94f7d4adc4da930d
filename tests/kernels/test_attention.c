/* test_attention.c: the attend entry of every table against ref, bit for
 * bit (memcmp), and ref's exp against exp() in double.
 *
 * Shapes: head_dim 128, 64, 32 and odd ones the SIMD tables leave to the
 * reference (24, 7); n_rep 1, 2, 3, 4, 5; F16 and F32 keys and values (also
 * mixed); 1..16 query tokens; context lengths 1, 15, 16, 17, 300 and causal
 * offsets (pos0 > 0). The softmax is swept over score values from 0 down past
 * the exp cutoff through an item whose scores are set exactly. */
#include <float.h>
#include <stdio.h>

#include "kernel_test.h"
#include "kernels/internal.h"
#include "loader/half.h"

/* One random item: q (n_tok, n_rep, D), k/v cache (n_keys, kv_stride) with
 * the head at an offset, and two output/scores sets (want, got). */
typedef struct att_case {
    bn_att_item it;
    float *q, *kf, *vf, *out_a, *out_b, *sc_a, *sc_b;
    uint16_t *kh, *vh;
} att_case;

static void case_init(att_case *c, kt_rng *rng, int64_t D, int32_t n_rep, int32_t n_tok,
                      int32_t pos0, bool k_f16, bool v_f16) {
    memset(c, 0, sizeof *c);
    const int64_t n_keys = (int64_t)pos0 + n_tok;
    const int64_t kv_stride = 3 * D + 5;       /* other heads live between rows */
    const int64_t q_stride = (int64_t)n_rep * D + 3;
    const int64_t sc_stride = n_keys + 7;
    const size_t n_kv = (size_t)(n_keys * kv_stride);
    c->q = malloc(sizeof(float) * (size_t)(n_tok * q_stride));
    c->kf = malloc(sizeof(float) * n_kv);
    c->vf = malloc(sizeof(float) * n_kv);
    c->kh = malloc(sizeof(uint16_t) * n_kv);
    c->vh = malloc(sizeof(uint16_t) * n_kv);
    c->out_a = malloc(sizeof(float) * (size_t)(n_tok * q_stride));
    c->out_b = malloc(sizeof(float) * (size_t)(n_tok * q_stride));
    c->sc_a = malloc(sizeof(float) * (size_t)(n_tok * n_rep * sc_stride));
    c->sc_b = malloc(sizeof(float) * (size_t)(n_tok * n_rep * sc_stride));
    cr_assert(c->q && c->kf && c->vf && c->kh && c->vh && c->out_a && c->out_b && c->sc_a &&
              c->sc_b);
    /* RoPE'd q and k of a trained model are a few units; spread them so that
     * the softmax has both flat and peaked rows */
    for (int64_t i = 0; i < n_tok * q_stride; i++)
        c->q[i] = 2.0f * kt_act(rng);
    for (size_t i = 0; i < n_kv; i++) {
        c->kf[i] = 2.0f * kt_act(rng);
        c->vf[i] = kt_act(rng);
        c->kh[i] = bn_f32_to_f16(c->kf[i]);
        c->vh[i] = bn_f32_to_f16(c->vf[i]);
    }
    const int64_t head_off = D + 2;
    c->it = (bn_att_item){
        .head_dim = D,
        .n_rep = n_rep,
        .n_tok = n_tok,
        .pos0 = pos0,
        .kq_scale = 1.0f / sqrtf((float)D),
        .q = c->q,
        .q_stride = q_stride,
        .k = k_f16 ? (const void *)(c->kh + head_off) : (const void *)(c->kf + head_off),
        .v = v_f16 ? (const void *)(c->vh + head_off) : (const void *)(c->vf + head_off),
        .kv_stride = kv_stride,
        .k_f16 = k_f16,
        .v_f16 = v_f16,
        .out_stride = q_stride,
        .sc_stride = sc_stride,
    };
}

static void case_free(att_case *c) {
    free(c->q);
    free(c->kf);
    free(c->vf);
    free(c->kh);
    free(c->vh);
    free(c->out_a);
    free(c->out_b);
    free(c->sc_a);
    free(c->sc_b);
}

/* Runs ref into (out_a, sc_a) and k into (out_b, sc_b); compares the outputs
 * and the weights every row reads, bit for bit. Scratch is poisoned first
 * so that nothing unwritten can match by luck. */
static void case_check(att_case *c, const bn_kernels *k, const char *what) {
    const bn_kernels *ref = bn_kernels_find("ref");
    bn_att_item a = c->it, b = c->it;
    const int64_t D = a.head_dim;
    const size_t out_n = (size_t)(a.n_tok * a.out_stride);
    const size_t sc_n = (size_t)((int64_t)a.n_tok * a.n_rep * a.sc_stride);
    memset(c->out_a, 0x7f, out_n * sizeof(float));
    memset(c->out_b, 0x7f, out_n * sizeof(float));
    memset(c->sc_a, 0xff, sc_n * sizeof(float));
    memset(c->sc_b, 0xfe, sc_n * sizeof(float));
    a.out = c->out_a;
    a.scores = c->sc_a;
    b.out = c->out_b;
    b.scores = c->sc_b;
    ref->attend(&a);
    k->attend(&b);
    for (int32_t i = 0; i < a.n_tok; i++)
        for (int32_t r = 0; r < a.n_rep; r++) {
            const int64_t row = (int64_t)i * a.n_rep + r, n = (int64_t)a.pos0 + i + 1;
            cr_assert(memcmp(c->out_a + i * a.out_stride + r * D,
                             c->out_b + i * a.out_stride + r * D, (size_t)D * sizeof(float)) == 0,
                      "%s %s: output of token %d head %d differs from ref", k->name, what, i, r);
            cr_assert(memcmp(c->sc_a + row * a.sc_stride, c->sc_b + row * a.sc_stride,
                             (size_t)n * sizeof(float)) == 0,
                      "%s %s: weights of token %d head %d differ from ref", k->name, what, i, r);
            float sum = 0.0f;
            for (int64_t p = 0; p < n; p++)
                sum += c->sc_a[row * a.sc_stride + p];
            cr_assert(fabsf(sum - 1.0f) < 1e-4f, "%s: weights sum to %g", what, (double)sum);
        }
    /* nothing written outside the heads' rows */
    for (int32_t i = 0; i < a.n_tok; i++)
        for (int64_t j = (int64_t)a.n_rep * D; j < a.out_stride; j++) {
            uint32_t bits;
            memcpy(&bits, &c->out_b[i * a.out_stride + j], 4);
            cr_assert(bits == 0x7f7f7f7fu, "%s %s: wrote past the heads", k->name, what);
        }
}

static void attend_matches_ref(const bn_kernels *k) {
    kt_rng rng = {777};
    const int64_t dims[] = {128, 64, 32, 24, 7};
    const int32_t reps[] = {1, 4, 2, 3, 5};
    const int32_t ctx[] = {1, 15, 16, 17, 300};
    int n_cases = 0;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (size_t ri = 0; ri < sizeof reps / sizeof reps[0]; ri++)
            for (size_t ci = 0; ci < sizeof ctx / sizeof ctx[0]; ci++) {
                const int64_t D = dims[di];
                const int32_t n_rep = reps[ri], n_keys = ctx[ci];
                /* the costly shapes only with the common head sizes */
                if (n_keys == 300 && D < 64 && n_rep != 4)
                    continue;
                /* block sizes: 1 (decode), a full block of 16, and odd ones;
                 * the block always ends at the last key */
                const int32_t toks[] = {1, 16, 5, 13};
                for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
                    const int32_t n_tok = toks[ti] < n_keys ? toks[ti] : n_keys;
                    const int kv = (int)((ti + ci + di) % 4); /* k f16?, v f16? */
                    att_case c;
                    case_init(&c, &rng, D, n_rep, n_tok, n_keys - n_tok, kv & 1, kv >> 1);
                    char what[128];
                    snprintf(what, sizeof what, "D=%lld n_rep=%d n_tok=%d pos0=%d k%s v%s",
                             (long long)D, n_rep, n_tok, n_keys - n_tok, kv & 1 ? "f16" : "f32",
                             kv >> 1 ? "f16" : "f32");
                    case_check(&c, k, what);
                    case_free(&c);
                    n_cases++;
                }
            }
    cr_assert(n_cases > 300);
}
KT_FOR_TABLES(attention, attend_matches_ref, attend_matches_ref)

/* Every n_tok from 1 to 16 over a 40-key context, for the two cache types
 * the runtime uses with the 2B4T shape. */
static void attend_matches_ref_for_every_block_size(const bn_kernels *k) {
    kt_rng rng = {31337};
    for (int32_t n_tok = 1; n_tok <= 16; n_tok++)
        for (int f16 = 0; f16 < 2; f16++) {
            att_case c;
            case_init(&c, &rng, 128, 4, n_tok, 40 - n_tok, f16, f16);
            case_check(&c, k, f16 ? "every block size, f16" : "every block size, f32");
            case_free(&c);
        }
}
KT_FOR_TABLES(attention, attend_matches_ref_for_every_block_size,
              attend_matches_ref_for_every_block_size)

/* The forward pass splits a prompt into blocks: a (token, head) row must not
 * depend on which block it was computed in. */
static void rows_do_not_depend_on_the_block(const bn_kernels *k) {
    kt_rng rng = {99};
    att_case c;
    case_init(&c, &rng, 128, 4, 16, 20, true, true);
    const size_t out_n = (size_t)(16 * c.it.out_stride);
    memset(c.out_a, 0, out_n * sizeof(float)); /* the gaps between rows too */
    memset(c.out_b, 0, out_n * sizeof(float));
    bn_att_item whole = c.it, lo = c.it, hi = c.it;
    whole.out = c.out_a;
    whole.scores = c.sc_a;
    k->attend(&whole);
    /* the same 16 tokens as 9 + 7 */
    lo.n_tok = 9;
    lo.out = c.out_b;
    lo.scores = c.sc_b;
    k->attend(&lo);
    hi.n_tok = 7;
    hi.pos0 = c.it.pos0 + 9;
    hi.q = c.it.q + 9 * c.it.q_stride;
    hi.out = c.out_b + 9 * c.it.out_stride;
    hi.scores = c.sc_b;
    k->attend(&hi);
    cr_assert(memcmp(c.out_a, c.out_b, out_n * sizeof(float)) == 0, "%s: blocking changed rows",
              k->name);
    case_free(&c);
}
KT_FOR_TABLES(attention, rows_do_not_depend_on_the_block, rows_do_not_depend_on_the_block)

/* Scores set exactly (q = e_0, key p = (s_p, 0, ...), kq_scale 1: every
 * other product is +0, so the dot is s_p) over a sweep from 0 down to -100:
 * the SIMD exps must give ref's bits for all of them, including the cutoff
 * and the padded tails. */
static void softmax_sweep_matches_ref(const bn_kernels *k) {
    const int64_t D = 16;
    for (int32_t n_keys = 1; n_keys <= 4099; n_keys += 1 + n_keys / 3) {
        att_case c;
        kt_rng rng = {5};
        case_init(&c, &rng, D, 1, 1, n_keys - 1, false, false);
        float *q = c.q, *kr = (float *)c.it.k;
        memset(q, 0, sizeof(float) * (size_t)D);
        q[0] = 1.0f;
        for (int32_t p = 0; p < n_keys; p++) {
            for (int64_t d = 0; d < D; d++)
                kr[p * c.it.kv_stride + d] = 0.0f;
            /* one key at the max (s = 0 after the shift), the rest spread
             * below it, with some exactly at and around -87 */
            float s = p == n_keys / 2 ? 0.0f : -100.0f * kt_unit(&rng);
            if (p % 7 == 3)
                s = -87.0f + (float)(p % 5 - 2) * 1e-5f;
            kr[p * c.it.kv_stride] = s;
        }
        c.it.kq_scale = 1.0f;
        case_check(&c, k, "softmax sweep");
        case_free(&c);
    }
}
KT_FOR_TABLES(attention, softmax_sweep_matches_ref, softmax_sweep_matches_ref)

/* A NaN in some cached keys (a model that overflowed) makes those scores
 * NaN: every table gives them weight 0 and the same finite outputs. */
static void nan_scores_weigh_nothing(const bn_kernels *k) {
    kt_rng rng = {2024};
    const int32_t first[] = {0, 5, 16, 33};
    for (size_t f = 0; f < sizeof first / sizeof first[0]; f++)
        for (int f16 = 0; f16 < 2; f16++) {
            att_case c;
            case_init(&c, &rng, 64, 4, 7, 30, f16, f16);
            /* key rows first, first + 7, ... hold a NaN */
            for (int64_t p = first[f]; p < 37; p += 7) {
                int64_t at = 64 + 2 + p * c.it.kv_stride + 3; /* head_off + element 3 */
                c.kf[at] = NAN;
                c.kh[at] = 0x7e00; /* f16 quiet NaN */
            }
            case_check(&c, k, f16 ? "NaN keys, f16" : "NaN keys, f32");
            for (size_t i = 0; i < (size_t)(7 * c.it.out_stride); i++)
                if (i % (size_t)c.it.out_stride < 4 * 64)
                    cr_assert(isfinite(c.out_b[i]), "%s: NaN key leaked into the output", k->name);
            case_free(&c);
        }
}
KT_FOR_TABLES(attention, nan_scores_weigh_nothing, nan_scores_weigh_nothing)

/* |e - exp(x)| in units of the float spacing at exp(x). */
static double ulp_error(float e, double x) {
    double want = exp(x);
    int ex;
    frexp(want, &ex);
    double ulp = ldexp(1.0, (ex - 1 < -126 ? -126 : ex - 1) - 23);
    return fabs((double)e - want) / ulp;
}

Test(attention, exp_is_within_2_ulp_of_exp_on_the_softmax_range) {
    double worst = 0;
    float worst_x = 0;
    /* every 256th float in [-87, 0): about 4 million arguments, all
     * exponents */
    for (uint32_t bits = 0x80000000u;; bits += 256) {
        float x = bn_f32_from_bits(bits);
        if (x < -87.0f)
            break;
        double e = ulp_error(bn_att_exp_ref(x), (double)x);
        if (e > worst) {
            worst = e;
            worst_x = x;
        }
    }
    cr_log_info("bn_att_exp_ref: max error %.3f ulp at x = %.9g", worst, (double)worst_x);
    cr_assert(worst <= 2.0, "max error %.3f ulp at x = %.9g", worst, (double)worst_x);
}

Test(attention, exp_handles_the_edges) {
    cr_assert_eq(bn_att_exp_ref(0.0f), 1.0f);
    cr_assert_eq(bn_att_exp_ref(-0.0f), 1.0f);
    cr_assert_eq(bn_att_exp_ref(-87.0001f), 0.0f);
    cr_assert_eq(bn_att_exp_ref(-1000.0f), 0.0f);
    cr_assert_eq(bn_att_exp_ref(-INFINITY), 0.0f);
    cr_assert_eq(bn_att_exp_ref(NAN), 0.0f);
    cr_assert(bn_att_exp_ref(-87.0f) >= FLT_MIN, "exp(-87) is a normal float");
    cr_assert(ulp_error(bn_att_exp_ref(1.0f), 1.0) <= 2.0);
    cr_assert(isfinite(bn_att_exp_ref(1e30f)), "large x is clamped, not inf");
}
