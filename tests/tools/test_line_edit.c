/* test_line_edit.c: tools/line_edit.c, the chat prompt's editing state
 * machine fed with the bytes a terminal sends for each key. */
#include <criterion/criterion.h>
#include <string.h>

#include "tools/line_edit.h"

static bn_line_editor ed;

static void setup(void)
{
    bn_line_editor_init(&ed, 3);
}

static void teardown(void)
{
    bn_line_editor_free(&ed);
}

TestSuite(line_edit, .init = setup, .fini = teardown);

/* Feeds keys; returns the last event that was not NONE. */
static bn_line_event type(const char *keys)
{
    bn_line_event last = BN_LINE_EVENT_NONE;
    for (const char *k = keys; *k; k++) {
        bn_line_event ev = bn_line_editor_feed(&ed, (unsigned char)*k);
        if (ev != BN_LINE_EVENT_NONE)
            last = ev;
    }
    return last;
}

#define LEFT "\x1b[D"
#define RIGHT "\x1b[C"
#define UP "\x1b[A"
#define DOWN "\x1b[B"
#define HOME "\x1b[H"
#define END "\x1b[F"
#define DEL "\x1b[3~"
#define BS "\x7f"

Test(line_edit, enter_accepts_the_typed_text)
{
    cr_assert_eq(type("hello\r"), BN_LINE_EVENT_ACCEPT);
    cr_assert_str_eq(ed.buf, "hello");
}

Test(line_edit, arrows_move_the_cursor_for_insertion)
{
    type("helo" LEFT "l");
    cr_assert_str_eq(ed.buf, "hello");
    type(HOME "O" END "!");
    cr_assert_str_eq(ed.buf, "Ohello!");
    type(LEFT LEFT RIGHT "?");
    cr_assert_str_eq(ed.buf, "Ohello?!");
}

Test(line_edit, home_and_end_have_every_terminal_spelling)
{
    type("bc" "\x1bOH" "a" "\x1bOF" "d" "\x1b[1~" "<" "\x1b[4~" ">");
    cr_assert_str_eq(ed.buf, "<abcd>");
    type("\x01" "[" "\x05" "]");
    cr_assert_str_eq(ed.buf, "[<abcd>]");
}

Test(line_edit, backspace_and_delete_remove_one_character)
{
    type("abcd" LEFT LEFT BS);
    cr_assert_str_eq(ed.buf, "acd");
    type(DEL);
    cr_assert_str_eq(ed.buf, "ad");
    type("\x04"); /* Ctrl-D on a non-empty line deletes under the cursor */
    cr_assert_str_eq(ed.buf, "a");
    type(HOME BS); /* nothing before the cursor */
    cr_assert_str_eq(ed.buf, "a");
}

Test(line_edit, kill_keys_cut_to_the_start_end_and_word)
{
    type("one two three" LEFT LEFT LEFT LEFT LEFT LEFT "\x0b");
    cr_assert_str_eq(ed.buf, "one two");
    type("\x17");
    cr_assert_str_eq(ed.buf, "one ");
    type("two" LEFT "\x15");
    cr_assert_str_eq(ed.buf, "o");
    cr_assert_eq(ed.pos, 0);
}

Test(line_edit, multibyte_characters_move_and_delete_whole)
{
    /* "é" is 2 bytes, "€" 3, "😀" 4. */
    type("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" LEFT);
    cr_assert_eq(ed.pos, 6, "the cursor sits before the emoji, got %zu", ed.pos);
    type(LEFT "x");
    cr_assert_str_eq(ed.buf, "a\xc3\xa9x\xe2\x82\xac\xf0\x9f\x98\x80");
    type(END BS);
    cr_assert_str_eq(ed.buf, "a\xc3\xa9x\xe2\x82\xac");
    type(HOME RIGHT DEL);
    cr_assert_str_eq(ed.buf, "ax\xe2\x82\xac");
    type(END "\x17");
    cr_assert_str_eq(ed.buf, "");
}

Test(line_edit, up_and_down_walk_the_history_and_keep_the_new_line)
{
    bn_line_editor_add_history(&ed, "first");
    bn_line_editor_add_history(&ed, "second");
    bn_line_editor_add_history(&ed, "second"); /* repeats are kept once */
    bn_line_editor_add_history(&ed, "");
    cr_assert_eq(ed.n_history, 2);
    bn_line_editor_clear(&ed);
    type("draft" UP);
    cr_assert_str_eq(ed.buf, "second");
    type(UP);
    cr_assert_str_eq(ed.buf, "first");
    type(UP); /* stays at the oldest */
    cr_assert_str_eq(ed.buf, "first");
    type(DOWN DOWN);
    cr_assert_str_eq(ed.buf, "draft");
    cr_assert_eq(ed.pos, 5);
    type("\x10" "!"); /* Ctrl-P, then edit the recalled line */
    cr_assert_str_eq(ed.buf, "second!");
}

Test(line_edit, history_keeps_only_the_newest_entries)
{
    bn_line_editor_add_history(&ed, "1");
    bn_line_editor_add_history(&ed, "2");
    bn_line_editor_add_history(&ed, "3");
    bn_line_editor_add_history(&ed, "4");
    cr_assert_eq(ed.n_history, 3);
    cr_assert_str_eq(ed.history[0], "2");
    cr_assert_str_eq(ed.history[2], "4");
}

Test(line_edit, ctrl_c_drops_the_line_and_ctrl_d_ends_an_empty_one)
{
    cr_assert_eq(type("some text"), BN_LINE_EVENT_NONE);
    cr_assert_eq(type("\x03"), BN_LINE_EVENT_CANCEL);
    cr_assert_str_eq(ed.buf, "");
    cr_assert_eq(type("\x04"), BN_LINE_EVENT_EOF);
    cr_assert_eq(type("\x0c"), BN_LINE_EVENT_REDRAW);
}

Test(line_edit, ignores_unknown_keys_and_control_bytes)
{
    type("a\t\x1b[15~\x1b[1;5C\x1bxb\x07");
    cr_assert_str_eq(ed.buf, "ab");
}

Test(line_edit, a_full_line_drops_further_bytes_without_overflow)
{
    for (int i = 0; i < BN_LINE_MAX_BYTES + 100; i++)
        bn_line_editor_feed(&ed, 'x');
    cr_assert_eq(ed.len, BN_LINE_MAX_BYTES - 1);
    cr_assert_eq(strlen(ed.buf), ed.len);
}
