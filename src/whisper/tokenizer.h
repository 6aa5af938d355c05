/*
 * tokenizer.h — Whisper's byte-level BPE tokenizer and its special tokens.
 *
 * Whisper has two vocabularies: GPT-2's (English-only models, 50256 text tokens) and the
 * multilingual one (50257 text tokens). In both, a text token's id is also its BPE merge rank,
 * as in tiktoken, which is what openai-whisper encodes with. After the text tokens come the
 * special tokens in a fixed order that n_vocab alone determines:
 *
 *   eot, sot, one token per language (openai-whisper's LANGUAGES order: en, zh, de, es, ru, …),
 *   translate, transcribe, startoflm, startofprev, nospeech, notimestamps,
 *   then 1501 timestamps <|0.00|> … <|30.00|>.
 *
 * n_vocab 51864 is English-only (eot 50256), 51865 multilingual with 99 languages, 51866
 * large-v3 with 100 (yue added). Languages = n_vocab − 51765 − (multilingual ? 1 : 0).
 *
 * A tokenizer is immutable once made, so one may be shared by threads.
 */
#ifndef ST_WHISPER_TOKENIZER_H
#define ST_WHISPER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/tensor_set.h"
#include "util/error.h"

typedef struct st_tokenizer st_tokenizer;

/* Builds a tokenizer from raw token bytes in id order, as whisper.cpp's ggml file stores them.
 * Entries at and after the end-of-text id (often "<|endoftext|>" itself, or the special
 * tokens a CTranslate2 vocabulary lists) are ignored: n_vocab fixes the special tokens. The
 * text tokens must include all 256 single bytes, so that any text can be encoded. */
steno_status st_tokenizer_create(const st_vocab_entry *entries, size_t n_entries, int n_vocab, st_tokenizer **out,
                                 st_error *err);

/* Builds a tokenizer from a JSON vocabulary whose token strings are in GPT-2's byte-to-unicode
 * alphabet ("Ġthe"). Accepted shapes: a Hugging Face vocab.json ({"token": id, …}), a
 * tokenizer.json (its model.vocab object), or a CTranslate2 vocabulary.json (["token", …] in
 * id order). `name` is used in messages only. */
steno_status st_tokenizer_create_from_json(const char *json, size_t length, const char *name, int n_vocab,
                                           st_tokenizer **out, st_error *err);

/* Like st_tokenizer_create_from_json, reading the file at path. */
steno_status st_tokenizer_load_json(const char *path, int n_vocab, st_tokenizer **out, st_error *err);

/* Builds a tokenizer from a vocabulary of one token per line, in id order, spelt in GPT-2's
 * byte-to-unicode alphabet (CTranslate2's vocabulary.txt); CRLF line ends are accepted. Lines
 * after the text tokens are ignored. */
steno_status st_tokenizer_create_from_lines(const char *text, size_t length, const char *name, int n_vocab,
                                            st_tokenizer **out, st_error *err);

/* Reads any vocabulary file a model may carry: JSON (what st_tokenizer_load_json reads) when
 * it opens with '[' or '{', otherwise one token per line. */
steno_status st_tokenizer_load_file(const char *path, int n_vocab, st_tokenizer **out, st_error *err);

void st_tokenizer_free(st_tokenizer *tokenizer);

/* Encodes UTF-8 text as openai-whisper's tokenizer.encode does (GPT-2 pre-tokenisation, then
 * byte-level BPE). Special-token text such as "<|endoftext|>" is encoded as plain text. Bytes
 * that are not valid UTF-8 are kept and encoded as single "other" characters.
 * *n_ids receives the number of tokens the text needs; the first min(capacity, *n_ids) are
 * written to ids (call with capacity 0 to measure). Fails only when memory runs out or the
 * text is over 512 MiB. */
steno_status st_tokenizer_encode(const st_tokenizer *tokenizer, const char *text, size_t length, int32_t *ids,
                                 size_t capacity, size_t *n_ids, st_error *err);

/* Flags for st_tokenizer_decode. Without flags only text tokens are decoded, as openai-whisper
 * builds segment text; ST_DECODE_SPECIALS is its Tokenizer.decode, SPECIALS | TIMESTAMPS its
 * decode_with_timestamps. */
enum {
    ST_DECODE_SPECIALS = 1 << 0,   /* render non-timestamp special tokens as "<|en|>", "<|endoftext|>" */
    ST_DECODE_TIMESTAMPS = 1 << 1, /* render timestamp tokens as "<|1.08|>" */
    /* An incomplete UTF-8 sequence at the very end becomes U+FFFD, as Python's
     * bytes.decode(errors="replace") does; without this flag it is kept as raw bytes so that a
     * streaming caller can complete it with the next tokens. */
    ST_DECODE_REPLACE_INCOMPLETE = 1 << 2,
};

/* Decodes ids to UTF-8 text. Invalid or split UTF-8 inside the text becomes U+FFFD (one per
 * maximal invalid subpart, like Python's decoder), so the output is valid UTF-8 except possibly
 * for an incomplete character at the very end (see ST_DECODE_REPLACE_INCOMPLETE).
 * *length receives the number of bytes the text needs, without the terminating NUL; at most
 * capacity − 1 bytes and a NUL are written when capacity > 0 (call with capacity 0 to measure).
 * Fails with STENO_ERR_INVALID_ARGUMENT on an id outside [0, n_vocab). */
steno_status st_tokenizer_decode(const st_tokenizer *tokenizer, const int32_t *ids, size_t n_ids, unsigned flags,
                                 char *text, size_t capacity, size_t *length, st_error *err);

/* The raw bytes of a text token (*length set), or NULL for a special token or an id out of
 * range. The bytes are owned by the tokenizer. */
const uint8_t *st_tokenizer_token_bytes(const st_tokenizer *tokenizer, int id, size_t *length);

/* Writes a special token's name ("<|startoftranscript|>", "<|fr|>", "<|0.02|>") NUL-terminated
 * into name; returns its length (as snprintf), or −1 for a text token or an id out of range. */
int st_tokenizer_special_name(const st_tokenizer *tokenizer, int id, char *name, size_t capacity);

/* The vocabulary's layout. */
int st_tokenizer_n_vocab(const st_tokenizer *tokenizer);
bool st_tokenizer_is_multilingual(const st_tokenizer *tokenizer);
int st_tokenizer_n_languages(const st_tokenizer *tokenizer);

/* Special tokens (openai-whisper's Tokenizer properties of the same names). Text tokens are the
 * ids below st_tokenizer_eot; timestamps are the ids from st_tokenizer_timestamp_begin on. */
int st_tokenizer_eot(const st_tokenizer *tokenizer);
int st_tokenizer_sot(const st_tokenizer *tokenizer);
int st_tokenizer_translate(const st_tokenizer *tokenizer);
int st_tokenizer_transcribe(const st_tokenizer *tokenizer);
int st_tokenizer_sot_lm(const st_tokenizer *tokenizer);
int st_tokenizer_sot_prev(const st_tokenizer *tokenizer);
int st_tokenizer_no_speech(const st_tokenizer *tokenizer);
int st_tokenizer_no_timestamps(const st_tokenizer *tokenizer);
int st_tokenizer_timestamp_begin(const st_tokenizer *tokenizer);

/* The token for a language code ("en", "yue"), or −1 if the model has no such language. */
int st_tokenizer_language_token(const st_tokenizer *tokenizer, const char *code);
/* The code of a language given by code ("ru") or English name, any case ("Russian", and
 * openai-whisper's other names such as "Castilian"); NULL for a language Whisper does not know. */
const char *st_language_code(const char *code_or_name);
/* The language code of a language token, or NULL if the id is not one. */
const char *st_tokenizer_language_code(const st_tokenizer *tokenizer, int id);
/* openai-whisper's name of a language code ("en" → "english"), or NULL for an unknown code. */
const char *st_language_name(const char *code);

/* The token of a lone space (" "), which openai-whisper suppresses, with eot, as the first
 * sampled token (suppress_blank). */
int st_tokenizer_space(const st_tokenizer *tokenizer);

/* openai-whisper's Tokenizer.non_speech_tokens: sorted ids of symbols that mark speaker tags
 * or non-speech annotations ("♪", "[", " (" …), the list suppress_tokens="-1" expands to.
 * *n receives the count; the array is owned by the tokenizer. */
const int32_t *st_tokenizer_non_speech_tokens(const st_tokenizer *tokenizer, size_t *n);

#endif
