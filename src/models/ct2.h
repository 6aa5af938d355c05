/*
 * ct2.h — CTranslate2 (faster-whisper) Whisper model directories, read in place.
 *
 * A directory holds model.bin (CTranslate2's binary format, versions 1 to 6), config.json
 * (alignment heads), a vocabulary (vocabulary.json, or vocabulary.txt in older conversions)
 * and, in newer ones, preprocessor_config.json (feature_size = mel bins). model.bin is mapped
 * read-only and every tensor of the resulting st_model points into the mapping under
 * openai-whisper's canonical names:
 *
 *   fused self-attention linear_0 [3d, d]  -> attn.query / attn.key / attn.value (row ranges;
 *                                             the key's bias, zero-filled by the converter, is
 *                                             dropped, and refused if it is not zero)
 *   cross-attention linear_0 / linear_1 [2d, d] -> cross_attn.query / cross_attn.key, .value
 *   layer norms gamma / beta               -> weight / bias
 *   position_encodings/encodings           -> positional_embedding
 *
 * int8 weights keep their per-row scales (st_tensor.row_scales, value = q / scale), int16
 * weights their one scale per tensor; float16, bfloat16 and float32 are taken as stored.
 */
#ifndef ST_MODELS_CT2_H
#define ST_MODELS_CT2_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

/* Loads a CTranslate2 Whisper model from its directory, or from the path of its model.bin
 * (the other files are looked for beside it). On failure *out is zeroed and err names the
 * file, the offset and the reason. file_type is the stored type of the linear weights
 * (CTranslate2's type id: 0 f32, 1 int8, 2 int16, 4 f16, 5 bf16). */
steno_status st_ct2_load(const char *path, st_model *out, st_error *err);

/* The same for model.bin bytes already in memory (the caller keeps them alive as long as
 * *out); no configuration or vocabulary is read. name is used in messages. */
steno_status st_ct2_load_memory(const uint8_t *data, size_t size, const char *name, st_model *out, st_error *err);

/* Whether the first n bytes of a file look like a CTranslate2 model.bin: a binary version
 * from 1 to 6 and, from version 2 on, a NUL-terminated printable specification name. A
 * version-1 file has no name, so `in_model_directory` (the file is a folder's model.bin)
 * must vouch for it. */
int st_ct2_detect(const uint8_t *head, size_t n, int in_model_directory);

/* The specification name a model.bin of binary version 2 or later starts with ("WhisperSpec"),
 * written to out; 0 (and out empty) when head is no such file. Reads only the first bytes, so
 * it names a file the full reader refuses. */
int st_ct2_spec_name(const uint8_t *head, size_t n, char *out, size_t size);

#endif
