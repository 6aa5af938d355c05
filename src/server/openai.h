/*
 * openai.h — what OpenAI's audio API says, in steno's terms: the form fields of a
 * transcription request (and steno's extensions), the response formats, the error shape.
 *
 * Every response format is rendered from one stored form, the verbose_json object, so a job
 * finished before a restart is served in any format afterwards.
 */
#ifndef ST_SERVER_OPENAI_H
#define ST_SERVER_OPENAI_H

#include <jansson.h>
#include <stddef.h>

#include "steno.h"

/* How the server writes JSON: compact, numbers with 15 significant digits (0.74, not
 * 0.73999999999999999; every time and probability keeps more precision than it has). */
#define ST_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef enum st_response_format {
    ST_RESPONSE_JSON,
    ST_RESPONSE_TEXT,
    ST_RESPONSE_SRT,
    ST_RESPONSE_VTT,
    ST_RESPONSE_VERBOSE_JSON,
    ST_RESPONSE_DIARIZED_JSON, /* OpenAI's gpt-4o-transcribe-diarize form: segments with speaker */
} st_response_format;

/* The fields of one request, validated one by one as they arrive. */
typedef struct st_request_fields {
    int translate;     /* /v1/audio/translations, or task=translate on /v1/jobs */
    char model[256];   /* as asked; "" or "whisper-1": the server's default */
    char language[16]; /* a code; "" detects it */
    char prompt[4096];
    st_response_format format;
    double temperature; /* 0: openai-whisper's fallback schedule from 0 */
    int word_timestamps, segment_timestamps;
    int beam_size; /* 0: greedy (OpenAI's behaviour); steno extension */
    int stream;
    int vad, diarize;                             /* steno extensions; response_format=diarized_json turns diarize on */
    int num_speakers, min_speakers, max_speakers; /* with diarize; 0: estimated, unbounded */
    char filename[256];                           /* the client's name for the file: shown, never used as a path */
} st_request_fields;

void st_request_fields_init(st_request_fields *fields);

/* Takes one form field. Unknown fields are ignored (clients send newer OpenAI fields). Returns
 * 0, or an HTTP status (400) with message naming the problem. */
int st_request_field(st_request_fields *fields, const char *name, const char *value, char *message, size_t size);

/* Checks the request as a whole once every field is in (the extensions this server cannot serve,
 * such as diarize or vad without Silero VAD in its model folders, are refused here, in one place)
 * and settles what one field implies for another (diarized_json: diarize). Returns 0 or an HTTP
 * status with message and *param. */
int st_request_check(st_request_fields *fields, const char **param, char *message, size_t size);

/* The fields as JSON (jobs are stored with them) and back. */
json_t *st_request_fields_to_json(const st_request_fields *fields);
void st_request_fields_from_json(const json_t *json, st_request_fields *fields);

/* What steno's parameters are for these fields. */
steno_transcribe_params st_request_params(const st_request_fields *fields);
/* The hypotheses a context needs for them (beams, or best_of samples under the fallback). */
int st_request_hypotheses(const st_request_fields *fields);

/* One segment as verbose_json lists it ("speaker": "SPEAKER_00", ... when diarized). */
json_t *st_openai_segment(const steno_segment_info *segment);
/* The whole result as the verbose_json object (task, language name, duration, text, segments,
 * words when asked for; a diarized result always keeps its segments, and they and their words
 * carry "speaker"). */
json_t *st_openai_transcription(const steno_result *result, const st_request_fields *fields);

/* The response body of a result in a format; malloc'd, with its media type. NULL when memory
 * runs out. A diarized result's text, srt and vtt put "[SPEAKER_00]: " before each segment, as
 * the CLI writes them; diarized_json is OpenAI's shape (speakers "A", "B", ...) and NULL for a
 * result without speakers (callers ask st_openai_has_speakers first). */
char *st_openai_render(const json_t *verbose, st_response_format format, const char **mime);

/* Whether a stored verbose_json result was diarized: each of its segments has a speaker. */
int st_openai_has_speakers(const json_t *verbose);
/* One verbose_json segment (the index-th) as OpenAI's diarized "transcript.text.segment": a
 * string id "seg_N", start, end, text without its leading space, speaker "A", "B", ... */
json_t *st_openai_diarized_segment(const json_t *segment, size_t index);

/* {"error":{"message","type","param","code"}}, malloc'd. type follows the status: 4xx
 * "invalid_request_error" (401 "authentication_error"), 5xx "server_error". */
char *st_openai_error(int http_status, const char *message, const char *param, const char *code);

const char *st_response_format_name(st_response_format format);

#endif
