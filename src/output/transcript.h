/*
 * transcript.h — what a transcription produces, in the shape of openai-whisper's result dict:
 * a list of segments, each with its text, timing, decoding statistics and (when word
 * timestamps were asked for) its words. The decoder fills it; the writers in output.h turn it
 * into txt, srt, vtt, tsv and json.
 *
 * Every number openai-whisper keeps as a Python float is a double here (probabilities and
 * log-probabilities included), so that writing one out gives the same digits Python would.
 * Strings are UTF-8, owned by the transcript, and freed by st_transcript_free.
 */
#ifndef ST_OUTPUT_TRANSCRIPT_H
#define ST_OUTPUT_TRANSCRIPT_H

#include <stdbool.h>

#include "util/error.h"

typedef struct st_word {
    char *text; /* as decoded, usually with its leading space: " fellow" */
    double start, end;
    double probability;
    int n_tokens; /* the text tokens it was decoded from (punctuation merged in counts too) */
} st_word;

typedef struct st_segment {
    int id;
    int seek; /* mel frame where the 30 s window that produced it began */
    double start, end;
    char *text; /* as decoded, usually with a leading space */
    int *tokens;
    int n_tokens;
    double temperature, avg_logprob, compression_ratio, no_speech_prob;
    st_word *words;
    int n_words;
    int speaker;      /* diarization label index, -1 when there is none */
    char language[8]; /* code of the language its window was decoded in; "" when not recorded */
} st_segment;

typedef struct st_transcript {
    char *language; /* language code ("en"), or NULL when unknown */
    char *text;     /* the whole text: every segment's text concatenated */
    st_segment *segments;
    int n_segments;
    int capacity;
    bool has_words;            /* word timestamps were computed: every segment carries its (maybe empty) words */
    bool language_per_segment; /* detected per window: each segment's language goes into the json */
    double duration;           /* of the audio, in seconds */
} st_transcript;

void st_transcript_init(st_transcript *transcript);
void st_transcript_free(st_transcript *transcript);

/* Sets the language code (copied; NULL clears it). */
steno_status st_transcript_set_language(st_transcript *transcript, const char *language, st_error *err);

/* Appends a deep copy of *segment (its text, tokens and words are copied; its id is kept as
 * given) and appends its text to transcript->text. Word arrays are copied only when
 * transcript->has_words is set. */
steno_status st_transcript_append(st_transcript *transcript, const st_segment *segment, st_error *err);

#endif
