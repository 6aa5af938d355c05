/* test_output.c — the transcript writers against files written by scripts/reference_writers.py
 * (a Python implementation of openai-whisper's published writer formats) for the fixture
 * tests/data/writers_fixture.json, byte for byte; the float repr against Python's json.dumps;
 * output file naming; the transcript container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/output.h"
#include "test_support.h"

static char *golden_path(const char *name) {
    static char path[4096];
    const char *dir = getenv("STENO_BINARY_DIR");
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/golden/writers/%s", dir, name);
    return path;
}

/* Builds a transcript from the fixture (openai's result dict as JSON). */
static void load_fixture(st_transcript *t, bool with_words) {
    const char *src = getenv("STENO_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/writers_fixture.json", src);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    st_transcript_init(t);
    t->has_words = with_words;
    assert_int_equal(st_transcript_set_language(t, json_string_value(json_object_get(root, "language")), NULL), STENO_OK);
    json_t *segments = json_object_get(root, "segments");
    size_t i;
    json_t *js;
    json_array_foreach(segments, i, js) {
        st_segment s = {0};
        s.id = (int)json_integer_value(json_object_get(js, "id"));
        s.seek = (int)json_integer_value(json_object_get(js, "seek"));
        s.start = json_number_value(json_object_get(js, "start"));
        s.end = json_number_value(json_object_get(js, "end"));
        s.text = (char *)json_string_value(json_object_get(js, "text"));
        s.temperature = json_number_value(json_object_get(js, "temperature"));
        s.avg_logprob = json_number_value(json_object_get(js, "avg_logprob"));
        s.compression_ratio = json_number_value(json_object_get(js, "compression_ratio"));
        s.no_speech_prob = json_number_value(json_object_get(js, "no_speech_prob"));
        s.speaker = -1;
        json_t *tokens = json_object_get(js, "tokens");
        int token_buffer[64];
        s.n_tokens = (int)json_array_size(tokens);
        assert_true(s.n_tokens <= 64);
        for (int k = 0; k < s.n_tokens; k++) token_buffer[k] = (int)json_integer_value(json_array_get(tokens, (size_t)k));
        s.tokens = token_buffer;
        json_t *words = json_object_get(js, "words");
        st_word word_buffer[64];
        s.n_words = (int)json_array_size(words);
        assert_true(s.n_words <= 64);
        for (int k = 0; k < s.n_words; k++) {
            json_t *w = json_array_get(words, (size_t)k);
            word_buffer[k] = (st_word){
                .text = (char *)json_string_value(json_object_get(w, "word")),
                .start = json_number_value(json_object_get(w, "start")),
                .end = json_number_value(json_object_get(w, "end")),
                .probability = json_number_value(json_object_get(w, "probability")),
            };
        }
        s.words = word_buffer;
        assert_int_equal(st_transcript_append(t, &s, NULL), STENO_OK);
    }
    assert_string_equal(t->text, json_string_value(json_object_get(root, "text")));
    json_decref(root);
}

/* Renders and compares with the golden file; on a mismatch names the first differing byte. */
static void check_variant(const char *variant, const st_output_options *options, bool with_words) {
    st_transcript t;
    load_fixture(&t, with_words);
    for (int f = 0; f < ST_OUTPUT_FORMAT_COUNT; f++) {
        char name[128];
        snprintf(name, sizeof name, "%s.%s", variant, st_output_extension((st_output_format)f));
        size_t expected_size;
        char *expected = st_test_read_file(golden_path(name), &expected_size);
        if (!expected) fail_msg("missing golden file %s (run the reference_writers test)", golden_path(name));
        st_strbuf out;
        st_strbuf_init(&out);
        st_error err;
        assert_int_equal(st_output_render((st_output_format)f, &t, options, &out, &err), STENO_OK);
        size_t at = 0;
        while (at < out.length && at < expected_size && out.data[at] == expected[at]) at++;
        if (at != out.length || at != expected_size)
            fail_msg("%s differs at byte %zu (got %zu bytes, expected %zu)\n--- got:\n%s\n--- expected:\n%s", name, at,
                     out.length, expected_size, out.data + (at > 40 ? at - 40 : 0), expected + (at > 40 ? at - 40 : 0));
        st_strbuf_free(&out);
        free(expected);
    }
    st_transcript_free(&t);
}

static void plain_words(void **state) {
    (void)state;
    check_variant("words", NULL, true);
}

static void segments_only(void **state) {
    (void)state;
    check_variant("nowords", NULL, false);
}

static void width_and_count(void **state) {
    (void)state;
    check_variant("width20_count2", &(st_output_options){.max_line_width = 20, .max_line_count = 2}, true);
}

static void width_only_preserves_segments(void **state) {
    (void)state;
    check_variant("width30", &(st_output_options){.max_line_width = 30}, true);
}

static void words_per_line(void **state) {
    (void)state;
    check_variant("words3", &(st_output_options){.max_words_per_line = 3}, true);
}

static void highlighted_words(void **state) {
    (void)state;
    check_variant("highlight", &(st_output_options){.highlight_words = true}, true);
}

/* Every double in floats.tsv (hex, then Python's json.dumps) formats to Python's text. */
static void float_repr_matches_python(void **state) {
    (void)state;
    char *data = st_test_read_file(golden_path("floats.tsv"), NULL);
    assert_non_null(data);
    int checked = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        double value = strtod(line, NULL); /* C reads float.hex(), inf and nan alike */
        char text[32];
        size_t n = st_output_format_double(value, text);
        assert_int_equal(n, strlen(text));
        if (strcmp(text, tab + 1) != 0) fail_msg("%s: got %s, Python %s", line, text, tab + 1);
        checked++;
    }
    assert_true(checked > 8000);
    free(data);
}

static void negative_timestamps_are_refused(void **state) {
    (void)state;
    st_transcript t;
    st_transcript_init(&t);
    st_segment s = {.start = -0.5, .end = 1.0, .text = " x", .speaker = -1};
    assert_int_equal(st_transcript_append(&t, &s, NULL), STENO_OK);
    st_strbuf out;
    st_strbuf_init(&out);
    st_error err;
    assert_int_equal(st_output_render(ST_OUTPUT_SRT, &t, NULL, &out, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "-0.5"));
    assert_int_equal(st_output_render(ST_OUTPUT_TSV, &t, NULL, &out, &err), STENO_ERR_INVALID_ARGUMENT);
    t.segments[0].start = NAN;
    st_strbuf_clear(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_VTT, &t, NULL, &out, &err), STENO_ERR_INVALID_ARGUMENT);
    st_strbuf_free(&out);
    st_transcript_free(&t);
}

static void speaker_label_is_added_to_json(void **state) {
    (void)state;
    st_transcript t;
    st_transcript_init(&t);
    st_segment s = {.start = 0.0, .end = 1.5, .text = " hi", .speaker = 3};
    assert_int_equal(st_transcript_append(&t, &s, NULL), STENO_OK);
    st_strbuf out;
    st_strbuf_init(&out);
    assert_int_equal(st_output_render(ST_OUTPUT_JSON, &t, NULL, &out, NULL), STENO_OK);
    assert_string_equal(out.data, "{\"text\": \" hi\", \"segments\": [{\"id\": 0, \"seek\": 0, \"start\": 0.0, \"end\": 1.5, "
                                  "\"text\": \" hi\", \"tokens\": [], \"temperature\": 0.0, \"avg_logprob\": 0.0, "
                                  "\"compression_ratio\": 0.0, \"no_speech_prob\": 0.0, \"speaker\": \"SPEAKER_03\"}], "
                                  "\"language\": null}");
    st_strbuf_free(&out);
    st_transcript_free(&t);
}

static void file_names_follow_os_path(void **state) {
    (void)state;
    static const char *const cases[][4] = {
        {"out", "a/b/jfk.flac", "srt", "out/jfk.srt"},
        {"out/", "jfk.tar.gz", "txt", "out/jfk.tar.txt"},
        {"", "/x/.hidden", "vtt", ".hidden.vtt"},
        {"d", "/x/..odd.wav", "json", "d/..odd.json"},
        {"d", "noext", "tsv", "d/noext.tsv"},
        {"d", "dir.v2/noext", "tsv", "d/noext.tsv"},
    };
    st_strbuf path;
    st_strbuf_init(&path);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(st_output_path(cases[i][0], cases[i][1], cases[i][2], &path, NULL), STENO_OK);
        assert_string_equal(path.data, cases[i][3]);
    }
    st_strbuf_free(&path);
}

static void save_all_writes_five_files(void **state) {
    (void)state;
    char dir[] = "/tmp/steno-output-XXXXXX";
    assert_non_null(mkdtemp(dir));
    st_transcript t;
    load_fixture(&t, true);
    st_error err;
    assert_int_equal(st_output_save(ST_OUTPUT_ALL, &t, NULL, dir, "/data/jfk.flac", &err), STENO_OK);
    for (int f = 0; f < ST_OUTPUT_FORMAT_COUNT; f++) {
        char path[512], golden[64];
        snprintf(path, sizeof path, "%s/jfk.%s", dir, st_output_extension((st_output_format)f));
        snprintf(golden, sizeof golden, "words.%s", st_output_extension((st_output_format)f));
        size_t got_size, want_size;
        char *got = st_test_read_file(path, &got_size);
        char *want = st_test_read_file(golden_path(golden), &want_size);
        assert_non_null(got);
        assert_non_null(want);
        assert_int_equal(got_size, want_size);
        assert_memory_equal(got, want, got_size);
        free(got);
        free(want);
        unlink(path);
    }
    assert_int_equal(st_output_save(ST_OUTPUT_TXT, &t, NULL, "/nonexistent/dir", "a.wav", &err), STENO_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent/dir/a.txt"));
    rmdir(dir);
    st_transcript_free(&t);
}

static void format_names(void **state) {
    (void)state;
    st_output_format f;
    assert_int_equal(st_output_format_from_name("srt", &f, NULL), STENO_OK);
    assert_int_equal(f, ST_OUTPUT_SRT);
    assert_int_equal(st_output_format_from_name("all", &f, NULL), STENO_OK);
    assert_int_equal(f, ST_OUTPUT_ALL);
    st_error err;
    assert_int_equal(st_output_format_from_name("docx", &f, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "docx"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_words),
        cmocka_unit_test(segments_only),
        cmocka_unit_test(width_and_count),
        cmocka_unit_test(width_only_preserves_segments),
        cmocka_unit_test(words_per_line),
        cmocka_unit_test(highlighted_words),
        cmocka_unit_test(float_repr_matches_python),
        cmocka_unit_test(negative_timestamps_are_refused),
        cmocka_unit_test(speaker_label_is_added_to_json),
        cmocka_unit_test(file_names_follow_os_path),
        cmocka_unit_test(save_all_writes_five_files),
        cmocka_unit_test(format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
