/* mel_source.c — windows of a recording's log-mel from a two-pass stream of its samples. */
#include "audio/mel_source.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"

enum {
    WINDOW_FRAMES = 3000, /* frames per block of the first pass */
    READ_CHUNK = 1 << 16, /* samples per read from the decoder */
    HALF_FFT = ST_MEL_N_FFT / 2,
};

struct st_mel_source {
    const st_mel_filters *filters;
    int n_threads;
    size_t n_audio, n_total;
    float max_log;
    const float *samples; /* memory source: the whole audio */
    /* file source: a forward-only buffer of audio samples [buffer_start, + buffer_length) */
    st_audio_reader *reader;
    int reader_done;
    float *buffer;
    size_t buffer_start, buffer_length, buffer_capacity;
    float *scratch; /* [n_mels][WINDOW_FRAMES] for the first pass */
};

void st_mel_source_free(st_mel_source *source) {
    if (!source) return;
    st_audio_reader_close(source->reader);
    free(source->buffer);
    free(source->scratch);
    free(source);
}

size_t st_mel_source_n_samples(const st_mel_source *source) {
    return source->n_audio;
}

int st_mel_source_content_frames(const st_mel_source *source) {
    return (int)(st_mel_frame_count(source->n_audio, ST_MEL_PADDING_30S) - st_mel_frame_count(0, ST_MEL_PADDING_30S));
}

static st_mel_source *source_new(const st_mel_filters *filters, int n_threads, st_error *err) {
    st_mel_source *source = calloc(1, sizeof *source);
    if (source) {
        source->scratch = malloc((size_t)st_mel_filters_n_mels(filters) * WINDOW_FRAMES * sizeof *source->scratch);
    }
    if (!source || !source->scratch) {
        st_mel_source_free(source);
        st_error_set(err, STENO_ERR_NO_MEMORY, "mel: out of memory");
        return NULL;
    }
    source->filters = filters;
    source->n_threads = n_threads < 1 ? 1 : n_threads;
    source->max_log = -INFINITY;
    return source;
}

/* Frames wholly in the zero padding are log10(1e-10); the padding is 30 s, so there always
 * are some, and they take part in the maximum as in openai-whisper. */
static void include_padding_floor(st_mel_source *source) {
    const float floor = log10f(1e-10f);
    if (floor > source->max_log) source->max_log = floor;
}

steno_status st_mel_source_from_samples(const st_mel_filters *filters, const float *samples, size_t n_samples,
                                        int n_threads, st_mel_source **out, st_error *err) {
    *out = NULL;
    if (!filters || (!samples && n_samples)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: no filters or samples");
    }
    st_mel_source *source = source_new(filters, n_threads, err);
    if (!source) return STENO_ERR_NO_MEMORY;
    source->samples = samples;
    source->n_audio = n_samples;
    source->n_total = n_samples + ST_MEL_PADDING_30S;
    /* first pass: the maximum over the frames that touch audio, a block at a time */
    size_t audio_frames = (n_samples + HALF_FFT) / ST_MEL_HOP + 1;
    size_t n_frames = st_mel_frame_count(n_samples, ST_MEL_PADDING_30S);
    if (audio_frames > n_frames) audio_frames = n_frames;
    for (size_t first = 0; first < audio_frames; first += WINDOW_FRAMES) {
        size_t count = audio_frames - first < WINDOW_FRAMES ? audio_frames - first : WINDOW_FRAMES;
        float max = st_mel_log_frames(filters, samples, 0, n_samples, n_samples, source->n_total, first, count,
                                      source->scratch, WINDOW_FRAMES, source->n_threads);
        if (max > source->max_log) source->max_log = max;
    }
    include_padding_floor(source);
    *out = source;
    return STENO_OK;
}

/* Makes the file buffer hold audio samples [need_start, need_end) (as much as exists). */
static steno_status fill_buffer(st_mel_source *source, size_t need_start, size_t need_end, st_error *err) {
    if (need_start < source->buffer_start) {
        return st_error_set(err, STENO_ERR_INTERNAL, "mel: a file source cannot move back to sample %zu", need_start);
    }
    /* drop what lies before need_start; never move past the samples decoded so far */
    size_t drop = need_start - source->buffer_start;
    if (drop > source->buffer_length) drop = source->buffer_length;
    if (drop > 0) {
        memmove(source->buffer, source->buffer + drop, (source->buffer_length - drop) * sizeof *source->buffer);
    }
    source->buffer_length -= drop;
    source->buffer_start += drop;
    while (!source->reader_done && source->buffer_start + source->buffer_length < need_end) {
        if (source->buffer_capacity - source->buffer_length < READ_CHUNK) {
            size_t capacity = source->buffer_capacity ? source->buffer_capacity * 2 : 4 * READ_CHUNK;
            float *grown = realloc(source->buffer, capacity * sizeof *grown);
            if (!grown) return st_error_set(err, STENO_ERR_NO_MEMORY, "mel: out of memory");
            source->buffer = grown;
            source->buffer_capacity = capacity;
        }
        size_t n_read;
        steno_status status =
            st_audio_reader_read(source->reader, source->buffer + source->buffer_length, READ_CHUNK, &n_read, err);
        if (status != STENO_OK) return status;
        if (n_read == 0) source->reader_done = 1;
        source->buffer_length += n_read;
    }
    return STENO_OK;
}

static steno_status rewind_reader(st_mel_source *source, const char *path, st_error *err) {
    st_audio_reader_close(source->reader);
    source->reader = NULL;
    source->reader_done = 0;
    source->buffer_start = source->buffer_length = 0;
    return st_audio_reader_open(path, ST_MEL_SAMPLE_RATE, &source->reader, err);
}

steno_status st_mel_source_from_file(const st_mel_filters *filters, const char *path, int n_threads,
                                     st_mel_source **out, st_error *err) {
    *out = NULL;
    st_mel_source *source = source_new(filters, n_threads, err);
    if (!source) return STENO_ERR_NO_MEMORY;
    steno_status status = rewind_reader(source, path, err);
    /* first pass: stream the audio once, a block of frames at a time, for the maximum and the
     * length. Samples past the end are padding zeros; with 30 s of padding the reflection at
     * the signal's far end only ever mirrors zeros, so the unknown total does not matter. */
    size_t frame = 0;
    while (status == STENO_OK) {
        size_t need_start = frame * ST_MEL_HOP > HALF_FFT ? frame * ST_MEL_HOP - HALF_FFT : 0;
        size_t need_end = (frame + WINDOW_FRAMES) * ST_MEL_HOP + HALF_FFT;
        if ((status = fill_buffer(source, need_start, need_end, err)) != STENO_OK) break;
        size_t available = source->buffer_start + source->buffer_length;
        size_t count = WINDOW_FRAMES;
        if (source->reader_done) {
            size_t audio_frames = (available + HALF_FFT) / ST_MEL_HOP + 1; /* frames touching audio */
            count = audio_frames > frame ? audio_frames - frame : 0;
            if (count > WINDOW_FRAMES) count = WINDOW_FRAMES;
        }
        if (count == 0) break;
        size_t n_audio = source->reader_done ? available : SIZE_MAX;
        float max = st_mel_log_frames(filters, source->buffer, source->buffer_start, source->buffer_length, n_audio,
                                      SIZE_MAX, frame, count, source->scratch, WINDOW_FRAMES, source->n_threads);
        if (max > source->max_log) source->max_log = max;
        frame += count;
    }
    if (status == STENO_OK) {
        source->n_audio = source->buffer_start + source->buffer_length;
        source->n_total = source->n_audio + ST_MEL_PADDING_30S;
        include_padding_floor(source);
        status = rewind_reader(source, path, err); /* the second pass starts at the beginning */
    }
    if (status != STENO_OK) {
        st_mel_source_free(source);
        return status;
    }
    *out = source;
    return STENO_OK;
}

steno_status st_mel_source_window(st_mel_source *source, int seek, int size, float *window, int window_frames,
                                  st_error *err) {
    const int n_mels = st_mel_filters_n_mels(source->filters);
    if (seek < 0 || size < 0 || size > window_frames) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: window of %d frames at %d does not fit %d", size,
                            seek, window_frames);
    }
    const float *buffer = source->samples;
    size_t buffer_start = 0, buffer_length = source->n_audio;
    if (!source->samples) {
        size_t first = (size_t)seek * ST_MEL_HOP;
        size_t need_start = first > HALF_FFT ? first - HALF_FFT : 0;
        size_t need_end = ((size_t)seek + (size_t)size) * ST_MEL_HOP + HALF_FFT;
        steno_status status = fill_buffer(source, need_start, need_end, err);
        if (status != STENO_OK) return status;
        buffer = source->buffer;
        buffer_start = source->buffer_start;
        buffer_length = source->buffer_length;
    }
    if (size > 0) {
        st_mel_log_frames(source->filters, buffer, buffer_start, buffer_length, source->n_audio, source->n_total,
                          (size_t)seek, (size_t)size, window, (size_t)window_frames, source->n_threads);
    }
    for (int m = 0; m < n_mels; m++) {
        float *row = window + (size_t)m * window_frames;
        st_mel_scale(row, (size_t)size, source->max_log);
        memset(row + size, 0, (size_t)(window_frames - size) * sizeof *row);
    }
    return STENO_OK;
}
