/* ggml_vocab.c — the vocabulary block of a whisper.cpp ggml file; see ggml_vocab.h. */
#include "ggml_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a little-endian u32 at *pos, advancing it; false past the end. */
static int read_u32(const st_mapped_file *f, size_t *pos, uint32_t *value) {
    if (f->size < 4 || *pos > f->size - 4) return 0;
    const uint8_t *p = f->data + *pos;
    *value = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    *pos += 4;
    return 1;
}

int st_test_ggml_vocab_load(const char *path, st_test_ggml_vocab *out) {
    memset(out, 0, sizeof *out);
    st_error err;
    if (st_mapped_file_open(&out->file, path, &err) != STENO_OK) {
        fprintf(stderr, "%s\n", st_error_message(&err));
        return -1;
    }
    /* magic, 11 hparams (n_vocab first), n_mel, n_fft, the filters, then the token count */
    size_t pos = 0;
    uint32_t magic, hparams[11], n_mel, n_fft, count;
    int ok = read_u32(&out->file, &pos, &magic) && magic == 0x67676d6c;
    for (int i = 0; ok && i < 11; i++)
        ok = read_u32(&out->file, &pos, &hparams[i]);
    ok = ok && read_u32(&out->file, &pos, &n_mel) && read_u32(&out->file, &pos, &n_fft);
    ok = ok && (uint64_t)n_mel * n_fft * 4 <= out->file.size - pos;
    if (ok) pos += (size_t)n_mel * n_fft * 4;
    ok = ok && read_u32(&out->file, &pos, &count) && count < 1000000;
    if (ok) out->entries = calloc(count, sizeof *out->entries);
    for (uint32_t i = 0; ok && out->entries && i < count; i++) {
        uint32_t length;
        ok = read_u32(&out->file, &pos, &length) && length <= out->file.size - pos;
        if (!ok) break;
        out->entries[i].bytes = out->file.data + pos;
        out->entries[i].length = length;
        pos += length;
    }
    if (!ok || !out->entries) {
        fprintf(stderr, "%s: not a ggml file with a readable vocabulary (stopped at byte %zu)\n", path, pos);
        st_test_ggml_vocab_free(out);
        return -1;
    }
    out->n_vocab = (int)hparams[0];
    out->n_entries = count;
    return 0;
}

void st_test_ggml_vocab_free(st_test_ggml_vocab *vocab) {
    free(vocab->entries);
    st_mapped_file_close(&vocab->file);
    memset(vocab, 0, sizeof *vocab);
}
