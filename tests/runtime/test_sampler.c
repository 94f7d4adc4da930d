/* test_sampler.c: runtime/sampler.c on hand-made logits. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "runtime/bitnet.h"

static bn_sampler *make(float temp, int top_k, float top_p, float min_p, float pen, int last_n,
                        uint64_t seed, int n_vocab)
{
    bn_sampler_params p;
    bn_sampler_params_default(&p);
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = pen;
    p.repeat_last_n = last_n;
    p.seed = seed;
    bn_sampler *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_sampler_new(&p, n_vocab, &s, &err), BN_STATUS_OK, "%s", err.message);
    return s;
}

static int32_t sample(bn_sampler *s, const float *logits)
{
    int32_t tok = -1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_sampler_sample(s, logits, &tok, &err), BN_STATUS_OK, "%s", err.message);
    return tok;
}

Test(sampler, greedy_picks_the_argmax)
{
    float l[5] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f};
    bn_sampler *s = make(0.0f, 40, 0.95f, 0.05f, 1.0f, 64, 1, 5);
    cr_assert_eq(sample(s, l), 1);
    bn_sampler_free(s);
}

Test(sampler, greedy_breaks_ties_by_lowest_id)
{
    float l[4] = {1.0f, 3.0f, 3.0f, 2.0f};
    bn_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 0, 1, 4);
    cr_assert_eq(sample(s, l), 1);
    bn_sampler_free(s);
}

Test(sampler, repeat_penalty_divides_positive_and_multiplies_negative_logits)
{
    /* token 0 (logit 2.0) was seen: 2.0 / 2.5 = 0.8 < 1.5, so greedy moves to 1 */
    float l[3] = {2.0f, 1.5f, -1.0f};
    bn_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 2.5f, 64, 1, 3);
    bn_sampler_accept(s, 0);
    cr_assert_eq(sample(s, l), 1);
    bn_sampler_free(s);
    /* negative logits get more negative: 2 goes from -0.5 to -1.25 < -1.0 */
    float l2[3] = {-1.0f, -3.0f, -0.5f};
    s = make(0.0f, 0, 1.0f, 0.0f, 2.5f, 64, 1, 3);
    cr_assert_eq(sample(s, l2), 2);
    bn_sampler_accept(s, 2);
    cr_assert_eq(sample(s, l2), 0);
    bn_sampler_free(s);
}

Test(sampler, repeat_penalty_only_looks_at_the_last_n_tokens)
{
    float l[3] = {2.0f, 1.5f, -1.0f};
    bn_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 2.5f, 2, 1, 3);
    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 2);
    bn_sampler_accept(s, 2); /* token 0 has left the window of 2 */
    cr_assert_eq(sample(s, l), 0);
    bn_sampler_free(s);
}

Test(sampler, top_k_one_is_greedy_whatever_the_temperature)
{
    float l[6] = {0.5f, 0.7f, 3.0f, 2.9f, 2.95f, 0.0f};
    bn_sampler *s = make(5.0f, 1, 1.0f, 0.0f, 1.0f, 0, 99, 6);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(sample(s, l), 2);
    bn_sampler_free(s);
}

Test(sampler, top_k_keeps_only_the_k_best)
{
    float l[6] = {0.0f, 1.0f, 5.0f, 4.9f, 0.5f, 4.8f};
    bn_sampler *s = make(100.0f, 3, 1.0f, 0.0f, 1.0f, 0, 7, 6);
    int seen[6] = {0};
    for (int i = 0; i < 600; i++)
        seen[sample(s, l)]++;
    cr_assert(seen[2] > 0 && seen[3] > 0 && seen[5] > 0);
    cr_assert_eq(seen[0] + seen[1] + seen[4], 0);
    bn_sampler_free(s);
}

Test(sampler, top_p_keeps_the_smallest_set_reaching_p)
{
    /* probabilities ~ 0.665, 0.245, 0.09 at temp 1: top_p 0.8 keeps two */
    float l[3] = {2.0f, 1.0f, 0.0f};
    bn_sampler *s = make(1.0f, 0, 0.8f, 0.0f, 1.0f, 0, 3, 3);
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++)
        seen[sample(s, l)]++;
    cr_assert_eq(seen[2], 0);
    cr_assert(seen[1] > 400 && seen[1] < 800, "token 1 drawn %d times of 2000", seen[1]);
    bn_sampler_free(s);
}

Test(sampler, min_p_drops_tokens_below_a_fraction_of_the_best)
{
    /* p1/p0 = e^-1 = 0.37, p2/p0 = e^-3 = 0.05: min_p 0.1 keeps 0 and 1 */
    float l[3] = {3.0f, 2.0f, 0.0f};
    bn_sampler *s = make(1.0f, 0, 1.0f, 0.1f, 1.0f, 0, 5, 3);
    int seen[3] = {0};
    for (int i = 0; i < 2000; i++)
        seen[sample(s, l)]++;
    cr_assert_eq(seen[2], 0);
    cr_assert(seen[1] > 0);
    bn_sampler_free(s);
}

Test(sampler, same_seed_gives_the_same_sequence)
{
    float l[64];
    for (int i = 0; i < 64; i++)
        l[i] = sinf((float)i) * 2.0f;
    bn_sampler *a = make(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 1234, 64);
    bn_sampler *b = make(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 1234, 64);
    bn_sampler *c = make(0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 4321, 64);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        int32_t ta = sample(a, l), tb = sample(b, l), tc = sample(c, l);
        cr_assert_eq(ta, tb);
        differ += ta != tc;
        bn_sampler_accept(a, ta);
        bn_sampler_accept(b, tb);
        bn_sampler_accept(c, tc);
    }
    cr_assert(differ > 0, "another seed should give another sequence");
    bn_sampler_reset(a, 1234);
    bn_sampler_reset(b, 1234);
    cr_assert_eq(sample(a, l), sample(b, l));
    bn_sampler_free(a);
    bn_sampler_free(b);
    bn_sampler_free(c);
}

Test(sampler, temperature_sharpens_and_flattens)
{
    float l[2] = {1.0f, 0.0f};
    bn_sampler *cold = make(0.1f, 0, 1.0f, 0.0f, 1.0f, 0, 11, 2);
    bn_sampler *hot = make(10.0f, 0, 1.0f, 0.0f, 1.0f, 0, 11, 2);
    int cold1 = 0, hot1 = 0;
    for (int i = 0; i < 2000; i++) {
        cold1 += sample(cold, l) == 1;
        hot1 += sample(hot, l) == 1;
    }
    cr_assert(cold1 < 10, "cold sampler picked the worse token %d times", cold1);
    cr_assert(hot1 > 800, "hot sampler picked the worse token only %d times", hot1);
    bn_sampler_free(cold);
    bn_sampler_free(hot);
}

Test(sampler, nan_logits_are_never_picked)
{
    float l[3] = {NAN, 0.5f, NAN};
    bn_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 0, 2, 3);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(sample(s, l), 1);
    bn_sampler_free(s);
}

Test(sampler, rejects_bad_parameters)
{
    bn_sampler_params p;
    bn_sampler_params_default(&p);
    bn_sampler *s = (bn_sampler *)1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_sampler_new(&p, 0, &s, &err), BN_STATUS_INVALID_ARG);
    cr_assert_null(s);
    cr_assert(strstr(err.message, "n_vocab") != NULL);
    p.repeat_penalty = 0.0f;
    bn_error_clear(&err);
    cr_assert_eq(bn_sampler_new(&p, 10, &s, &err), BN_STATUS_INVALID_ARG);
    bn_sampler_free(NULL);
}
