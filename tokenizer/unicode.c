/* unicode.c: UTF-8 decoding compatible with llama.cpp and the character
 * classes of the Llama-3 split rule (tables: unicode_tables.c, generated). */
#include "tokenizer/unicode.h"

uint32_t bn_utf8_decode(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    unsigned c = s[i];
    if (!(c & 0x80)) {
        *pos = i + 1;
        return c;
    }
    uint32_t cp;
    size_t n;
    if (!(c & 0x40)) {
        goto invalid; /* a continuation byte cannot start a character */
    } else if (!(c & 0x20)) {
        n = 2;
        cp = c & 0x1F;
    } else if (!(c & 0x10)) {
        n = 3;
        cp = c & 0x0F;
    } else if (!(c & 0x08)) {
        n = 4;
        cp = c & 0x07;
    } else {
        goto invalid;
    }
    if (len - i < n)
        goto invalid;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            goto invalid;
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    /* llama.cpp would throw for these when re-encoding; we define them as one
     * invalid byte. */
    if (cp > 0x10FFFF)
        goto invalid;
    *pos = i + n;
    return cp;
invalid:
    *pos = i + 1;
    return BN_UNICODE_REPLACEMENT;
}

size_t bn_utf8_encode(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool in_ranges(const bn_unicode_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first)
            hi = mid;
        else if (cp > r[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool bn_unicode_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return in_ranges(bn_unicode_letter_ranges, bn_unicode_letter_range_count, cp);
}

bool bn_unicode_is_number(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= '0' && cp <= '9';
    return in_ranges(bn_unicode_number_ranges, bn_unicode_number_range_count, cp);
}

/* The White_Space property (PropList.txt), which is what \s matches in the
 * regex engines the reference tokenizers use. */
bool bn_unicode_is_whitespace(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}
