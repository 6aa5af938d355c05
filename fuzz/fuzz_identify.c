/* fuzz_identify.c — libFuzzer target: `steno models check` names any bytes without reading out
 * of bounds. st_identify_memory runs every reader identification uses (ggml, CTranslate2,
 * torch zip and pickle, pyannote's object tree, the safetensors JSON header) on the input;
 * whatever it says must be self-consistent: text fields terminated, a usable file is a
 * Whisper model, a named model belongs to the family found. Seeds: scripts/make-store-fixtures.py
 * fuzz-seeds and the ggml, CTranslate2 and pt targets' seeds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/identify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *text, size_t size) {
    if (!memchr(text, '\0', size)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_identity id;
    st_error err;
    if (st_identify_memory(data, size, "fuzz", &id, &err) != STENO_OK) abort();
    check_text(id.architecture, sizeof id.architecture);
    check_text(id.precision, sizeof id.precision);
    check_text(id.how, sizeof id.how);
    check_text(id.unusable, sizeof id.unusable);
    if (id.size != (int64_t)size) abort();
    if (id.usable && (!id.is_model || id.family != ST_FAMILY_WHISPER)) abort();
    if (!id.usable && !id.unusable[0]) abort();
    if (id.model && (!id.is_model || id.model->family != id.family)) abort();
    return 0;
}
