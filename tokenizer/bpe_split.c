/* bpe_split.c: the Llama-3 pre-tokenizer split rule, by hand (no regex),
 * and the GPT-2 byte-to-unicode mapping.
 *
 * The rule is the HF pattern (FORMATS.md 6.1):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * tried in that order at each position, leftmost-first like a backtracking
 * regex engine. It follows the same case analysis as llama.cpp's
 * unicode_regex_split_custom_llama3 so that edge cases (a lone apostrophe at
 * the end, "\s+(?!\S)" giving its last space to the next word, digit runs cut
 * every 3) come out identical.
 */
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

enum { CLS_NONE = 0, CLS_LETTER = 1, CLS_NUMBER = 2, CLS_SPACE = 4, CLS_OTHER = 8 };

#define OUT_OF_RANGE 0xFFFFFFFFu

typedef struct split_state {
    const uint32_t *cpts;
    size_t n;
    size_t *lens;
    size_t count;
    size_t prev_end;
} split_state;

static uint32_t cpt_at(const split_state *s, size_t pos)
{
    return pos < s->n ? s->cpts[pos] : OUT_OF_RANGE;
}

/* Past the end: no class at all (CLS_NONE); inside: exactly one class, with
 * every other code point (punctuation, symbols, marks, unassigned) OTHER. */
static unsigned cls_at(const split_state *s, size_t pos)
{
    if (pos >= s->n)
        return CLS_NONE;
    uint32_t cp = s->cpts[pos];
    if (bn_unicode_is_letter(cp))
        return CLS_LETTER;
    if (bn_unicode_is_number(cp))
        return CLS_NUMBER;
    if (bn_unicode_is_whitespace(cp))
        return CLS_SPACE;
    return CLS_OTHER;
}

static void add_token(split_state *s, size_t end)
{
    if (end > s->prev_end)
        s->lens[s->count++] = end - s->prev_end;
    s->prev_end = end;
}

static uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

size_t bn_bpe_split_llama3(const uint32_t *cpts, size_t n, size_t *lens)
{
    split_state s = {cpts, n, lens, 0, 0};
    size_t pos = 0;
    while (pos < n) {
        uint32_t cpt = cpts[pos];
        unsigned cls = cls_at(&s, pos);

        /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
        if (cpt == '\'' && pos + 1 < n) {
            uint32_t c1 = ascii_lower(cpts[pos + 1]);
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                pos += 2;
                add_token(&s, pos);
                continue;
            }
            if (pos + 2 < n) {
                uint32_t c2 = ascii_lower(cpts[pos + 2]);
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                    (c1 == 'l' && c2 == 'l')) {
                    pos += 3;
                    add_token(&s, pos);
                    continue;
                }
            }
        }

        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(cpt == '\r' || cpt == '\n' || cls == CLS_NUMBER)) {
            if (cls == CLS_LETTER || cls_at(&s, pos + 1) == CLS_LETTER) {
                pos++;
                while (cls_at(&s, pos) == CLS_LETTER)
                    pos++;
                add_token(&s, pos);
                continue;
            }
        }

        /* \p{N}{1,3} */
        if (cls == CLS_NUMBER) {
            size_t ini = pos;
            while (cls_at(&s, pos) == CLS_NUMBER) {
                if (++pos - ini >= 3) {
                    add_token(&s, pos);
                    ini = pos;
                }
            }
            add_token(&s, pos);
            continue;
        }

        /* <space>?[^\s\p{L}\p{N}]+[\r\n]* */
        unsigned cls2 = cpt == ' ' ? cls_at(&s, pos + 1) : cls;
        if (cls2 == CLS_OTHER) {
            pos += (cpt == ' ');
            while (cls2 == CLS_OTHER)
                cls2 = cls_at(&s, ++pos);
            uint32_t c = cpt_at(&s, pos);
            while (c == '\r' || c == '\n')
                c = cpt_at(&s, ++pos);
            add_token(&s, pos);
            continue;
        }

        /* Count the whitespace run and where its last \r or \n ends. */
        size_t n_ws = 0, last_rn_end = 0;
        while (cls_at(&s, pos + n_ws) == CLS_SPACE) {
            uint32_t c = cpts[pos + n_ws];
            if (c == '\r' || c == '\n')
                last_rn_end = pos + n_ws + 1;
            n_ws++;
        }

        /* \s*[\r\n]+ */
        if (last_rn_end > 0) {
            pos = last_rn_end;
            add_token(&s, pos);
            continue;
        }
        /* \s+(?!\S): leave the last space to the word that follows */
        if (n_ws > 1 && pos + n_ws < n) {
            pos += n_ws - 1;
            add_token(&s, pos);
            continue;
        }
        /* \s+ */
        if (n_ws > 0) {
            pos += n_ws;
            add_token(&s, pos);
            continue;
        }
        /* no match: the code point stands alone */
        add_token(&s, ++pos);
    }
    return s.count;
}

/* GPT-2: the printable Latin-1 bytes stand for themselves, the other 68
 * bytes (controls, space, DEL, NBSP, soft hyphen) are shifted to U+0100.. in
 * byte order so that every byte has a visible, non-space character. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The 68 shifted bytes in order: 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD (1). */
uint32_t bn_bpe_byte_to_cpt(unsigned char b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 256u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int bn_bpe_cpt_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 67)
        return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67)
        return 0xAD;
    return -1;
}
