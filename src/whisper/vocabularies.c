/* vocabularies.c — the built-in vocabularies: data/vocab/ embedded at build time, parsed on use. */
#include "whisper/vocabularies.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/embed.h"

/* data/vocab/ is embedded whole; STENO_VOCAB_DIR is set by CMakeLists.txt. */
ST_EMBED(st_vocab_gpt2, STENO_VOCAB_DIR "/gpt2.tiktoken");
ST_EMBED(st_vocab_multilingual, STENO_VOCAB_DIR "/multilingual.tiktoken");

static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard base64 text[0..length) into out; returns the byte count or -1. */
static long decode_base64(const char *text, size_t length, uint8_t *out) {
    long n = 0;
    uint32_t bits = 0;
    int n_bits = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '=') break;
        int v = base64_value(text[i]);
        if (v < 0) return -1;
        bits = bits << 6 | (uint32_t)v;
        n_bits += 6;
        if (n_bits >= 8) {
            n_bits -= 8;
            out[n++] = (uint8_t)(bits >> n_bits);
        }
    }
    return n;
}

steno_status st_tokenizer_create_builtin(int n_vocab, st_tokenizer **out, st_error *err) {
    *out = NULL;
    const int multilingual = n_vocab >= 51865;
    const char *text = multilingual ? st_vocab_multilingual_begin : st_vocab_gpt2_begin;
    const char *end = multilingual ? st_vocab_multilingual_end : st_vocab_gpt2_end;
    size_t n_lines = 0;
    for (const char *p = text; p < end; p++) n_lines += *p == '\n';
    st_vocab_entry *entries = calloc(n_lines ? n_lines : 1, sizeof *entries);
    uint8_t *bytes = malloc((size_t)(end - text)); /* decoded tokens are shorter than their text */
    if (!entries || !bytes) {
        free(entries);
        free(bytes);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for the built-in vocabulary");
    }
    size_t n = 0, used = 0;
    steno_status status = STENO_OK;
    for (const char *line = text; line < end && n < n_lines;) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        const char *space = memchr(line, ' ', (size_t)(newline - line));
        long length = space ? decode_base64(line, (size_t)(space - line), bytes + used) : -1;
        if (length < 0 || strtol(space + 1, NULL, 10) != (long)n) {
            status = st_error_set(err, STENO_ERR_INTERNAL, "built-in vocabulary: line %zu is malformed", n + 1);
            break;
        }
        entries[n++] = (st_vocab_entry){.bytes = bytes + used, .length = (uint32_t)length};
        used += (size_t)length;
        line = newline + 1;
    }
    if (status == STENO_OK) status = st_tokenizer_create(entries, n, n_vocab, out, err);
    free(entries);
    free(bytes);
    return status;
}
