/* test_bpe_split.c: the hand-written Llama-3 split rule and the GPT-2 byte
 * mapping (tokenizer/bpe_split.c), on code points, without a vocabulary. */
#include <criterion/criterion.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* Splits UTF-8 text and joins the pieces with '|'. */
static void split(const char *text, char *out, size_t cap)
{
    size_t len = strlen(text), n = 0;
    uint32_t cpts[256];
    size_t lens[256];
    for (size_t pos = 0; pos < len;)
        cpts[n++] = bn_utf8_decode((const unsigned char *)text, len, &pos);
    size_t k = bn_bpe_split_llama3(cpts, n, lens), c = 0, o = 0;
    for (size_t i = 0; i < k; i++) {
        if (i)
            out[o++] = '|';
        for (size_t j = 0; j < lens[i]; j++) {
            unsigned char u[4];
            size_t m = bn_utf8_encode(cpts[c++], u);
            memcpy(out + o, u, m);
            o += m;
        }
        cr_assert_lt(o, cap - 8);
    }
    out[o] = 0;
}

static void expect_split(const char *text, const char *want)
{
    char got[1024];
    split(text, got, sizeof got);
    cr_expect_str_eq(got, want, "split(\"%s\")", text);
}

Test(bpe_split, cuts_words_with_their_leading_space)
{
    expect_split("Hello world", "Hello| world");
    expect_split(" Hello  world", " Hello| | world");
    expect_split("a  ", "a|  ");
    expect_split("", "");
}

Test(bpe_split, keeps_contractions_case_insensitive)
{
    expect_split("don't", "don|'t");
    expect_split("I'M HERE'LL", "I|'M| HERE|'LL");
    expect_split("'re've'd", "'re|'ve|'d");
    expect_split("'", "'");
    expect_split("x'", "x|'");
    expect_split("'x", "'x");
}

Test(bpe_split, cuts_digit_runs_every_three)
{
    expect_split("1234567", "123|456|7");
    expect_split("a12b", "a|12|b");
    expect_split(" 12", " |12");
}

Test(bpe_split, groups_punctuation_with_one_space_and_trailing_newlines)
{
    expect_split("hi!!!\n\nyo", "hi|!!!\n\n|yo");
    expect_split(" ...x", " ...|x");
    expect_split("  ...", " | ...");
}

Test(bpe_split, handles_whitespace_runs_like_the_regex)
{
    expect_split("a \n b", "a| \n| b");
    expect_split("a\t\tb", "a|\t|\tb");
    expect_split("\n\n\n", "\n\n\n");
    expect_split("   ", "   ");
    expect_split("x\r\n", "x|\r\n");
}

Test(bpe_split, uses_unicode_letters_and_numbers)
{
    expect_split("\xe4\xb8\xad\xe6\x96\x87 caf\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87| caf\xc3\xa9");
    expect_split("\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4", "\xd9\xa1\xd9\xa2\xd9\xa3|\xd9\xa4"); /* Arabic-Indic digits */
    expect_split("\xf0\x9f\x98\x80\xf0\x9f\x98\x80 x", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80| x");
    expect_split("\xe3\x80\x80x", "\xe3\x80\x80x"); /* ideographic space: \s, then [^\r\n\pL\pN]?\pL+ */
}

Test(bpe_split, maps_all_256_bytes_to_distinct_code_points_and_back)
{
    bool seen[512] = {false};
    for (int b = 0; b < 256; b++) {
        uint32_t cp = bn_bpe_byte_to_cpt((unsigned char)b);
        cr_assert_lt(cp, 512);
        cr_assert_not(seen[cp], "code point %u used twice", cp);
        seen[cp] = true;
        cr_assert_eq(bn_bpe_cpt_to_byte(cp), b);
    }
    cr_assert_eq(bn_bpe_byte_to_cpt(' '), 0x120);  /* Ġ */
    cr_assert_eq(bn_bpe_byte_to_cpt('\n'), 0x10A); /* Ċ */
    cr_assert_eq(bn_bpe_cpt_to_byte(0x2581), -1);
}

Test(bpe_split, classifies_code_points_and_decodes_utf8_like_llama_cpp)
{
    cr_assert(bn_unicode_is_letter('a') && bn_unicode_is_letter(0x4E2D) && bn_unicode_is_letter(0xE9));
    cr_assert(bn_unicode_is_letter(0x20000)); /* CJK extension B, a First/Last range */
    cr_assert_not(bn_unicode_is_letter('1') || bn_unicode_is_letter(0x1F600));
    cr_assert(bn_unicode_is_number('7') && bn_unicode_is_number(0x661) && bn_unicode_is_number(0xBD));
    cr_assert(bn_unicode_is_whitespace(0x3000) && bn_unicode_is_whitespace('\v'));
    cr_assert_not(bn_unicode_is_whitespace(0x200B));
    const unsigned char s[] = {0xff, 0xc3, 'a', 0xe4, 0xb8, 0xad, 0xf0, 0x9f};
    size_t pos = 0;
    cr_assert_eq(bn_utf8_decode(s, sizeof s, &pos), 0xFFFD);
    cr_assert_eq(pos, 1);
    cr_assert_eq(bn_utf8_decode(s, sizeof s, &pos), 0xFFFD); /* C3 followed by 'a' */
    cr_assert_eq(pos, 2);
    cr_assert_eq(bn_utf8_decode(s, sizeof s, &pos), 'a');
    cr_assert_eq(bn_utf8_decode(s, sizeof s, &pos), 0x4E2D);
    cr_assert_eq(bn_utf8_decode(s, sizeof s, &pos), 0xFFFD); /* truncated 4-byte */
    cr_assert_eq(pos, 7);
}
