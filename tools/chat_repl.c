/* chat_repl.c: bitnet-run --chat (-cnv), the interactive conversation.
 *
 * Reads user turns from stdin: on a terminal through the line editor
 * (tools/line_edit.c: editing keys and history), otherwise one turn per
 * line until EOF, so chats can be scripted (each line is echoed after the
 * "> " prompt so the transcript reads like the terminal session). Every turn
 * goes through runtime/chat.c, which keeps the KV cache across turns and
 * evaluates only the new tokens; the reply is streamed token by token.
 *
 * Signals: SIGINT sets a flag that the reply loop checks after each token,
 * so Ctrl-C ends the reply, not the program; at the terminal prompt the
 * line editor reads Ctrl-C as a key that drops the line. With piped input,
 * Ctrl-C while waiting for a line ends the program (exit 130). Ctrl-D at
 * an empty prompt, or EOF, ends it with exit 0.
 *
 * Output: replies on stdout; notes (context full, shifts, interruptions)
 * and errors on stderr, prefixed "bitnet-run: ".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/bitnet.h"
#include "runtime/chat.h"
#include "runtime/chat_template.h"
#include "tools/bitnet-run.h"
#include "tools/line_edit.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static const char help_text[] =
    "commands:\n"
    "  /reset   start a new conversation (the system prompt stays)\n"
    "  /quit    leave (also /exit, or Ctrl-D at an empty prompt)\n"
    "  /help    this text\n"
    "keys: Ctrl-C stops a reply; at the prompt it clears the line. Left/Right, Home/End,\n"
    "      Up/Down (history), Ctrl-A/E/U/K/W edit the line.\n";

static int fail(const bn_error *err)
{
    fprintf(stderr, "bitnet-run: error: %s\n",
            err->message[0] ? err->message : bn_status_name(err->status));
    return 1;
}

/* Picks the format: --chat-template, else the model's template, else plain.
 * Returns 0, or the exit code. */
static int choose_template(const bn_run_options *opts, const bn_model *model,
                           bn_chat_template *out)
{
    bn_error err;
    bn_error_clear(&err);
    if (opts->chat_template) {
        if (bn_chat_template_from_name(opts->chat_template, out, &err) != BN_STATUS_OK) {
            fprintf(stderr, "bitnet-run: %s\n", err.message);
            return 2;
        }
        return 0;
    }
    const char *jinja = bn_model_chat_template(model);
    if (bn_chat_template_detect(jinja, out, &err) == BN_STATUS_OK)
        return 0;
    *out = BN_CHAT_TEMPLATE_PLAIN;
    if (jinja && *jinja) {
        fprintf(stderr, "bitnet-run: note: %s; using 'plain'\n", err.message);
    } else {
        /* No template, but a Llama-3 vocabulary: the model was probably tuned
         * on one of its formats; say which flag picks it. */
        int32_t id[2];
        size_t n = 0;
        if (bn_model_tokenize(model, "<|eot_id|>", 10, false, true, id, 2, &n, NULL) ==
                BN_STATUS_OK &&
            n == 1 && bn_model_is_eog(model, id[0]))
            fprintf(stderr, "bitnet-run: note: the model has no chat template; using 'plain' "
                            "(--chat-template bitnet or llama3 may suit its vocabulary)\n");
    }
    return 0;
}

/* Streams the reply to the current turn; returns 0, or the exit code.
 * before: the chat before its user message was added (to report shifts). */
static int stream_reply(bn_chat *chat, const bn_model *model, const bn_chat_info *before,
                        bool verbose)
{
    static const char *const stop_names[] = {"interrupted", "end of turn", "token limit (-n)",
                                             "context full"};
    bn_error err;
    bn_error_clear(&err);
    bn_chat_info after;
    bool at_start = true; /* leading whitespace of a reply is not printed */
    bn_chat_stop stop = BN_CHAT_STOP_NONE;
    while (!interrupted) {
        int32_t tok;
        if (bn_chat_next_token(chat, &tok, &stop, &err) != BN_STATUS_OK) {
            printf("\n");
            fflush(stdout);
            return fail(&err);
        }
        if (stop != BN_CHAT_STOP_NONE)
            break;
        char piece[256];
        size_t n = 0;
        if (bn_model_token_to_piece(model, tok, piece, sizeof piece, &n, &err) != BN_STATUS_OK) {
            printf("\n");
            return fail(&err);
        }
        size_t skip = 0;
        while (at_start && skip < n &&
               (piece[skip] == ' ' || piece[skip] == '\n' || piece[skip] == '\r'))
            skip++;
        if (skip < n)
            at_start = false;
        fwrite(piece + skip, 1, n - skip, stdout);
        fflush(stdout);
    }
    printf("\n");
    fflush(stdout);
    bn_chat_info_get(chat, &after);
    if (interrupted)
        fprintf(stderr, "bitnet-run: reply interrupted after %d tokens\n", (int)after.reply_tokens);
    interrupted = 0;
    if (after.n_shifts != before->n_shifts)
        fprintf(stderr,
                "bitnet-run: the context was full: dropped the %d oldest turn(s) and "
                "re-evaluated %d tokens (the system prompt stays)\n",
                (int)(after.n_dropped_turns - before->n_dropped_turns),
                (int)(after.n_reevaluated - before->n_reevaluated));
    if (stop == BN_CHAT_STOP_CONTEXT_FULL)
        fprintf(stderr,
                "bitnet-run: the context (%d tokens, -c) is full: the reply ends here. /reset "
                "starts a new conversation%s\n",
                (int)after.n_past,
                after.n_turns > 1 || !after.n_shifts ? "; --ctx-shift drops the oldest turns" : "");
    if (verbose)
        fprintf(stderr,
                "bitnet-run: turn: %d new tokens evaluated, %d generated (stop: %s), %d in the "
                "cache\n",
                (int)after.last_turn_tokens, (int)after.reply_tokens, stop_names[stop],
                (int)after.n_past);
    return 0;
}

/* Reads one line without the editor; *line is malloc'd without its newline.
 * Returns 1 for a line, 0 at EOF, -1 when interrupted by SIGINT. */
static int read_plain_line(char **line)
{
    size_t cap = 0;
    *line = NULL;
    errno = 0;
    ssize_t n = getline(line, &cap, stdin);
    if (n < 0) {
        bool intr = errno == EINTR || interrupted;
        free(*line);
        *line = NULL;
        return intr ? -1 : 0;
    }
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = '\0';
    return 1;
}

/* Reads a whole text file (the -f system prompt); NULL with errno set. */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (buf && bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (buf)
        buf[n] = '\0';
    return buf;
}

int bn_run_chat(const bn_run_options *opts, bn_model *model, bn_session *session,
                bn_sampler *sampler)
{
    bn_error err;
    bn_error_clear(&err);
    bn_chat *chat = NULL;
    bn_line_editor ed;
    bn_line_editor_init(&ed, 200);
    /* The editor draws on stdout, so it needs both ends on the terminal;
     * typed lines are echoed by the terminal, piped ones by us. */
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    bool echo = !isatty(STDIN_FILENO);
    char *system_buf = NULL;
    int rc = 1;

    bn_chat_template tmpl;
    rc = choose_template(opts, model, &tmpl);
    if (rc)
        goto done;
    rc = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns EINTR */
    sigaction(SIGINT, &sa, NULL);

    bn_chat_options co;
    memset(&co, 0, sizeof co);
    co.tmpl = tmpl;
    co.system_prompt = opts->prompt;
    if (opts->prompt_file) {
        system_buf = read_text_file(opts->prompt_file);
        if (!system_buf) {
            fprintf(stderr, "bitnet-run: error: cannot read the system prompt file '%s': %s\n",
                    opts->prompt_file, strerror(errno));
            goto done;
        }
        co.system_prompt = system_buf;
    }
    co.n_predict = opts->n_predict;
    co.ignore_eos = opts->ignore_eos;
    co.ctx_shift = opts->ctx_shift;
    co.seed = opts->sampling.seed;
    if (bn_chat_new(model, session, sampler, &co, &chat, &err) != BN_STATUS_OK) {
        rc = fail(&err);
        goto done;
    }
    bn_chat_info info;
    bn_chat_info_get(chat, &info);
    fprintf(stderr,
            "bitnet-run: chat with %s, template %s, context %d (%d kept for BOS and the system "
            "prompt), seed %llu; /help for commands\n",
            bn_model_description(model), bn_chat_template_name(tmpl),
            (int)bn_session_n_ctx(session), (int)info.n_keep,
            (unsigned long long)opts->sampling.seed);

    for (;;) {
        char *line = NULL;
        if (tty) {
            bn_line_status ls = bn_line_editor_read(&ed, "> ", STDIN_FILENO, STDOUT_FILENO, &line);
            if (ls == BN_LINE_EOF)
                break;
            if (ls == BN_LINE_ERROR) {
                fprintf(stderr, "bitnet-run: error: reading the terminal: %s\n", strerror(errno));
                goto done;
            }
            bn_line_editor_add_history(&ed, line);
        } else {
            fputs("> ", stdout);
            fflush(stdout);
            int r = read_plain_line(&line);
            if (r == 0) {
                printf("\n");
                break;
            }
            if (r < 0) {
                printf("\n");
                fprintf(stderr, "bitnet-run: interrupted\n");
                rc = 130;
                goto done;
            }
            if (echo)
                printf("%s\n", line);
            fflush(stdout);
        }

        /* Commands and empty lines. */
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0') {
            free(line);
            continue;
        }
        if (p[0] == '/') {
            bool quit = false;
            if (strcmp(p, "/quit") == 0 || strcmp(p, "/exit") == 0) {
                quit = true;
            } else if (strcmp(p, "/help") == 0) {
                fputs(help_text, stdout);
            } else if (strcmp(p, "/reset") == 0) {
                if (bn_chat_reset(chat, &err) != BN_STATUS_OK) {
                    free(line);
                    rc = fail(&err);
                    goto done;
                }
                fprintf(stderr, "bitnet-run: new conversation\n");
            } else {
                fprintf(stderr, "bitnet-run: unknown command '%s' (/help lists them)\n", p);
            }
            fflush(stdout);
            free(line);
            if (quit)
                break;
            continue;
        }

        /* From here to the end of the reply, Ctrl-C ends the reply: one
         * pressed while the message is evaluated ends it before it starts. */
        interrupted = 0;
        bn_chat_info before;
        bn_chat_info_get(chat, &before);
        bn_status st = bn_chat_add_user(chat, line, &err);
        free(line);
        if (st == BN_STATUS_CONTEXT_FULL) {
            /* A policy, not a failure: say so and wait for /reset. */
            fprintf(stderr, "bitnet-run: %s\n", err.message);
            bn_error_clear(&err);
            continue;
        }
        if (st != BN_STATUS_OK) {
            rc = fail(&err);
            goto done;
        }
        rc = stream_reply(chat, model, &before, opts->verbose);
        if (rc)
            goto done;
        rc = 1;
    }
    rc = 0;
    if (opts->verbose) {
        bn_session_stats s;
        bn_session_stats_get(session, &s);
        fprintf(stderr,
                "bitnet-run: %llu tokens evaluated in %llu calls (prompt %.1f ms, generation "
                "%.1f ms for %llu tokens)\n",
                (unsigned long long)s.n_tokens_evaluated, (unsigned long long)s.n_eval_calls,
                s.prompt_ms, s.gen_ms, (unsigned long long)s.n_gen_tokens);
    }
done:
    signal(SIGINT, SIG_DFL);
    free(system_buf);
    bn_chat_free(chat);
    bn_line_editor_free(&ed);
    return rc;
}
