/*
 * vocabularies.h — the two Whisper vocabularies built into libsteno.
 *
 * openai's .pt checkpoints carry no vocabulary (openai-whisper ships it in its Python package),
 * so steno carries its own copy: GPT-2's for English-only models and the multilingual one, in
 * the tiktoken format of data/vocab/ (written by scripts/make-vocab-files). A model's size of
 * vocabulary says which one it needs.
 */
#ifndef ST_WHISPER_VOCABULARIES_H
#define ST_WHISPER_VOCABULARIES_H

#include "whisper/tokenizer.h"

/* A tokenizer for a model with n_vocab entries (51864: English-only; 51865 and up:
 * multilingual) from the built-in vocabulary. */
steno_status st_tokenizer_create_builtin(int n_vocab, st_tokenizer **out, st_error *err);

#endif
