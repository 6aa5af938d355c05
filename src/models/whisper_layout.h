/*
 * whisper_layout.h — what a Whisper model's tensor set must contain, whatever its file format.
 *
 * Every loader validates the dimensions it read and each tensor's shape against the shapes
 * the architecture implies, so a hostile or mislabelled file is refused at load time with the
 * tensor's name, rather than read out of bounds later by the model code.
 */
#ifndef ST_MODELS_WHISPER_LAYOUT_H
#define ST_MODELS_WHISPER_LAYOUT_H

#include "models/tensor_set.h"

/* Checks every dimension is within the range any Whisper model can have (source names the
 * file in messages). */
steno_status st_whisper_dims_validate(const st_whisper_dims *dims, const char *source, st_error *err);

/* The PyTorch-order shape that canonical tensor `name` must have for these dimensions.
 * Returns 0 and fills shape/n_dims for a known name, -1 for a name that is not part of a
 * Whisper model. */
int st_whisper_expected_shape(const st_whisper_dims *dims, const char *name, int64_t shape[ST_TENSOR_MAX_DIMS],
                              int *n_dims);

/* Checks that every tensor the architecture needs is present (shapes were checked at load). */
steno_status st_whisper_check_complete(const st_model *model, const char *source, st_error *err);

#endif
