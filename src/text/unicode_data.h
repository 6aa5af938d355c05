/*
 * unicode_data.h — layout of the generated Unicode tables (src/text/unicode_data.c, written by
 * scripts/gen_unicode_tables.py). Only src/text/unicode.c reads them; everyone else asks
 * unicode.h.
 */
#ifndef ST_TEXT_UNICODE_DATA_H
#define ST_TEXT_UNICODE_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_unicode_tables {
    /* Property flags (ST_UNICODE_* in unicode.h) hold from run_starts[i] up to the next start. */
    size_t n_runs;
    const uint32_t *run_starts;
    const uint8_t *run_flags;
    /* Sorted code points with their str.lower() expansion: lower_data[offset .. offset+length). */
    size_t n_lower;
    const uint32_t *lower_code_points;
    const uint16_t *lower_offsets;
    const uint8_t *lower_lengths;
    const uint32_t *lower_data;
    /* Sorted code points with their full NFKD decomposition, laid out the same way. */
    size_t n_nfkd;
    const uint32_t *nfkd_code_points;
    const uint16_t *nfkd_offsets;
    const uint8_t *nfkd_lengths;
    const uint32_t *nfkd_data;
} st_unicode_tables;

extern const st_unicode_tables st_unicode_data;

#endif
