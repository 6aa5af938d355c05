/* fuzz_normalize_en.c — the English WER normaliser and WER on arbitrary bytes: no crash, no
 * leak, output that is valid UTF-8, and a text always scores zero errors against itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/normalize_en.h"
#include "text/unicode.h"
#include "text/wer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    st_strbuf out;
    st_strbuf_init(&out);
    if (st_normalize_english((const char *)data, size, &out, NULL) != STENO_OK) abort();
    for (size_t i = 0; i < out.length;) {
        uint32_t cp;
        size_t n = st_utf8_decode(out.data + i, out.length - i, &cp);
        if (cp == ST_UNICODE_REPLACEMENT && n == 1 && (unsigned char)out.data[i] != 0xEF) abort();
        i += n;
    }
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
        st_wer_counts counts;
        if (st_wer_texts(text, text, true, &counts, NULL) == STENO_OK &&
            counts.substitutions + counts.deletions + counts.insertions != 0)
            abort();
        free(text);
    }
    st_strbuf_free(&out);
    return 0;
}
