/* sampler.c: picking the next token from a row of logits.
 *
 * Owns bn_sampler: the parameters, the history of accepted tokens (for the
 * repetition penalty), the RNG state and a scratch candidate array of n_vocab
 * entries allocated at creation, so sampling allocates nothing. The chain
 * follows llama.cpp's default order: repetition penalty -> top-k -> top-p ->
 * min-p -> temperature -> draw. temp <= 0 is greedy: the penalised argmax,
 * lowest id on ties. Candidates are ordered by logit, then by id, so the
 * result is a pure function of (logits, history, seed, call count).
 *
 * Does not know about models or sessions; the caller feeds it logits and
 * tells it which tokens were accepted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/bitnet.h"
#include "runtime/error.h"

#define BN_SAMPLER_MAX_HISTORY 4096

typedef struct bn_candidate {
    float logit;
    int32_t id;
} bn_candidate;

struct bn_sampler {
    bn_sampler_params params;
    int32_t n_vocab;
    bn_candidate *cand;      /* (n_vocab) scratch */
    uint8_t *seen;           /* (n_vocab) marks for de-duplicating the history */
    int32_t *history;        /* ring of the last history_cap accepted tokens */
    int32_t history_cap;
    int32_t history_len;
    int32_t history_head;    /* index of the next write */
    uint64_t rng;            /* splitmix64 state */
};

void bn_sampler_params_default(bn_sampler_params *params)
{
    if (!params)
        return;
    params->temp = 0.8f;
    params->top_k = 40;
    params->top_p = 0.95f;
    params->min_p = 0.05f;
    params->repeat_penalty = 1.0f;
    params->repeat_last_n = 64;
    params->seed = 0;
}

/* splitmix64: small, fast, and good enough for drawing one token. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 bits. */
static double rng_uniform(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

bn_status bn_sampler_new(const bn_sampler_params *params, int32_t n_vocab, bn_sampler **out,
                         bn_error *err)
{
    bn_status st = BN_STATUS_OK;
    bn_sampler *s = NULL;
    if (!out) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_sampler_new: out is NULL");
        goto fail;
    }
    *out = NULL;
    if (n_vocab <= 0) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG, "sampler: n_vocab must be positive, got %d",
                          (int)n_vocab);
        goto fail;
    }
    bn_sampler_params p;
    if (params)
        p = *params;
    else
        bn_sampler_params_default(&p);
    if (!(p.top_p == p.top_p) || !(p.min_p == p.min_p) || !(p.temp == p.temp) ||
        !(p.repeat_penalty > 0.0f)) {
        st = bn_error_set(err, BN_STATUS_INVALID_ARG,
                          "sampler: temp, top_p and min_p must be numbers and repeat_penalty "
                          "positive (got temp %g, top_p %g, min_p %g, repeat_penalty %g)",
                          (double)p.temp, (double)p.top_p, (double)p.min_p,
                          (double)p.repeat_penalty);
        goto fail;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "sampler: out of memory");
        goto fail;
    }
    s->params = p;
    s->n_vocab = n_vocab;
    s->history_cap = p.repeat_last_n < 0 ? BN_SAMPLER_MAX_HISTORY
                     : p.repeat_last_n > BN_SAMPLER_MAX_HISTORY ? BN_SAMPLER_MAX_HISTORY
                     : p.repeat_last_n;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->seen = calloc((size_t)n_vocab, 1);
    s->history = malloc((size_t)(s->history_cap > 0 ? s->history_cap : 1) * sizeof *s->history);
    if (!s->cand || !s->seen || !s->history) {
        st = bn_error_set(err, BN_STATUS_NO_MEMORY, "sampler: out of memory for %d candidates",
                          (int)n_vocab);
        goto fail;
    }
    bn_sampler_reset(s, p.seed);
    *out = s;
    return BN_STATUS_OK;
fail:
    bn_sampler_free(s);
    return st;
}

void bn_sampler_free(bn_sampler *sampler)
{
    if (!sampler)
        return;
    free(sampler->cand);
    free(sampler->seen);
    free(sampler->history);
    free(sampler);
}

void bn_sampler_reset(bn_sampler *sampler, uint64_t seed)
{
    if (!sampler)
        return;
    sampler->history_len = 0;
    sampler->history_head = 0;
    sampler->rng = seed;
}

void bn_sampler_accept(bn_sampler *sampler, int32_t token)
{
    if (!sampler || sampler->history_cap <= 0)
        return;
    sampler->history[sampler->history_head] = token;
    sampler->history_head = (sampler->history_head + 1) % sampler->history_cap;
    if (sampler->history_len < sampler->history_cap)
        sampler->history_len++;
}

/* Higher logit first; equal logits: lower id first (a total order). */
static int cand_before(const bn_candidate *a, const bn_candidate *b)
{
    if (a->logit != b->logit)
        return a->logit > b->logit;
    return a->id < b->id;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const bn_candidate *a = pa, *b = pb;
    if (cand_before(a, b))
        return -1;
    if (cand_before(b, a))
        return 1;
    return 0;
}

/* Min-heap (by cand_before order: the root is the "worst") sift-down. */
static void heap_sift_down(bn_candidate *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && cand_before(&h[worst], &h[l]))
            worst = l;
        if (r < n && cand_before(&h[worst], &h[r]))
            worst = r;
        if (worst == i)
            return;
        bn_candidate t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* Moves the k best candidates to the front of c[0..n), sorted best first.
 * O(n log k) with a heap of the k best seen so far. */
static void keep_top_k(bn_candidate *c, size_t n, size_t k)
{
    if (k >= n) {
        qsort(c, n, sizeof *c, cand_cmp);
        return;
    }
    /* c[0..k) becomes a heap whose root is the worst of the k kept. */
    for (size_t i = k / 2; i-- > 0;)
        heap_sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (cand_before(&c[i], &c[0])) {
            c[0] = c[i];
            heap_sift_down(c, k, 0);
        }
    }
    qsort(c, k, sizeof *c, cand_cmp);
}

static void apply_repeat_penalty(bn_sampler *s)
{
    float pen = s->params.repeat_penalty;
    if (pen == 1.0f || s->history_len == 0)
        return;
    /* Each distinct token is penalised once, however often it occurred
     * (llama.cpp's rule): divide positive logits, multiply negative ones. */
    for (int32_t i = 0; i < s->history_len; i++) {
        int32_t id = s->history[i];
        if (id < 0 || id >= s->n_vocab || s->seen[id])
            continue;
        s->seen[id] = 1;
        float *l = &s->cand[id].logit;
        *l = *l > 0.0f ? *l / pen : *l * pen;
    }
    for (int32_t i = 0; i < s->history_len; i++) {
        int32_t id = s->history[i];
        if (id >= 0 && id < s->n_vocab)
            s->seen[id] = 0;
    }
}

bn_status bn_sampler_sample(bn_sampler *sampler, const float *logits, int32_t *out_token,
                            bn_error *err)
{
    if (!sampler || !logits || !out_token)
        return bn_error_set(err, BN_STATUS_INVALID_ARG, "bn_sampler_sample: NULL argument");
    bn_sampler *s = sampler;
    const bn_sampler_params *p = &s->params;
    size_t n = (size_t)s->n_vocab;
    bn_candidate *c = s->cand;

    for (size_t i = 0; i < n; i++) {
        float l = logits[i];
        /* NaN would poison every comparison below: treat it as "never". */
        c[i].logit = l == l ? l : -INFINITY;
        c[i].id = (int32_t)i;
    }
    apply_repeat_penalty(s);

    if (p->temp <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (cand_before(&c[i], &c[best]))
                best = i;
        *out_token = c[best].id;
        return BN_STATUS_OK;
    }

    /* top-k (also sorts what it keeps, best first) */
    size_t k = p->top_k > 0 && (size_t)p->top_k < n ? (size_t)p->top_k : n;
    keep_top_k(c, n, k);
    n = k;

    /* top-p: the shortest prefix whose probability mass reaches top_p */
    if (p->top_p < 1.0f && n > 1) {
        double mx = c[0].logit, sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += exp((double)c[i].logit - mx);
        double cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - mx) / sum;
            if (cum >= (double)p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }

    /* min-p: drop what is less likely than min_p times the best */
    if (p->min_p > 0.0f && n > 1) {
        double floor_logit = (double)c[0].logit + log((double)p->min_p);
        size_t keep = 1;
        while (keep < n && (double)c[keep].logit >= floor_logit)
            keep++;
        n = keep;
    }

    /* temperature, softmax, draw */
    double mx = (double)c[0].logit / (double)p->temp, sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)c[i].logit / (double)p->temp - mx);
    double r = rng_uniform(&s->rng) * sum, cum = 0.0;
    size_t pick = n - 1;
    for (size_t i = 0; i < n; i++) {
        cum += exp((double)c[i].logit / (double)p->temp - mx);
        if (r < cum) {
            pick = i;
            break;
        }
    }
    if (c[pick].logit == -INFINITY)
        pick = 0;
    *out_token = c[pick].id;
    return BN_STATUS_OK;
}
