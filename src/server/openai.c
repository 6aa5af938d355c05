/*
 * openai.c — OpenAI's audio API shapes: request fields, verbose_json, the other response
 * formats rendered from it, and the error object. See openai.h.
 */
#include "server/openai.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse.h"

static const char *const format_names[] = {"json", "text", "srt", "vtt", "verbose_json", "diarized_json"};

const char *st_response_format_name(st_response_format format) {
    return (unsigned)format < sizeof format_names / sizeof format_names[0] ? format_names[format] : "json";
}

void st_request_fields_init(st_request_fields *fields) {
    memset(fields, 0, sizeof *fields);
    fields->format = ST_RESPONSE_JSON;
}

/* A form integer in [low, high] into *out; -1 when it is not one. */
static int parse_int(const char *value, int low, int high, int *out) {
    long v;
    if (!st_parse_long(value, low, high, &v)) return -1;
    *out = (int)v;
    return 0;
}

/* Copies value into a fixed field; -1 when it does not fit. */
static int copy_field(char *field, size_t size, const char *value) {
    size_t n = strlen(value);
    if (n >= size) return -1;
    memcpy(field, value, n + 1);
    return 0;
}

#define BAD(...) (snprintf(message, size, __VA_ARGS__), 400)

int st_request_field(st_request_fields *f, const char *name, const char *value, char *message, size_t size) {
    if (strcmp(name, "model") == 0) {
        if (copy_field(f->model, sizeof f->model, value)) return BAD("model name too long");
    } else if (strcmp(name, "language") == 0) {
        if (!*value) {
            f->language[0] = '\0';
            return 0;
        }
        const char *code = steno_language_code(value);
        if (!code) return BAD("unknown language '%.64s': expected an ISO-639-1 code such as 'en'", value);
        copy_field(f->language, sizeof f->language, code);
    } else if (strcmp(name, "prompt") == 0) {
        if (copy_field(f->prompt, sizeof f->prompt, value)) {
            return BAD("prompt longer than %zu bytes", sizeof f->prompt - 1);
        }
    } else if (strcmp(name, "response_format") == 0) {
        size_t i = 0;
        while (i < sizeof format_names / sizeof format_names[0] && strcmp(format_names[i], value) != 0)
            i++;
        if (i == sizeof format_names / sizeof format_names[0]) {
            return BAD("response_format '%.64s' is not one of json, text, srt, verbose_json, vtt, diarized_json",
                       value);
        }
        f->format = (st_response_format)i;
    } else if (strcmp(name, "temperature") == 0) {
        char *end;
        errno = 0;
        double t = strtod(value, &end);
        if (errno || end == value || *end || !(t >= 0.0 && t <= 1.0)) {
            return BAD("temperature must be a number between 0 and 1");
        }
        f->temperature = t;
    } else if (strcmp(name, "timestamp_granularities[]") == 0 || strcmp(name, "timestamp_granularities") == 0) {
        if (strcmp(value, "word") == 0)
            f->word_timestamps = 1;
        else if (strcmp(value, "segment") == 0)
            f->segment_timestamps = 1;
        else
            return BAD("timestamp_granularities: '%.64s' is neither 'word' nor 'segment'", value);
    } else if (strcmp(name, "stream") == 0) {
        if (!st_parse_bool(value, &f->stream)) return BAD("stream must be true or false");
    } else if (strcmp(name, "task") == 0) { /* /v1/jobs: one endpoint for both tasks */
        if (strcmp(value, "transcribe") == 0)
            f->translate = 0;
        else if (strcmp(value, "translate") == 0)
            f->translate = 1;
        else
            return BAD("task must be 'transcribe' or 'translate'");
    } else if (strcmp(name, "beam_size") == 0) {
        if (parse_int(value, 1, 16, &f->beam_size)) return BAD("beam_size must be an integer from 1 to 16");
    } else if (strcmp(name, "vad") == 0) {
        if (!st_parse_bool(value, &f->vad)) return BAD("vad must be true or false");
    } else if (strcmp(name, "diarize") == 0) {
        if (!st_parse_bool(value, &f->diarize)) return BAD("diarize must be true or false");
    } else if (strcmp(name, "num_speakers") == 0) {
        if (parse_int(value, 1, 64, &f->num_speakers)) return BAD("num_speakers must be an integer from 1 to 64");
    } else if (strcmp(name, "min_speakers") == 0) {
        if (parse_int(value, 1, 64, &f->min_speakers)) return BAD("min_speakers must be an integer from 1 to 64");
    } else if (strcmp(name, "max_speakers") == 0) {
        if (parse_int(value, 1, 64, &f->max_speakers)) return BAD("max_speakers must be an integer from 1 to 64");
    }
    return 0;
}

int st_request_check(st_request_fields *f, const char **param, char *message, size_t size) {
    if (f->format == ST_RESPONSE_DIARIZED_JSON) f->diarize = 1; /* OpenAI: the format asks for speakers */
    const char *speaker_fields[] = {"num_speakers", "min_speakers", "max_speakers"};
    const int speaker_values[] = {f->num_speakers, f->min_speakers, f->max_speakers};
    for (int i = 0; i < 3; i++) {
        if (speaker_values[i] && !f->diarize) {
            *param = speaker_fields[i];
            return BAD("%s needs diarize=true", speaker_fields[i]);
        }
    }
    if (f->min_speakers && f->max_speakers && f->min_speakers > f->max_speakers) {
        *param = "min_speakers";
        return BAD("min_speakers (%d) is above max_speakers (%d)", f->min_speakers, f->max_speakers);
    }
    if (f->num_speakers && ((f->min_speakers && f->num_speakers < f->min_speakers) ||
                            (f->max_speakers && f->num_speakers > f->max_speakers))) {
        *param = "num_speakers";
        return BAD("num_speakers (%d) is outside min_speakers..max_speakers", f->num_speakers);
    }
    if (f->stream && f->format != ST_RESPONSE_JSON && f->format != ST_RESPONSE_TEXT &&
        f->format != ST_RESPONSE_DIARIZED_JSON) {
        *param = "stream";
        return BAD("stream=true sends text events; response_format must be json, text or diarized_json");
    }
    /* The one place that says which extensions this server serves, from the model folders: VAD
     * needs Silero VAD; diarization the pipeline a job would choose (steno_diarize_locate, as
     * the command line: pyannote 3.1 when its checkpoints are there, else the default, which
     * needs Silero VAD). */
    if (f->vad) {
        char path[4096];
        if (steno_model_resolve("silero-vad", path, sizeof path) != STENO_OK) {
            *param = "vad";
            return BAD("vad needs Silero VAD on the server: %s", steno_context_error(NULL));
        }
    }
    steno_diarize_pipeline chosen;
    if (f->diarize && steno_diarize_locate(NULL, &chosen) != STENO_OK) {
        *param = "diarize";
        return BAD("diarize needs pyannote 3.1's checkpoints or Silero VAD on the server: %s",
                   steno_context_error(NULL));
    }
    return 0;
}

#undef BAD

json_t *st_request_fields_to_json(const st_request_fields *f) {
    return json_pack("{s:b, s:s, s:s, s:s, s:s, s:f, s:b, s:b, s:i, s:b, s:b, s:b, s:i, s:i, s:i, s:s}", "translate",
                     f->translate, "model", f->model, "language", f->language, "prompt", f->prompt, "response_format",
                     st_response_format_name(f->format), "temperature", f->temperature, "words", f->word_timestamps,
                     "segments", f->segment_timestamps, "beam_size", f->beam_size, "stream", f->stream, "vad", f->vad,
                     "diarize", f->diarize, "num_speakers", f->num_speakers, "min_speakers", f->min_speakers,
                     "max_speakers", f->max_speakers, "filename", f->filename);
}

static void string_from(const json_t *json, const char *key, char *field, size_t size) {
    const char *value = json_string_value(json_object_get(json, key));
    if (value) snprintf(field, size, "%s", value);
}

void st_request_fields_from_json(const json_t *json, st_request_fields *f) {
    st_request_fields_init(f);
    char message[256];
    f->translate = json_is_true(json_object_get(json, "translate"));
    string_from(json, "model", f->model, sizeof f->model);
    string_from(json, "language", f->language, sizeof f->language);
    string_from(json, "prompt", f->prompt, sizeof f->prompt);
    string_from(json, "filename", f->filename, sizeof f->filename);
    const char *format = json_string_value(json_object_get(json, "response_format"));
    if (format) st_request_field(f, "response_format", format, message, sizeof message);
    f->temperature = json_real_value(json_object_get(json, "temperature"));
    f->word_timestamps = json_is_true(json_object_get(json, "words"));
    f->segment_timestamps = json_is_true(json_object_get(json, "segments"));
    f->beam_size = (int)json_integer_value(json_object_get(json, "beam_size"));
    f->stream = json_is_true(json_object_get(json, "stream"));
    f->vad = json_is_true(json_object_get(json, "vad"));
    f->diarize = json_is_true(json_object_get(json, "diarize"));
    f->num_speakers = (int)json_integer_value(json_object_get(json, "num_speakers"));
    f->min_speakers = (int)json_integer_value(json_object_get(json, "min_speakers"));
    f->max_speakers = (int)json_integer_value(json_object_get(json, "max_speakers"));
}

steno_transcribe_params st_request_params(const st_request_fields *f) {
    steno_transcribe_params p = steno_transcribe_default_params();
    p.language = f->language[0] ? f->language : NULL;
    p.translate = f->translate;
    p.initial_prompt = f->prompt[0] ? f->prompt : NULL;
    p.word_timestamps = f->word_timestamps;
    if (f->vad) p.vad_model = "silero-vad";
    p.diarize = f->diarize;
    p.num_speakers = f->num_speakers;
    p.min_speakers = f->min_speakers;
    p.max_speakers = f->max_speakers;
    /* OpenAI decodes greedily; beam_size is steno's extension */
    p.beam_size = f->beam_size > 0 ? f->beam_size : 1;
    if (f->temperature > 0) { /* OpenAI: a set temperature is used as is; 0 falls back upwards */
        p.temperature = (float)f->temperature;
        p.temperature_increment = 0;
    }
    return p;
}

int st_request_hypotheses(const st_request_fields *f) {
    steno_transcribe_params p = st_request_params(f);
    int n = p.beam_size;
    if (p.temperature_increment > 0 && p.best_of > n) n = p.best_of;
    return n;
}

/* "SPEAKER_00", ...: the CLI's json and pyannote's label. */
static json_t *speaker_label(int speaker) {
    char label[16];
    snprintf(label, sizeof label, "SPEAKER_%02d", speaker);
    return json_string(label);
}

/* The speaker number in a stored segment's "SPEAKER_NN"; -1 when it has none. */
static int speaker_number(const json_t *segment) {
    const char *label = json_string_value(json_object_get(segment, "speaker"));
    int speaker;
    char end;
    return label && sscanf(label, "SPEAKER_%d%c", &speaker, &end) == 1 && speaker >= 0 ? speaker : -1;
}

json_t *st_openai_segment(const steno_segment_info *s) {
    json_t *tokens = json_array();
    for (int i = 0; tokens && i < s->n_tokens; i++)
        json_array_append_new(tokens, json_integer(s->tokens[i]));
    json_t *out = json_pack("{s:i, s:i, s:f, s:f, s:s, s:o, s:f, s:f, s:f, s:f}", "id", s->id, "seek", s->seek, "start",
                            s->start, "end", s->end, "text", s->text, "tokens", tokens ? tokens : json_array(),
                            "temperature", s->temperature, "avg_logprob", s->avg_logprob, "compression_ratio",
                            s->compression_ratio, "no_speech_prob", s->no_speech_prob);
    if (out && s->speaker >= 0) json_object_set_new(out, "speaker", speaker_label(s->speaker));
    return out;
}

/* Python's str.strip() of ASCII whitespace, as a new JSON string. */
static json_t *stripped(const char *text) {
    size_t begin = 0, end = strlen(text);
    while (begin < end && (text[begin] == ' ' || text[begin] == '\n' || text[begin] == '\t'))
        begin++;
    while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\t'))
        end--;
    return json_stringn(text + begin, end - begin);
}

json_t *st_openai_transcription(const steno_result *result, const st_request_fields *f) {
    const char *code = steno_result_language(result);
    const char *name = steno_language_name(code);
    json_t *segments = json_array(), *words = json_array();
    json_t *out = json_pack("{s:s, s:s, s:f, s:o}", "task", f->translate ? "translate" : "transcribe", "language",
                            name ? name : code, "duration", steno_result_duration(result), "text",
                            stripped(steno_result_text(result)));
    if (!out || !segments || !words) {
        json_decref(out);
        json_decref(segments);
        json_decref(words);
        return NULL;
    }
    for (int i = 0; i < steno_result_n_segments(result); i++) {
        steno_segment_info s = steno_result_segment(result, i);
        json_array_append_new(segments, st_openai_segment(&s));
        for (int w = 0; w < s.n_words; w++) {
            steno_word_info word = steno_result_word(result, i, w);
            json_t *entry =
                json_pack("{s:o, s:f, s:f}", "word", stripped(word.text), "start", word.start, "end", word.end);
            if (entry && s.speaker >= 0) json_object_set_new(entry, "speaker", speaker_label(s.speaker));
            json_array_append_new(words, entry);
        }
    }
    /* OpenAI: segments unless only word granularity was asked for, words when asked for; a
     * diarized result keeps its segments, which diarized_json and the speakers are made of */
    if (f->segment_timestamps || !f->word_timestamps || f->diarize) json_object_set(out, "segments", segments);
    if (f->word_timestamps) json_object_set(out, "words", words);
    json_decref(segments);
    json_decref(words);
    return out;
}

/* srt, vtt and a diarized txt through the library's writers (openai-whisper's, with the CLI's
 * speaker prefixes), from the stored segments. */
static char *render_subtitles(const json_t *verbose, steno_format format) {
    const json_t *stored = json_object_get(verbose, "segments");
    size_t n = json_array_size(stored), i;
    steno_segment_info *segments = calloc(n ? n : 1, sizeof *segments);
    if (!segments) return NULL;
    json_t *segment;
    json_array_foreach(stored, i, segment) {
        segments[i] = (steno_segment_info){.id = (int)i,
                                           .start = json_number_value(json_object_get(segment, "start")),
                                           .end = json_number_value(json_object_get(segment, "end")),
                                           .text = json_string_value(json_object_get(segment, "text")),
                                           .speaker = speaker_number(segment)};
    }
    steno_result *result = steno_result_from_segments(segments, (int)n);
    free(segments);
    char *text = result ? steno_result_render(result, format) : NULL;
    steno_result_free(result);
    return text;
}

int st_openai_has_speakers(const json_t *verbose) {
    const json_t *segments = json_object_get(verbose, "segments");
    if (!json_is_array(segments)) return 0;
    size_t i;
    json_t *segment;
    json_array_foreach(segments, i, segment) {
        if (speaker_number(segment) < 0) return 0;
    }
    return 1;
}

/* "A", "B", ..., "Z", "AA", "AB", ...: how OpenAI labels the speakers it was not given names for. */
static json_t *speaker_letters(int speaker) {
    char label[16], reversed[16];
    int n = 0;
    for (int k = speaker + 1; k > 0 && n < (int)sizeof reversed; k = (k - 1) / 26)
        reversed[n++] = (char)('A' + (k - 1) % 26);
    for (int i = 0; i < n; i++)
        label[i] = reversed[n - 1 - i];
    label[n] = '\0';
    return json_string(label);
}

json_t *st_openai_diarized_segment(const json_t *segment, size_t index) {
    char id[32];
    snprintf(id, sizeof id, "seg_%zu", index);
    const char *text = json_string_value(json_object_get(segment, "text"));
    return json_pack("{s:s, s:s, s:O, s:O, s:o, s:o}", "type", "transcript.text.segment", "id", id, "start",
                     json_object_get(segment, "start"), "end", json_object_get(segment, "end"), "text",
                     stripped(text ? text : ""), "speaker", speaker_letters(speaker_number(segment)));
}

/* OpenAI's diarized_json: task, duration, text, and segments of type "transcript.text.segment"
 * with a string id, start, end, text and speaker. */
static char *render_diarized(const json_t *verbose) {
    if (!st_openai_has_speakers(verbose)) return NULL;
    json_t *segments = json_array();
    json_t *out =
        json_pack("{s:O, s:O, s:O, s:o}", "task", json_object_get(verbose, "task"), "duration",
                  json_object_get(verbose, "duration"), "text", json_object_get(verbose, "text"), "segments", segments);
    if (!out) return NULL;
    size_t i;
    json_t *segment;
    json_array_foreach(json_object_get(verbose, "segments"), i, segment) {
        json_array_append_new(segments, st_openai_diarized_segment(segment, i));
    }
    char *body = json_dumps(out, ST_JSON_FLAGS);
    json_decref(out);
    return body;
}

char *st_openai_render(const json_t *verbose, st_response_format format, const char **mime) {
    const char *text = json_string_value(json_object_get(verbose, "text"));
    switch (format) {
    case ST_RESPONSE_TEXT: {
        *mime = "text/plain; charset=utf-8";
        /* a diarized transcript as the CLI's txt: one "[SPEAKER_00]: " line per segment */
        if (st_openai_has_speakers(verbose) && json_array_size(json_object_get(verbose, "segments")) > 0) {
            return render_subtitles(verbose, STENO_FORMAT_TXT);
        }
        size_t n = text ? strlen(text) : 0;
        char *body = malloc(n + 2);
        if (body) {
            memcpy(body, text ? text : "", n);
            memcpy(body + n, "\n", 2);
        }
        return body;
    }
    case ST_RESPONSE_SRT:
        *mime = "application/x-subrip; charset=utf-8";
        return render_subtitles(verbose, STENO_FORMAT_SRT);
    case ST_RESPONSE_VTT:
        *mime = "text/vtt; charset=utf-8";
        return render_subtitles(verbose, STENO_FORMAT_VTT);
    case ST_RESPONSE_VERBOSE_JSON:
        *mime = "application/json";
        return json_dumps(verbose, ST_JSON_FLAGS);
    case ST_RESPONSE_DIARIZED_JSON: {
        *mime = "application/json";
        return render_diarized(verbose);
    }
    case ST_RESPONSE_JSON:
    default: {
        *mime = "application/json";
        json_t *object = json_pack("{s:s}", "text", text ? text : "");
        char *body = object ? json_dumps(object, ST_JSON_FLAGS) : NULL;
        json_decref(object);
        return body;
    }
    }
}

char *st_openai_error(int http_status, const char *message, const char *param, const char *code) {
    const char *type = http_status == 401   ? "authentication_error"
                       : http_status >= 500 ? "server_error"
                                            : "invalid_request_error";
    json_t *error = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type, "param",
                              param ? json_string(param) : json_null(), "code", code ? json_string(code) : json_null());
    char *body = error ? json_dumps(error, ST_JSON_FLAGS) : NULL;
    json_decref(error);
    return body;
}
