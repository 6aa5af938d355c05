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

/* What the VAD heard: the spans kept, and its probability per ST_VAD_FRAME of the recording. */
typedef struct st_vad_speech {
    const st_vad_span *spans;
    size_t n_spans;
    const float *probs; /* NULL: unknown */
    size_t n_frames;
    float threshold;
} st_vad_speech;

/* Whether seconds [from, to) of the joined speech hold a frame the VAD took for speech. */
int st_vad_speech_between(const st_vad_speech *speech, double from, double to);

/* Maps one segment and its words from the joined speech back to the recording, as
 * faster-whisper's restore_speech_timestamps: each word by the span holding its middle (so a
 * word never straddles two spans), the segment then from its first and last word. A segment
 * without words maps its start and end by the spans they fall in; beyond faster-whisper, when
 * it runs over a junction and (with probs) no speech lies between its start and the junction,
 * its text begins in the next span, so it starts where that span does (and likewise an end
 * after a junction with no speech before it ends where the previous span does). */
void st_vad_filter_map_segment(st_segment *segment, const st_vad_speech *speech);

#endif
