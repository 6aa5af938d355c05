/*
 * pyannote_seg.h — pyannote/segmentation-3.0's PyanNet: 10 s of 16 kHz audio to, every
 * ~17 ms, the log-probabilities of 7 powerset classes over 3 local speakers.
 *
 * The net, as pyannote.audio builds it: SincNet (the waveform instance-normalised; 80 sinc
 * band-pass filters of 251 taps at stride 10 regenerated from the 40 learned band edges of
 * asteroid's ParamSincFB, their absolute value; two Conv1d(…, 60, 5); after each of the three,
 * MaxPool1d(3, 3), InstanceNorm1d and LeakyReLU), a 4-layer bidirectional LSTM of 128, two
 * Linear(…, 128) with LeakyReLU, Linear(128, 7) and LogSoftmax. The classes are the speaker
 * sets {}, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}.
 */
#ifndef ST_DIARIZE_PYANNOTE_SEG_H
#define ST_DIARIZE_PYANNOTE_SEG_H

#include <stddef.h>

#include "models/tensor_set.h"
#include "util/error.h"

#define ST_PYANNOTE_SEG_CLASSES 7
#define ST_PYANNOTE_SEG_SPEAKERS 3
#define ST_PYANNOTE_SEG_CHUNK_SAMPLES 160000 /* the 10 s the net was trained on */

typedef struct st_pyannote_seg st_pyannote_seg;

/* Loads the checkpoint at path (a pytorch_model.bin, or a folder or Hugging Face cache
 * repository holding one); a missing or misshapen tensor is named in the error. */
steno_status st_pyannote_seg_load(const char *path, st_pyannote_seg **out, st_error *err);

/* The same from a checkpoint already read (st_pyannote_load), which the net takes over: *model
 * is zeroed, and freed on failure. */
steno_status st_pyannote_seg_from_model(st_model *model, st_pyannote_seg **out, st_error *err);
void st_pyannote_seg_free(st_pyannote_seg *seg);

/* Output frames for n_samples input samples (589 for 10 s); 0 when too short. */
int st_pyannote_seg_n_frames(size_t n_samples);

/* Runs the net on samples[0..n_samples) (16 kHz, [-1, 1]); log_probs receives
 * [st_pyannote_seg_n_frames(n_samples)][7]. Scratch grows to the longest input seen. */
steno_status st_pyannote_seg_run(st_pyannote_seg *seg, const float *samples, size_t n_samples, float *log_probs,
                                 st_error *err);

/* The most likely class of each frame as 0/1 activity per speaker: multilabel [n_frames][3]. */
void st_pyannote_powerset_to_multilabel(const float *log_probs, int n_frames, float *multilabel);

#endif
