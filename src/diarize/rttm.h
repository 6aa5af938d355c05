/*
 * rttm.h — speaker turns and the two text formats diarization is exchanged in.
 *
 * RTTM (NIST Rich Transcription Time Marked): one line per turn,
 *     SPEAKER <uri> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>
 * with times in seconds. Other line types (SPKR-INFO, LEXEME, ...) and ";;" comments are
 * skipped; SPEAKER lines need at least the eight first fields. UEM (un-partitioned evaluation
 * map): "<uri> <channel> <start> <end>" per scored region.
 *
 * Both readers take untrusted bytes: every field is checked and an error names the line.
 */
#ifndef ST_DIARIZE_RTTM_H
#define ST_DIARIZE_RTTM_H

#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

/* One speaker turn: the speaker is an index into a list of names kept by the owner. */
typedef struct st_turn {
    double start, end; /* seconds, start <= end */
    int speaker;
} st_turn;

typedef struct st_rttm_file {
    char *uri;
    st_turn *turns; /* speaker indexes st_rttm.speakers */
    int n_turns, capacity;
} st_rttm_file;

typedef struct st_rttm {
    st_rttm_file *files; /* in order of first appearance */
    int n_files, files_capacity;
    char **speakers; /* every distinct speaker name, in order of first appearance */
    int n_speakers, speakers_capacity;
} st_rttm;

typedef struct st_uem_region {
    char *uri;
    double start, end;
} st_uem_region;

typedef struct st_uem {
    st_uem_region *regions;
    int n_regions, capacity;
} st_uem;

void st_rttm_init(st_rttm *rttm);
void st_rttm_free(st_rttm *rttm);
/* Parses RTTM text (name is used in messages) and appends its turns to rttm. */
steno_status st_rttm_parse(const char *text, size_t size, const char *name, st_rttm *rttm, st_error *err);
steno_status st_rttm_read(const char *path, st_rttm *rttm, st_error *err);
/* The file with this uri, or NULL. */
const st_rttm_file *st_rttm_find(const st_rttm *rttm, const char *uri);
/* Adds a turn (speaker by name, interned); creates the file entry on first use. */
steno_status st_rttm_add(st_rttm *rttm, const char *uri, double start, double end, const char *speaker, st_error *err);

/* Appends one SPEAKER line per turn (channel 1, millisecond precision) for a recording:
 * names[turn.speaker] labels each turn. Turns of zero length are skipped. */
void st_rttm_format(const char *uri, const st_turn *turns, int n_turns, const char *const *names, st_strbuf *out);

void st_uem_init(st_uem *uem);
void st_uem_free(st_uem *uem);
steno_status st_uem_parse(const char *text, size_t size, const char *name, st_uem *uem, st_error *err);
steno_status st_uem_read(const char *path, st_uem *uem, st_error *err);

#endif
