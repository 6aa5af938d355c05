/*
 * fuzz_tokenizer.c — libFuzzer target for the Whisper tokenizer.
 *
 * The first input byte picks the vocabulary layout (English, multilingual, large-v3) and what
 * to do with the rest: encode it as text, decode it as little-endian int32 ids with fuzzed
 * flags, or parse it as a JSON vocabulary. Nothing may crash, and encoding must be lossless:
 * the encoded tokens' bytes, concatenated, are the input again.
 *
 * The vocabulary is synthetic (all 256 bytes, a few dozen merges including multi-byte UTF-8
 * ones, then empty tokens), so the target needs no model files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "whisper/tokenizer.h"

static const char *const merges[] = {
    "th",       "he",           "the",  " t",          " the",     "in",           "ing",
    " a",       "aa",           "aaaa", "er",          "'s",       " '",           "  ",
    "\n\n",     "\xC3\xA9",     "caf",  "caf\xC3\xA9", "\xE2\x99", "\xE2\x99\xAA", " \xE2\x99\xAA",
    "\xF0\x9F", "\xF0\x9F\x8E", "12",   "123",         " 1",       "((",           "))",
    "<|",       "|>",
};

static st_tokenizer *tokenizer_for(int variant) {
    static st_tokenizer *tokenizers[3];
    static uint8_t single_bytes[256];
    if (tokenizers[variant] != NULL) return tokenizers[variant];
    int n_vocab = 51864 + variant;
    size_t n_text = variant == 0 ? 50256 : 50257;
    st_vocab_entry *entries = calloc(n_text, sizeof *entries);
    if (entries == NULL) abort();
    for (int b = 0; b < 256; b++) {
        single_bytes[b] = (uint8_t)b;
        entries[b] = (st_vocab_entry){single_bytes + b, 1};
    }
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        entries[256 + i] = (st_vocab_entry){(const uint8_t *)merges[i], (uint32_t)strlen(merges[i])};
    }
    if (st_tokenizer_create(entries, n_text, n_vocab, &tokenizers[variant], NULL) != STENO_OK) abort();
    free(entries);
    return tokenizers[variant];
}

static void encode_losslessly(const st_tokenizer *t, const uint8_t *data, size_t size) {
    size_t n;
    if (st_tokenizer_encode(t, (const char *)data, size, NULL, 0, &n, NULL) != STENO_OK) abort();
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    uint8_t *joined = malloc(size ? size : 1);
    if (ids == NULL || joined == NULL) abort();
    size_t n_again;
    if (st_tokenizer_encode(t, (const char *)data, size, ids, n, &n_again, NULL) != STENO_OK || n_again != n) abort();
    size_t length = 0;
    for (size_t i = 0; i < n; i++) {
        size_t token_length;
        const uint8_t *bytes = st_tokenizer_token_bytes(t, ids[i], &token_length);
        if (bytes == NULL || token_length == 0 || length + token_length > size) abort();
        memcpy(joined + length, bytes, token_length);
        length += token_length;
    }
    if (length != size || (size > 0 && memcmp(joined, data, size) != 0)) abort();

    /* decoding the ids must agree in length with its own measurement */
    size_t measured, written;
    char text[64];
    if (st_tokenizer_decode(t, ids, n, 0, NULL, 0, &measured, NULL) != STENO_OK) abort();
    if (st_tokenizer_decode(t, ids, n, 0, text, sizeof text, &written, NULL) != STENO_OK) abort();
    /* text may hold NUL bytes of its own, so check the terminator where it must be */
    if (measured != written || text[written < sizeof text ? written : sizeof text - 1] != '\0') abort();
    free(ids);
    free(joined);
}

static void decode_ids(const st_tokenizer *t, unsigned flags, const uint8_t *data, size_t size) {
    size_t n = size / 4;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (ids == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 | (uint32_t)data[4 * i + 2] << 16 |
                     (uint32_t)data[4 * i + 3] << 24;
        /* mostly valid ids, sometimes anything at all */
        ids[i] = (v & 0x80000000u) ? (int32_t)v : (int32_t)(v % 52000u);
    }
    char text[256];
    size_t length;
    st_error err;
    st_tokenizer_decode(t, ids, n, flags, text, sizeof text, &length, &err);
    for (size_t i = 0; i < n; i++) {
        size_t token_length;
        char name[64];
        st_tokenizer_token_bytes(t, ids[i], &token_length);
        st_tokenizer_special_name(t, ids[i], name, sizeof name);
        st_tokenizer_language_code(t, ids[i]);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int variant = data[0] % 3;
    int mode = (data[0] >> 2) & 3;
    unsigned flags = (data[0] >> 4) & 7;
    const st_tokenizer *t = tokenizer_for(variant);
    data++;
    size--;
    if (mode == 0 || mode == 3) { /* half the modes encode: text is the most varied input */
        encode_losslessly(t, data, size);
    } else if (mode == 1) {
        decode_ids(t, flags, data, size);
    } else {
        st_tokenizer *parsed = NULL;
        st_error err;
        if (st_tokenizer_create_from_json((const char *)data, size, "fuzz.json", 51864 + variant, &parsed, &err) ==
            STENO_OK) {
            st_tokenizer_free(parsed);
        }
    }
    return 0;
}
