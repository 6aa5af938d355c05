/* spelling.c — binary search in the generated British-to-American table; see spelling.h. */
#include "text/spelling.h"

#include <string.h>

/* memcmp order of word[0..length) against a NUL-terminated key. */
static int compare(const char *word, size_t length, const char *key) {
    size_t key_length = strlen(key);
    int c = memcmp(word, key, length < key_length ? length : key_length);
    if (c != 0) return c;
    return length < key_length ? -1 : length > key_length ? 1 : 0;
}

const char *st_spelling_american(const char *word, size_t length) {
    size_t lo = 0, hi = st_spelling_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare(word, length, st_spelling_pairs[mid].british);
        if (c == 0) return st_spelling_pairs[mid].american;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}
