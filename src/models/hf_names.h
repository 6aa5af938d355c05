/*
 * hf_names.h — Hugging Face transformers' Whisper tensor names mapped to openai-whisper's.
 *
 * transformers renames every tensor of the openai checkpoint (convert_openai_to_hf.py's
 * mapping): "model.encoder.layers.3.self_attn.q_proj.weight" is openai's
 * "encoder.blocks.3.attn.query.weight". The HF readers (safetensors, legacy pytorch_model.bin)
 * translate back so the model code only ever sees canonical names.
 */
#ifndef ST_MODELS_HF_NAMES_H
#define ST_MODELS_HF_NAMES_H

#include <stddef.h>

/* Writes the canonical name of HF tensor `hf_name` into out (out_size bytes). Returns 1 when
 * it has one, 0 for a Whisper tensor without a canonical counterpart (proj_out.weight, the
 * output projection tied to the token embedding), -1 for a name that is not part of an HF
 * Whisper model or that does not fit in out. The "model." prefix is optional. */
int st_hf_canonical_name(const char *hf_name, char *out, size_t out_size);

#endif
