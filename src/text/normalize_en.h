/*
 * normalize_en.h — English text normalisation for word error rates, reproducing the rules of
 * openai-whisper's EnglishTextNormalizer (whisper/normalizers/english.py and basic.py), the
 * normaliser behind every published Whisper WER:
 *
 *   lower-case; drop [bracketed] / <angled> / (parenthesised) text and the fillers hmm, mm, mhm,
 *   mmm, uh, um; expand contractions and titles ("won't" -> "will not", "mr" -> "mister");
 *   drop commas between digits and periods not followed by a digit; NFKD and drop diacritics,
 *   every other mark, symbol or punctuation becoming a space except . % $ ¢ € £; spelled-out
 *   numbers to digits ("twenty five" -> "25", "fifth" -> "5th", "one hundred and five" -> "105",
 *   "two point five" -> "2.5", "five dollars" -> "$5", "ten per cent" -> "10%"); British to
 *   American spelling; currency and percent signs attached to their numbers; whitespace
 *   collapsed to single spaces (leading and trailing spaces are kept, as openai keeps them).
 *
 * Known differences from openai's Python: the spelling table is our own (see spelling.h);
 * only ASCII 0-9 count as digits in the number rules (Python's \d also takes other scripts'
 * digits); NFKD is applied per code point without canonical reordering of combining marks
 * (which are removed anyway); final sigma is decided from the neighbouring letters only.
 */
#ifndef ST_TEXT_NORMALIZE_EN_H
#define ST_TEXT_NORMALIZE_EN_H

#include <stddef.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Appends the normalised form of the UTF-8 text[0..length) to out. Malformed UTF-8 bytes are
 * read as U+FFFD. Fails only when memory runs out. */
steno_status st_normalize_english(const char *text, size_t length, st_strbuf *out, st_error *err);

#endif
