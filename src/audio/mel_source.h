/*
 * mel_source.h — the log-mel of a whole recording, handed out a 30-second window at a time.
 *
 * openai-whisper computes the mel of the whole file (plus 30 s of zeros) at once, because its
 * clamp to "max − 8" uses the file-wide maximum. A mel source gives the same numbers with
 * memory bounded independently of the recording's length: a first pass streams the audio
 * once to find the maximum and the length; windows are then computed from only the samples
 * they need. From a file, the audio is decoded twice and never held whole; from samples in
 * memory, nothing is copied.
 */
#ifndef ST_AUDIO_MEL_SOURCE_H
#define ST_AUDIO_MEL_SOURCE_H

#include <stddef.h>

#include "audio/mel.h"
#include "util/error.h"

typedef struct st_mel_source st_mel_source;

/* Over samples the caller keeps alive as long as the source. */
steno_status st_mel_source_from_samples(const st_mel_filters *filters, const float *samples, size_t n_samples,
                                        int n_threads, st_mel_source **out, st_error *err);

/* Over any audio file the FFmpeg front door reads (decoded at 16 kHz, mono). */
steno_status st_mel_source_from_file(const st_mel_filters *filters, const char *path, int n_threads,
                                     st_mel_source **out, st_error *err);

void st_mel_source_free(st_mel_source *source);

/* Audio samples (without the padding) and mel frames of audio (openai's content_frames). */
size_t st_mel_source_n_samples(const st_mel_source *source);
int st_mel_source_content_frames(const st_mel_source *source);

/* Writes frames [seek, seek + size) of the scaled log-mel into window [n_mels][window_frames],
 * zero-filling frames size..window_frames-1 as openai-whisper's pad_or_trim does. A file
 * source only moves forward: seek may not go below an earlier call's. */
steno_status st_mel_source_window(st_mel_source *source, int seek, int size, float *window, int window_frames,
                                  st_error *err);

#endif
