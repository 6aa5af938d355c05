/* parse.c — option and form values from text (see parse.h). */
#include "util/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int st_parse_long(const char *text, long low, long high, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < low || value > high) return 0;
    *out = value;
    return 1;
}

int st_parse_bool(const char *text, int *out) {
    if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "1")) return *out = 1, 1;
    if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "0")) return *out = 0, 1;
    return 0;
}
