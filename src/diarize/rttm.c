/* rttm.c — RTTM and UEM reading (untrusted text, checked field by field) and RTTM writing. */
#include "diarize/rttm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/mapped_file.h"

#define MAX_FIELDS 10
#define MAX_NUMBER_LENGTH 63

/* One line split into whitespace-separated fields (pointers into the text, with lengths). */
typedef struct fields {
    const char *start[MAX_FIELDS];
    size_t length[MAX_FIELDS];
    int count; /* may exceed MAX_FIELDS; only the first MAX_FIELDS are kept */
} fields;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void split(const char *line, size_t length, fields *f) {
    f->count = 0;
    size_t i = 0;
    while (i < length) {
        while (i < length && is_space(line[i]))
            i++;
        if (i == length) break;
        size_t begin = i;
        while (i < length && !is_space(line[i]))
            i++;
        if (f->count < MAX_FIELDS) f->start[f->count] = line + begin, f->length[f->count] = i - begin;
        f->count++;
    }
}

static int field_is(const fields *f, int i, const char *word) {
    return f->length[i] == strlen(word) && memcmp(f->start[i], word, f->length[i]) == 0;
}

static steno_status parse_seconds(const fields *f, int i, const char *name, long line, const char *what, double *out,
                                  st_error *err) {
    char buffer[MAX_NUMBER_LENGTH + 1];
    if (f->length[i] > MAX_NUMBER_LENGTH) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: %s is not a number", name, line, what);
    }
    memcpy(buffer, f->start[i], f->length[i]);
    buffer[f->length[i]] = '\0';
    char *end;
    double v = strtod(buffer, &end);
    /* seconds are finite, non-negative and below a century: anything else is a corrupt file */
    if (end == buffer || *end || !isfinite(v) || v < 0 || v > 3.2e9) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: %s '%s' is not a time in seconds", name, line, what,
                            buffer);
    }
    *out = v;
    return STENO_OK;
}

static char *copy_field(const fields *f, int i) {
    char *s = malloc(f->length[i] + 1);
    if (s) memcpy(s, f->start[i], f->length[i]), s[f->length[i]] = '\0';
    return s;
}

static int grow(void **array, int *capacity, int count, size_t item) {
    if (count < *capacity) return 1;
    int wanted = *capacity ? *capacity * 2 : 16;
    void *grown = realloc(*array, item * (size_t)wanted);
    if (!grown) return 0;
    *array = grown, *capacity = wanted;
    return 1;
}

void st_rttm_init(st_rttm *rttm) {
    memset(rttm, 0, sizeof *rttm);
}

void st_rttm_free(st_rttm *rttm) {
    for (int i = 0; i < rttm->n_files; i++)
        free(rttm->files[i].uri), free(rttm->files[i].turns);
    for (int i = 0; i < rttm->n_speakers; i++)
        free(rttm->speakers[i]);
    free(rttm->files), free(rttm->speakers);
    st_rttm_init(rttm);
}

const st_rttm_file *st_rttm_find(const st_rttm *rttm, const char *uri) {
    for (int i = 0; i < rttm->n_files; i++) {
        if (!strcmp(rttm->files[i].uri, uri)) return &rttm->files[i];
    }
    return NULL;
}

steno_status st_rttm_add(st_rttm *rttm, const char *uri, double start, double end, const char *speaker, st_error *err) {
    if (!(start >= 0) || !(end >= start) || !isfinite(end)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "turn %g..%g of %s is not a time span", start, end, uri);
    }
    st_rttm_file *file = (st_rttm_file *)st_rttm_find(rttm, uri);
    if (!file) {
        if (!grow((void **)&rttm->files, &rttm->files_capacity, rttm->n_files, sizeof(st_rttm_file))) goto no_memory;
        file = &rttm->files[rttm->n_files];
        memset(file, 0, sizeof *file);
        if (!(file->uri = strdup(uri))) goto no_memory;
        rttm->n_files++;
    }
    int s = 0;
    while (s < rttm->n_speakers && strcmp(rttm->speakers[s], speaker))
        s++;
    if (s == rttm->n_speakers) {
        if (!grow((void **)&rttm->speakers, &rttm->speakers_capacity, rttm->n_speakers, sizeof(char *))) goto no_memory;
        if (!(rttm->speakers[s] = strdup(speaker))) goto no_memory;
        rttm->n_speakers++;
    }
    if (!grow((void **)&file->turns, &file->capacity, file->n_turns, sizeof(st_turn))) goto no_memory;
    file->turns[file->n_turns++] = (st_turn){.start = start, .end = end, .speaker = s};
    return STENO_OK;
no_memory:
    return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory reading speaker turns");
}

/* Calls handle(f) for each non-empty, non-comment line. */
typedef steno_status (*line_handler)(void *state, const fields *f, const char *name, long line, st_error *err);

static steno_status for_each_line(const char *text, size_t size, const char *name, line_handler handle, void *state,
                                  st_error *err) {
    long line = 0;
    for (size_t i = 0; i < size;) {
        size_t end = i;
        while (end < size && text[end] != '\n')
            end++;
        line++;
        if (memchr(text + i, '\0', end - i)) {
            return st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: NUL byte in a text file", name, line);
        }
        fields f;
        split(text + i, end - i, &f);
        if (f.count > 0 && !(f.length[0] >= 2 && f.start[0][0] == ';' && f.start[0][1] == ';')) {
            steno_status status = handle(state, &f, name, line, err);
            if (status != STENO_OK) return status;
        }
        i = end + 1;
    }
    return STENO_OK;
}

static steno_status rttm_line(void *state, const fields *f, const char *name, long line, st_error *err) {
    st_rttm *rttm = state;
    if (!field_is(f, 0, "SPEAKER")) return STENO_OK; /* other RTTM record types carry no turn */
    if (f->count < 8) {
        return st_error_set(err, STENO_ERR_FORMAT,
                            "%s:%ld: a SPEAKER line needs 'SPEAKER uri channel onset duration <NA> <NA> name'", name,
                            line);
    }
    double onset, duration;
    steno_status status = parse_seconds(f, 3, name, line, "onset", &onset, err);
    if (status == STENO_OK) status = parse_seconds(f, 4, name, line, "duration", &duration, err);
    if (status != STENO_OK) return status;
    char *uri = copy_field(f, 1), *speaker = copy_field(f, 7);
    if (uri && speaker) {
        status = st_rttm_add(rttm, uri, onset, onset + duration, speaker, err);
    } else {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory reading %s", name);
    }
    free(uri), free(speaker);
    return status;
}

steno_status st_rttm_parse(const char *text, size_t size, const char *name, st_rttm *rttm, st_error *err) {
    return for_each_line(text, size, name, rttm_line, rttm, err);
}

steno_status st_rttm_read(const char *path, st_rttm *rttm, st_error *err) {
    st_mapped_file file;
    steno_status status = st_mapped_file_open(&file, path, err);
    if (status != STENO_OK) return status;
    status = st_rttm_parse((const char *)file.data, file.size, path, rttm, err);
    st_mapped_file_close(&file);
    return status;
}

void st_rttm_format(const char *uri, const st_turn *turns, int n_turns, const char *const *names, st_strbuf *out) {
    for (int i = 0; i < n_turns; i++) {
        double start = round(turns[i].start * 1000) / 1000, end = round(turns[i].end * 1000) / 1000;
        if (end <= start) continue;
        st_strbuf_printf(out, "SPEAKER %s 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n", uri, start, end - start,
                         names[turns[i].speaker]);
    }
}

void st_uem_init(st_uem *uem) {
    memset(uem, 0, sizeof *uem);
}

void st_uem_free(st_uem *uem) {
    for (int i = 0; i < uem->n_regions; i++)
        free(uem->regions[i].uri);
    free(uem->regions);
    st_uem_init(uem);
}

static steno_status uem_line(void *state, const fields *f, const char *name, long line, st_error *err) {
    st_uem *uem = state;
    if (f->count != 4) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: a UEM line is 'uri channel start end'", name, line);
    }
    double start = 0, end = 0;
    steno_status status = parse_seconds(f, 2, name, line, "start", &start, err);
    if (status == STENO_OK) status = parse_seconds(f, 3, name, line, "end", &end, err);
    if (status != STENO_OK) return status;
    if (end < start) return st_error_set(err, STENO_ERR_FORMAT, "%s:%ld: region ends before it starts", name, line);
    if (!grow((void **)&uem->regions, &uem->capacity, uem->n_regions, sizeof(st_uem_region)) ||
        !(uem->regions[uem->n_regions].uri = copy_field(f, 0))) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory reading %s", name);
    }
    uem->regions[uem->n_regions].start = start;
    uem->regions[uem->n_regions].end = end;
    uem->n_regions++;
    return STENO_OK;
}

steno_status st_uem_parse(const char *text, size_t size, const char *name, st_uem *uem, st_error *err) {
    return for_each_line(text, size, name, uem_line, uem, err);
}

steno_status st_uem_read(const char *path, st_uem *uem, st_error *err) {
    st_mapped_file file;
    steno_status status = st_mapped_file_open(&file, path, err);
    if (status != STENO_OK) return status;
    status = st_uem_parse((const char *)file.data, file.size, path, uem, err);
    st_mapped_file_close(&file);
    return status;
}
