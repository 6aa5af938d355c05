/*
 * spelling.h — British-to-American spelling lookups for the English text normaliser. The pairs
 * are generated into spelling_data.c by scripts/gen_spelling_table.py from Debian's wbritish
 * and wamerican word lists (not openai-whisper's english.json, which is third-party text); the
 * tests/CMakeLists.txt check spelling_table_is_current regenerates it and compares.
 */
#ifndef ST_TEXT_SPELLING_H
#define ST_TEXT_SPELLING_H

#include <stddef.h>

typedef struct st_spelling_pair {
    const char *british;
    const char *american;
} st_spelling_pair;

extern const st_spelling_pair st_spelling_pairs[];
extern const size_t st_spelling_count;

/* The American spelling of word[0..length), or NULL when the word has none in the table. */
const char *st_spelling_american(const char *word, size_t length);

#endif
