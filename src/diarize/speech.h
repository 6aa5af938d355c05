/*
 * speech.h — where someone speaks, frame by frame, for the default diarization pipeline.
 *
 * A frame is ST_DIARIZE_HOP samples (10 ms at 16 kHz), frame f covering samples
 * [f * hop, (f + 1) * hop). Speech activity comes from frame probabilities turned into a mask:
 * frames at or above a threshold are speech, silences shorter than a gap are filled, and every
 * stretch of speech is widened by a pad on each side (speech onsets and offsets are soft).
 *
 * The probabilities are Silero VAD's (src/vad), one per 32 ms; a 10 ms frame takes the one of
 * the VAD frame holding its centre. Diarization wants every word that belongs to a turn, so the
 * defaults lean towards speech (a lower threshold than faster-whisper's 0.5, short gaps filled):
 * chosen by DER on ../shared/data/diarization (bench/README.md).
 */
#ifndef ST_DIARIZE_SPEECH_H
#define ST_DIARIZE_SPEECH_H

#include <stddef.h>

#include "util/error.h"
#include "vad/vad.h"

#define ST_DIARIZE_SAMPLE_RATE 16000
#define ST_DIARIZE_HOP 160 /* samples per frame: 10 ms */

typedef struct st_speech_options {
    float threshold; /* a frame whose probability reaches it is speech */
    int gap_frames;  /* non-speech runs up to this long between speech are filled */
    int pad_frames;  /* speech is widened by this many frames on each side */
} st_speech_options;

st_speech_options st_speech_default_options(void);

/* Frames of n_samples samples: n_samples / ST_DIARIZE_HOP (a last partial frame is dropped). */
size_t st_speech_n_frames(size_t n_samples);

/* speech[f] = 1 where frame f holds speech, for f < st_speech_n_frames(n_samples). options
 * may be NULL (the defaults). */
steno_status st_speech_activity(st_vad *vad, const float *samples, size_t n_samples, const st_speech_options *options,
                                unsigned char *speech, st_error *err);

/* The mask step alone: one probability per 10 ms frame (n_frames) to speech[n_frames]. */
void st_speech_mask(const float *probabilities, size_t n_frames, const st_speech_options *options,
                    unsigned char *speech);

#endif
