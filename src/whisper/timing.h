/*
 * timing.h — word-level timestamps as openai-whisper's whisper/timing.py computes them.
 *
 * After a window is decoded, the decoder runs once more over
 *   sot_sequence + <|notimestamps|> + the window's text tokens + <|endoftext|>
 * keeping the cross-attention scores of the alignment heads (alignment_heads.h). Over the audio
 * frames the window really holds, each head's scores become a softmax, are standardised along
 * the token axis and median-filtered (width 7) along time; the mean over heads is an alignment
 * matrix, and dynamic time warping through its negation pairs every token with a frame
 * (50 per second). Tokens are grouped into words (at spaces and punctuation, or, for languages
 * written without spaces, at every complete character), punctuation is merged into its
 * neighbours, over-long words are clamped, and the window's segments get their words and
 * adjusted start and end times.
 *
 * The pure steps are exposed for tests; st_word_aligner holds the buffers the network pass
 * needs, grown on demand and reused from window to window.
 */
#ifndef ST_WHISPER_TIMING_H
#define ST_WHISPER_TIMING_H

#include <stdint.h>

#include "output/transcript.h"
#include "util/error.h"
#include "whisper/model.h"
#include "whisper/tokenizer.h"

/* openai-whisper's defaults for merge_punctuations. */
#define ST_PREPEND_PUNCTUATIONS "\"'\xe2\x80\x9c\xc2\xbf([{-"
#define ST_APPEND_PUNCTUATIONS                                                                                         \
    "\"'.\xe3\x80\x82,\xef\xbc\x8c!\xef\xbc\x81?\xef\xbc\x9f:\xef\xbc\x9a\xe2\x80\x9d)]}\xe3\x80\x81"

/* One word of find_alignment's result: times in seconds from the window's start. */
typedef struct st_word_timing {
    char *word; /* UTF-8, usually with its leading space; "" once merged into a neighbour */
    int n_tokens;
    double start, end;
    double probability; /* mean of its tokens' probabilities */
} st_word_timing;

void st_word_timings_free(st_word_timing *words, int n_words);

/* ---- the steps, as timing.py names them ---- */

/* median_filter: replaces each of the n_rows rows of x [n_rows][n_cols] by its running median
 * of odd `width`, the row extended by reflection (torch's "reflect": the edge value is not
 * repeated). Rows of n_cols <= width / 2 are left as they are, as openai does. scratch holds
 * n_cols + 2 * width floats. */
void st_timing_median_filter(float *x, int n_rows, int n_cols, int width, float *scratch);

/* dtw_cpu + backtrace over cost matrix x [n][m] (n, m >= 1): writes the path, from (0, 0) to
 * (n-1, m-1), to text_indices and time_indices (room for n + m entries each) and its length
 * to *length. Accumulated costs are float32 and ties go to the step openai's code prefers
 * (a strictly smaller diagonal, then a strictly smaller vertical, else horizontal). */
steno_status st_timing_dtw(const double *x, int n, int m, int *text_indices, int *time_indices, int *length,
                           st_error *err);

/* split_to_word_tokens of tokens (text tokens and a final <|endoftext|>): languages written
 * without spaces (zh, ja, th, lo, my, yue) split at every complete UTF-8 character
 * (split_tokens_on_unicode), others at a leading space or a punctuation-only piece
 * (split_tokens_on_spaces). Words get their text and token count, times zero. */
steno_status st_timing_split_words(const st_tokenizer *tokenizer, const int32_t *tokens, int n_tokens,
                                   const char *language, st_word_timing **words, int *n_words, st_error *err);

/* merge_punctuations: a word that is " " + one of `prepended` joins the word after it, a word
 * in `appended` joins the word before it; the donor is left empty (word "", no tokens). */
steno_status st_timing_merge_punctuations(st_word_timing *words, int n_words, const char *prepended,
                                          const char *appended, st_error *err);

/* The median of the non-zero word durations, capped at 0.7 s (0 when there are none). */
double st_timing_median_duration(const st_word_timing *words, int n_words);

/* The sentence-boundary clamp of add_word_timestamps: a word longer than max_duration that is
 * a sentence end mark is cut to start + max_duration; one right after such a mark starts at
 * end - max_duration. */
void st_timing_clamp_sentence_words(st_word_timing *words, int n_words, double max_duration);

/* Python's round(x, 2): the double nearest the correctly rounded two-decimal value. */
double st_timing_round2(double x);

/* transcribe.py's is_segment_anomaly (for hallucination_silence_threshold): scores the first
 * eight words that are not default punctuation, a point for a probability under 0.15, up to
 * two for a word under 0.133 s, and the excess over 2 s of a long one; a segment is anomalous
 * at 3 points or with about a point per word. NULL or a segment without words is not. */
int st_timing_is_segment_anomaly(const st_segment *segment);

/* ---- the network pass and add_word_timestamps ---- */

typedef struct st_word_aligner st_word_aligner;

/* heads: n_heads (layer, head) pairs, copied. */
steno_status st_word_aligner_create(const int *heads, int n_heads, st_word_aligner **out, st_error *err);
void st_word_aligner_free(st_word_aligner *aligner);

/* find_alignment for the window encoded in state (its self-attention cache slot 0 is
 * overwritten). sot_sequence is <|startoftranscript|> [language task]; num_frames the mel
 * frames of real audio in the window. *words receives the words (without the end-of-text
 * one), *n_words their count; no words when there are no text tokens or fewer than two audio
 * positions. */
steno_status st_word_aligner_find(st_word_aligner *aligner, const st_whisper_model *model, st_whisper_state *state,
                                  const st_tokenizer *tokenizer, const int32_t *sot_sequence, int n_sot,
                                  const int32_t *text_tokens, int n_text, int num_frames, const char *language,
                                  st_word_timing **words, int *n_words, st_error *err);

typedef struct st_word_window {
    const int32_t *sot_sequence;
    int n_sot;
    const char *language;
    double time_offset; /* seconds at the window's first frame */
    int num_frames;     /* mel frames of real audio in the window */
    const char *prepend_punctuations, *append_punctuations;
} st_word_window;

/* add_word_timestamps: aligns the text tokens of all the window's segments together, then
 * gives each segment its words (replacing any it had) with times rounded to 10 ms, and moves
 * the segment's start and end to its first and last word, unless a word is implausibly long
 * (then the word is shortened instead). *last_speech_timestamp is where speech last ended
 * (0 at the start); it is read and updated as timing.py does. */
steno_status st_word_aligner_add(st_word_aligner *aligner, const st_whisper_model *model, st_whisper_state *state,
                                 const st_tokenizer *tokenizer, const st_word_window *window, st_segment *segments,
                                 int n_segments, double *last_speech_timestamp, st_error *err);

#endif
