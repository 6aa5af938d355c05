/*
 * output.h — transcript writers, byte for byte what openai-whisper's writers (whisper/utils.py:
 * WriteTXT, WriteVTT, WriteSRT, WriteTSV, WriteJSON) put in their files for the same result,
 * including the word-level subtitle options of its command line.
 *
 * A diarized transcript (segments with speaker >= 0) adds what openai's writers lack: a
 * "[SPEAKER_00]: " prefix on txt lines and subtitle cues, and "speaker" members on json
 * segments and words.
 *
 * Each writer renders into a st_strbuf (the server returns it as a response body); the file
 * helpers name and write files the way `whisper AUDIO --output_dir DIR` does.
 */
#ifndef ST_OUTPUT_OUTPUT_H
#define ST_OUTPUT_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "output/transcript.h"
#include "util/strbuf.h"

typedef enum st_output_format {
    ST_OUTPUT_TXT,
    ST_OUTPUT_VTT,
    ST_OUTPUT_SRT,
    ST_OUTPUT_TSV,
    ST_OUTPUT_JSON,
    ST_OUTPUT_FORMAT_COUNT,
    ST_OUTPUT_ALL = ST_OUTPUT_FORMAT_COUNT, /* st_output_save only: every format, as `-f all` */
} st_output_format;

/* openai-whisper's --max_line_width, --max_line_count, --max_words_per_line and
 * --highlight_words. 0 means "not given" (openai treats 0 like None too). They only apply to
 * vtt and srt of a transcript with word timestamps. */
typedef struct st_output_options {
    int max_line_width;
    int max_line_count;
    int max_words_per_line;
    bool highlight_words;
} st_output_options;

/* "txt", "vtt", "srt", "tsv", "json" ("all" for ST_OUTPUT_ALL). */
const char *st_output_extension(st_output_format format);

/* Parses a format name as accepted by --output_format; STENO_ERR_INVALID_ARGUMENT otherwise. */
steno_status st_output_format_from_name(const char *name, st_output_format *format, st_error *err);

/* Appends the transcript in one format to out. options may be NULL. Fails with
 * STENO_ERR_INVALID_ARGUMENT on a negative or non-finite timestamp (openai asserts). */
steno_status st_output_render(st_output_format format, const st_transcript *transcript,
                              const st_output_options *options, st_strbuf *out, st_error *err);

/* Renders and writes to an open stream. */
steno_status st_output_write(st_output_format format, const st_transcript *transcript, const st_output_options *options,
                             FILE *stream, st_error *err);

/* The path openai-whisper writes: output_dir joined with the audio file's base name less its
 * last extension, plus "." and the extension ("dir/jfk.srt" for "a/b/jfk.flac"). Python's
 * os.path rules: a leading dot does not start an extension; an empty dir gives a bare name. */
steno_status st_output_path(const char *output_dir, const char *audio_path, const char *extension, st_strbuf *path,
                            st_error *err);

/* Writes text to the file st_output_path names (for example the .rttm beside the transcripts),
 * through a temporary file renamed over the final name, as st_output_save. */
steno_status st_output_save_text(const char *output_dir, const char *audio_path, const char *extension,
                                 const char *text, size_t length, st_error *err);

/* Makes output_dir ready before any work: creates it and its missing parents (as
 * openai-whisper's os.makedirs), and checks that it is a folder steno may write in. */
steno_status st_output_prepare_dir(const char *output_dir, st_error *err);

/* Writes the file(s) for one format, or all five for ST_OUTPUT_ALL, into output_dir, each to a
 * temporary file renamed over the final name (util/atomic_file.h). */
steno_status st_output_save(st_output_format format, const st_transcript *transcript, const st_output_options *options,
                            const char *output_dir, const char *audio_path, st_error *err);

/* Python's json.dump text for a float: repr() digits (shortest that round-trips), and NaN,
 * Infinity, -Infinity for the non-finite values. Returns the length written to out. */
size_t st_output_format_double(double value, char out[32]);

#endif
