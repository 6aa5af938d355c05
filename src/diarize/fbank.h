/*
 * fbank.h — Kaldi's log mel filter-bank features (compute-fbank-feats), as WeSpeaker's
 * speaker-embedding nets read them.
 *
 * The settings are pyannote.audio's for WeSpeaker ResNet34 (torchaudio's kaldi.fbank with
 * num_mel_bins 80, frame_length 25 ms, frame_shift 10 ms, dither 0, Hamming window, no energy
 * term) and Kaldi's defaults for the rest: frames of 400 samples every 160 with no padding
 * (snip_edges), each frame's mean removed, pre-emphasis x[i] - 0.97 x[i-1] with x[-1] taken as
 * x[0], the window 0.54 - 0.46 cos(2πn / 399), zero padding to 512 points, the power spectrum,
 * 80 triangular filters evenly spaced on Kaldi's mel scale 1127 ln(1 + f/700) between 20 Hz and
 * the Nyquist frequency (the Nyquist bin itself left out, as Kaldi does), and the natural log
 * floored at float32's epsilon. The FFT runs in double precision.
 */
#ifndef ST_DIARIZE_FBANK_H
#define ST_DIARIZE_FBANK_H

#include <stddef.h>

#include "util/error.h"

#define ST_FBANK_SAMPLE_RATE 16000
#define ST_FBANK_N_MELS 80
#define ST_FBANK_FRAME_LENGTH 400
#define ST_FBANK_FRAME_SHIFT 160

typedef struct st_fbank st_fbank;

/* The filters, window and FFT tables, built once and read only afterwards. */
st_fbank *st_fbank_create(st_error *err);
void st_fbank_free(st_fbank *fbank);

/* Frames the features of n_samples samples have: 1 + (n - 400) / 160, 0 below 400. */
int st_fbank_n_frames(size_t n_samples);

/* The features of samples[0..n_samples) — on whatever scale the caller chose (WeSpeaker's
 * nets read int16-scale values) — into out[frame][mel], st_fbank_n_frames(n_samples) rows. */
void st_fbank_compute(const st_fbank *fbank, const float *samples, size_t n_samples, float *out);

#endif
