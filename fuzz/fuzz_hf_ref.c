/*
 * fuzz_hf_ref.c — libFuzzer target for a Hugging Face cache's refs/main (hf_cache.c).
 *
 * The input is the file's bytes. Whatever it holds, an accepted ref must be a single plain
 * folder name: no '/', not "." or "..", no NUL or whitespace, no leading '.', at most 255
 * bytes: nothing a snapshot path could be steered outside snapshots/ with.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/hf_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[256];
    if (!st_hf_cache_parse_ref(data, size, name, sizeof name)) return 0;
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.' || strchr(name, '/') || strpbrk(name, " \t\r\n")) abort();
    return 0;
}
