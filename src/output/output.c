/*
 * output.c — txt, vtt, srt, tsv and json writers matching openai-whisper's (see output.h).
 *
 * The details that make the bytes match, all taken from how whisper/utils.py behaves:
 * - text is Python's str.strip()ed (Unicode whitespace, not just ASCII);
 * - timestamps are round(seconds * 1000) with Python's round-half-to-even (nearbyint in the
 *   default rounding mode), hours "%02d:" always in srt and only when non-zero in vtt;
 * - subtitle text has "-->" replaced by "->" in one left-to-right pass (str.replace);
 * - word-level subtitles follow iterate_result: line widths count code points, a new line or
 *   subtitle starts on a long pause (> 3 s, only when both width and count are given) and, when
 *   segments are preserved, at the first word of every segment (or of every chunk of
 *   max_words_per_line words);
 * - json is json.dump(result): ", " and ": " separators, ensure_ascii escapes with lower-case
 *   hex, floats as repr(), keys in the order transcribe() builds its dicts.
 * The JSON is written by hand rather than through jansson because jansson can give neither
 * Python's shortest float repr nor its lower-case \u escapes, and byte equality is the point.
 */
#include "output/output.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text/unicode.h"
#include "util/atomic_file.h"

static const char *const extensions[] = {"txt", "vtt", "srt", "tsv", "json", "all"};

const char *st_output_extension(st_output_format format) {
    return (unsigned)format <= ST_OUTPUT_ALL ? extensions[format] : "";
}

steno_status st_output_format_from_name(const char *name, st_output_format *format, st_error *err) {
    for (int f = 0; f <= ST_OUTPUT_ALL; f++) {
        if (strcmp(name, extensions[f]) == 0) {
            *format = (st_output_format)f;
            return STENO_OK;
        }
    }
    return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                        "output format '%s': expected one of txt, vtt, srt, tsv, json, all", name);
}

/* ---- Python float repr ------------------------------------------------------------------ */

size_t st_output_format_double(double value, char out[32]) {
    if (isnan(value)) return (size_t)snprintf(out, 32, "NaN");
    if (isinf(value)) return (size_t)snprintf(out, 32, value > 0 ? "Infinity" : "-Infinity");
    char *p = out;
    if (signbit(value)) {
        *p++ = '-';
        value = -value;
    }
    if (value == 0.0) {
        strcpy(p, "0.0");
        return (size_t)(p - out) + 3;
    }
    /* The fewest significant digits that read back as the same double: what repr() prints.
     * %.Ne rounds correctly, so the first precision that round-trips gives repr's digits. */
    char scientific[40];
    for (int precision = 0; precision < 17; precision++) {
        snprintf(scientific, sizeof scientific, "%.*e", precision, value);
        if (strtod(scientific, NULL) == value) break;
    }
    char digits[24];
    int n_digits = 0;
    const char *s = scientific;
    for (; *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[n_digits++] = *s;
    while (n_digits > 1 && digits[n_digits - 1] == '0')
        n_digits--;
    int exponent = atoi(s + 1);
    int point = exponent + 1; /* digits[0 .. point) come before the decimal point */
    /* repr switches to exponent notation when the decimal point position is <= -4 or > 16 */
    if (point <= -4 || point > 16) {
        *p++ = digits[0];
        if (n_digits > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)n_digits - 1);
            p += n_digits - 1;
        }
        p += snprintf(p, 8, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (point <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -point; i++)
            *p++ = '0';
        memcpy(p, digits, (size_t)n_digits);
        p += n_digits;
    } else if (point >= n_digits) {
        memcpy(p, digits, (size_t)n_digits);
        p += n_digits;
        for (int i = n_digits; i < point; i++)
            *p++ = '0';
        *p++ = '.';
        *p++ = '0';
    } else {
        memcpy(p, digits, (size_t)point);
        p += point;
        *p++ = '.';
        memcpy(p, digits + point, (size_t)(n_digits - point));
        p += n_digits - point;
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* ---- shared pieces ---------------------------------------------------------------------- */

/* Python's round(seconds * 1000) as an integer; false for what openai would reject or what
 * does not fit. */
static bool milliseconds_of(double seconds, long long *ms) {
    if (!(seconds >= 0.0) || !isfinite(seconds)) return false;
    double rounded = nearbyint(seconds * 1000.0); /* ties to even, like Python's round() */
    if (rounded > 9.0e18) return false;
    *ms = (long long)rounded;
    return true;
}

static bool append_timestamp(st_strbuf *out, double seconds, bool always_include_hours, char decimal_marker) {
    long long ms;
    if (!milliseconds_of(seconds, &ms)) return false;
    long long hours = ms / 3600000;
    ms -= hours * 3600000;
    long long minutes = ms / 60000;
    ms -= minutes * 60000;
    long long secs = ms / 1000;
    ms -= secs * 1000;
    if (always_include_hours || hours > 0) st_strbuf_printf(out, "%02lld:", hours);
    st_strbuf_printf(out, "%02lld:%02lld%c%03lld", minutes, secs, decimal_marker, ms);
    return true;
}

static steno_status bad_time(st_error *err, const char *what, int index, double seconds) {
    return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                        "transcript: %s %d has timestamp %g; expected a finite value >= 0", what, index, seconds);
}

/* Appends str.strip() of text. */
static void append_stripped(st_strbuf *out, const char *text) {
    size_t begin, end;
    st_utf8_strip(text, strlen(text), &begin, &end);
    st_strbuf_append(out, text + begin, end - begin);
}

/* Appends text with every `from` replaced by `to`, scanning left to right without overlap. */
static void append_replaced(st_strbuf *out, const char *text, size_t length, const char *from, const char *to) {
    size_t from_length = strlen(from);
    size_t i = 0, copied = 0;
    while (i + from_length <= length) {
        if (memcmp(text + i, from, from_length) == 0) {
            st_strbuf_append(out, text + copied, i - copied);
            st_strbuf_append_str(out, to);
            i += from_length;
            copied = i;
        } else {
            i++;
        }
    }
    st_strbuf_append(out, text + copied, length - copied);
}

static void append_stripped_replaced(st_strbuf *out, const char *text, const char *from, const char *to) {
    size_t begin, end;
    st_utf8_strip(text, strlen(text), &begin, &end);
    append_replaced(out, text + begin, end - begin, from, to);
}

/* "[SPEAKER_00]: " before a diarized segment's text in txt, vtt and srt (not in openai's
 * writers: the label whisperX uses, in the bracketed form subtitle editors keep as text). */
static void append_speaker(st_strbuf *out, int speaker) {
    if (speaker >= 0) st_strbuf_printf(out, "[SPEAKER_%02d]: ", speaker);
}

/* ---- txt and tsv ------------------------------------------------------------------------ */

static steno_status render_txt(const st_transcript *t, st_strbuf *out) {
    for (int i = 0; i < t->n_segments; i++) {
        append_speaker(out, t->segments[i].speaker);
        append_stripped(out, t->segments[i].text ? t->segments[i].text : "");
        st_strbuf_append_char(out, '\n');
    }
    return STENO_OK;
}

static steno_status render_tsv(const st_transcript *t, st_strbuf *out, st_error *err) {
    st_strbuf_append_str(out, "start\tend\ttext\n");
    for (int i = 0; i < t->n_segments; i++) {
        const st_segment *s = &t->segments[i];
        long long start, end;
        if (!milliseconds_of(s->start, &start)) return bad_time(err, "segment", i, s->start);
        if (!milliseconds_of(s->end, &end)) return bad_time(err, "segment", i, s->end);
        st_strbuf_printf(out, "%lld\t%lld\t", start, end);
        append_stripped_replaced(out, s->text ? s->text : "", "\t", " ");
        st_strbuf_append_char(out, '\n');
    }
    return STENO_OK;
}

/* ---- vtt and srt ------------------------------------------------------------------------ */

typedef struct cue_writer {
    st_strbuf *out;
    bool srt; /* numbered cues, hours always, comma before milliseconds */
    int next_number;
} cue_writer;

/* One cue: timestamps already formatted. */
static void emit_cue(cue_writer *w, const char *start, const char *end, const char *text, size_t text_length) {
    if (w->srt) st_strbuf_printf(w->out, "%d\n", w->next_number++);
    st_strbuf_printf(w->out, "%s --> %s\n", start, end);
    st_strbuf_append(w->out, text, text_length);
    st_strbuf_append_str(w->out, "\n\n");
}

static bool format_time(const cue_writer *w, double seconds, char out[32]) {
    st_strbuf b;
    st_strbuf_init(&b);
    bool ok = append_timestamp(&b, seconds, w->srt, w->srt ? ',' : '.') && !b.failed;
    if (ok) snprintf(out, 32, "%s", b.data);
    st_strbuf_free(&b);
    return ok;
}

/* A word as it goes into a subtitle: openai's copy of the timing dict with its text possibly
 * stripped and prefixed by a line break. */
typedef struct cue_word {
    st_strbuf text;
    double start, end;
    int speaker; /* its segment's; a cue shows the speaker of its first word */
} cue_word;

typedef struct subtitle_state {
    cue_writer *writer;
    const st_output_options *options;
    cue_word *words; /* the subtitle being built */
    int n_words;
    st_strbuf joined; /* scratch for cue text */
} subtitle_state;

/* openai's `re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word)`: underline what follows the leading
 * whitespace. `.` stops at a line break and `$` also matches before a final one, so a word with
 * a line break inside what follows its leading whitespace (other than a last one) is left as is. */
static void append_underlined(st_strbuf *out, const char *word, size_t length) {
    size_t body, stripped_end;
    st_utf8_strip(word, length, &body, &stripped_end);
    const char *newline = memchr(word + body, '\n', length - body);
    if (newline && newline != word + length - 1) {
        st_strbuf_append(out, word, length);
        return;
    }
    size_t body_end = newline ? length - 1 : length;
    st_strbuf_append(out, word, body);
    st_strbuf_append_str(out, "<u>");
    st_strbuf_append(out, word + body, body_end - body);
    st_strbuf_append_str(out, "</u>");
    st_strbuf_append(out, word + body_end, length - body_end);
}

static bool flush_subtitle(subtitle_state *st) {
    cue_writer *w = st->writer;
    char start[32], end[32];
    if (!format_time(w, st->words[0].start, start) || !format_time(w, st->words[st->n_words - 1].end, end))
        return false;
    st_strbuf_clear(&st->joined);
    append_speaker(&st->joined, st->words[0].speaker);
    for (int i = 0; i < st->n_words; i++)
        st_strbuf_append(&st->joined, st->words[i].text.data, st->words[i].text.length);
    if (!st->options->highlight_words) {
        emit_cue(w, start, end, st->joined.data, st->joined.length);
        return true;
    }
    /* One cue per word with that word underlined, and a cue with the plain text over any gap
     * between the previous word's end and this word's start (compared as formatted text). */
    char last[32], word_start[32], word_end[32];
    memcpy(last, start, sizeof last);
    st_strbuf highlighted;
    st_strbuf_init(&highlighted);
    for (int i = 0; i < st->n_words; i++) {
        if (!format_time(w, st->words[i].start, word_start) || !format_time(w, st->words[i].end, word_end)) {
            st_strbuf_free(&highlighted);
            return false;
        }
        if (strcmp(last, word_start) != 0) emit_cue(w, last, word_start, st->joined.data, st->joined.length);
        st_strbuf_clear(&highlighted);
        append_speaker(&highlighted, st->words[0].speaker);
        for (int j = 0; j < st->n_words; j++) {
            if (j == i)
                append_underlined(&highlighted, st->words[j].text.data, st->words[j].text.length);
            else
                st_strbuf_append(&highlighted, st->words[j].text.data, st->words[j].text.length);
        }
        emit_cue(w, word_start, word_end, highlighted.data ? highlighted.data : "", highlighted.length);
        memcpy(last, word_end, sizeof last);
    }
    if (highlighted.failed) st->writer->out->failed = true;
    st_strbuf_free(&highlighted);
    return true;
}

static void clear_subtitle(subtitle_state *st) {
    for (int i = 0; i < st->n_words; i++)
        st_strbuf_free(&st->words[i].text);
    st->n_words = 0;
}

/* Python's len(word.strip()): code points after stripping. */
static size_t stripped_length(const char *text, size_t length) {
    size_t begin, end;
    st_utf8_strip(text, length, &begin, &end);
    return st_utf8_length(text + begin, end - begin);
}

static steno_status render_word_subtitles(const st_transcript *t, const st_output_options *o, cue_writer *w,
                                          st_error *err) {
    int total_words = 0;
    for (int s = 0; s < t->n_segments; s++)
        total_words += t->segments[s].n_words;
    subtitle_state st = {.writer = w, .options = o};
    st_strbuf_init(&st.joined);
    st.words = calloc(total_words > 0 ? (size_t)total_words : 1, sizeof(cue_word));
    if (!st.words) return st_error_set(err, STENO_ERR_NO_MEMORY, "writer: out of memory");

    const bool preserve_segments = o->max_line_count <= 0 || o->max_line_width <= 0;
    const size_t max_line_width = o->max_line_width > 0 ? (size_t)o->max_line_width : 1000;
    const int max_words_per_line = o->max_words_per_line > 0 ? o->max_words_per_line : 1000;
    const bool has_line_count = o->max_line_count > 0;

    /* openai's get_start(): the first word's start, else the first segment's start */
    double last = t->segments[0].start;
    for (int s = 0; s < t->n_segments; s++) {
        if (t->segments[s].n_words > 0) {
            last = t->segments[s].words[0].start;
            break;
        }
    }
    size_t line_length = 0;
    int line_count = 1;
    steno_status status = STENO_OK;
    for (int s = 0; s < t->n_segments && status == STENO_OK; s++) {
        const st_segment *seg = &t->segments[s];
        for (int chunk = 0; chunk < seg->n_words && status == STENO_OK; chunk += max_words_per_line) {
            int count = seg->n_words - chunk < max_words_per_line ? seg->n_words - chunk : max_words_per_line;
            for (int i = 0; i < count; i++) {
                const st_word *word = &seg->words[chunk + i];
                const char *text = word->text ? word->text : "";
                size_t text_length = strlen(text);
                bool long_pause = !preserve_segments && word->start - last > 3.0;
                bool has_room = line_length + st_utf8_length(text, text_length) <= max_line_width;
                bool segment_break = i == 0 && st.n_words > 0 && preserve_segments;
                cue_word *entry = &st.words[st.n_words];
                st_strbuf_init(&entry->text);
                entry->start = word->start;
                entry->end = word->end;
                entry->speaker = seg->speaker;
                if (line_length > 0 && has_room && !long_pause && !segment_break) {
                    line_length += st_utf8_length(text, text_length);
                    st_strbuf_append(&entry->text, text, text_length);
                } else {
                    size_t begin, end;
                    st_utf8_strip(text, text_length, &begin, &end);
                    if ((st.n_words > 0 && has_line_count && (long_pause || line_count >= o->max_line_count)) ||
                        segment_break) {
                        if (!flush_subtitle(&st)) {
                            status = bad_time(err, "word in segment", s, word->start);
                            break;
                        }
                        clear_subtitle(&st);
                        entry = &st.words[0];
                        st_strbuf_init(&entry->text);
                        entry->start = word->start;
                        entry->end = word->end;
                        entry->speaker = seg->speaker;
                        line_count = 1;
                    } else if (line_length > 0) {
                        line_count++;
                        st_strbuf_append_char(&entry->text, '\n');
                    }
                    st_strbuf_append(&entry->text, text + begin, end - begin);
                    line_length = stripped_length(entry->text.data ? entry->text.data : "", entry->text.length);
                }
                if (entry->text.failed) w->out->failed = true;
                if (!entry->text.data) st_strbuf_append(&entry->text, "", 0);
                st.n_words++;
                last = word->start;
            }
        }
    }
    if (status == STENO_OK && st.n_words > 0 && !flush_subtitle(&st))
        status = bad_time(err, "word near", st.n_words, st.words[0].start);
    clear_subtitle(&st);
    free(st.words);
    st_strbuf_free(&st.joined);
    return status;
}

static steno_status render_subtitles(const st_transcript *t, const st_output_options *o, bool srt, st_strbuf *out,
                                     st_error *err) {
    cue_writer w = {.out = out, .srt = srt, .next_number = 1};
    if (!srt) st_strbuf_append_str(out, "WEBVTT\n\n");
    if (t->n_segments > 0 && t->has_words) return render_word_subtitles(t, o, &w, err);
    st_strbuf text;
    st_strbuf_init(&text);
    for (int i = 0; i < t->n_segments; i++) {
        const st_segment *s = &t->segments[i];
        char start[32], end[32];
        if (!format_time(&w, s->start, start)) return st_strbuf_free(&text), bad_time(err, "segment", i, s->start);
        if (!format_time(&w, s->end, end)) return st_strbuf_free(&text), bad_time(err, "segment", i, s->end);
        st_strbuf_clear(&text);
        append_speaker(&text, s->speaker);
        append_stripped_replaced(&text, s->text ? s->text : "", "-->", "->");
        emit_cue(&w, start, end, text.data ? text.data : "", text.length);
    }
    if (text.failed) out->failed = true;
    st_strbuf_free(&text);
    return STENO_OK;
}

/* ---- json ------------------------------------------------------------------------------- */

/* A JSON string as json.dump writes it with ensure_ascii=True. */
static void append_json_string(st_strbuf *out, const char *text) {
    size_t length = strlen(text);
    st_strbuf_append_char(out, '"');
    for (size_t i = 0; i < length;) {
        uint32_t cp;
        i += st_utf8_decode(text + i, length - i, &cp);
        switch (cp) {
        case '"':
            st_strbuf_append_str(out, "\\\"");
            continue;
        case '\\':
            st_strbuf_append_str(out, "\\\\");
            continue;
        case '\n':
            st_strbuf_append_str(out, "\\n");
            continue;
        case '\r':
            st_strbuf_append_str(out, "\\r");
            continue;
        case '\t':
            st_strbuf_append_str(out, "\\t");
            continue;
        case '\b':
            st_strbuf_append_str(out, "\\b");
            continue;
        case '\f':
            st_strbuf_append_str(out, "\\f");
            continue;
        default:
            break;
        }
        if (cp >= 0x20 && cp < 0x7F) {
            st_strbuf_append_char(out, (char)cp);
        } else if (cp < 0x10000) {
            st_strbuf_printf(out, "\\u%04x", (unsigned)cp);
        } else {
            uint32_t v = cp - 0x10000;
            st_strbuf_printf(out, "\\u%04x\\u%04x", (unsigned)(0xD800 | (v >> 10)), (unsigned)(0xDC00 | (v & 0x3FF)));
        }
    }
    st_strbuf_append_char(out, '"');
}

static void append_json_double(st_strbuf *out, double value) {
    char text[32];
    size_t n = st_output_format_double(value, text);
    st_strbuf_append(out, text, n);
}

static void append_json_key(st_strbuf *out, const char *key) {
    st_strbuf_append_str(out, ", \"");
    st_strbuf_append_str(out, key);
    st_strbuf_append_str(out, "\": ");
}

/* `, "key": value` for a float member */
static void append_json_double_member(st_strbuf *out, const char *key, double value) {
    append_json_key(out, key);
    append_json_double(out, value);
}

static steno_status render_json(const st_transcript *t, st_strbuf *out) {
    st_strbuf_append_str(out, "{\"text\": ");
    append_json_string(out, t->text ? t->text : "");
    st_strbuf_append_str(out, ", \"segments\": [");
    for (int i = 0; i < t->n_segments; i++) {
        const st_segment *s = &t->segments[i];
        st_strbuf_printf(out, "%s{\"id\": %d", i ? ", " : "", s->id);
        st_strbuf_printf(out, ", \"seek\": %d", s->seek);
        append_json_double_member(out, "start", s->start);
        append_json_double_member(out, "end", s->end);
        append_json_key(out, "text");
        append_json_string(out, s->text ? s->text : "");
        append_json_key(out, "tokens");
        st_strbuf_append_char(out, '[');
        for (int k = 0; k < s->n_tokens; k++)
            st_strbuf_printf(out, "%s%d", k ? ", " : "", s->tokens[k]);
        st_strbuf_append_char(out, ']');
        append_json_double_member(out, "temperature", s->temperature);
        append_json_double_member(out, "avg_logprob", s->avg_logprob);
        append_json_double_member(out, "compression_ratio", s->compression_ratio);
        append_json_double_member(out, "no_speech_prob", s->no_speech_prob);
        if (t->has_words) {
            append_json_key(out, "words");
            st_strbuf_append_char(out, '[');
            for (int k = 0; k < s->n_words; k++) {
                const st_word *word = &s->words[k];
                st_strbuf_append_str(out, k ? ", {\"word\": " : "{\"word\": ");
                append_json_string(out, word->text ? word->text : "");
                append_json_double_member(out, "start", word->start);
                append_json_double_member(out, "end", word->end);
                append_json_double_member(out, "probability", word->probability);
                if (s->speaker >= 0) st_strbuf_printf(out, ", \"speaker\": \"SPEAKER_%02d\"", s->speaker);
                st_strbuf_append_char(out, '}');
            }
            st_strbuf_append_char(out, ']');
        }
        /* Not in openai's result: the language each window was decoded in, when it was detected
         * per window (--language-per-window) */
        if (t->language_per_segment) {
            append_json_key(out, "language");
            append_json_string(out, s->language);
        }
        /* Not in openai's result: the diarization label, named as whisperX names it. */
        if (s->speaker >= 0) st_strbuf_printf(out, ", \"speaker\": \"SPEAKER_%02d\"", s->speaker);
        st_strbuf_append_char(out, '}');
    }
    st_strbuf_append_str(out, "], \"language\": ");
    if (t->language)
        append_json_string(out, t->language);
    else
        st_strbuf_append_str(out, "null");
    st_strbuf_append_char(out, '}');
    return STENO_OK;
}

/* ---- entry points ----------------------------------------------------------------------- */

steno_status st_output_render(st_output_format format, const st_transcript *transcript,
                              const st_output_options *options, st_strbuf *out, st_error *err) {
    static const st_output_options defaults = {0};
    if (!options) options = &defaults;
    steno_status status;
    switch (format) {
    case ST_OUTPUT_TXT:
        status = render_txt(transcript, out);
        break;
    case ST_OUTPUT_VTT:
        status = render_subtitles(transcript, options, false, out, err);
        break;
    case ST_OUTPUT_SRT:
        status = render_subtitles(transcript, options, true, out, err);
        break;
    case ST_OUTPUT_TSV:
        status = render_tsv(transcript, out, err);
        break;
    case ST_OUTPUT_JSON:
        status = render_json(transcript, out);
        break;
    default:
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "writer: format %d cannot be rendered", (int)format);
    }
    if (status == STENO_OK && out->failed) return st_error_set(err, STENO_ERR_NO_MEMORY, "writer: out of memory");
    return status;
}

steno_status st_output_write(st_output_format format, const st_transcript *transcript, const st_output_options *options,
                             FILE *stream, st_error *err) {
    st_strbuf text;
    st_strbuf_init(&text);
    steno_status status = st_output_render(format, transcript, options, &text, err);
    if (status == STENO_OK && text.length > 0 && fwrite(text.data, 1, text.length, stream) != text.length)
        status = st_error_set(err, STENO_ERR_IO, "writer: writing %s output failed: %s", st_output_extension(format),
                              strerror(errno));
    st_strbuf_free(&text);
    return status;
}

steno_status st_output_path(const char *output_dir, const char *audio_path, const char *extension, st_strbuf *path,
                            st_error *err) {
    const char *base = strrchr(audio_path, '/');
    base = base ? base + 1 : audio_path;
    /* os.path.splitext: the last dot starts the extension unless only dots precede it */
    size_t stem = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot) {
        const char *q = base;
        while (q < dot && *q == '.')
            q++;
        if (q < dot) stem = (size_t)(dot - base);
    }
    st_strbuf_clear(path);
    size_t dir_length = output_dir ? strlen(output_dir) : 0;
    if (dir_length > 0) {
        st_strbuf_append(path, output_dir, dir_length);
        if (output_dir[dir_length - 1] != '/') st_strbuf_append_char(path, '/');
    }
    st_strbuf_append(path, base, stem);
    st_strbuf_append_char(path, '.');
    st_strbuf_append_str(path, extension);
    if (path->failed) return st_error_set(err, STENO_ERR_NO_MEMORY, "writer: out of memory");
    return STENO_OK;
}

/* Each file through a temporary beside it and a rename: a full disk or a crash leaves the
 * previous transcript whole, and a symlink at the path is replaced, never written through. */
steno_status st_output_save_text(const char *output_dir, const char *audio_path, const char *extension,
                                 const char *text, size_t length, st_error *err) {
    st_strbuf path;
    st_strbuf_init(&path);
    steno_status status = st_output_path(output_dir, audio_path, extension, &path, err);
    st_atomic_file out = {0};
    if (status == STENO_OK) status = st_atomic_file_open(&out, path.data, err);
    if (status == STENO_OK) {
        st_atomic_write(&out, text, length);
        status = st_atomic_file_commit(&out, err);
    }
    st_strbuf_free(&path);
    return status;
}

static steno_status save_one(st_output_format format, const st_transcript *transcript, const st_output_options *options,
                             const char *output_dir, const char *audio_path, st_error *err) {
    st_strbuf text;
    st_strbuf_init(&text);
    steno_status status = st_output_render(format, transcript, options, &text, err);
    if (status == STENO_OK) {
        status = st_output_save_text(output_dir, audio_path, st_output_extension(format), text.data, text.length, err);
    }
    st_strbuf_free(&text);
    return status;
}

steno_status st_output_prepare_dir(const char *output_dir, st_error *err) {
    char path[4096];
    if (!output_dir || !*output_dir) output_dir = ".";
    if (snprintf(path, sizeof path, "%s", output_dir) >= (int)sizeof path) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "output folder %.200s...: path too long", output_dir);
    }
    /* os.makedirs(exist_ok=True): each missing parent in turn */
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (stat(path, &st) != 0) {
            if (errno != ENOENT || mkdir(path, 0777) != 0) {
                return st_error_set(err, STENO_ERR_IO, "output folder %s: cannot create %s: %s", output_dir, path,
                                    strerror(errno));
            }
        } else if (!S_ISDIR(st.st_mode)) {
            return st_error_set(err, STENO_ERR_IO, "output folder %s: %s is not a folder", output_dir, path);
        }
        *p = saved;
        if (saved == '\0') break;
    }
    if (access(path, W_OK | X_OK) != 0) {
        return st_error_set(err, STENO_ERR_IO, "output folder %s: cannot write there: %s", output_dir, strerror(errno));
    }
    return STENO_OK;
}

steno_status st_output_save(st_output_format format, const st_transcript *transcript, const st_output_options *options,
                            const char *output_dir, const char *audio_path, st_error *err) {
    if (format != ST_OUTPUT_ALL) return save_one(format, transcript, options, output_dir, audio_path, err);
    for (int f = 0; f < ST_OUTPUT_FORMAT_COUNT; f++) {
        steno_status status = save_one((st_output_format)f, transcript, options, output_dir, audio_path, err);
        if (status != STENO_OK) return status;
    }
    return STENO_OK;
}
