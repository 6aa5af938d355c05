/* fuzz_onnx.c — libFuzzer target: any bytes given to the ONNX reader and to the Silero VAD
 * loader are refused or accepted, never read out of bounds; every tensor the reader hands out
 * has its data inside the input with exactly the count its shape implies, float tensors read
 * out, and a loaded Silero model runs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vad/onnx.h"
#include "vad/vad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size) {
    return p >= data && n <= size && p <= data + size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_onnx_model model;
    st_error err;
    if (st_onnx_parse(data, size, "fuzz", &model, &err) == STENO_OK) {
        for (size_t i = 0; i < model.n_tensors; i++) {
            const st_onnx_tensor *t = &model.tensors[i];
            if (!inside(t->message, t->message_size, data, size)) abort();
            if (t->raw && !inside(t->raw, t->raw_size, data, size)) abort();
            if (t->data_type != ST_ONNX_FLOAT || t->external) continue;
            if (t->packed && !inside(t->packed, 4 * t->n_elements, data, size)) abort();
            if (t->raw && t->raw_size != 4 * t->n_elements) abort();
            float *values = malloc(t->n_elements ? 4 * t->n_elements : 1);
            if (!values) abort();
            if (st_onnx_tensor_floats(t, values, "fuzz", &err) != STENO_OK) abort();
            free(values);
        }
        st_onnx_model_free(&model);
    }
    st_vad *vad;
    if (st_vad_open_memory(data, size, "fuzz", &vad, &err) != STENO_OK) return 0;
    float samples[1000] = {0}, probs[2];
    if (st_vad_probabilities(vad, samples, 1000, probs, &err) != STENO_OK) abort();
    st_vad_free(vad);
    return 0;
}
