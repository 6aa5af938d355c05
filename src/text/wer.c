/* wer.c — word error rate by word-level Levenshtein alignment; see wer.h. */
#include "text/wer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/normalize_en.h"
#include "text/unicode.h"
#include "util/strbuf.h"

/* One cell of the edit-distance table: the cost and how it splits into edits. Keeping the
 * split in the cell (instead of a full back-pointer table) needs only two rows. */
typedef struct cell {
    long cost, substitutions, deletions, insertions;
} cell;

steno_status st_wer_align(const char *const *reference, size_t n_reference, const char *const *hypothesis,
                          size_t n_hypothesis, st_wer_counts *counts, st_error *err) {
    /* rows run over the hypothesis, columns over the reference */
    cell *previous = malloc(sizeof(cell) * (n_reference + 1));
    cell *current = malloc(sizeof(cell) * (n_reference + 1));
    if (!previous || !current) {
        free(previous);
        free(current);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "wer: out of memory aligning %zu words", n_reference);
    }
    for (size_t r = 0; r <= n_reference; r++) previous[r] = (cell){(long)r, 0, (long)r, 0};
    for (size_t h = 1; h <= n_hypothesis; h++) {
        current[0] = (cell){(long)h, 0, 0, (long)h};
        for (size_t r = 1; r <= n_reference; r++) {
            bool same = strcmp(reference[r - 1], hypothesis[h - 1]) == 0;
            cell diagonal = previous[r - 1];
            if (!same) {
                diagonal.cost++;
                diagonal.substitutions++;
            }
            cell deletion = current[r - 1]; /* reference word r left unmatched */
            deletion.cost++;
            deletion.deletions++;
            cell insertion = previous[r]; /* hypothesis word h has no reference word */
            insertion.cost++;
            insertion.insertions++;
            cell best = diagonal;
            if (deletion.cost < best.cost) best = deletion;
            if (insertion.cost < best.cost) best = insertion;
            current[r] = best;
        }
        cell *t = previous;
        previous = current;
        current = t;
    }
    cell last = previous[n_reference];
    counts->substitutions = last.substitutions;
    counts->deletions = last.deletions;
    counts->insertions = last.insertions;
    counts->reference_words = (long)n_reference;
    counts->hits = (long)n_reference - last.substitutions - last.deletions;
    free(previous);
    free(current);
    return STENO_OK;
}

/* Splits text in place at whitespace into a malloc'd array of word pointers. */
static steno_status split(char *text, char ***words, size_t *n, st_error *err) {
    size_t length = strlen(text), capacity = 16, count = 0;
    char **list = malloc(sizeof(char *) * capacity);
    if (!list) return st_error_set(err, STENO_ERR_NO_MEMORY, "wer: out of memory");
    size_t i = 0;
    while (i < length) {
        uint32_t cp;
        size_t step = st_utf8_decode(text + i, length - i, &cp);
        if (st_unicode_is_space(cp)) {
            memset(text + i, 0, step);
            i += step;
            continue;
        }
        if (count == capacity) {
            char **grown = realloc(list, sizeof(char *) * (capacity *= 2));
            if (!grown) {
                free(list);
                return st_error_set(err, STENO_ERR_NO_MEMORY, "wer: out of memory");
            }
            list = grown;
        }
        list[count++] = text + i;
        while (i < length) {
            step = st_utf8_decode(text + i, length - i, &cp);
            if (st_unicode_is_space(cp)) break;
            i += step;
        }
    }
    *words = list;
    *n = count;
    return STENO_OK;
}

static steno_status prepare(const char *text, bool normalize, char **copy, st_error *err) {
    if (!normalize) {
        *copy = strdup(text);
        return *copy ? STENO_OK : st_error_set(err, STENO_ERR_NO_MEMORY, "wer: out of memory");
    }
    st_strbuf out;
    st_strbuf_init(&out);
    steno_status status = st_normalize_english(text, strlen(text), &out, err);
    *copy = status == STENO_OK ? st_strbuf_detach(&out) : NULL;
    st_strbuf_free(&out);
    if (status == STENO_OK && !*copy) status = st_error_set(err, STENO_ERR_NO_MEMORY, "wer: out of memory");
    return status;
}

steno_status st_wer_texts(const char *reference, const char *hypothesis, bool normalize, st_wer_counts *counts,
                          st_error *err) {
    char *ref = NULL, *hyp = NULL, **ref_words = NULL, **hyp_words = NULL;
    size_t n_ref = 0, n_hyp = 0;
    steno_status status = prepare(reference, normalize, &ref, err);
    if (status == STENO_OK) status = prepare(hypothesis, normalize, &hyp, err);
    if (status == STENO_OK) status = split(ref, &ref_words, &n_ref, err);
    if (status == STENO_OK) status = split(hyp, &hyp_words, &n_hyp, err);
    if (status == STENO_OK)
        status = st_wer_align((const char *const *)ref_words, n_ref, (const char *const *)hyp_words, n_hyp, counts, err);
    free(ref_words);
    free(hyp_words);
    free(ref);
    free(hyp);
    return status;
}

void st_wer_add(st_wer_counts *total, const st_wer_counts *add) {
    total->substitutions += add->substitutions;
    total->deletions += add->deletions;
    total->insertions += add->insertions;
    total->hits += add->hits;
    total->reference_words += add->reference_words;
}

double st_wer_rate(const st_wer_counts *c) {
    long errors = c->substitutions + c->deletions + c->insertions;
    if (c->reference_words == 0) return (double)errors;
    return (double)errors / (double)c->reference_words;
}
