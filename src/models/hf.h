/*
 * hf.h — Hugging Face transformers Whisper models (model.safetensors), read in place.
 *
 * A transformers folder holds config.json (the dimensions), generation_config.json (word
 * alignment heads), the weights as model.safetensors or as shards named by
 * model.safetensors.index.json's weight_map, and the tokenizer files (vocab.json,
 * tokenizer.json…). Every shard is mapped read-only and each tensor of the resulting st_model
 * points into its shard under openai-whisper's canonical name (hf_names.h). The output
 * projection proj_out.weight is tied to the token embedding: it is usually absent, and when
 * present it must hold the embedding's bytes. Dimensions come from config.json where it gives
 * them and from the tensor shapes otherwise; every tensor is checked against them.
 *
 * Sharded models use st_model.extra_files: model->file is the first shard, extra_files the
 * others, all unmapped by st_model_free.
 */
#ifndef ST_MODELS_HF_H
#define ST_MODELS_HF_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

/* Reads the dimensions a transformers config.json gives (d_model, encoder/decoder layers and
 * attention heads, num_mel_bins, vocab_size, max_source/target_positions) into *dims, 0 for
 * those it leaves out. STENO_ERR_NOT_FOUND when there is no such file; STENO_ERR_FORMAT for
 * invalid JSON or values; STENO_ERR_UNSUPPORTED for a model that is not a Whisper steno can run
 * (another model_type or activation, scaled embeddings, feed-forward width other than 4 d). */
steno_status st_hf_read_config(const char *path, st_whisper_dims *dims, st_error *err);

/* Loads a transformers Whisper model from its folder (model.safetensors, or the shards of
 * model.safetensors.index.json) or from the path of a .safetensors file (the configuration is
 * looked for beside it). On failure *out is zeroed and err names the file, the offset or tensor,
 * and the reason. vocabulary_path is the folder's vocab.json, else its tokenizer.json. */
steno_status st_hf_load(const char *path, st_model *out, st_error *err);

/* The same for one safetensors file already in memory (kept alive by the caller as long as
 * *out), with no configuration: dimensions from the shapes. Used by the fuzz target. */
steno_status st_hf_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err);

/* Whether dir looks like a transformers model folder: it holds a model.safetensors whose first
 * bytes are a safetensors header, or a model.safetensors.index.json. (config.json is not
 * required: without it the dimensions come from the shapes.) */
int st_hf_is_model_dir(const char *dir);

#endif
