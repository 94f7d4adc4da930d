/* unicode.h: the UTF-8 and code point helpers the tokenizers share
 * (internal to tokenizer/).
 *
 * Owns: decoding UTF-8 the way llama.cpp's tokenizers do (so that invalid
 * input gives the same defined result), encoding code points, and the three
 * character classes of the Llama-3 split rule: \p{L}, \p{N} (generated
 * tables in unicode_tables.c) and \s (the White_Space list). Pure functions,
 * no state.
 */
#ifndef BN_TOKENIZER_UNICODE_H
#define BN_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bn_unicode_range {
    uint32_t first, last;
} bn_unicode_range;

extern const bn_unicode_range bn_unicode_letter_ranges[];
extern const size_t bn_unicode_letter_range_count;
extern const bn_unicode_range bn_unicode_number_ranges[];
extern const size_t bn_unicode_number_range_count;

#define BN_UNICODE_REPLACEMENT 0xFFFDu

/* Length of the UTF-8 sequence a lead byte announces, from its high nibble
 * only (continuation bytes count as 1), as llama.cpp's unicode_len_utf8. */
static inline size_t bn_utf8_len_from_lead(unsigned char c)
{
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Decodes one code point at s[*pos] (s has len bytes) and advances *pos.
 * Follows llama.cpp's unicode_cpt_from_utf8: the lead byte's form and the
 * continuation bytes' 10xxxxxx pattern are checked (not overlong forms or
 * surrogates); a byte that does not start a well-formed sequence yields
 * U+FFFD and advances by one byte. Code points above U+10FFFF also yield
 * U+FFFD (one byte). */
uint32_t bn_utf8_decode(const unsigned char *s, size_t len, size_t *pos);

/* Writes cp (<= 0x10FFFF) as 1..4 bytes into out; returns the count. */
size_t bn_utf8_encode(uint32_t cp, unsigned char out[4]);

bool bn_unicode_is_letter(uint32_t cp);
bool bn_unicode_is_number(uint32_t cp);
bool bn_unicode_is_whitespace(uint32_t cp);

#endif /* BN_TOKENIZER_UNICODE_H */
