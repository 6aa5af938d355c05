/* spans.c — speech spans from per-frame speech probabilities, with the semantics of
 * faster-whisper's get_speech_timestamps (itself adapted from silero-vad's utils):
 *
 * - A span starts at the first frame whose probability reaches `threshold`.
 * - It may end only after the probability falls below `neg_threshold` (hysteresis); the end is
 *   the first such frame, and it is kept only once the quiet has lasted min_silence samples.
 *   A frame back at `threshold` cancels the pending end.
 * - A span longer than max_speech is cut at the start of the last silence longer than 98 ms
 *   seen inside it (the next span then starts where speech resumed after it), or, with no such
 *   silence, right there.
 * - Spans not longer than min_speech are dropped; one still open at the end runs to the end.
 * - Each span is widened by speech_pad on both sides; where two spans are closer than twice
 *   the pad, the gap between them is split in half instead.
 * All positions are in samples, frame i covering [i·512, (i+1)·512).
 */
#include "vad/vad.h"

#include <math.h>
#include <stdlib.h>

st_vad_options st_vad_default_options(void) {
    /* faster-whisper's VadOptions (its defaults since 1.1: no minimum speech length). */
    return (st_vad_options){.threshold = 0.5f,
                            .neg_threshold = -1.0f,
                            .min_speech_duration_ms = 0,
                            .max_speech_duration_s = 0.0,
                            .min_silence_duration_ms = 2000,
                            .speech_pad_ms = 400};
}

typedef struct span_list {
    st_vad_span *items;
    size_t count, capacity;
} span_list;

static int push(span_list *list, size_t start, size_t end) {
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? 2 * list->capacity : 16;
        st_vad_span *grown = realloc(list->items, capacity * sizeof *grown);
        if (!grown) return 0;
        list->items = grown;
        list->capacity = capacity;
    }
    list->items[list->count++] = (st_vad_span){start, end};
    return 1;
}

static int valid_options(const st_vad_options *o) {
    return isfinite(o->threshold) && o->threshold >= 0.0f && o->threshold <= 1.0f && isfinite(o->neg_threshold) &&
           o->neg_threshold <= 1.0f && o->min_speech_duration_ms >= 0 && o->min_silence_duration_ms >= 0 &&
           o->speech_pad_ms >= 0 && isfinite(o->max_speech_duration_s) && o->max_speech_duration_s >= 0.0;
}

steno_status st_vad_spans_from_probabilities(const float *probs, size_t n_frames, size_t n_samples,
                                             const st_vad_options *o, st_vad_span **spans, size_t *n_spans,
                                             st_error *err) {
    *spans = NULL;
    *n_spans = 0;
    if (!valid_options(o)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "invalid VAD options: thresholds must lie in [0, 1], durations must be finite and >= 0");
    }
    const double rate = ST_VAD_SAMPLE_RATE, frame = ST_VAD_FRAME;
    double min_speech = rate * o->min_speech_duration_ms / 1000.0;
    double pad = rate * o->speech_pad_ms / 1000.0;
    double max_speech = o->max_speech_duration_s > 0 ? rate * o->max_speech_duration_s - frame - 2 * pad : INFINITY;
    double min_silence = rate * o->min_silence_duration_ms / 1000.0;
    double min_silence_at_max_speech = rate * 98 / 1000.0;
    float neg_threshold = o->neg_threshold >= 0 ? o->neg_threshold : fmaxf(o->threshold - 0.15f, 0.01f);

    span_list list = {0};
    int triggered = 0, ok = 1;
    size_t start = 0;
    /* A pending end (first quiet frame), and for max_speech the last long silence seen:
     * prev_end its start, next_start where speech came back after it. 0 means unset, as in
     * the reference, where a silence can never start at sample 0 of a running span. */
    size_t temp_end = 0, prev_end = 0, next_start = 0;
    for (size_t i = 0; i < n_frames && ok; i++) {
        size_t position = i * ST_VAD_FRAME;
        float p = probs[i];
        if (p >= o->threshold && temp_end) {
            temp_end = 0;
            if (next_start < prev_end) next_start = position;
        }
        if (p >= o->threshold && !triggered) {
            triggered = 1;
            start = position;
            continue;
        }
        if (triggered && (double)(position - start) > max_speech) {
            if (prev_end) {
                ok = push(&list, start, prev_end);
                if (next_start < prev_end) {
                    triggered = 0; /* still quiet since that silence */
                } else {
                    start = next_start;
                }
                prev_end = next_start = temp_end = 0;
            } else {
                ok = push(&list, start, position);
                prev_end = next_start = temp_end = 0;
                triggered = 0;
                continue;
            }
        }
        if (p < neg_threshold && triggered) {
            if (!temp_end) temp_end = position;
            if ((double)(position - temp_end) > min_silence_at_max_speech) prev_end = temp_end;
            if ((double)(position - temp_end) < min_silence) continue;
            if ((double)(temp_end - start) > min_speech) ok = push(&list, start, temp_end);
            prev_end = next_start = temp_end = 0;
            triggered = 0;
        }
    }
    if (ok && triggered && (double)(n_samples > start ? n_samples - start : 0) > min_speech) {
        ok = push(&list, start, n_samples);
    }
    if (!ok) {
        free(list.items);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for VAD spans");
    }

    /* Padding. A span's start may lie beyond the signal only through the all-zero frame after
     * it; clamp everything into [0, n_samples]. */
    size_t pad_samples = (size_t)pad;
    for (size_t i = 0; i < list.count; i++) {
        st_vad_span *s = &list.items[i];
        if (i == 0) s->start = s->start > pad_samples ? s->start - pad_samples : 0;
        if (i + 1 < list.count) {
            st_vad_span *next = &list.items[i + 1];
            size_t gap = next->start - s->end;
            if ((double)gap < 2 * pad) {
                s->end += gap / 2;
                next->start -= gap / 2;
            } else {
                s->end = s->end + pad_samples < n_samples ? s->end + pad_samples : n_samples;
                next->start = next->start > pad_samples ? next->start - pad_samples : 0;
            }
        } else {
            s->end = s->end + pad_samples < n_samples ? s->end + pad_samples : n_samples;
        }
    }
    /* Drop what the clamping emptied (a span found only in the padding frame). */
    size_t kept = 0;
    for (size_t i = 0; i < list.count; i++) {
        if (list.items[i].start > n_samples) list.items[i].start = n_samples;
        if (list.items[i].end > list.items[i].start) list.items[kept++] = list.items[i];
    }
    if (kept == 0) {
        free(list.items);
        list.items = NULL;
    }
    *spans = list.items;
    *n_spans = kept;
    return STENO_OK;
}

long st_vad_chunk_of(const st_vad_span *spans, size_t n_spans, double seconds) {
    /* faster-whisper truncates the time to a sample, then takes the first span whose joined
     * end lies beyond it. */
    double sample = floor(seconds * ST_VAD_SAMPLE_RATE);
    size_t joined_end = 0;
    for (size_t i = 0; i < n_spans; i++) {
        joined_end += spans[i].end - spans[i].start;
        if ((double)joined_end > sample) return (long)i;
    }
    return n_spans ? (long)n_spans - 1 : 0;
}

double st_vad_original_time(const st_vad_span *spans, size_t n_spans, double seconds, long chunk) {
    if (n_spans == 0) return seconds;
    if (chunk < 0 || (size_t)chunk >= n_spans) chunk = st_vad_chunk_of(spans, n_spans, seconds);
    /* The silence before span k: its start minus the speech kept before it. */
    size_t kept = 0;
    for (long i = 0; i < chunk; i++)
        kept += spans[i].end - spans[i].start;
    return seconds + (double)(spans[chunk].start - kept) / ST_VAD_SAMPLE_RATE;
}
