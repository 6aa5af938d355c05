/* fuzz_pt.c — libFuzzer target: any bytes given to the torch checkpoint reader (ZIP index,
 * pickle machine, Whisper mapping) are refused or loaded, never read out of bounds; a loaded
 * model's tensors all lie inside the input. Bare pickles are run through the machine too, so
 * the fuzzer reaches its opcodes without having to build a valid archive around them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/pickle.h"
#include "fuzz_support.h"
#include "models/pt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_error err;
    if (size > 0 && data[0] == 0x80) {
        st_pickle pickle;
        if (st_pickle_load(data, size, "fuzz", &pickle, &err) == STENO_OK) {
            if (!pickle.root) abort();
            st_pickle_free(&pickle);
        }
        return 0;
    }
    st_model model;
    if (st_pt_load_memory(data, size, "fuzz", &model, &err) != STENO_OK) return 0;
    st_fuzz_check_model(&model, data, size);
    st_model_free(&model);
    return 0;
}
