/*
 * vad_filter.h — transcribing only the speech of a recording, as faster-whisper's vad_filter
 * does (st_transcribe and st_transcribe_file call it when options->vad is set).
 */
#ifndef ST_WHISPER_VAD_FILTER_H
#define ST_WHISPER_VAD_FILTER_H

#include "whisper/transcribe.h"

/* Finds the speech spans of the samples with options->vad, transcribes them joined end to end
 * (with options->vad ignored), and maps the times of the segments (and words) it appends to
 * out, and of those handed to options->on_segment, back to the samples' timeline.
 * out->duration is the whole recording's. */
steno_status st_transcribe_speech(st_whisper_context *context, const float *samples, size_t n_samples,
                                  const st_transcribe_options *options, st_transcript *out, st_error *err);

/* Maps one segment and its words from the joined speech back to the recording, as
 * faster-whisper's restore_speech_timestamps: each word by the span holding its middle (so a
 * word never straddles two spans), the segment then from its first and last word; a segment
 * without words by its own start and end. */
void st_vad_filter_map_segment(st_segment *segment, const st_vad_span *spans, size_t n_spans);

#endif
