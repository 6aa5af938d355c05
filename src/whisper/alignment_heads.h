/*
 * alignment_heads.h — which decoder cross-attention heads word timestamps read.
 *
 * openai-whisper times words by the cross-attention of a few (layer, head) pairs per official
 * model (its _ALIGNMENT_HEADS). No weight file format stores them except Hugging Face and
 * CTranslate2 configs, so steno knows the official models' heads by their dimensions and picks:
 *
 *   1. the heads the file's own config names (st_model.alignment_heads), when present;
 *   2. else the official model with the same (n_text_layer, n_text_head, n_vocab, n_mels).
 *      large-v1 and large-v2 share dimensions: the file name decides ("large-v1" in it picks
 *      v1), and without that hint large-v2 is taken, the more widely used of the two;
 *   3. else openai-whisper's fallback for a checkpoint loaded by path: every head of the second
 *      half of the decoder layers.
 */
#ifndef ST_WHISPER_ALIGNMENT_HEADS_H
#define ST_WHISPER_ALIGNMENT_HEADS_H

#include "models/tensor_set.h"
#include "util/error.h"

typedef struct st_alignment_heads {
    int *pairs; /* n (layer, head) pairs: pairs[2*i], pairs[2*i+1]; owned */
    int n;
    const char *origin; /* "config", an official model name ("base.en"), or "fallback" */
} st_alignment_heads;

/* Chooses the heads for a model as above. name_hint is the model's file name or path (may be
 * NULL). Config heads outside the model's layers or heads are refused with a message. */
steno_status st_alignment_heads_choose(const st_whisper_dims *dims, const int *config_heads, int n_config_heads,
                                       const char *name_hint, st_alignment_heads *out, st_error *err);
void st_alignment_heads_free(st_alignment_heads *heads);

#endif
