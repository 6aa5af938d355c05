/* ggml_vocab.h — reads the vocabulary block of a whisper.cpp ggml file, for tokenizer tests.
 *
 * Written from the format description (REFERENCE.md §1c) independently of the model loader, so
 * that the tokenizer tests do not depend on it. */
#ifndef ST_TEST_GGML_VOCAB_H
#define ST_TEST_GGML_VOCAB_H

#include <stddef.h>

#include "models/tensor_set.h"
#include "util/mapped_file.h"

typedef struct st_test_ggml_vocab {
    int n_vocab;             /* hparams n_vocab: the model's logits, specials included */
    st_vocab_entry *entries; /* the stored tokens, pointing into the mapping */
    size_t n_entries;
    st_mapped_file file;
} st_test_ggml_vocab;

/* Maps path and parses its vocabulary; returns 0, or −1 after printing what was wrong. */
int st_test_ggml_vocab_load(const char *path, st_test_ggml_vocab *out);
void st_test_ggml_vocab_free(st_test_ggml_vocab *vocab);

#endif
