/*
 * device.h — the Whisper network on a GPU, behind the same calls as the CPU path.
 *
 * When a GPU was chosen (nn/device.h) before a model is loaded, st_whisper_model_init uploads
 * the weights once through the CUDA backend (nn/cuda/backend.h): every linear layer as halves
 * (half files are copied as they are, other types widened the way the CPU reads them), the
 * query, key and value projections side by side as one matrix. st_whisper_state_init then makes
 * the state's GPU buffers, and st_whisper_encode, st_whisper_decode_batch and
 * st_whisper_kv_reorder hand their work here after checking their arguments, so the decoding
 * rules (sampling, beams, timestamps, fallback) stay the shared host code. The encoder output
 * still arrives in state->audio.
 */
#ifndef ST_WHISPER_DEVICE_H
#define ST_WHISPER_DEVICE_H

#include <stddef.h>

#include "whisper/model.h"

/* Uploads model's weights to the chosen GPU; model->device stays NULL on the CPU. */
steno_status st_whisper_device_model_create(st_whisper_model *model, st_error *err);
void st_whisper_device_model_free(st_whisper_model *model);

/* The state's buffers on the model's GPU (nothing for a CPU model). */
steno_status st_whisper_device_state_create(st_whisper_state *state, st_error *err);
void st_whisper_device_state_free(st_whisper_state *state);

/* The device halves of st_whisper_encode, st_whisper_decode_batch and st_whisper_kv_reorder,
 * called with arguments those have checked. */
steno_status st_whisper_device_encode(st_whisper_state *state, const float *mel, st_error *err);
steno_status st_whisper_device_decode(st_whisper_state *state, int n_seq, const int *tokens, int n_tokens, int n_past,
                                      st_whisper_logits which, float *logits, st_error *err);
steno_status st_whisper_device_reorder(st_whisper_state *state, const int *source, int n_seq, int n_positions,
                                       st_error *err);

/* GPU memory the model's weights and the state hold, in bytes (0 for a CPU model). */
size_t st_whisper_device_bytes(const st_whisper_state *state);

#endif
