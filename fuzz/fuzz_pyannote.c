/* fuzz_pyannote.c — libFuzzer target: any bytes given to the pyannote readers are refused or
 * read, never out of bounds. The first byte chooses the reader: 2 or 3, the pipeline's
 * config.yaml parser; otherwise the checkpoint reader (torch archive, pickle, the
 * "pyannote.audio" entry and the state dict) asked for PyanNet (even) or WeSpeakerResNet34
 * (odd), whose loaded tensors must all lie inside the input. The seeds carry that byte before
 * the file. */
#include <stddef.h>
#include <stdint.h>

#include "diarize/pyannote_pipeline.h"
#include "fuzz_support.h"
#include "models/pyannote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    st_error err;
    if ((data[0] & 3) >= 2) {
        st_pyannote_config config;
        if (st_pyannote_config_parse((const char *)data + 1, size - 1, "fuzz", &config, &err) == STENO_OK) {
            if (!(config.threshold >= 0 && config.threshold <= 2) || config.min_cluster_size < 1) abort();
        }
        return 0;
    }
    const char *class_name = data[0] & 1 ? "WeSpeakerResNet34" : "PyanNet";
    st_model model;
    if (st_pyannote_load_memory(data + 1, size - 1, "fuzz", class_name, &model, &err) != STENO_OK) return 0;
    st_fuzz_check_model(&model, data + 1, size - 1);
    st_model_free(&model);
    return 0;
}
