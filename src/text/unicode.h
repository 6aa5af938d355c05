/*
 * unicode.h — the few Unicode facts steno's text code needs, with the meanings Python gives
 * them (openai-whisper's normaliser and writers are Python, and we reproduce their output):
 * UTF-8 decoding, character classes of `re` and str, str.lower(), and NFKD.
 */
#ifndef ST_TEXT_UNICODE_H
#define ST_TEXT_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ST_UNICODE_WORD = 1,             /* `\w` of Python's re: str.isalnum() or '_' */
    ST_UNICODE_SPACE = 2,            /* str.isspace(), `\s` */
    ST_UNICODE_DECIMAL = 4,          /* str.isdecimal(), `\d` */
    ST_UNICODE_MARK_NONSPACING = 8,  /* general category Mn */
    ST_UNICODE_MARK_OTHER = 16,      /* Mc, Me */
    ST_UNICODE_SYMBOL = 32,          /* Sm, Sc, Sk, So */
    ST_UNICODE_PUNCTUATION = 64,     /* Pc, Pd, Ps, Pe, Pi, Pf, Po */
};

#define ST_UNICODE_REPLACEMENT 0xFFFDu
/* Longest NFKD expansion of one code point (U+FDFA) is 18; of str.lower() 3. */
#define ST_UNICODE_MAX_DECOMPOSITION 18
#define ST_UNICODE_MAX_LOWER 3

/* Decodes one code point from text[0..length) (length >= 1) into *code_point and returns the
 * bytes used. A malformed, overlong or surrogate sequence yields U+FFFD and consumes one byte,
 * so any byte string decodes without failing. */
size_t st_utf8_decode(const char *text, size_t length, uint32_t *code_point);

/* Number of code points in text (what Python's len() gives for the decoded string). */
size_t st_utf8_length(const char *text, size_t length);

uint32_t st_unicode_flags(uint32_t code_point);
static inline bool st_unicode_is_space(uint32_t cp) { return (st_unicode_flags(cp) & ST_UNICODE_SPACE) != 0; }
static inline bool st_unicode_is_word(uint32_t cp) { return (st_unicode_flags(cp) & ST_UNICODE_WORD) != 0; }

/* Writes str.lower() of one code point into out (without the context rule for final sigma,
 * which the caller applies) and returns how many code points it wrote (1..3). */
size_t st_unicode_lower(uint32_t code_point, uint32_t out[ST_UNICODE_MAX_LOWER]);

/* Writes the NFKD decomposition of one code point into out and returns its length (1..18). */
size_t st_unicode_nfkd(uint32_t code_point, uint32_t out[ST_UNICODE_MAX_DECOMPOSITION]);

/* Strips leading and trailing str.isspace() characters as Python's str.strip() does: sets
 * *begin and *end to the byte range of what remains in text[0..length). */
void st_utf8_strip(const char *text, size_t length, size_t *begin, size_t *end);

#endif
