/* vad_filter.c — transcription of the speech spans only (see vad_filter.h). */
#include "whisper/vad_filter.h"

#include <stdlib.h>
#include <string.h>

#define START_MARGIN 0.1 /* seconds */

/* The joined time where span k starts. */
static double joined_start(const st_vad_span *spans, long k) {
    size_t kept = 0;
    for (long i = 0; i < k; i++)
        kept += spans[i].end - spans[i].start;
    return (double)kept / ST_VAD_SAMPLE_RATE;
}

int st_vad_speech_between(const st_vad_speech *speech, double from, double to) {
    if (!speech->probs) return 1; /* unknown: assume speech, as the plain mapping does */
    size_t start_of_span = 0, k = 0;
    for (double t = from < 0 ? 0 : from; t < to; t += (double)ST_VAD_FRAME / ST_VAD_SAMPLE_RATE) {
        size_t joined = (size_t)(t * ST_VAD_SAMPLE_RATE);
        while (k < speech->n_spans && joined >= start_of_span + (speech->spans[k].end - speech->spans[k].start)) {
            start_of_span += speech->spans[k].end - speech->spans[k].start;
            k++;
        }
        if (k == speech->n_spans) return 0;
        size_t frame = (speech->spans[k].start + joined - start_of_span) / ST_VAD_FRAME;
        if (frame < speech->n_frames && speech->probs[frame] >= speech->threshold) return 1;
    }
    return 0;
}

void st_vad_filter_map_segment(st_segment *segment, const st_vad_speech *speech) {
    const st_vad_span *spans = speech->spans;
    size_t n_spans = speech->n_spans;
    if (segment->n_words > 0) {
        for (int i = 0; i < segment->n_words; i++) {
            st_word *w = &segment->words[i];
            long chunk = st_vad_chunk_of(spans, n_spans, (w->start + w->end) / 2);
            w->start = st_vad_original_time(spans, n_spans, w->start, chunk);
            w->end = st_vad_original_time(spans, n_spans, w->end, chunk);
        }
        segment->start = segment->words[0].start;
        segment->end = segment->words[segment->n_words - 1].end;
        return;
    }
    long first = st_vad_chunk_of(spans, n_spans, segment->start), last = st_vad_chunk_of(spans, n_spans, segment->end);
    double start = st_vad_original_time(spans, n_spans, segment->start, first);
    double end = st_vad_original_time(spans, n_spans, segment->end, last);
    if (first < last) {
        /* Past the frames at the start itself, which may still hold the tail of the speech
         * before it: Whisper often starts a segment at the very time the previous one ended. */
        double junction = joined_start(spans, first + 1);
        if (!st_vad_speech_between(speech, segment->start + START_MARGIN, junction))
            start = (double)spans[first + 1].start / ST_VAD_SAMPLE_RATE;
        junction = joined_start(spans, last);
        if (!st_vad_speech_between(speech, junction, segment->end))
            end = (double)spans[last - 1].end / ST_VAD_SAMPLE_RATE;
        if (end < start) end = start;
    }
    segment->start = start;
    segment->end = end;
}

typedef struct bridge {
    const st_transcribe_options *options; /* the caller's */
    st_vad_speech speech;
    st_word *words; /* scratch for the mapped copy of a segment's words */
    int capacity;
    int out_of_memory;
} bridge;

/* The caller's on_segment sees the segment with its times mapped, on a copy. */
static int mapped_segment(void *user, const st_segment *segment) {
    bridge *b = user;
    st_segment copy = *segment;
    if (segment->n_words > b->capacity) {
        st_word *grown = realloc(b->words, (size_t)segment->n_words * sizeof *grown);
        if (!grown) return b->out_of_memory = 1; /* stops the job */
        b->words = grown;
        b->capacity = segment->n_words;
    }
    if (segment->n_words > 0) {
        memcpy(b->words, segment->words, (size_t)segment->n_words * sizeof *b->words);
        copy.words = b->words;
    }
    st_vad_filter_map_segment(&copy, &b->speech);
    return b->options->on_segment(b->options->user, &copy);
}

/* Speech follows a timestamp at `from` (seconds of the joined speech) when a frame at least
 * SPEECH_MARGIN later, before `to`, reaches the VAD threshold. The margin passes over the
 * frames where the speech Whisper just closed is still fading out of the VAD's window and the
 * 400 ms of padding after it. */
#define SPEECH_MARGIN 0.5

static int has_speech(void *user, double from, double to) {
    const bridge *b = user;
    return st_vad_speech_between(&b->speech, from + SPEECH_MARGIN, to);
}

static void forward_progress(void *user, double done, double total) {
    const bridge *b = user;
    b->options->on_progress(b->options->user, done, total);
}

static int forward_stop(void *user) {
    const bridge *b = user;
    return b->options->should_stop(b->options->user);
}

/* The longest chunk of batched decoding: one 30 s window. */
#define CHUNK_SAMPLES (30 * ST_VAD_SAMPLE_RATE)

/* Where the joined speech is cut into chunks for batched decoding (in joined samples), as
 * faster-whisper's batched pipeline merges its speech spans: spans join a chunk while it
 * stays within 30 s, so chunks end at the pauses between spans. Beyond it, a span longer than
 * what is left of a chunk is cut at its quietest VAD frame (lowest speech probability) in the
 * chunk's second half, not at an arbitrary sample. Returns a malloc'd array (NULL when memory
 * runs out) of *n_ends cuts. */
static size_t *plan_speech_chunks(const st_vad_speech *speech, size_t n_speech, size_t *n_ends) {
    size_t *ends = malloc((speech->n_spans + 2 * (n_speech / CHUNK_SAMPLES) + 1) * sizeof *ends);
    if (!ends) return NULL;
    size_t n = 0, chunk_start = 0, at = 0; /* joined samples */
    for (size_t k = 0; k < speech->n_spans; k++) {
        const st_vad_span *span = &speech->spans[k];
        const size_t length = span->end - span->start;
        if (at + length - chunk_start > CHUNK_SAMPLES && at > chunk_start) ends[n++] = chunk_start = at;
        while (at + length - chunk_start > CHUNK_SAMPLES) {
            size_t cut = chunk_start + CHUNK_SAMPLES; /* joined; in this span */
            float quietest = 2.0f;
            for (size_t joined = chunk_start + CHUNK_SAMPLES / 2; joined < chunk_start + CHUNK_SAMPLES;
                 joined += ST_VAD_FRAME) {
                if (joined < at) continue;
                size_t frame = (span->start + joined - at) / ST_VAD_FRAME;
                if (frame < speech->n_frames && speech->probs[frame] < quietest) {
                    quietest = speech->probs[frame];
                    cut = joined;
                }
            }
            ends[n++] = chunk_start = cut;
        }
        at += length;
    }
    *n_ends = n;
    return ends;
}

steno_status st_transcribe_speech(st_whisper_context *context, const float *samples, size_t n_samples,
                                  const st_transcribe_options *options, st_transcript *out, st_error *err) {
    size_t n_frames = st_vad_n_frames(n_samples), n_spans, n_speech = 0;
    st_vad_span *spans = NULL;
    float *probs = malloc(n_frames * sizeof *probs);
    if (!probs) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for %zu VAD frames", n_frames);
    steno_status status = st_vad_probabilities(options->vad, samples, n_samples, probs, err);
    if (status == STENO_OK) {
        status =
            st_vad_spans_from_probabilities(probs, n_frames, n_samples, &options->vad_options, &spans, &n_spans, err);
    }
    if (status != STENO_OK) {
        free(probs);
        return status;
    }
    for (size_t i = 0; i < n_spans; i++)
        n_speech += spans[i].end - spans[i].start;
    float *speech = malloc((n_speech ? n_speech : 1) * sizeof *speech);
    if (!speech) {
        free(probs);
        free(spans);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for %zu samples of speech", n_speech);
    }
    size_t at = 0;
    for (size_t i = 0; i < n_spans; i++) {
        memcpy(speech + at, samples + spans[i].start, (spans[i].end - spans[i].start) * sizeof *speech);
        at += spans[i].end - spans[i].start;
    }

    bridge b = {.options = options,
                .speech = {.spans = spans,
                           .n_spans = n_spans,
                           .probs = probs,
                           .n_frames = n_frames,
                           .threshold = options->vad_options.threshold}};
    st_transcribe_options inner = *options;
    inner.vad = NULL;
    /* Joined speech changes abruptly at each junction, where Whisper often closes its text with
     * a timestamp mid-window; openai-whisper's rule would then skip the rest of the window. */
    inner.has_speech = has_speech;
    inner.speech_user = &b;
    inner.user = &b;
    inner.on_segment = options->on_segment ? mapped_segment : NULL;
    inner.on_progress = options->on_progress ? forward_progress : NULL;
    inner.should_stop = options->should_stop ? forward_stop : NULL;
    size_t *chunk_ends = NULL;
    if (options->batch_size > 1) {
        chunk_ends = plan_speech_chunks(&b.speech, n_speech, &inner.n_chunk_ends);
        if (!chunk_ends) status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for the speech chunks");
        inner.chunk_ends = chunk_ends;
    }
    int first = out->n_segments;
    if (status == STENO_OK) status = st_transcribe(context, speech, n_speech, &inner, out, err);
    if (b.out_of_memory) status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for a segment's words");
    for (int i = first; status == STENO_OK && i < out->n_segments; i++)
        st_vad_filter_map_segment(&out->segments[i], &b.speech);
    out->duration = (double)n_samples / ST_VAD_SAMPLE_RATE;
    free(b.words);
    free(chunk_ends);
    free(speech);
    free(spans);
    free(probs);
    return status;
}
