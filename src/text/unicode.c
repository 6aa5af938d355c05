/* unicode.c — UTF-8 decoding and lookups into the generated Unicode tables; see unicode.h. */
#include "text/unicode.h"

#include "text/unicode_data.h"

size_t st_utf8_decode(const char *text, size_t length, uint32_t *code_point) {
    const unsigned char *s = (const unsigned char *)text;
    unsigned char lead = s[0];
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    size_t need;
    uint32_t cp, min;
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1, cp = lead & 0x1F, min = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2, cp = lead & 0x0F, min = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3, cp = lead & 0x07, min = 0x10000;
    } else {
        *code_point = ST_UNICODE_REPLACEMENT;
        return 1;
    }
    if (length < need + 1) {
        *code_point = ST_UNICODE_REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *code_point = ST_UNICODE_REPLACEMENT;
            return 1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *code_point = ST_UNICODE_REPLACEMENT;
        return 1;
    }
    *code_point = cp;
    return need + 1;
}

size_t st_utf8_length(const char *text, size_t length) {
    size_t count = 0;
    for (size_t i = 0; i < length; count++) {
        uint32_t cp;
        i += st_utf8_decode(text + i, length - i, &cp);
    }
    return count;
}

uint32_t st_unicode_flags(uint32_t cp) {
    if (cp < 0x80) {
        /* The ASCII answers, spelled out for the common case (and checked against the table in
         * the tests). */
        if ((cp >= '0' && cp <= '9')) return ST_UNICODE_WORD | ST_UNICODE_DECIMAL;
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return ST_UNICODE_WORD;
    }
    const st_unicode_tables *t = &st_unicode_data;
    size_t lo = 0, hi = t->n_runs; /* the last run whose start is <= cp */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->run_starts[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return t->run_flags[lo];
}

/* Index of cp in a sorted code point array, or -1. */
static long find_code_point(const uint32_t *sorted, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] == cp) return (long)mid;
        if (sorted[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

size_t st_unicode_lower(uint32_t cp, uint32_t out[ST_UNICODE_MAX_LOWER]) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    const st_unicode_tables *t = &st_unicode_data;
    long i = find_code_point(t->lower_code_points, t->n_lower, cp);
    if (i < 0) {
        out[0] = cp;
        return 1;
    }
    for (size_t k = 0; k < t->lower_lengths[i]; k++) out[k] = t->lower_data[t->lower_offsets[i] + k];
    return t->lower_lengths[i];
}

size_t st_unicode_nfkd(uint32_t cp, uint32_t out[ST_UNICODE_MAX_DECOMPOSITION]) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) {
        /* Hangul syllables decompose by arithmetic (Unicode 3.12), not by table. */
        uint32_t index = cp - 0xAC00;
        out[0] = 0x1100 + index / (21 * 28);
        out[1] = 0x1161 + (index % (21 * 28)) / 28;
        uint32_t trailing = index % 28;
        if (trailing == 0) return 2;
        out[2] = 0x11A7 + trailing;
        return 3;
    }
    const st_unicode_tables *t = &st_unicode_data;
    long i = cp < 0xA0 ? -1 : find_code_point(t->nfkd_code_points, t->n_nfkd, cp);
    if (i < 0) {
        out[0] = cp;
        return 1;
    }
    for (size_t k = 0; k < t->nfkd_lengths[i]; k++) out[k] = t->nfkd_data[t->nfkd_offsets[i] + k];
    return t->nfkd_lengths[i];
}

void st_utf8_strip(const char *text, size_t length, size_t *begin, size_t *end) {
    size_t b = 0;
    while (b < length) {
        uint32_t cp;
        size_t n = st_utf8_decode(text + b, length - b, &cp);
        if (!st_unicode_is_space(cp)) break;
        b += n;
    }
    /* Scan forward remembering the end of the last non-space character: UTF-8 cannot be
     * decoded backwards safely when it may be malformed. */
    size_t e = b;
    for (size_t i = b; i < length;) {
        uint32_t cp;
        size_t n = st_utf8_decode(text + i, length - i, &cp);
        i += n;
        if (!st_unicode_is_space(cp)) e = i;
    }
    *begin = b;
    *end = e;
}
