/* test_chat_repl.c: tools/chat_repl.c as users meet it, through the built
 * bitnet-run on the bundled model: scripted chats through a pipe, the
 * commands, the full-context policies, and Ctrl-C / Ctrl-D driven through a
 * real pseudo-terminal (forkpty), so the interrupt path is exercised. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/runtime/chat_2b4t_model.h"

#define RUN BN_BUILD_DIR "/tools/bitnet-run"
#define MODEL BN_SOURCE_DIR "/models/tiny-bitnet-I2_S.gguf"

static char out_text[1 << 16], err_text[1 << 16];

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

static void need_model(void)
{
    if (access(MODEL, R_OK) != 0)
        cr_skip_test("the bundled model is absent");
}

/* Runs bitnet-run with `input` on stdin (a pipe); returns the exit code. */
static int chat(const char *input, const char *args)
{
    char in_path[128], out_path[128], err_path[128];
    snprintf(in_path, sizeof in_path, "/tmp/bn-test-chat-%d.in", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/bn-test-chat-%d.out", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/bn-test-chat-%d.err", (int)getpid());
    FILE *f = fopen(in_path, "wb");
    cr_assert_not_null(f);
    fputs(input, f);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cat %s | %s -m %s --chat -t 1 %s >%s 2>%s", in_path, RUN, MODEL,
             args, out_path, err_path);
    int st = system(cmd);
    slurp(out_path, out_text, sizeof out_text);
    slurp(err_path, err_text, sizeof err_text);
    unlink(in_path);
    unlink(out_path);
    unlink(err_path);
    cr_assert(WIFEXITED(st), "bitnet-run did not exit normally (%s)", args);
    return WEXITSTATUS(st);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The reply printed after the echoed user line `line` (up to the next "> "). */
static void reply_after(const char *line, char *buf, size_t cap)
{
    char key[256];
    snprintf(key, sizeof key, "> %s\n", line);
    const char *p = strstr(out_text, key);
    cr_assert_not_null(p, "no turn '%s' in:\n%s", line, out_text);
    p += strlen(key);
    const char *end = strstr(p, "\n> ");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
}

Test(chat_repl, a_scripted_three_turn_conversation_through_a_pipe)
{
    need_model();
    int rc = chat("Tell me a story about a dog.\nWhat did the dog do next?\nHow did it end?\n",
                  "-p 'You tell short stories.' -s 42 -n 32 --verbose");
    cr_assert_eq(rc, 0, "stderr:\n%s", err_text);
    cr_expect_eq(count(out_text, "> "), 4, "three turns and the prompt at EOF:\n%s", out_text);
    const char *turns[] = {"Tell me a story about a dog.", "What did the dog do next?",
                           "How did it end?"};
    for (int i = 0; i < 3; i++) {
        char r[4096];
        reply_after(turns[i], r, sizeof r);
        cr_expect_gt(strlen(r), 10, "turn %d: a reply of some words, got '%s'", i, r);
    }
    /* Each turn evaluates only its new tokens (the message + prompt, and the
     * end-of-turn marker of the previous reply): about 20 here, never the
     * history, which grows by 50 or so per turn. */
    cr_expect_eq(count(err_text, "bitnet-run: turn: "), 3, "%s", err_text);
    const char *p = err_text;
    int prev_past = 0;
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "bitnet-run: turn: ");
        cr_assert_not_null(p);
        int evaluated = 0, generated = 0, past = 0;
        cr_assert_eq(sscanf(p, "bitnet-run: turn: %d new tokens evaluated, %d generated", &evaluated,
                            &generated),
                     2, "%s", p);
        const char *c = strstr(p, "), ");
        cr_assert_not_null(c);
        cr_assert_eq(sscanf(c, "), %d in the cache", &past), 1, "%s", c);
        cr_expect(evaluated > 0 && evaluated <= 25, "turn %d evaluated %d tokens", i, evaluated);
        cr_expect_eq(past, prev_past ? prev_past + evaluated + generated : past,
                     "turn %d: cache %d after %d", i, past, prev_past);
        prev_past = past;
        p++;
    }
}

Test(chat_repl, the_same_seed_and_input_give_the_same_chat)
{
    need_model();
    const char *input = "Hello there.\nTell me more.\n";
    cr_assert_eq(chat(input, "-s 9 -n 24 --temp 0.9"), 0, "%s", err_text);
    char first[sizeof out_text];
    strcpy(first, out_text);
    cr_assert_eq(chat(input, "-s 9 -n 24 --temp 0.9"), 0, "%s", err_text);
    cr_expect_str_eq(out_text, first);
    cr_assert_eq(chat(input, "-s 10 -n 24 --temp 0.9"), 0, "%s", err_text);
    cr_expect_str_neq(out_text, first, "seeds 9 and 10 gave the same 48 tokens");
}

Test(chat_repl, commands_help_reset_and_quit)
{
    need_model();
    int rc = chat("/help\nTell me about a cat.\n/reset\nTell me about a cat.\n/nope\n/quit\nnever\n",
                  "-p 'Be kind.' -s 3 -n 20 --ignore-eos");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(out_text, "/reset   start a new conversation"), "%s", out_text);
    cr_expect_not_null(strstr(err_text, "new conversation"), "%s", err_text);
    cr_expect_not_null(strstr(err_text, "unknown command '/nope'"), "%s", err_text);
    cr_expect_null(strstr(out_text, "never"), "input after /quit was read:\n%s", out_text);
    /* After /reset the chat answers as a new one: same seed, same text. */
    const char *first = strstr(out_text, "> Tell me about a cat.\n");
    cr_assert_not_null(first);
    const char *second = strstr(first + 1, "> Tell me about a cat.\n");
    cr_assert_not_null(second);
    const char *a = first + strlen("> Tell me about a cat.\n");
    const char *b = second + strlen("> Tell me about a cat.\n");
    size_t la = strcspn(a, ">"), lb = strcspn(b, ">");
    cr_expect_gt(la, 5);
    cr_expect(la == lb && memcmp(a, b, la) == 0, "replies differ:\n%.*s\n--\n%.*s", (int)la, a,
              (int)lb, b);
}

Test(chat_repl, empty_lines_are_skipped_and_eof_ends_with_exit_0)
{
    need_model();
    cr_assert_eq(chat("\n   \nhi\n", "-s 1 -n 4"), 0, "%s", err_text);
    cr_expect_eq(count(out_text, "> hi\n"), 1, "%s", out_text);
    cr_assert_eq(chat("", "-s 1"), 0, "%s", err_text);
    cr_expect_str_eq(out_text, "> \n");
}

/* The "(N kept for BOS and the system prompt)" count of the banner. */
static int kept_tokens(void)
{
    const char *p = strstr(err_text, "kept for BOS");
    cr_assert_not_null(p, "%s", err_text);
    while (p > err_text && p[-1] != '(')
        p--;
    return atoi(p);
}

Test(chat_repl, the_system_prompt_comes_from_p_or_f)
{
    need_model();
    cr_assert_eq(chat("hi\n", "-s 1 -n 4"), 0, "%s", err_text);
    cr_expect_eq(kept_tokens(), 1, "BOS only");
    cr_assert_eq(chat("hi\n", "-s 1 -n 4 -p 'You are kind.'"), 0, "%s", err_text);
    int with_p = kept_tokens();
    cr_expect_gt(with_p, 5, "BOS + \"System: You are kind.\\n\"");
    char path[128];
    snprintf(path, sizeof path, "/tmp/bn-test-chat-%d.sys", (int)getpid());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("You are kind.\n", f); /* the trailing newline is trimmed away */
    fclose(f);
    char args[256];
    snprintf(args, sizeof args, "-s 1 -n 4 -f %s", path);
    cr_assert_eq(chat("hi\n", args), 0, "%s", err_text);
    unlink(path);
    cr_expect_eq(kept_tokens(), with_p);
    cr_assert_eq(chat("hi\n", "-f /nonexistent/system.txt"), 1);
    cr_expect_not_null(strstr(err_text, "/nonexistent/system.txt"), "%s", err_text);
}

Test(chat_repl, chat_template_flag_selects_a_format_and_rejects_unknown_names)
{
    need_model();
    cr_assert_eq(chat("hi\n", "-s 1 -n 4"), 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "template plain"), "%s", err_text);
    cr_assert_eq(chat("hi\n", "-s 1 -n 4 --chat-template llama3"), 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "template llama3"), "%s", err_text);
    cr_assert_eq(chat("hi\n", "--chat-template nope"), 2);
    cr_expect_not_null(strstr(err_text, "unknown chat template 'nope'"), "%s", err_text);
}

Test(chat_repl, a_full_context_ends_the_reply_with_a_clear_message)
{
    need_model();
    int rc = chat("Tell me a long story.\nAnd more.\n", "-c 64 -n -1 --ignore-eos -s 1");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "the context (64 tokens, -c) is full: the reply ends here"),
                       "%s", err_text);
    cr_expect_not_null(strstr(err_text, "--ctx-shift drops the oldest turns"), "%s", err_text);
    cr_expect_not_null(strstr(err_text, "this turn needs"), "second turn: %s", err_text);
}

Test(chat_repl, ctx_shift_drops_the_oldest_turns_and_goes_on)
{
    need_model();
    int rc = chat("One.\nTwo.\nThree.\nFour.\nFive.\n",
                  "-c 96 -n 30 --ignore-eos --ctx-shift -p 'Hi.' -s 1 --verbose");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "the context was full: dropped the"), "%s", err_text);
    cr_expect_null(strstr(err_text, "the reply ends here"), "%s", err_text);
    cr_expect_eq(count(err_text, "generated (stop: token limit (-n))"), 5, "%s", err_text);
}

/* ---- a 2B4T-shaped model (tests/runtime/chat_2b4t_model.h): the real
 * Llama-3 vocabulary, 2B4T's template, replies that always end at once
 * with <|eot_id|> or <|end_of_text|> ---- */

static char model_2b4t[256];

static void write_2b4t(const char *chat_template)
{
    char json[1024];
    snprintf(json, sizeof json, "%s/data/tokenizer/llama3/tokenizer.json", BN_SHARED_DIR);
    if (access(json, R_OK) != 0)
        cr_skip_test("../shared/data/tokenizer/llama3/tokenizer.json is absent");
    snprintf(model_2b4t, sizeof model_2b4t, "/tmp/bn-test-chat-2b4t-%d.gguf", (int)getpid());
    bn_error err;
    bn_error_clear(&err);
    cr_assert_eq(bn_chat_2b4t_model_write(model_2b4t, json, chat_template, &err), BN_STATUS_OK,
                 "%s", err.message);
}

static void remove_2b4t(void)
{
    if (model_2b4t[0])
        unlink(model_2b4t);
}

/* chat() with -m replaced: the 2B4T-shaped model. */
static int chat_2b4t(const char *input, const char *args)
{
    char all[1024];
    snprintf(all, sizeof all, "-m %s %s", model_2b4t, args);
    return chat(input, all);
}

Test(chat_repl, a_2b4t_chat_recognises_the_template_and_stops_at_its_end_tokens,
     .fini = remove_2b4t)
{
    write_2b4t(BN_CHAT_2B4T_TEMPLATE);
    int rc = chat_2b4t("hi\nok\n", "-n 8 --temp 0 --verbose");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "template bitnet"), "%s", err_text);
    cr_expect_eq(count(err_text, "0 generated (stop: end of turn)"), 2, "%s", err_text);
    /* "<|eot_id|>User: ok<|eot_id|>Assistant: " = 1 + 7 tokens */
    cr_expect_not_null(strstr(err_text, "turn: 8 new tokens evaluated"), "%s", err_text);
    cr_expect_str_eq(out_text, "> hi\n\n> ok\n\n> \n");
}

Test(chat_repl, a_2b4t_chat_with_ignore_eos_prints_no_special_tokens, .fini = remove_2b4t)
{
    write_2b4t(BN_CHAT_2B4T_TEMPLATE);
    int rc = chat_2b4t("hi\n", "-n 5 --temp 0 --ignore-eos --verbose");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "5 generated (stop: token limit (-n))"), "%s", err_text);
    cr_expect_str_eq(out_text, "> hi\n\n> \n", "special tokens were printed");
}

Test(chat_repl, a_model_without_template_but_a_llama3_vocabulary_gets_a_hint, .fini = remove_2b4t)
{
    write_2b4t(NULL);
    int rc = chat_2b4t("hi\n", "-n 2 --temp 0");
    cr_assert_eq(rc, 0, "%s", err_text);
    cr_expect_not_null(strstr(err_text, "no chat template; using 'plain' (--chat-template "
                                        "bitnet or llama3"),
                       "%s", err_text);
    cr_assert_eq(chat_2b4t("hi\n", "-n 2 --temp 0 --chat-template bitnet"), 0, "%s", err_text);
    cr_expect_null(strstr(err_text, "note:"), "%s", err_text);
    cr_expect_not_null(strstr(err_text, "template bitnet"), "%s", err_text);
}

/* ---- a real terminal ---- */

typedef struct term {
    pid_t pid;
    int fd;
    char seen[1 << 16]; /* everything read so far */
    size_t n_seen;
} term;

static term *tm;

static void term_read_until(term *t, const char *what, size_t from, int timeout_s)
{
    time_t deadline = time(NULL) + timeout_s;
    while (from > t->n_seen || !strstr(t->seen + from, what)) {
        int left = (int)(deadline - time(NULL));
        cr_assert_gt(left, 0, "timed out waiting for '%s'; output:\n%s", what, t->seen);
        struct pollfd p = {t->fd, POLLIN, 0};
        int r = poll(&p, 1, left * 1000);
        if (r <= 0)
            continue;
        char buf[4096];
        ssize_t n = read(t->fd, buf, sizeof buf);
        cr_assert_gt(n, 0, "the terminal closed while waiting for '%s'; output:\n%s", what,
                     t->seen);
        size_t room = sizeof t->seen - 1 - t->n_seen;
        if ((size_t)n > room) /* keep the tail: drop the oldest half */
        {
            size_t half = t->n_seen / 2;
            memmove(t->seen, t->seen + half, t->n_seen - half);
            t->n_seen -= half;
            from = from > half ? from - half : 0;
        }
        memcpy(t->seen + t->n_seen, buf, (size_t)n);
        t->n_seen += (size_t)n;
        t->seen[t->n_seen] = '\0';
    }
}

static void term_send(term *t, const char *keys)
{
    size_t n = strlen(keys);
    cr_assert_eq(write(t->fd, keys, n), (ssize_t)n);
}

static void kill_term(void)
{
    if (tm && tm->pid > 0) {
        kill(tm->pid, SIGKILL);
        waitpid(tm->pid, NULL, 0);
        tm->pid = 0;
    }
}

Test(chat_repl, ctrl_c_on_a_terminal_ends_the_reply_not_the_program, .fini = kill_term)
{
    need_model();
    static term t;
    memset(&t, 0, sizeof t);
    tm = &t;
    struct winsize ws = {24, 100, 0, 0};
    t.pid = forkpty(&t.fd, NULL, NULL, &ws);
    if (t.pid == -1)
        cr_skip_test("no pseudo-terminal here (forkpty: %s)", strerror(errno));
    if (t.pid == 0) {
        /* A reply that would run for minutes: huge -n, no end-of-turn stop
         * and a context far beyond the model's 256. */
        execl(RUN, RUN, "-m", MODEL, "--chat", "-t", "1", "-s", "1", "-n", "100000",
              "--ignore-eos", "-c", "8192", (char *)NULL);
        _exit(127);
    }
    term_read_until(&t, "> ", 0, 30);

    /* Line editing on the way: a dropped line, a correction with Left. */
    term_send(&t, "garbage\x03");
    term_read_until(&t, "^C", 0, 10);
    size_t mark = t.n_seen;
    term_send(&t, "Tell me a stry" "\x1b[D\x1b[D" "o" "\x1b[F" ".\r");
    term_read_until(&t, "> Tell me a story.", mark, 10);

    /* Wait for the reply to stream, then interrupt it. */
    mark = t.n_seen;
    term_read_until(&t, " ", mark + 40, 30);
    term_send(&t, "\x03");
    term_read_until(&t, "reply interrupted", mark, 30);
    term_read_until(&t, "> ", mark, 30);
    cr_assert_eq(waitpid(t.pid, NULL, WNOHANG), 0, "bitnet-run died on Ctrl-C:\n%s", t.seen);

    /* It answers the next turn (interrupted again: this reply is long too).
     * The line comes from the history: Up recalls the first one, edited. */
    mark = t.n_seen;
    term_send(&t, "\x1b[A");
    term_read_until(&t, "> Tell me a story.", mark, 10);
    mark = t.n_seen;
    term_send(&t, "\x17" "dog story.\r"); /* Ctrl-W leaves "Tell me a " */
    term_read_until(&t, "> Tell me a dog story.", mark, 10);
    size_t reply_at = t.n_seen;
    term_read_until(&t, " ", reply_at + 40, 30);
    term_send(&t, "\x03");
    term_read_until(&t, "reply interrupted", reply_at, 30);
    term_read_until(&t, "> ", reply_at, 30);

    /* Ctrl-D at the empty prompt ends the program with exit 0. */
    term_send(&t, "\x04");
    int status = 0;
    time_t deadline = time(NULL) + 20;
    pid_t w = 0;
    while ((w = waitpid(t.pid, &status, WNOHANG)) == 0 && time(NULL) < deadline) {
        char buf[4096];
        struct pollfd p = {t.fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0 && read(t.fd, buf, sizeof buf) <= 0)
            usleep(10000);
    }
    cr_assert_eq(w, t.pid, "bitnet-run did not exit after Ctrl-D:\n%s", t.seen);
    t.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status, t.seen);
    close(t.fd);
}
