/*
 * unicode_tables.h — character classes for the GPT-2 pre-tokeniser.
 *
 * The table itself lives in unicode_tables.c, which scripts/gen_pretokenizer_classes.py generates
 * from Python's unicodedata; tokenizer.c binary-searches it.
 */
#ifndef ST_WHISPER_UNICODE_TABLES_H
#define ST_WHISPER_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef enum st_unicode_class {
    ST_UNICODE_OTHER = 0, /* neither a letter, a number nor white space */
    ST_UNICODE_LETTER,    /* general category L* (\p{L}) */
    ST_UNICODE_NUMBER,    /* general category N* (\p{N}) */
    ST_UNICODE_SPACE,     /* the White_Space property (\s) */
} st_unicode_class;

typedef struct st_unicode_range {
    uint32_t first, last; /* inclusive */
    uint8_t cls;          /* st_unicode_class */
} st_unicode_range;

/* Disjoint ranges sorted by first code point; every code point outside them is OTHER. */
extern const st_unicode_range st_unicode_ranges[];
extern const size_t st_unicode_n_ranges;

#endif
