/* test_chat.c: runtime/chat.c on the bundled tiny model, in process: the
 * same code the bitnet-run --chat REPL drives. KV reuse is asserted from the
 * session's counters, determinism from repeated runs, and the full-context
 * policies (end the reply; --ctx-shift) against a fresh evaluation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "runtime/chat.h"

#define MODEL_PATH BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf"

static bn_model *model;

static void load_model(void)
{
    if (access(MODEL_PATH, R_OK) != 0)
        cr_skip_test("the bundled model %s is absent", MODEL_PATH);
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = 1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_model_load(MODEL_PATH, &mo, &model, &err), BN_STATUS_OK, "%s", err.message);
}

static void free_model(void)
{
    bn_model_free(model);
    model = NULL;
}

TestSuite(chat, .init = load_model, .fini = free_model);

typedef struct fixture {
    bn_session *session;
    bn_sampler *sampler;
    bn_chat *chat;
} fixture;

static bn_session *new_session(int32_t n_ctx)
{
    bn_session_options so;
    bn_session_options_default(&so);
    so.n_ctx = n_ctx;
    so.n_threads = 1;
    bn_session *s = NULL;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_new(model, &so, &s, &err), BN_STATUS_OK, "%s", err.message);
    return s;
}

static fixture open_chat(int32_t n_ctx, float temp, uint64_t seed, const char *system,
                         int32_t n_predict, bool ignore_eos, bool ctx_shift)
{
    fixture f = {0};
    f.session = new_session(n_ctx);
    bn_sampler_params sp;
    bn_sampler_params_default(&sp);
    sp.temp = temp;
    sp.seed = seed;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_sampler_new(&sp, bn_model_n_vocab(model), &f.sampler, &err), BN_STATUS_OK,
                 "%s", err.message);
    bn_chat_options co = {0};
    co.tmpl = BN_CHAT_TEMPLATE_PLAIN;
    co.system_prompt = system;
    co.n_predict = n_predict;
    co.ignore_eos = ignore_eos;
    co.ctx_shift = ctx_shift;
    co.seed = seed;
    cr_assert_eq(bn_chat_new(model, f.session, f.sampler, &co, &f.chat, &err), BN_STATUS_OK, "%s",
                 err.message);
    return f;
}

static void close_chat(fixture *f)
{
    bn_chat_free(f->chat);
    bn_sampler_free(f->sampler);
    bn_session_free(f->session);
}

static void add_user(fixture *f, const char *text)
{
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_add_user(f->chat, text, &err), BN_STATUS_OK, "%s", err.message);
}

/* Generates a reply into ids (cap entries); returns its length. */
static int reply(fixture *f, int32_t *ids, int cap, bn_chat_stop *why)
{
    int n = 0;
    for (;;) {
        int32_t tok;
        bn_chat_stop stop;
        bn_error err;
        bn_error_clear(&err);
        cr_assert_eq(bn_chat_next_token(f->chat, &tok, &stop, &err), BN_STATUS_OK, "%s",
                     err.message);
        if (stop != BN_CHAT_STOP_NONE) {
            cr_assert_eq(tok, -1);
            if (why)
                *why = stop;
            return n;
        }
        cr_assert(n < cap, "reply longer than %d tokens", cap);
        ids[n++] = tok;
    }
}

/* Number of tokens text encodes to (special texts parsed, no BOS). */
static size_t count_tokens(const char *text)
{
    size_t n = 0;
    bn_status st = bn_model_tokenize(model, text, strlen(text), false, true, NULL, 0, &n, NULL);
    cr_assert(st == BN_STATUS_OK || st == BN_STATUS_INVALID_ARG);
    return n;
}

/* Largest |a - b| between the last logits of the chat's session and those of
 * a fresh session that evaluates the chat's whole token log in one go. */
static float diff_from_fresh_eval(fixture *f)
{
    int32_t n = 0;
    const int32_t *ids = bn_chat_tokens(f->chat, &n);
    cr_assert_gt(n, 0);
    bn_session *fresh = new_session(bn_session_n_ctx(f->session));
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_session_eval(fresh, ids, (size_t)n, false, &err), BN_STATUS_OK, "%s",
                 err.message);
    const float *a = bn_session_logits(f->session, -1);
    const float *b = bn_session_logits(fresh, -1);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    float worst = 0.0f;
    for (int32_t i = 0; i < bn_model_n_vocab(model); i++)
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
    bn_session_free(fresh);
    return worst;
}

Test(chat, second_turn_evaluates_only_its_new_tokens)
{
    fixture f = open_chat(256, 0.0f, 1, "You tell short stories.", 24, false, false);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    /* The start: BOS + "System: You tell short stories.\n". */
    cr_expect_eq(info.n_keep, 1 + (int32_t)count_tokens("System: You tell short stories.\n"));

    add_user(&f, "Tell me about a dog.");
    int32_t ids[256];
    reply(&f, ids, 256, NULL);

    bn_session_stats s0, s1;
    bn_session_stats_get(f.session, &s0);
    bn_chat_info_get(f.chat, &info);
    int32_t past0 = info.n_past;

    add_user(&f, "What did the dog do next?");
    bn_session_stats_get(f.session, &s1);
    bn_chat_info_get(f.chat, &info);

    /* What the second turn should cost, counted independently: the marker
     * that closes the first reply and the new user message with the
     * generation prompt. Nothing of the history is evaluated again. */
    size_t expect = count_tokens("</s>") + count_tokens("User: What did the dog do next?\n"
                                                        "Assistant:");
    uint64_t evaluated = s1.n_tokens_evaluated - s0.n_tokens_evaluated;
    cr_expect_eq(evaluated, (uint64_t)expect, "turn 2 evaluated %llu tokens, expected %zu",
                 (unsigned long long)evaluated, expect);
    cr_expect_eq(s1.n_eval_calls - s0.n_eval_calls, 1, "one eval call for the new turn");
    cr_expect_eq(info.last_turn_tokens, (int32_t)expect);
    cr_expect_eq(info.n_past, past0 + (int32_t)expect);
    cr_expect_lt(evaluated, (uint64_t)past0, "less than the history (%d tokens)", (int)past0);
    cr_expect_eq(info.n_turns, 2);

    /* The incrementally built cache is the one a fresh evaluation of the
     * same tokens gives (up to batch-shape rounding). */
    float d = diff_from_fresh_eval(&f);
    cr_expect_lt(d, 1e-2f, "logits differ from a fresh evaluation by %g", d);
    close_chat(&f);
}

Test(chat, a_reply_is_evaluated_one_token_at_a_time)
{
    fixture f = open_chat(256, 0.0f, 1, NULL, 10, false, false);
    add_user(&f, "hi");
    bn_session_stats s0, s1;
    bn_session_stats_get(f.session, &s0);
    int32_t ids[16];
    bn_chat_stop why;
    int n = reply(&f, ids, 16, &why);
    bn_session_stats_get(f.session, &s1);
    cr_expect_eq(s1.n_gen_tokens - s0.n_gen_tokens, (uint64_t)n);
    cr_expect_eq(s1.n_tokens_evaluated - s0.n_tokens_evaluated, (uint64_t)n);
    if (why == BN_CHAT_STOP_LIMIT)
        cr_expect_eq(n, 10);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.reply_tokens, n);
    close_chat(&f);
}

Test(chat, a_reply_stops_at_the_end_of_turn_token_which_the_next_turn_evaluates)
{
    /* Greedy, the tiny story model ends this story with </s> (its EOS, the
     * plain format's end of turn) after about 80 tokens. */
    fixture f = open_chat(256, 0.0f, 1, NULL, 200, false, false);
    add_user(&f, "Tell me a story.");
    int32_t ids[256];
    bn_chat_stop why;
    int n = reply(&f, ids, 256, &why);
    cr_assert_eq(why, BN_CHAT_STOP_EOG, "stopped with %d after %d tokens", (int)why, n);
    cr_expect(n > 0 && n < 200, "%d tokens", n);
    int32_t n_past = 0;
    const int32_t *log = bn_chat_tokens(f.chat, &n_past);
    int32_t eos = bn_model_eos(model);
    cr_expect_neq(log[n_past - 1], eos, "the stop token is sampled, never evaluated");
    for (int i = 0; i < n; i++)
        cr_expect_neq(ids[i], eos, "token %d of the reply is the stop token", i);

    /* The next turn starts by closing the reply with </s>, one token. */
    int32_t before = n_past;
    add_user(&f, "Another one.");
    log = bn_chat_tokens(f.chat, &n_past);
    cr_expect_eq(log[before], eos, "the reply was not closed with </s>");
    close_chat(&f);

    /* With ignore_eos the same reply runs on, past the stop token, to the
     * token limit (set from n: where the story ends moves with the last
     * bits of the arithmetic, e.g. 45 or 83 tokens). */
    fixture g = open_chat(256, 0.0f, 1, NULL, n + 5, true, false);
    add_user(&g, "Tell me a story.");
    int32_t more[256];
    int m = reply(&g, more, 256, &why);
    cr_expect_eq(why, BN_CHAT_STOP_LIMIT);
    cr_expect_eq(m, n + 5);
    cr_expect_eq(memcmp(more, ids, (size_t)n * sizeof *ids), 0, "same greedy start");
    cr_expect_eq(more[n], eos, "the stop token is kept with ignore_eos");
    close_chat(&g);
}

static int conversation(uint64_t seed, float temp, int32_t *out, int cap)
{
    fixture f = open_chat(256, temp, seed, "Stories for children.", 20, true, false);
    int n = 0;
    const char *turns[] = {"Tell me a story.", "What happened next?", "How did it end?"};
    for (int t = 0; t < 3; t++) {
        add_user(&f, turns[t]);
        n += reply(&f, out + n, cap - n, NULL);
    }
    close_chat(&f);
    return n;
}

Test(chat, same_seed_and_input_give_the_same_text)
{
    int32_t a[128], b[128], c[128];
    int na = conversation(42, 1.0f, a, 128);
    int nb = conversation(42, 1.0f, b, 128);
    cr_assert_eq(na, 60, "ignore_eos: three replies of 20");
    cr_assert_eq(na, nb);
    cr_expect_eq(memcmp(a, b, (size_t)na * sizeof *a), 0, "same seed, different text");
    int nc = conversation(43, 1.0f, c, 128);
    cr_assert_eq(nc, na);
    cr_expect_neq(memcmp(a, c, (size_t)na * sizeof *a), 0,
                  "60 tokens at temperature 1 identical for seeds 42 and 43");
}

Test(chat, reset_starts_a_conversation_that_answers_like_a_new_one)
{
    fixture f = open_chat(256, 0.8f, 7, "Be nice.", 16, true, false);
    bn_chat_info start;
    bn_chat_info_get(f.chat, &start);
    int32_t r1[32], r2[32];
    add_user(&f, "Tell me about a cat.");
    int n1 = reply(&f, r1, 32, NULL);
    add_user(&f, "And then?");
    reply(&f, r2, 32, NULL);

    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_reset(f.chat, &err), BN_STATUS_OK, "%s", err.message);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_past, start.n_past, "only the system prompt stays");
    cr_expect_eq(info.n_turns, 0);

    add_user(&f, "Tell me about a cat.");
    int n2 = reply(&f, r2, 32, NULL);
    cr_assert_eq(n1, n2);
    cr_expect_eq(memcmp(r1, r2, (size_t)n1 * sizeof *r1), 0, "the reset chat answered differently");
    close_chat(&f);
}

Test(chat, a_full_context_ends_the_reply_and_refuses_the_next_turn)
{
    fixture f = open_chat(64, 0.0f, 1, "Short.", -1, true, false);
    add_user(&f, "Tell me a long story.");
    int32_t ids[64];
    bn_chat_stop why = BN_CHAT_STOP_NONE;
    reply(&f, ids, 64, &why);
    cr_expect_eq(why, BN_CHAT_STOP_CONTEXT_FULL);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_past, 64);

    bn_error err;
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_add_user(f.chat, "more", &err), BN_STATUS_CONTEXT_FULL);
    cr_expect(strstr(err.message, "context (64 tokens) is full") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "--ctx-shift") != NULL, "%s", err.message);
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_past, 64, "a refused turn evaluates nothing");
    close_chat(&f);
}

Test(chat, ctx_shift_keeps_the_system_prompt_and_drops_the_oldest_turns)
{
    fixture f = open_chat(96, 0.0f, 1, "You are a storyteller.", 24, true, true);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    int32_t n_keep = info.n_keep;
    int32_t start[32];
    cr_assert_leq(n_keep, 32);
    memcpy(start, bn_chat_tokens(f.chat, NULL), (size_t)n_keep * sizeof *start);

    const char *turns[] = {"Tell me a story.", "What next?", "Who was there?", "Why?",
                           "And then?"};
    for (int t = 0; t < 5; t++) {
        add_user(&f, turns[t]);
        int32_t ids[32];
        bn_chat_stop why;
        int n = reply(&f, ids, 32, &why);
        cr_expect_eq(why, BN_CHAT_STOP_LIMIT, "turn %d stopped early (%d)", t, (int)why);
        cr_expect_eq(n, 24);
        bn_chat_info_get(f.chat, &info);
        cr_assert_leq(info.n_past, 96);
    }
    bn_chat_info_get(f.chat, &info);
    cr_expect_gt(info.n_shifts, 0);
    cr_expect_gt(info.n_dropped_turns, 0);
    cr_expect_lt(info.n_turns, 5);
    cr_expect_eq(info.n_keep, n_keep);
    int32_t n = 0;
    const int32_t *ids = bn_chat_tokens(f.chat, &n);
    cr_expect_eq(memcmp(ids, start, (size_t)n_keep * sizeof *start), 0,
                 "the system prompt moved");
    /* After shifts, the cache is what a fresh evaluation of the kept
     * conversation gives: no stale RoPE positions. */
    float d = diff_from_fresh_eval(&f);
    cr_expect_lt(d, 1e-2f, "logits differ from a fresh evaluation by %g", d);
    close_chat(&f);
}

Test(chat, ctx_shift_makes_room_in_the_middle_of_a_reply)
{
    /* Start 10 tokens, each turn's message 14 (+1 to close the previous
     * reply), replies of 30: the second reply hits position 96 after about
     * 27 tokens and goes on once the first turn is dropped. */
    fixture f = open_chat(96, 0.0f, 1, "Hi.", 30, true, true);
    add_user(&f, "One.");
    int32_t ids[64];
    reply(&f, ids, 64, NULL);
    bn_chat_info info;
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_shifts, 0);
    add_user(&f, "One.");
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_shifts, 0, "the second message still fits");
    bn_chat_stop why;
    int n = reply(&f, ids, 64, &why);
    cr_expect_eq(why, BN_CHAT_STOP_LIMIT, "stopped with %d after %d tokens", (int)why, n);
    cr_expect_eq(n, 30);
    bn_chat_info_get(f.chat, &info);
    cr_expect_eq(info.n_shifts, 1);
    cr_expect_eq(info.n_turns, 1, "the first turn was dropped");
    cr_expect_eq(info.reply_tokens, 30);
    float d = diff_from_fresh_eval(&f);
    cr_expect_lt(d, 1e-2f, "logits differ from a fresh evaluation by %g", d);
    close_chat(&f);
}

Test(chat, ctx_shift_cannot_drop_the_turn_being_written)
{
    fixture f = open_chat(48, 0.0f, 1, NULL, -1, true, true);
    add_user(&f, "Tell me everything.");
    int32_t ids[64];
    bn_chat_stop why;
    reply(&f, ids, 64, &why);
    cr_expect_eq(why, BN_CHAT_STOP_CONTEXT_FULL);
    close_chat(&f);
}

Test(chat, rejects_misuse_with_a_message)
{
    fixture f = open_chat(64, 0.0f, 1, NULL, 4, false, false);
    int32_t tok;
    bn_chat_stop why;
    bn_error err;
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_next_token(f.chat, &tok, &why, &err), BN_STATUS_INVALID_ARG);
    cr_expect(strstr(err.message, "no reply in progress") != NULL, "%s", err.message);
    cr_expect_eq(bn_chat_add_user(f.chat, NULL, NULL), BN_STATUS_INVALID_ARG);
    cr_expect_eq(bn_chat_add_user(NULL, "x", NULL), BN_STATUS_INVALID_ARG);
    cr_expect_eq(bn_chat_reset(NULL, NULL), BN_STATUS_INVALID_ARG);
    bn_chat_free(NULL);
    close_chat(&f);

    bn_session *s = new_session(16);
    bn_sampler *sm = NULL;
    bn_sampler_params sp;
    bn_sampler_params_default(&sp);
    cr_assert_eq(bn_sampler_new(&sp, bn_model_n_vocab(model), &sm, NULL), BN_STATUS_OK);
    bn_chat_options co = {0};
    co.tmpl = BN_CHAT_TEMPLATE_PLAIN;
    co.system_prompt = "This system prompt is far longer than the sixteen positions that the "
                       "context of this session holds, so the chat cannot even start.";
    bn_chat *c = (bn_chat *)1;
    bn_error_clear(&err);
    cr_expect_eq(bn_chat_new(model, s, sm, &co, &c, &err), BN_STATUS_CONTEXT_FULL);
    cr_expect_null(c);
    cr_expect(strstr(err.message, "system prompt") != NULL, "%s", err.message);
    co.tmpl = (bn_chat_template)9;
    cr_expect_eq(bn_chat_new(model, s, sm, &co, &c, NULL), BN_STATUS_INVALID_ARG);
    bn_sampler_free(sm);
    bn_session_free(s);
}

/* ---- a 2B4T-shaped chat: the real Llama-3 vocabulary and 2B4T's template
 * on a one-layer random model whose output layer can only favour
 * <|eot_id|> (128009) or <|end_of_text|> (128001): every other row is zero,
 * those two are +w and -w, so one of them always wins the argmax. ---- */

#include "tests/runtime/chat_2b4t_model.h"

static bn_model *l3_model;

static void l3_setup(void)
{
    char json[1024];
    snprintf(json, sizeof json, "%s/data/tokenizer/llama3/tokenizer.json", BN_SHARED_DIR);
    if (access(json, R_OK) != 0)
        return;
    char path[256];
    snprintf(path, sizeof path, "/tmp/bn-test-chat-l3-%d.gguf", (int)getpid());
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_2b4t_model_write(path, json, BN_CHAT_2B4T_TEMPLATE, &err), BN_STATUS_OK,
                 "%s", err.message);
    bn_model_options mo;
    bn_model_options_default(&mo);
    mo.n_threads = 1;
    bn_status st = bn_model_load(path, &mo, &l3_model, &err);
    unlink(path);
    cr_assert_eq(st, BN_STATUS_OK, "%s", err.message);
    model = l3_model; /* the helpers above use `model` */
}

static void l3_teardown(void)
{
    bn_model_free(l3_model);
    l3_model = NULL;
    model = NULL;
}

TestSuite(chat_2b4t, .init = l3_setup, .fini = l3_teardown);

static fixture open_2b4t_chat(int32_t n_predict, bool ignore_eos)
{
    if (!l3_model)
        cr_skip_test("../shared/data/tokenizer/llama3/tokenizer.json is absent");
    bn_chat_template t = BN_CHAT_TEMPLATE_COUNT;
    cr_assert_eq(bn_chat_template_detect(bn_model_chat_template(model), &t, NULL), BN_STATUS_OK);
    cr_assert_eq(t, BN_CHAT_TEMPLATE_BITNET);
    fixture f = open_chat(256, 0.0f, 1, "Be brief.", n_predict, ignore_eos, false);
    /* open_chat uses the plain format: start again with 2B4T's. */
    bn_chat_free(f.chat);
    bn_chat_options co = {0};
    co.tmpl = t;
    co.system_prompt = "Be brief.";
    co.n_predict = n_predict;
    co.ignore_eos = ignore_eos;
    co.seed = 1;
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_new(model, f.session, f.sampler, &co, &f.chat, &err), BN_STATUS_OK, "%s",
                 err.message);
    return f;
}

Test(chat_2b4t, turns_are_rendered_with_eot_and_replies_stop_at_eot_or_end_of_text)
{
    fixture f = open_2b4t_chat(16, false);
    int32_t n = 0;
    const int32_t *log = bn_chat_tokens(f.chat, &n);
    /* <|begin_of_text|> System : Be brief . <|eot_id|> */
    cr_assert_gt(n, 3);
    cr_expect_eq(log[0], 128000);
    cr_expect_eq(log[n - 1], 128009);

    add_user(&f, "hi");
    int32_t past = 0;
    log = bn_chat_tokens(f.chat, &past);
    int32_t want_user[] = {1502, 25, 15960, 128009, 72803, 25, 220}; /* User: hi<|eot_id|>Assistant:_ */
    cr_assert_eq(past - n, 7, "the turn has %d tokens", (int)(past - n));
    cr_expect_eq(memcmp(log + n, want_user, sizeof want_user), 0);

    int32_t ids[16];
    bn_chat_stop why;
    int got = reply(&f, ids, 16, &why);
    cr_expect_eq(why, BN_CHAT_STOP_EOG);
    cr_expect_eq(got, 0);

    /* The next turn closes the (empty) reply with <|eot_id|>. */
    add_user(&f, "ok");
    int32_t after = 0;
    log = bn_chat_tokens(f.chat, &after);
    cr_expect_eq(log[past], 128009);
    cr_expect_eq(after - past, 1 + 7, "<|eot_id|> + User: ok<|eot_id|>Assistant:_");
    close_chat(&f);
}

Test(chat_2b4t, with_ignore_eos_the_special_tokens_are_generated_but_print_nothing)
{
    fixture f = open_2b4t_chat(6, true);
    add_user(&f, "hi");
    int32_t ids[16];
    bn_chat_stop why;
    int got = reply(&f, ids, 16, &why);
    cr_expect_eq(why, BN_CHAT_STOP_LIMIT);
    cr_assert_eq(got, 6);
    for (int i = 0; i < got; i++) {
        cr_expect(ids[i] == 128009 || ids[i] == 128001, "token %d is %d", i, (int)ids[i]);
        char piece[64];
        size_t nb = 99;
        cr_expect_eq(bn_model_token_to_piece(model, ids[i], piece, sizeof piece, &nb, NULL),
                     BN_STATUS_OK);
        cr_expect_eq(nb, 0, "a control token printed %zu bytes", nb);
    }
    close_chat(&f);
}
