/* assign.c — speakers for words and segments, and the split of segments at speaker changes. */
#include "diarize/assign.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int st_diarize_speaker_at(const st_turn *turns, int n_turns, int n_speakers, double start, double end) {
    if (n_turns <= 0 || n_speakers <= 0) return -1;
    /* most overlap: summed per speaker, n_speakers is small */
    int best = -1;
    double best_overlap = 0;
    for (int s = 0; s < n_speakers; s++) {
        double overlap = 0;
        for (int i = 0; i < n_turns; i++) {
            if (turns[i].speaker != s) continue;
            double o = fmin(end, turns[i].end) - fmax(start, turns[i].start);
            if (o > 0) overlap += o;
        }
        if (overlap > best_overlap) best_overlap = overlap, best = s;
    }
    if (best >= 0) return best;
    /* nearest turn: the gap between the span and the turn */
    double best_gap = INFINITY;
    for (int i = 0; i < n_turns; i++) {
        double gap = fmax(0.0, fmax(turns[i].start - end, start - turns[i].end));
        if (gap < best_gap) best_gap = gap, best = turns[i].speaker;
    }
    return best;
}

/* Concatenated texts of words[first..last]. */
static char *join_words(const st_word *words, int first, int last) {
    size_t length = 0;
    for (int i = first; i <= last; i++)
        length += words[i].text ? strlen(words[i].text) : 0;
    char *text = malloc(length + 1);
    if (!text) return NULL;
    length = 0;
    for (int i = first; i <= last; i++) {
        size_t n = words[i].text ? strlen(words[i].text) : 0;
        memcpy(text + length, words[i].text, n);
        length += n;
    }
    text[length] = '\0';
    return text;
}

/* Appends to out the pieces of one segment, taking ownership of its words, tokens and text. On
 * failure the segment is left as it was and nothing is appended. */
static steno_status split_segment(st_segment *segment, const int *speaker, st_segment *out, int *n_out, st_error *err) {
    const int n_before = *n_out;
    int text_tokens = 0;
    for (int i = 0; i < segment->n_words; i++)
        text_tokens += segment->words[i].n_tokens;
    int extra = segment->n_tokens - text_tokens;
    /* openai's segments start with their timestamp token when there are timestamps */
    int lead = extra > 0 ? 1 : 0, token_at = 0;
    int tokens_known = extra >= 0;
    for (int first = 0; first < segment->n_words;) {
        int last = first;
        while (last + 1 < segment->n_words && speaker[last + 1] == speaker[first])
            last++;
        int is_first = first == 0, is_last = last == segment->n_words - 1;
        if (is_first && is_last) { /* one speaker: the segment stays whole */
            segment->speaker = speaker[first];
            out[(*n_out)++] = *segment;
            return STENO_OK;
        }
        st_segment piece = *segment;
        piece.speaker = speaker[first];
        piece.start = is_first ? segment->start : segment->words[first].start;
        piece.end = is_last ? segment->end : segment->words[last].end;
        piece.n_words = last - first + 1;
        piece.words = malloc(sizeof(st_word) * piece.n_words);
        piece.text = join_words(segment->words, first, last);
        int n_tokens = 0;
        if (tokens_known) {
            for (int i = first; i <= last; i++)
                n_tokens += segment->words[i].n_tokens;
            if (is_first) n_tokens += lead;
            if (is_last) n_tokens = segment->n_tokens - token_at;
        } else if (is_first) {
            n_tokens = segment->n_tokens; /* words and tokens disagree: keep them on the first piece */
        }
        piece.n_tokens = n_tokens;
        piece.tokens = malloc(sizeof(int) * (n_tokens ? n_tokens : 1));
        if (!piece.words || !piece.text || !piece.tokens) {
            free(piece.words), free(piece.text), free(piece.tokens);
            /* the pieces so far only borrow the segment's word texts */
            for (int i = n_before; i < *n_out; i++)
                free(out[i].words), free(out[i].text), free(out[i].tokens);
            *n_out = n_before;
            return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory splitting segments by speaker");
        }
        memcpy(piece.words, segment->words + first, sizeof(st_word) * piece.n_words);
        memcpy(piece.tokens, segment->tokens + token_at, sizeof(int) * n_tokens);
        token_at += n_tokens;
        out[(*n_out)++] = piece;
        first = last + 1;
    }
    /* the pieces own the word texts now; the parent's arrays and text go */
    free(segment->words), free(segment->tokens), free(segment->text);
    return STENO_OK;
}

steno_status st_diarize_assign(st_transcript *transcript, const st_turn *turns, int n_turns, int n_speakers,
                               bool keep_words, st_error *err) {
    int total_words = 0;
    for (int s = 0; s < transcript->n_segments; s++)
        total_words += transcript->segments[s].n_words;
    /* at most one piece per word, plus the segments without words */
    size_t capacity = (size_t)total_words + transcript->n_segments + 1;
    st_segment *out = malloc(sizeof(st_segment) * capacity);
    int *speaker = malloc(sizeof(int) * (total_words ? total_words : 1));
    if (!out || !speaker) {
        free(out), free(speaker);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory placing speakers");
    }
    int n_out = 0;
    steno_status status = STENO_OK;
    int s = 0;
    for (; s < transcript->n_segments && status == STENO_OK; s++) {
        st_segment *segment = &transcript->segments[s];
        if (segment->n_words == 0) {
            segment->speaker = st_diarize_speaker_at(turns, n_turns, n_speakers, segment->start, segment->end);
            out[n_out++] = *segment;
            continue;
        }
        for (int i = 0; i < segment->n_words; i++) {
            speaker[i] =
                st_diarize_speaker_at(turns, n_turns, n_speakers, segment->words[i].start, segment->words[i].end);
        }
        status = split_segment(segment, speaker, out, &n_out, err);
    }
    if (status != STENO_OK) {
        /* out of memory in segment s - 1, which is untouched: the transcript keeps the pieces
         * made so far and the rest unsplit */
        for (int i = s - 1; i < transcript->n_segments; i++)
            out[n_out++] = transcript->segments[i];
    }
    for (int i = 0; i < n_out; i++) {
        out[i].id = i;
        if (keep_words || status != STENO_OK) continue;
        for (int w = 0; w < out[i].n_words; w++)
            free(out[i].words[w].text);
        free(out[i].words);
        out[i].words = NULL, out[i].n_words = 0;
    }
    free(transcript->segments);
    transcript->segments = out;
    transcript->n_segments = transcript->capacity = n_out;
    if (!keep_words && status == STENO_OK) transcript->has_words = false;
    free(speaker);
    return status;
}
