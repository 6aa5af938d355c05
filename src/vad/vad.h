/*
 * vad.h — voice activity detection: Silero VAD (v5 or v6, 16 kHz) read from its ONNX file in
 * place, and speech spans cut from its probabilities as faster-whisper's vad_filter does.
 *
 *   st_vad *vad;
 *   if (st_vad_open("silero_vad_v6.onnx", &vad, &err) != STENO_OK) ...
 *   st_vad_options o = st_vad_default_options();
 *   st_vad_span *spans; size_t n;
 *   if (st_vad_speech_spans(vad, samples, n_samples, &o, &spans, &n, &err) == STENO_OK) ...
 *   free(spans);
 *   st_vad_free(vad);
 *
 * The network sees the audio in frames of ST_VAD_FRAME samples (32 ms at 16 kHz), each preceded
 * by the last 64 samples of the frame before (zeros for the first), and carries its LSTM state
 * from frame to frame: one speech probability per frame. The last partial frame is zero-padded;
 * like faster-whisper, a signal whose length is a multiple of the frame still gets one more,
 * all-zero frame, so the count is n_samples / ST_VAD_FRAME + 1.
 *
 * A st_vad is not thread-safe (it owns one run state); open one per thread.
 */
#ifndef ST_VAD_VAD_H
#define ST_VAD_VAD_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define ST_VAD_SAMPLE_RATE 16000
#define ST_VAD_FRAME 512 /* samples per probability */

typedef struct st_vad st_vad;

/* Loads a Silero VAD ONNX file (silero_vad_v5.onnx or _v6.onnx, as shipped by silero-vad and
 * its npm and pip packagings). On failure *out is NULL and err names the file and the reason. */
steno_status st_vad_open(const char *path, st_vad **out, st_error *err);
/* The same from the bytes of such a file (copied: they need not outlive the call); name is
 * used in messages. */
steno_status st_vad_open_memory(const uint8_t *data, size_t size, const char *name, st_vad **out, st_error *err);
void st_vad_free(st_vad *vad);

/* The number of probabilities st_vad_probabilities writes for n_samples. */
size_t st_vad_n_frames(size_t n_samples);

/* Speech probability of each frame of 16 kHz mono samples, into probs[st_vad_n_frames(n)]. */
steno_status st_vad_probabilities(st_vad *vad, const float *samples, size_t n_samples, float *probs, st_error *err);

/* With keep set, the probabilities of each call are kept until the next, and a call on the
 * same samples (the same buffer and length, unchanged in between: the caller's promise) copies
 * them instead of running the network again; the VAD filter and the diarization of one
 * recording then share one pass. keep 0 drops what was kept. */
void st_vad_keep_last(st_vad *vad, int keep);
/* The frames Silero has run on in this process, every st_vad together (copies not counted). */
size_t st_vad_frames_run(void);

/* faster-whisper's VadOptions. */
typedef struct st_vad_options {
    float threshold;              /* a frame at or above it is speech (0.5) */
    float neg_threshold;          /* below it speech ends; < 0: max(threshold − 0.15, 0.01) (-1) */
    int min_speech_duration_ms;   /* shorter spans are dropped (0) */
    double max_speech_duration_s; /* longer spans are split, at a silence if one was seen (0: no limit) */
    int min_silence_duration_ms;  /* silence that ends a span (2000) */
    int speech_pad_ms;            /* added to each side of a span (400) */
} st_vad_options;

st_vad_options st_vad_default_options(void);

/* A stretch of speech, in samples: [start, end). */
typedef struct st_vad_span {
    size_t start, end;
} st_vad_span;

/* The speech spans that faster-whisper's get_speech_timestamps finds in probs (n_frames of
 * them, as st_vad_probabilities gives for n_samples): ordered, disjoint, within [0, n_samples).
 * *spans is malloc'd (NULL when *n_spans is 0); the caller frees it. */
steno_status st_vad_spans_from_probabilities(const float *probs, size_t n_frames, size_t n_samples,
                                             const st_vad_options *options, st_vad_span **spans, size_t *n_spans,
                                             st_error *err);

/* Both steps: the speech spans of 16 kHz mono samples. options may be NULL (the defaults). */
steno_status st_vad_speech_spans(st_vad *vad, const float *samples, size_t n_samples, const st_vad_options *options,
                                 st_vad_span **spans, size_t *n_spans, st_error *err);

/* Where a time on the joined speech (the spans cut out of the recording and put end to end, as
 * the VAD filter transcribes them) lies in the recording, in seconds: the time plus the
 * silence removed before its span. chunk names that span; −1 picks the span holding the time,
 * a time exactly at a junction belonging to the later span (faster-whisper's
 * SpeechTimestampsMap). Times past the last span stay in it. */
double st_vad_original_time(const st_vad_span *spans, size_t n_spans, double seconds, long chunk);

/* The index of the span holding a time on the joined speech, as st_vad_original_time picks it. */
long st_vad_chunk_of(const st_vad_span *spans, size_t n_spans, double seconds);

#endif
