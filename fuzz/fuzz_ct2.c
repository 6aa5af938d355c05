/* fuzz_ct2.c — libFuzzer target: any bytes given to the CTranslate2 model.bin reader are
 * refused or loaded, never read out of bounds; a loaded model's tensors and their int8 scales
 * all lie inside the input, and every tensor converts to float32. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_support.h"
#include "models/ct2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_model model;
    st_error err;
    if (st_ct2_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    st_fuzz_check_model(&model, data, size);
    st_model_free(&model);
    return 0;
}
