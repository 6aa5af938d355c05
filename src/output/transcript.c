/* transcript.c — building and freeing transcripts; see transcript.h. */
#include "output/transcript.h"

#include <stdlib.h>
#include <string.h>

void st_transcript_init(st_transcript *transcript) {
    *transcript = (st_transcript){0};
}

static void segment_free(st_segment *segment) {
    free(segment->text);
    free(segment->tokens);
    for (int i = 0; i < segment->n_words; i++) free(segment->words[i].text);
    free(segment->words);
}

void st_transcript_free(st_transcript *transcript) {
    for (int i = 0; i < transcript->n_segments; i++) segment_free(&transcript->segments[i]);
    free(transcript->segments);
    free(transcript->language);
    free(transcript->text);
    st_transcript_init(transcript);
}

static char *copy_string(const char *text) {
    return strdup(text ? text : "");
}

steno_status st_transcript_set_language(st_transcript *transcript, const char *language, st_error *err) {
    char *copy = NULL;
    if (language && !(copy = strdup(language))) return st_error_set(err, STENO_ERR_NO_MEMORY, "transcript: out of memory");
    free(transcript->language);
    transcript->language = copy;
    return STENO_OK;
}

/* Fills *out with copies of what *in owns; on failure frees whatever it copied. */
static bool segment_copy(st_segment *out, const st_segment *in, bool with_words) {
    *out = *in;
    out->tokens = NULL;
    out->words = NULL;
    out->n_words = 0;
    out->text = copy_string(in->text);
    if (!out->text) return false;
    if (in->n_tokens > 0) {
        out->tokens = malloc(sizeof(int) * (size_t)in->n_tokens);
        if (!out->tokens) goto fail;
        memcpy(out->tokens, in->tokens, sizeof(int) * (size_t)in->n_tokens);
    } else {
        out->n_tokens = 0;
    }
    if (with_words && in->n_words > 0) {
        out->words = calloc((size_t)in->n_words, sizeof(st_word));
        if (!out->words) goto fail;
        for (int i = 0; i < in->n_words; i++) {
            out->words[i] = in->words[i];
            out->words[i].text = copy_string(in->words[i].text);
            out->n_words = i + 1;
            if (!out->words[i].text) goto fail;
        }
    }
    return true;
fail:
    segment_free(out);
    return false;
}

steno_status st_transcript_append(st_transcript *transcript, const st_segment *segment, st_error *err) {
    if (segment->n_tokens < 0 || segment->n_words < 0)
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "transcript: segment %d has a negative count", segment->id);
    if (transcript->n_segments == transcript->capacity) {
        int capacity = transcript->capacity ? transcript->capacity * 2 : 16;
        st_segment *grown = realloc(transcript->segments, sizeof(st_segment) * (size_t)capacity);
        if (!grown) return st_error_set(err, STENO_ERR_NO_MEMORY, "transcript: out of memory");
        transcript->segments = grown;
        transcript->capacity = capacity;
    }
    size_t old_length = transcript->text ? strlen(transcript->text) : 0;
    size_t add = segment->text ? strlen(segment->text) : 0;
    char *text = realloc(transcript->text, old_length + add + 1);
    if (!text) return st_error_set(err, STENO_ERR_NO_MEMORY, "transcript: out of memory");
    memcpy(text + old_length, segment->text ? segment->text : "", add + 1);
    transcript->text = text;
    st_segment *copy = &transcript->segments[transcript->n_segments];
    if (!segment_copy(copy, segment, transcript->has_words)) {
        text[old_length] = '\0';
        return st_error_set(err, STENO_ERR_NO_MEMORY, "transcript: out of memory");
    }
    transcript->n_segments++;
    return STENO_OK;
}
