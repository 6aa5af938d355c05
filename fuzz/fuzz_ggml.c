/* fuzz_ggml.c — libFuzzer target: any bytes given to the ggml loader are refused or loaded,
 * never read out of bounds; a loaded model's tensors all lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_support.h"
#include "models/ggml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_model model;
    st_error err;
    if (st_ggml_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    st_fuzz_check_model(&model, data, size);
    st_model_free(&model);
    return 0;
}
