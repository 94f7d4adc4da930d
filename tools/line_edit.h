/* line_edit.h: a small line editor for the chat prompt on a terminal.
 *
 * Owns the line being edited, the cursor, an escape-sequence parser and the
 * history, with no dependency beyond libc and termios (no readline). Keys:
 * left/right (and Ctrl-B/F), Home/End (and Ctrl-A/E), Backspace, Delete,
 * up/down history (and Ctrl-P/N), Ctrl-U (kill to start), Ctrl-K (kill to
 * end), Ctrl-W (kill the word before the cursor), Ctrl-L (redraw), Ctrl-C
 * (drop the line, new prompt), Ctrl-D (end of input on an empty line, else
 * delete). The cursor moves by UTF-8 code points, so multibyte characters
 * are never split; every code point is taken as one column wide.
 *
 * Two layers: bn_line_editor_feed is the pure editing state machine (bytes
 * in, events out; unit-tested without a terminal), bn_line_editor_read is
 * the terminal loop (raw mode while reading, restored before it returns, so
 * the terminal is in its normal mode, with Ctrl-C as SIGINT, whenever the
 * program is not at the prompt). Part of the bitnet-run tool: it prints.
 */
#ifndef BN_TOOLS_LINE_EDIT_H
#define BN_TOOLS_LINE_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#define BN_LINE_MAX_BYTES 8192

typedef enum bn_line_event {
    BN_LINE_EVENT_NONE = 0, /* edited (or nothing): redraw */
    BN_LINE_EVENT_ACCEPT,   /* Enter: the line is complete */
    BN_LINE_EVENT_EOF,      /* Ctrl-D on an empty line */
    BN_LINE_EVENT_CANCEL,   /* Ctrl-C: the line was dropped */
    BN_LINE_EVENT_REDRAW,   /* Ctrl-L: clear the screen and redraw */
} bn_line_event;

typedef struct bn_line_editor {
    char buf[BN_LINE_MAX_BYTES]; /* the line, NUL-terminated */
    size_t len;                  /* bytes in buf */
    size_t pos;                  /* cursor, a byte offset on a code point boundary */
    int esc_state;               /* 0 text, 1 after ESC, 2 in CSI, 3 after ESC O */
    char esc_param[16];          /* CSI parameter bytes */
    size_t esc_len;
    char **history;              /* (n_history) oldest first */
    int n_history, max_history;
    int history_pos;             /* n_history while editing a new line */
    char *saved;                 /* the new line while browsing history */
    char pending[256];           /* bytes read past an accepted line */
    size_t n_pending;
} bn_line_editor;

typedef enum bn_line_status {
    BN_LINE_OK = 0,   /* *line holds the text (caller frees) */
    BN_LINE_EOF,      /* Ctrl-D at an empty prompt, or end of input */
    BN_LINE_ERROR,    /* read/terminal error (errno set) */
} bn_line_status;

void bn_line_editor_init(bn_line_editor *ed, int max_history);
void bn_line_editor_free(bn_line_editor *ed);

/* Feeds one input byte; returns what happened. */
bn_line_event bn_line_editor_feed(bn_line_editor *ed, unsigned char c);

/* Starts a new, empty line (history browsing restarts at the end). */
void bn_line_editor_clear(bn_line_editor *ed);

/* Appends a line to the history (skips empty lines and repeats). */
void bn_line_editor_add_history(bn_line_editor *ed, const char *line);

/* Reads one line from the terminal in_fd, echoing to out_fd, with editing.
 * in_fd must be a terminal. */
bn_line_status bn_line_editor_read(bn_line_editor *ed, const char *prompt, int in_fd, int out_fd,
                                   char **line);

#endif /* BN_TOOLS_LINE_EDIT_H */
