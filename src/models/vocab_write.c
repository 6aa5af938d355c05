/*
 * vocab_write.c — token spellings and JSON strings as the Python converters write them.
 *
 * CTranslate2's and Hugging Face's vocabulary files spell each token's bytes in GPT-2's
 * byte-to-unicode alphabet and are written by Python's json module; writing strings exactly as
 * json.dumps does (with or without ensure_ascii) makes steno's files byte-identical to theirs.
 */
#include <stdio.h>

#include "models/writers.h"

/* GPT-2's table: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves;
 * the other 68 bytes, in byte order, become U+0100, U+0101, … */
static unsigned gpt2_code_point(uint8_t byte) {
    int printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
    if (printable) return byte;
    unsigned before = 0; /* unprintable bytes below this one */
    for (unsigned b = 0; b < byte; b++) {
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) before++;
    }
    return 0x100 + before;
}

size_t st_write_gpt2_spelling(const uint8_t *bytes, size_t length, uint8_t *out) {
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned cp = gpt2_code_point(bytes[i]);
        if (cp < 0x80) {
            out[n++] = (uint8_t)cp;
        } else { /* every code point of the table is below U+0800: two UTF-8 bytes */
            out[n++] = (uint8_t)(0xC0 | cp >> 6);
            out[n++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
    }
    out[n] = 0;
    return n;
}

/* Decodes one UTF-8 sequence at text[*i] (already valid: spellings and special names are
 * written by steno); returns the code point. */
static unsigned next_code_point(const uint8_t *text, size_t length, size_t *i) {
    unsigned c = text[(*i)++];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    c &= extra == 3 ? 0x07 : extra == 2 ? 0x0F : extra == 1 ? 0x1F : 0x7F;
    while (extra-- > 0 && *i < length)
        c = c << 6 | (text[(*i)++] & 0x3F);
    return c;
}

void st_write_json_string(st_atomic_file *out, const uint8_t *text, size_t length, int ensure_ascii) {
    st_atomic_u8(out, '"');
    for (size_t i = 0; i < length;) {
        size_t start = i;
        unsigned c = next_code_point(text, length, &i);
        switch (c) {
        case '"':
            st_atomic_write(out, "\\\"", 2);
            continue;
        case '\\':
            st_atomic_write(out, "\\\\", 2);
            continue;
        case '\n':
            st_atomic_write(out, "\\n", 2);
            continue;
        case '\r':
            st_atomic_write(out, "\\r", 2);
            continue;
        case '\t':
            st_atomic_write(out, "\\t", 2);
            continue;
        case '\b':
            st_atomic_write(out, "\\b", 2);
            continue;
        case '\f':
            st_atomic_write(out, "\\f", 2);
            continue;
        default:
            break;
        }
        if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
            if (c > 0xFFFF) { /* a surrogate pair, as Python writes astral characters */
                unsigned v = c - 0x10000;
                st_atomic_printf(out, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                st_atomic_printf(out, "\\u%04x", c);
            }
        } else {
            st_atomic_write(out, text + start, i - start);
        }
    }
    st_atomic_u8(out, '"');
}

/* HF's WhisperFeatureExtractor settings, as the converters write preprocessor_config.json. */
steno_status st_write_preprocessor_config(const st_write_source *src, const char *path, st_error *err) {
    st_atomic_file out;
    steno_status status = st_atomic_file_open(&out, path, err);
    if (status != STENO_OK) return status;
    st_atomic_printf(&out,
                     "{\n  \"chunk_length\": 30,\n  \"feature_extractor_type\": \"WhisperFeatureExtractor\",\n"
                     "  \"feature_size\": %d,\n  \"hop_length\": 160,\n  \"n_fft\": 400,\n  \"n_samples\": 480000,\n"
                     "  \"nb_max_frames\": 3000,\n  \"padding_side\": \"right\",\n  \"padding_value\": 0.0,\n"
                     "  \"processor_class\": \"WhisperProcessor\",\n  \"return_attention_mask\": false,\n"
                     "  \"sampling_rate\": 16000\n}",
                     src->model->dims.n_mels);
    return st_atomic_file_commit(&out, err);
}
