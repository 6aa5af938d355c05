/* test_mel.c — the log-mel spectrogram on synthetic signals: frame counts, the FFT against a
 * direct DFT, a pure tone against its analytic Hann spectrum, the max - 8 clamp, threads and
 * argument checks. Real audio against openai-whisper's recipe is in test_mel_golden.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/mel.h"

/* A reproducible uniform value in [-1, 1). */
static float next_noise(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) * (2.0 / 16777216.0) - 1.0);
}

static void invalid_arguments_are_refused(void **state) {
    (void)state;
    st_error err;
    const int bad_sizes[] = {0, -1, 79, 81, 127, 129, 256};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        st_error_clear(&err);
        assert_null(st_mel_filters_create(bad_sizes[i], &err));
        assert_int_equal(err.code, STENO_ERR_INVALID_ARGUMENT);
    }
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    assert_non_null(filters);
    float samples[1000] = {0};
    st_mel mel = {.data = (float *)1, .n_mels = 7, .n_frames = 7};
    assert_int_equal(st_mel_compute(NULL, samples, 1000, 0, 1, &mel, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_null(mel.data); /* out is zeroed on failure */
    assert_int_equal(mel.n_frames, 0);
    assert_int_equal(st_mel_compute(filters, samples, 1000, 0, 1, NULL, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_mel_compute(filters, NULL, 1000, 0, 1, &mel, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_mel_compute(filters, samples, 1000, 0, 0, &mel, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_mel_compute(filters, samples, 1000, SIZE_MAX, 1, &mel, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "overflow"));
    st_mel_free(&mel);
    st_mel_free(NULL);
    st_mel_filters_free(filters);
    st_mel_filters_free(NULL);
}

/* torch.stft(center=True) makes 1 + total/160 frames and openai-whisper drops the last one;
 * torch refuses totals of n_fft/2 = 200 samples or fewer (reflect padding needs more). */
static void frame_count_follows_the_centred_stft(void **state) {
    (void)state;
    static const struct {
        size_t n_samples, n_padding;
        int n_frames; /* -1: refused */
    } cases[] = {
        {0, 0, -1},
        {1, 0, -1},
        {159, 0, -1},
        {160, 0, -1},
        {200, 0, -1},
        {201, 0, 1},
        {319, 0, 1},
        {320, 0, 2},
        {400, 0, 2},
        {480000, 0, 3000},
        {0, 480000, 3000},
        {1, 480000, 3000},
        {159, 480000, 3000},
        {160, 480000, 3001},
        {161, 480000, 3001},
        {400, 480000, 3002},
        {480000, 480000, 6000},
        {100, 101, 1},
    };
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(128, &err);
    assert_non_null(filters);
    float *samples = calloc(480000, sizeof *samples);
    assert_non_null(samples);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_mel mel;
        st_error_clear(&err);
        steno_status status = st_mel_compute(filters, samples, cases[i].n_samples, cases[i].n_padding, 1, &mel, &err);
        if (cases[i].n_frames < 0) {
            assert_int_equal(status, STENO_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(err.message, "reflect"));
            assert_null(mel.data);
            continue;
        }
        assert_int_equal(status, STENO_OK);
        assert_int_equal(mel.n_frames, cases[i].n_frames);
        assert_int_equal(mel.n_mels, 128);
        assert_int_equal(st_mel_frame_count(cases[i].n_samples, cases[i].n_padding), (size_t)cases[i].n_frames);
        /* silence everywhere: every mel is log10(1e-10) = -10, so (-10 + 4) / 4 */
        for (size_t j = 0; j < (size_t)mel.n_mels * (size_t)mel.n_frames; j++)
            assert_float_equal(mel.data[j], -1.5f, 1e-6);
        st_mel_free(&mel);
        assert_null(mel.data);
    }
    free(samples);
    st_mel_filters_free(filters);
}

static void fft_matches_a_direct_dft(void **state) {
    (void)state;
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    assert_non_null(filters);
    uint32_t seed = 12345;
    double worst = 0.0;
    for (int trial = 0; trial < 20; trial++) {
        float frame[ST_MEL_N_FFT], power[ST_MEL_N_BINS];
        /* white noise, plus on odd trials a strong tone between bins, so both flat and peaky
         * spectra are covered */
        for (int n = 0; n < ST_MEL_N_FFT; n++) {
            frame[n] = next_noise(&seed);
            if (trial % 2) frame[n] += 20.0f * (float)cos(2.0 * M_PI * 37.3 * n / ST_MEL_N_FFT + trial);
        }
        st_mel_power_spectrum(filters, frame, power);
        double energy = 0.0;
        for (int n = 0; n < ST_MEL_N_FFT; n++)
            energy += (double)frame[n] * frame[n];
        for (int k = 0; k < ST_MEL_N_BINS; k++) {
            double re = 0.0, im = 0.0;
            for (int n = 0; n < ST_MEL_N_FFT; n++) {
                const double angle = -2.0 * M_PI * (double)((long)k * n % ST_MEL_N_FFT) / ST_MEL_N_FFT;
                re += frame[n] * cos(angle);
                im += frame[n] * sin(angle);
            }
            const double expected = re * re + im * im;
            /* float rounding: the error of |X|^2 scales with |X| times the frame's norm */
            const double error = fabs(power[k] - expected) / (sqrt(expected * energy * ST_MEL_N_FFT) + energy * 1e-3);
            if (error > worst) worst = error;
        }
    }
    print_message("fft: worst error %.3g (relative to |X|·‖x‖·√N)\n", worst);
    assert_true(worst < 1e-5);
    st_mel_filters_free(filters);
}

/*
 * A cosine of amplitude A exactly on FFT bin k, seen through a periodic Hann window of N
 * points, has |X[k]|^2 = (A·N/4)^2, |X[k±1]|^2 = (A·N/8)^2 and nothing elsewhere. So the
 * mel of a frame inside the tone is known in closed form from the filter weights.
 */
static void tone_gives_its_analytic_mel(void **state) {
    (void)state;
    const int mel_sizes[] = {80, 128};
    const int tone_bins[] = {10, 25, 63, 150};
    for (size_t s = 0; s < 2; s++) {
        st_error err;
        st_mel_filters *filters = st_mel_filters_create(mel_sizes[s], &err);
        assert_non_null(filters);
        const float *weights = st_mel_filters_weights(filters);
        for (size_t t = 0; t < sizeof tone_bins / sizeof tone_bins[0]; t++) {
            const int k = tone_bins[t];
            const double amplitude = 0.5;
            const size_t n_samples = 16000;
            float *samples = malloc(n_samples * sizeof *samples);
            assert_non_null(samples);
            for (size_t n = 0; n < n_samples; n++) {
                samples[n] =
                    (float)(amplitude * cos(2.0 * M_PI * (double)k * (double)(n % ST_MEL_N_FFT) / ST_MEL_N_FFT + 0.3));
            }
            st_mel mel;
            assert_int_equal(st_mel_compute(filters, samples, n_samples, 0, 1, &mel, &err), STENO_OK);
            const double peak = pow(amplitude * ST_MEL_N_FFT / 4.0, 2.0), side = peak / 4.0;
            double expected[ST_MEL_MAX_MELS], max_expected = 0.0;
            int expected_argmax = 0;
            for (int m = 0; m < mel.n_mels; m++) {
                const float *row = weights + (size_t)m * ST_MEL_N_BINS;
                expected[m] = peak * row[k] + side * (row[k - 1] + row[k + 1]);
                if (expected[m] > max_expected) {
                    max_expected = expected[m];
                    expected_argmax = m;
                }
            }
            const int frame = mel.n_frames / 2;
            int argmax = 0;
            for (int m = 0; m < mel.n_mels; m++) {
                const float got = mel.data[(size_t)m * mel.n_frames + frame];
                if (got > mel.data[(size_t)argmax * mel.n_frames + frame]) argmax = m;
                /* Bins far from the tone get (almost) nothing and land on the max - 8 floor,
                 * whose level the distorted edge frames may shift a little; they need only
                 * stay well under the tone. */
                if (expected[m] > max_expected * 1e-6) {
                    assert_float_equal(got, (log10(expected[m]) + 4.0) / 4.0, 2e-5);
                } else {
                    assert_true(got < (log10(max_expected) - 6.0 + 4.0) / 4.0);
                }
            }
            assert_int_equal(argmax, expected_argmax);
            /* the winning filter's triangle covers the tone's bin */
            assert_true(weights[(size_t)argmax * ST_MEL_N_BINS + k] > 0.0f);
            st_mel_free(&mel);
            free(samples);
        }
        st_mel_filters_free(filters);
    }
}

/* Values more than 8 decades under the global maximum are raised to it: after (x + 4) / 4,
 * to exactly max - 2. */
static void quiet_parts_are_clamped_to_max_minus_8_decades(void **state) {
    (void)state;
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    assert_non_null(filters);
    const size_t n_samples = 32000;
    float *samples = malloc(n_samples * sizeof *samples);
    assert_non_null(samples);
    /* a loud tone, then the same tone 10^-5 as loud: 10 decades less power */
    for (size_t n = 0; n < n_samples; n++) {
        samples[n] = (float)((n < n_samples / 2 ? 0.8 : 0.8e-5) * sin(2.0 * M_PI * 440.0 * (double)n / 16000.0));
    }
    st_mel mel;
    assert_int_equal(st_mel_compute(filters, samples, n_samples, 0, 1, &mel, &err), STENO_OK);
    float max = -INFINITY, min = INFINITY;
    for (size_t i = 0; i < (size_t)mel.n_mels * mel.n_frames; i++) {
        max = fmaxf(max, mel.data[i]);
        min = fminf(min, mel.data[i]);
    }
    assert_float_equal(min, max - 2.0f, 1e-6);
    /* the quiet half's frames sit on the floor in every mel bin: its loudest bin is ~10
     * decades down, so all of it is clamped */
    for (int m = 0; m < mel.n_mels; m++) {
        for (int f = mel.n_frames * 3 / 4; f < mel.n_frames - 3; f++) {
            assert_float_equal(mel.data[(size_t)m * mel.n_frames + f], max - 2.0f, 1e-6);
        }
    }
    st_mel_free(&mel);
    free(samples);
    st_mel_filters_free(filters);
}

/* Padding appends silent frames on the floor; it changes no frame of the audio itself while
 * the audio's own range stays within 8 decades. */
static void padding_adds_floor_frames_only(void **state) {
    (void)state;
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(128, &err);
    assert_non_null(filters);
    const size_t n_samples = 16123;
    float *samples = malloc(n_samples * sizeof *samples);
    assert_non_null(samples);
    uint32_t seed = 7;
    for (size_t n = 0; n < n_samples; n++)
        samples[n] = 0.1f * next_noise(&seed);
    st_mel bare, padded;
    assert_int_equal(st_mel_compute(filters, samples, n_samples, 0, 1, &bare, &err), STENO_OK);
    assert_int_equal(st_mel_compute(filters, samples, n_samples, ST_MEL_PADDING_30S, 1, &padded, &err), STENO_OK);
    assert_int_equal(bare.n_frames, 100);
    assert_int_equal(padded.n_frames, 3100);
    float max = -INFINITY;
    for (size_t i = 0; i < (size_t)bare.n_mels * bare.n_frames; i++)
        max = fmaxf(max, bare.data[i]);
    for (int m = 0; m < bare.n_mels; m++) {
        /* the last frames of the bare mel see reflected audio where the padded one sees zeros */
        for (int f = 0; f < bare.n_frames - 2; f++) {
            assert_float_equal(bare.data[(size_t)m * bare.n_frames + f], padded.data[(size_t)m * padded.n_frames + f],
                               0.0);
            assert_true(bare.data[(size_t)m * bare.n_frames + f] > max - 2.0f);
        }
        for (int f = bare.n_frames + 2; f < padded.n_frames; f++) {
            assert_float_equal(padded.data[(size_t)m * padded.n_frames + f], max - 2.0f, 1e-6);
        }
    }
    st_mel_free(&bare);
    st_mel_free(&padded);
    free(samples);
    st_mel_filters_free(filters);
}

static void threads_give_the_same_result(void **state) {
    (void)state;
    st_error err;
    st_mel_filters *filters = st_mel_filters_create(80, &err);
    assert_non_null(filters);
    const size_t n_samples = 50001;
    float *samples = malloc(n_samples * sizeof *samples);
    assert_non_null(samples);
    uint32_t seed = 99;
    for (size_t n = 0; n < n_samples; n++)
        samples[n] = next_noise(&seed) * (float)(n % 1000) / 1000.0f;
    st_mel one, many;
    assert_int_equal(st_mel_compute(filters, samples, n_samples, 1000, 1, &one, &err), STENO_OK);
    assert_int_equal(st_mel_compute(filters, samples, n_samples, 1000, 3, &many, &err), STENO_OK);
    assert_int_equal(one.n_frames, many.n_frames);
    assert_memory_equal(one.data, many.data, (size_t)one.n_mels * one.n_frames * sizeof(float));
    st_mel_free(&many);
    /* more threads than frames */
    assert_int_equal(st_mel_compute(filters, samples, 300, 0, 16, &many, &err), STENO_OK);
    assert_int_equal(many.n_frames, 1);
    st_mel_free(&many);
    st_mel_free(&one);
    free(samples);
    st_mel_filters_free(filters);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_arguments_are_refused),
        cmocka_unit_test(frame_count_follows_the_centred_stft),
        cmocka_unit_test(fft_matches_a_direct_dft),
        cmocka_unit_test(tone_gives_its_analytic_mel),
        cmocka_unit_test(quiet_parts_are_clamped_to_max_minus_8_decades),
        cmocka_unit_test(padding_adds_floor_frames_only),
        cmocka_unit_test(threads_give_the_same_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
