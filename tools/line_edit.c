/* line_edit.c: the chat prompt's line editor (see line_edit.h).
 *
 * The state machine edits a byte buffer whose cursor always sits on a UTF-8
 * code point boundary: moves skip continuation bytes (10xxxxxx), deletions
 * remove whole code points, insertion puts bytes at the cursor in arrival
 * order, so a multibyte character typed or pasted lands whole. Drawing is
 * one line: carriage return, prompt, the visible part of the text, erase to
 * end of line, cursor placed by column; a line wider than the terminal
 * scrolls horizontally around the cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "tools/line_edit.h"

static bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

static size_t prev_boundary(const bn_line_editor *ed, size_t pos)
{
    if (pos == 0)
        return 0;
    pos--;
    while (pos > 0 && is_cont((unsigned char)ed->buf[pos]))
        pos--;
    return pos;
}

static size_t next_boundary(const bn_line_editor *ed, size_t pos)
{
    if (pos >= ed->len)
        return ed->len;
    pos++;
    while (pos < ed->len && is_cont((unsigned char)ed->buf[pos]))
        pos++;
    return pos;
}

/* Removes bytes [from, to) of the line. */
static void erase(bn_line_editor *ed, size_t from, size_t to)
{
    memmove(ed->buf + from, ed->buf + to, ed->len - to + 1);
    ed->len -= to - from;
    if (ed->pos >= to)
        ed->pos -= to - from;
    else if (ed->pos > from)
        ed->pos = from;
}

static void set_text(bn_line_editor *ed, const char *s)
{
    size_t n = strlen(s);
    if (n >= BN_LINE_MAX_BYTES)
        n = BN_LINE_MAX_BYTES - 1;
    while (n > 0 && is_cont((unsigned char)s[n]))
        n--; /* never keep half a code point */
    memcpy(ed->buf, s, n);
    ed->buf[n] = '\0';
    ed->len = n;
    ed->pos = n;
}

void bn_line_editor_init(bn_line_editor *ed, int max_history)
{
    memset(ed, 0, sizeof *ed);
    ed->max_history = max_history > 0 ? max_history : 1;
}

void bn_line_editor_free(bn_line_editor *ed)
{
    if (!ed)
        return;
    for (int i = 0; i < ed->n_history; i++)
        free(ed->history[i]);
    free(ed->history);
    free(ed->saved);
    ed->history = NULL;
    ed->saved = NULL;
    ed->n_history = 0;
}

void bn_line_editor_clear(bn_line_editor *ed)
{
    ed->buf[0] = '\0';
    ed->len = 0;
    ed->pos = 0;
    ed->esc_state = 0;
    ed->history_pos = ed->n_history;
    free(ed->saved);
    ed->saved = NULL;
}

void bn_line_editor_add_history(bn_line_editor *ed, const char *line)
{
    if (!line || !*line)
        return;
    if (ed->n_history > 0 && strcmp(ed->history[ed->n_history - 1], line) == 0)
        return;
    char *copy = strdup(line);
    if (!copy)
        return; /* history is a convenience: losing an entry is harmless */
    if (ed->n_history == ed->max_history) {
        free(ed->history[0]);
        memmove(ed->history, ed->history + 1, (size_t)(ed->n_history - 1) * sizeof *ed->history);
        ed->n_history--;
    } else {
        char **h = realloc(ed->history, (size_t)(ed->n_history + 1) * sizeof *h);
        if (!h) {
            free(copy);
            return;
        }
        ed->history = h;
    }
    ed->history[ed->n_history++] = copy;
    ed->history_pos = ed->n_history;
}

static void history_move(bn_line_editor *ed, int dir)
{
    int to = ed->history_pos + dir;
    if (to < 0 || to > ed->n_history)
        return;
    if (ed->history_pos == ed->n_history) {
        free(ed->saved);
        ed->saved = strdup(ed->buf); /* NULL on failure: the new line is then lost */
    }
    ed->history_pos = to;
    set_text(ed, to == ed->n_history ? (ed->saved ? ed->saved : "") : ed->history[to]);
}

static void insert(bn_line_editor *ed, unsigned char c)
{
    if (ed->len + 1 >= BN_LINE_MAX_BYTES)
        return; /* full: further bytes are dropped */
    memmove(ed->buf + ed->pos + 1, ed->buf + ed->pos, ed->len - ed->pos + 1);
    ed->buf[ed->pos] = (char)c;
    ed->len++;
    ed->pos++;
}

static void kill_word(bn_line_editor *ed)
{
    size_t start = ed->pos;
    while (start > 0 && ed->buf[start - 1] == ' ')
        start--;
    while (start > 0 && ed->buf[start - 1] != ' ')
        start--;
    erase(ed, start, ed->pos);
}

/* A complete CSI (ESC [ params final) or SS3 (ESC O final) sequence. */
static void escape_key(bn_line_editor *ed, char final)
{
    int param = atoi(ed->esc_param);
    switch (final) {
    case 'A': history_move(ed, -1); break;
    case 'B': history_move(ed, +1); break;
    case 'C': ed->pos = next_boundary(ed, ed->pos); break;
    case 'D': ed->pos = prev_boundary(ed, ed->pos); break;
    case 'H': ed->pos = 0; break;
    case 'F': ed->pos = ed->len; break;
    case '~':
        if (param == 1 || param == 7)
            ed->pos = 0;
        else if (param == 4 || param == 8)
            ed->pos = ed->len;
        else if (param == 3)
            erase(ed, ed->pos, next_boundary(ed, ed->pos));
        break;
    default: break; /* other keys (F1..., modifiers) are ignored */
    }
}

bn_line_event bn_line_editor_feed(bn_line_editor *ed, unsigned char c)
{
    if (ed->esc_state == 1) {
        ed->esc_len = 0;
        ed->esc_param[0] = '\0';
        ed->esc_state = c == '[' ? 2 : c == 'O' ? 3 : 0;
        return BN_LINE_EVENT_NONE;
    }
    if (ed->esc_state == 2) {
        if (c >= 0x40 && c <= 0x7E) {
            ed->esc_state = 0;
            escape_key(ed, (char)c);
        } else if (ed->esc_len + 1 < sizeof ed->esc_param) {
            ed->esc_param[ed->esc_len++] = (char)c;
            ed->esc_param[ed->esc_len] = '\0';
        }
        return BN_LINE_EVENT_NONE;
    }
    if (ed->esc_state == 3) {
        ed->esc_state = 0;
        ed->esc_param[0] = '\0';
        escape_key(ed, (char)c);
        return BN_LINE_EVENT_NONE;
    }
    switch (c) {
    case 0x1B: ed->esc_state = 1; break;
    case '\r':
    case '\n': return BN_LINE_EVENT_ACCEPT;
    case 0x01: ed->pos = 0; break;                                /* Ctrl-A */
    case 0x05: ed->pos = ed->len; break;                          /* Ctrl-E */
    case 0x02: ed->pos = prev_boundary(ed, ed->pos); break;       /* Ctrl-B */
    case 0x06: ed->pos = next_boundary(ed, ed->pos); break;       /* Ctrl-F */
    case 0x03: bn_line_editor_clear(ed); return BN_LINE_EVENT_CANCEL; /* Ctrl-C */
    case 0x04:                                                    /* Ctrl-D */
        if (ed->len == 0)
            return BN_LINE_EVENT_EOF;
        erase(ed, ed->pos, next_boundary(ed, ed->pos));
        break;
    case 0x08:
    case 0x7F: erase(ed, prev_boundary(ed, ed->pos), ed->pos); break; /* Backspace */
    case 0x0B: erase(ed, ed->pos, ed->len); break;                /* Ctrl-K */
    case 0x15: erase(ed, 0, ed->pos); break;                      /* Ctrl-U */
    case 0x17: kill_word(ed); break;                              /* Ctrl-W */
    case 0x10: history_move(ed, -1); break;                       /* Ctrl-P */
    case 0x0E: history_move(ed, +1); break;                       /* Ctrl-N */
    case 0x0C: return BN_LINE_EVENT_REDRAW;                       /* Ctrl-L */
    default:
        if (c >= 0x20)
            insert(ed, c); /* printable ASCII and every UTF-8 byte */
        break;            /* other control bytes (Tab, ...) are ignored */
    }
    return BN_LINE_EVENT_NONE;
}

/* ---- terminal ---- */

static bool write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

static size_t columns_of(const char *s, size_t n)
{
    size_t cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += !is_cont((unsigned char)s[i]);
    return cols;
}

static int terminal_columns(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Redraws the prompt and the line with the cursor in place. */
static void refresh(const bn_line_editor *ed, const char *prompt, int out_fd)
{
    int cols = terminal_columns(out_fd);
    size_t pcols = columns_of(prompt, strlen(prompt));
    size_t room = (size_t)cols > pcols + 1 ? (size_t)cols - pcols - 1 : 1;
    /* Scroll so the cursor is visible: drop code points from the left. */
    size_t start = 0;
    while (columns_of(ed->buf + start, ed->pos - start) > room)
        start = next_boundary(ed, start);
    size_t end = start;
    while (end < ed->len && columns_of(ed->buf + start, next_boundary(ed, end) - start) <= room)
        end = next_boundary(ed, end);
    char seq[64];
    int n;
    write_all(out_fd, "\r", 1);
    write_all(out_fd, prompt, strlen(prompt));
    write_all(out_fd, ed->buf + start, end - start);
    write_all(out_fd, "\x1b[K\r", 4);
    size_t col = pcols + columns_of(ed->buf + start, ed->pos - start);
    if (col > 0) {
        n = snprintf(seq, sizeof seq, "\x1b[%zuC", col);
        write_all(out_fd, seq, (size_t)n);
    }
}

bn_line_status bn_line_editor_read(bn_line_editor *ed, const char *prompt, int in_fd, int out_fd,
                                   char **line)
{
    struct termios orig, raw;
    bn_line_status st = BN_LINE_ERROR;
    *line = NULL;
    if (tcgetattr(in_fd, &orig) != 0)
        return BN_LINE_ERROR;
    raw = orig;
    /* Bytes as typed: no echo, no line buffering, Ctrl-C/Ctrl-Z/Ctrl-S/
     * Ctrl-V as plain bytes, CR not turned into NL. Output processing stays
     * on so "\n" still moves to the start of the next line. */
    raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_cflag |= CS8;
    raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSADRAIN, &raw) != 0)
        return BN_LINE_ERROR;

    bn_line_editor_clear(ed);
    refresh(ed, prompt, out_fd);
    for (;;) {
        unsigned char in[256];
        ssize_t got;
        if (ed->n_pending > 0) {
            got = (ssize_t)ed->n_pending;
            memcpy(in, ed->pending, ed->n_pending);
            ed->n_pending = 0;
        } else {
            got = read(in_fd, in, sizeof in);
        }
        if (got < 0 && errno == EINTR) {
            /* A signal (SIGINT from kill, SIGWINCH): like Ctrl-C, start over. */
            bn_line_editor_clear(ed);
            write_all(out_fd, "\n", 1);
            refresh(ed, prompt, out_fd);
            continue;
        }
        if (got < 0)
            goto done;
        if (got == 0) {
            st = BN_LINE_EOF;
            write_all(out_fd, "\n", 1);
            goto done;
        }
        for (ssize_t i = 0; i < got; i++) {
            bn_line_event ev = bn_line_editor_feed(ed, in[i]);
            if (ev == BN_LINE_EVENT_ACCEPT) {
                /* Keep what was typed ahead (a paste of several lines). */
                size_t rest = (size_t)(got - i - 1);
                memcpy(ed->pending, in + i + 1, rest);
                ed->n_pending = rest;
                refresh(ed, prompt, out_fd);
                write_all(out_fd, "\n", 1);
                *line = strdup(ed->buf);
                st = *line ? BN_LINE_OK : BN_LINE_ERROR;
                goto done;
            }
            if (ev == BN_LINE_EVENT_EOF) {
                write_all(out_fd, "\n", 1);
                st = BN_LINE_EOF;
                goto done;
            }
            if (ev == BN_LINE_EVENT_CANCEL)
                write_all(out_fd, "^C\n", 3);
            if (ev == BN_LINE_EVENT_REDRAW)
                write_all(out_fd, "\x1b[H\x1b[2J", 7);
        }
        refresh(ed, prompt, out_fd);
    }
done:
    tcsetattr(in_fd, TCSADRAIN, &orig);
    return st;
}
