/*
 * mel.h — the log-mel spectrogram Whisper's encoder reads, computed as openai-whisper's
 * log_mel_spectrogram() does.
 *
 * 16 kHz mono float samples, followed by a chosen amount of zero padding, go through a
 * 400-point STFT (hop 160, periodic Hann window, torch's centred reflect padding, last frame
 * dropped), the power spectrum is projected on librosa's Slaney mel filters, and the result is
 * log10'd, clamped to 8 decades below its global maximum and scaled by (x + 4) / 4.
 *
 * The filters and the FFT tables are built once per mel size (st_mel_filters) and are read
 * only afterwards, so one st_mel_filters may serve several threads.
 */
#ifndef ST_AUDIO_MEL_H
#define ST_AUDIO_MEL_H

#include <stddef.h>

#include "util/error.h"

#define ST_MEL_SAMPLE_RATE 16000
#define ST_MEL_N_FFT 400
#define ST_MEL_HOP 160
#define ST_MEL_N_BINS (ST_MEL_N_FFT / 2 + 1)
/* openai-whisper's transcribe() appends 30 s of zeros before computing the mel. */
#define ST_MEL_PADDING_30S (30 * ST_MEL_SAMPLE_RATE)
/* The largest mel size (large-v3 and turbo); the other models use 80. */
#define ST_MEL_MAX_MELS 128

/* Everything precomputed for one mel size: the filter bank and the FFT tables. */
typedef struct st_mel_filters st_mel_filters;

/* A log-mel spectrogram: data[mel * n_frames + frame], frames contiguous per mel bin. */
typedef struct st_mel {
    float *data;
    int n_mels;
    int n_frames;
} st_mel;

/* Builds the filters for n_mels (80 or 128) bins. Returns NULL and fills err on failure. */
st_mel_filters *st_mel_filters_create(int n_mels, st_error *err);

void st_mel_filters_free(st_mel_filters *filters);

int st_mel_filters_n_mels(const st_mel_filters *filters);

/* The filter bank, [n_mels][ST_MEL_N_BINS] row-major: librosa.filters.mel(sr=16000,
 * n_fft=400, n_mels, htk=False, norm="slaney"). */
const float *st_mel_filters_weights(const st_mel_filters *filters);

/* Frames the mel of n_samples samples plus n_padding_samples zeros has: total / ST_MEL_HOP. */
size_t st_mel_frame_count(size_t n_samples, size_t n_padding_samples);

/*
 * Computes the log-mel spectrogram of samples[0..n_samples) followed by n_padding_samples
 * zeros (ST_MEL_PADDING_30S to match transcribe()), using n_threads threads (>= 1). The
 * clamp to max - 8 uses the maximum over the padding too, as openai-whisper's does.
 * samples may be NULL when n_samples is 0. The total must exceed ST_MEL_N_FFT / 2 samples:
 * torch's reflect padding cannot be done on fewer, and openai-whisper fails there as well.
 * On success out owns a malloc'd buffer to release with st_mel_free; on failure out is
 * zeroed.
 */
steno_status st_mel_compute(const st_mel_filters *filters, const float *samples, size_t n_samples,
                            size_t n_padding_samples, int n_threads, st_mel *out, st_error *err);

/*
 * The pieces of st_mel_compute, for callers that compute a long recording's mel a window at a
 * time (mel_source.h). The signal is n_audio audio samples followed by zeros up to n_total;
 * buffer holds its samples [buffer_start, buffer_start + buffer_length), which must cover
 * every audio sample the frames touch. Writes log10 of the mel power (before the clamp and
 * scaling) of frames [first_frame, first_frame + n_frames) to out[m * stride + (f -
 * first_frame)] and returns the largest value written.
 */
float st_mel_log_frames(const st_mel_filters *filters, const float *buffer, size_t buffer_start, size_t buffer_length,
                        size_t n_audio, size_t n_total, size_t first_frame, size_t n_frames, float *out,
                        size_t stride, int n_threads);

/* openai-whisper's clamp to max_log - 8 and (x + 4) / 4, in place. */
void st_mel_scale(float *values, size_t n, float max_log);

/* Releases out->data and zeroes out. Accepts a zeroed or already freed st_mel. */
void st_mel_free(st_mel *mel);

/* The power spectrum |X[k]|^2, k = 0..ST_MEL_N_FFT/2, of one already windowed frame of
 * ST_MEL_N_FFT samples. Exposed so the FFT can be checked against a direct DFT. */
void st_mel_power_spectrum(const st_mel_filters *filters, const float *frame, float *power);

#endif
