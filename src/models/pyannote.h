/*
 * pyannote.h — pyannote.audio checkpoints (pytorch_model.bin of pyannote/segmentation-3.0 and
 * pyannote/wespeaker-voxceleb-resnet34-LM) read in place.
 *
 * pyannote.audio saves the dict pytorch-lightning writes — {"state_dict": {name: tensor},
 * "hyper_parameters", …} — with its own entry {"pyannote.audio": {"versions", "architecture":
 * {"module", "class"}, "specifications"}}. st_pyannote_load checks that the architecture is the
 * class the caller runs and returns the state dict as an st_model: tensors under their
 * state-dict names ("lstm.weight_ih_l0", "resnet.layer1.0.conv1.weight"), in PyTorch's shape
 * order, pointing into the mapped file. Shapes are checked by the net that uses them
 * (st_model_require), so a wrong or missing tensor is named in the error.
 *
 * path is the file itself, a folder holding pytorch_model.bin, or a Hugging Face cache
 * repository or snapshot folder (models--pyannote--segmentation-3.0).
 */
#ifndef ST_MODELS_PYANNOTE_H
#define ST_MODELS_PYANNOTE_H

#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"

/* Loads the checkpoint at path, which must hold pyannote.audio architecture class_name
 * ("PyanNet", "WeSpeakerResNet34"). */
steno_status st_pyannote_load(const char *path, const char *class_name, st_model *out, st_error *err);

/* The same from bytes in memory, kept alive by the caller as long as *out (the fuzz target). */
steno_status st_pyannote_load_memory(const uint8_t *data, size_t size, const char *name, const char *class_name,
                                     st_model *out, st_error *err);

#endif
