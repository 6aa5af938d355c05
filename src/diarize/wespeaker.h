/*
 * wespeaker.h — pyannote/wespeaker-voxceleb-resnet34-LM: speaker embeddings of 256 values
 * from 16 kHz audio, optionally pooled over weighted frames.
 *
 * As pyannote.audio's WeSpeakerResNet34 runs it: Kaldi fbank (fbank.h) of the samples on the
 * int16 scale, each mel bin's mean over the frames subtracted, then WeSpeaker's ResNet34 (a
 * 3x3 convolution to 32 channels, basic residual blocks 3-4-6-3 of 32, 64, 128 and 256
 * channels, the last three stages halving frequency and time, every convolution followed by
 * batch norm), statistics pooling over time of the 256 channels x 10 frequency rows (mean and
 * standard deviation), and one Linear(5120, 256). With weights, the pooling is pyannote's
 * weighted form (the weights resampled linearly to the ResNet's frame rate; the variance
 * divided by V1 - V2/V1, V1 and V2 the sums of the weights and of their squares), which is how
 * pyannote 3.1 embeds one speaker of a chunk. Batch norm is folded into the convolutions at
 * load.
 */
#ifndef ST_DIARIZE_WESPEAKER_H
#define ST_DIARIZE_WESPEAKER_H

#include <stddef.h>

#include "models/tensor_set.h"
#include "util/error.h"

#define ST_WESPEAKER_DIM 256

typedef struct st_wespeaker st_wespeaker;

/* Loads the checkpoint at path (a pytorch_model.bin, or a folder or Hugging Face cache
 * repository holding one); a missing or misshapen tensor is named in the error. */
steno_status st_wespeaker_load(const char *path, st_wespeaker **out, st_error *err);

/* The same from a checkpoint already read (st_pyannote_load), which the net takes over: *model
 * is zeroed, and freed on failure. */
steno_status st_wespeaker_from_model(st_model *model, st_wespeaker **out, st_error *err);
void st_wespeaker_free(st_wespeaker *w);

/* Embeds samples[0..n_samples) (16 kHz, [-1, 1]; at least 1 s). weights is NULL (one
 * embedding pooled over every frame; n_sets must be 1) or n_sets rows of n_weights frame
 * weights spread evenly over the samples (the segmentation's frames), one embedding each: the
 * ResNet runs once and each row is pooled from it. embeddings receives [n_sets][256]; a row
 * whose weights sum to zero gives NaN, as pyannote's does. */
steno_status st_wespeaker_embed(st_wespeaker *w, const float *samples, size_t n_samples, const float *weights,
                                int n_weights, int n_sets, float *embeddings, st_error *err);

#endif
