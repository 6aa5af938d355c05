/*
 * wer.c — `wer REF_TSV HYP_TSV`: word error rates of a set of transcripts, for benchmarks.
 *
 * Each file has one "id<TAB>text" line per utterance (the layout of the shared data's
 * transcripts.tsv). Both texts go through the English WER normaliser (unless --no-normalize)
 * and are aligned word by word; one line per reference id gives its counts, and a last line the
 * corpus total (errors summed over utterances divided by reference words summed). A reference
 * with no hypothesis line counts as all deletions; hypothesis ids without a reference are
 * reported and ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/wer.h"
#include "util/error.h"

typedef struct entry {
    char *id, *text;
    int used;
} entry;

/* Reads "id\ttext" lines into a malloc'd array; lines without a tab are refused. */
static steno_status read_tsv(const char *path, entry **entries, size_t *count, st_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return st_error_set(err, STENO_ERR_IO, "%s: cannot open", path);
    entry *list = NULL;
    size_t n = 0, capacity = 0;
    char *line = NULL;
    size_t line_capacity = 0;
    ssize_t length;
    long line_number = 0;
    steno_status status = STENO_OK;
    while ((length = getline(&line, &line_capacity, f)) >= 0) {
        line_number++;
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = '\0';
        if (length == 0) continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            status = st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: expected \"id<TAB>text\"", path, line_number);
            break;
        }
        if (n == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            entry *grown = realloc(list, sizeof(entry) * capacity);
            if (!grown) {
                status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
                break;
            }
            list = grown;
        }
        *tab = '\0';
        list[n].id = strdup(line);
        list[n].text = strdup(tab + 1);
        list[n].used = 0;
        if (!list[n].id || !list[n].text) {
            free(list[n].id);
            free(list[n].text);
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
            break;
        }
        n++;
    }
    free(line);
    fclose(f);
    *entries = list;
    *count = n;
    return status;
}

static void free_entries(entry *entries, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(entries[i].id);
        free(entries[i].text);
    }
    free(entries);
}

static void print_counts(const char *id, const st_wer_counts *c) {
    printf("%s\t%ld\t%ld\t%ld\t%ld\t%.2f\n", id, c->reference_words, c->substitutions, c->deletions, c->insertions,
           100.0 * st_wer_rate(c));
}

int main(int argc, char **argv) {
    bool normalize = true;
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "--no-normalize") == 0) {
        normalize = false;
        arg++;
    }
    if (argc - arg != 2) {
        fprintf(stderr, "usage: wer [--no-normalize] REF_TSV HYP_TSV\n"
                        "  prints id, reference words, substitutions, deletions, insertions, WER %% per line,\n"
                        "  then the corpus total\n");
        return 2;
    }
    st_error err;
    entry *refs = NULL, *hyps = NULL;
    size_t n_refs = 0, n_hyps = 0;
    if (read_tsv(argv[arg], &refs, &n_refs, &err) != STENO_OK || read_tsv(argv[arg + 1], &hyps, &n_hyps, &err) != STENO_OK) {
        fprintf(stderr, "wer: %s\n", st_error_message(&err));
        free_entries(refs, n_refs);
        free_entries(hyps, n_hyps);
        return 1;
    }
    printf("id\tN\tS\tD\tI\tWER%%\n");
    st_wer_counts total = {0};
    int status = 0;
    for (size_t r = 0; r < n_refs && status == 0; r++) {
        const char *hypothesis = NULL;
        for (size_t h = 0; h < n_hyps && !hypothesis; h++) {
            if (!hyps[h].used && strcmp(hyps[h].id, refs[r].id) == 0) {
                hyps[h].used = 1;
                hypothesis = hyps[h].text;
            }
        }
        if (!hypothesis) {
            fprintf(stderr, "wer: no hypothesis for %s: counted as all deletions\n", refs[r].id);
            hypothesis = "";
        }
        st_wer_counts counts;
        if (st_wer_texts(refs[r].text, hypothesis, normalize, &counts, &err) != STENO_OK) {
            fprintf(stderr, "wer: %s: %s\n", refs[r].id, st_error_message(&err));
            status = 1;
            break;
        }
        print_counts(refs[r].id, &counts);
        st_wer_add(&total, &counts);
    }
    for (size_t h = 0; h < n_hyps; h++)
        if (!hyps[h].used) fprintf(stderr, "wer: hypothesis %s has no reference: ignored\n", hyps[h].id);
    if (status == 0) print_counts("TOTAL", &total);
    free_entries(refs, n_refs);
    free_entries(hyps, n_hyps);
    return status;
}
