/*
 * wer.h — word error rate: the word-level Levenshtein alignment of a hypothesis against a
 * reference, with substitutions, deletions and insertions counted apart, and corpus totals
 * (errors summed over files divided by reference words summed, not a mean of per-file rates).
 */
#ifndef ST_TEXT_WER_H
#define ST_TEXT_WER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct st_wer_counts {
    long substitutions, deletions, insertions;
    long hits;            /* reference words matched exactly */
    long reference_words; /* = hits + substitutions + deletions */
} st_wer_counts;

/* Aligns hypothesis words against reference words (each an array of NUL-terminated words) and
 * stores the counts. The total S + D + I is the edit distance; where several least-cost
 * alignments split it differently, each cell of the table prefers a match or substitution,
 * then a deletion, then an insertion, so equal inputs always split their errors the same way.
 * Memory is two rows of the reference length. */
steno_status st_wer_align(const char *const *reference, size_t n_reference, const char *const *hypothesis,
                          size_t n_hypothesis, st_wer_counts *counts, st_error *err);

/* Splits both texts on whitespace (after English normalisation when normalize is set) and
 * aligns them. */
steno_status st_wer_texts(const char *reference, const char *hypothesis, bool normalize, st_wer_counts *counts,
                          st_error *err);

/* total += add */
void st_wer_add(st_wer_counts *total, const st_wer_counts *add);

/* (S + D + I) / N; 0 when there are no reference words and no insertions, and the number of
 * insertions when there are insertions but no reference words (as if N were 1). */
double st_wer_rate(const st_wer_counts *counts);

#endif
