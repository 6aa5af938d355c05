/* test_tokenizer_models.c — the tokenizer on the real vocabularies: whisper-tiny's Hugging Face
 * files (multilingual) and the official ggml-base.en.bin (GPT-2). Special-token ids are checked
 * against added_tokens.json and tokenizer.json, the suppress lists against the ones Hugging
 * Face's converter wrote into generation_config.json from openai-whisper's tokenizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_vocab.h"
#include "test_support.h"
#include "whisper/tokenizer.h"

static const char *tiny_file(const char *name) {
    static char path[4][512];
    static int next;
    char *buffer = path[next++ % 4];
    snprintf(buffer, sizeof path[0], "whisper-tiny/%s", name);
    return st_test_model(buffer);
}

static json_t *load_json(const char *path) {
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (root == NULL) fail_msg("%s: %s", path, error.text);
    return root;
}

static int tiny_n_vocab(void) {
    json_t *config = load_json(tiny_file("config.json"));
    int n_vocab = (int)json_integer_value(json_object_get(config, "vocab_size"));
    json_decref(config);
    return n_vocab;
}

static st_tokenizer *load(const char *path, int n_vocab) {
    st_tokenizer *t = NULL;
    st_error err;
    if (st_tokenizer_load_json(path, n_vocab, &t, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    return t;
}

static st_tokenizer *english(void) {
    st_test_ggml_vocab vocab;
    if (st_test_ggml_vocab_load(st_test_model("ggml-base.en.bin"), &vocab) != 0) fail();
    st_tokenizer *t = NULL;
    st_error err;
    if (st_tokenizer_create(vocab.entries, vocab.n_entries, vocab.n_vocab, &t, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    st_test_ggml_vocab_free(&vocab);
    return t;
}

/* Hugging Face calls openai-whisper's <|nospeech|> by its older name. */
static const char *openai_name(const char *hf_name) {
    return strcmp(hf_name, "<|nocaptions|>") == 0 ? "<|nospeech|>" : hf_name;
}

static void vocab_json_and_tokenizer_json_agree(void **state) {
    (void)state;
    int n_vocab = tiny_n_vocab();
    assert_int_equal(n_vocab, 51865);
    st_tokenizer *from_vocab = load(tiny_file("vocab.json"), n_vocab);
    st_tokenizer *from_tokenizer = load(tiny_file("tokenizer.json"), n_vocab);
    assert_true(st_tokenizer_is_multilingual(from_vocab));
    assert_int_equal(st_tokenizer_eot(from_vocab), 50257);
    for (int id = 0; id < st_tokenizer_eot(from_vocab); id++) {
        size_t a_length, b_length;
        const uint8_t *a = st_tokenizer_token_bytes(from_vocab, id, &a_length);
        const uint8_t *b = st_tokenizer_token_bytes(from_tokenizer, id, &b_length);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(a_length, b_length);
        assert_memory_equal(a, b, a_length);
    }
    /* the space byte is spelt "Ġ" in both */
    size_t length;
    const uint8_t *space = st_tokenizer_token_bytes(from_vocab, 220, &length);
    assert_int_equal(length, 1);
    assert_int_equal(space[0], ' ');
    st_tokenizer_free(from_vocab);
    st_tokenizer_free(from_tokenizer);
}

static void special_ids_match_added_tokens(void **state) {
    (void)state;
    st_tokenizer *t = load(tiny_file("vocab.json"), tiny_n_vocab());
    json_t *added = load_json(tiny_file("added_tokens.json"));
    const char *key;
    json_t *value;
    int n_languages = 0;
    json_object_foreach(added, key, value) {
        int id = (int)json_integer_value(value);
        char name[64];
        assert_true(st_tokenizer_special_name(t, id, name, sizeof name) > 0);
        assert_string_equal(name, openai_name(key));
        const char *code = st_tokenizer_language_code(t, id);
        if (code != NULL) {
            n_languages++;
            char expected[16];
            snprintf(expected, sizeof expected, "<|%s|>", code);
            assert_string_equal(key, expected);
            assert_int_equal(st_tokenizer_language_token(t, code), id);
        }
    }
    assert_int_equal(n_languages, st_tokenizer_n_languages(t));
    json_t *vocab = load_json(tiny_file("vocab.json")); /* eot is in the vocabulary, not added */
    assert_int_equal(json_integer_value(json_object_get(vocab, "<|endoftext|>")), st_tokenizer_eot(t));
    json_decref(vocab);
    assert_int_equal(json_integer_value(json_object_get(added, "<|startoftranscript|>")), st_tokenizer_sot(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|translate|>")), st_tokenizer_translate(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|transcribe|>")), st_tokenizer_transcribe(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|startoflm|>")), st_tokenizer_sot_lm(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|startofprev|>")), st_tokenizer_sot_prev(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|nocaptions|>")), st_tokenizer_no_speech(t));
    assert_int_equal(json_integer_value(json_object_get(added, "<|notimestamps|>")), st_tokenizer_no_timestamps(t));
    json_decref(added);

    /* tokenizer.json lists every special token, the 1501 timestamps included */
    json_t *tokenizer = load_json(tiny_file("tokenizer.json"));
    json_t *tokens = json_object_get(tokenizer, "added_tokens");
    assert_int_equal(json_array_size(tokens), st_tokenizer_n_vocab(t) - st_tokenizer_eot(t));
    size_t index;
    json_array_foreach(tokens, index, value) {
        int id = (int)json_integer_value(json_object_get(value, "id"));
        char name[64];
        st_tokenizer_special_name(t, id, name, sizeof name);
        assert_string_equal(name, openai_name(json_string_value(json_object_get(value, "content"))));
    }
    json_t *first_stamp = json_array_get(tokens, (size_t)(st_tokenizer_timestamp_begin(t) - st_tokenizer_eot(t)));
    assert_string_equal(json_string_value(json_object_get(first_stamp, "content")), "<|0.00|>");
    assert_int_equal(json_integer_value(json_object_get(first_stamp, "id")), st_tokenizer_timestamp_begin(t));
    json_decref(tokenizer);
    st_tokenizer_free(t);
}

/* generation_config.json's suppress_tokens is openai-whisper's non_speech_tokens plus the
 * specials its decoder always suppresses (sot, translate, transcribe, startoflm, startofprev,
 * nospeech); begin_suppress_tokens is the blank: " " and eot. */
static void suppress_lists_match_generation_config(void **state) {
    (void)state;
    st_tokenizer *t = load(tiny_file("vocab.json"), tiny_n_vocab());
    json_t *config = load_json(tiny_file("generation_config.json"));
    json_t *suppress = json_object_get(config, "suppress_tokens");
    int always[] = {st_tokenizer_sot(t),    st_tokenizer_translate(t), st_tokenizer_transcribe(t),
                    st_tokenizer_sot_lm(t), st_tokenizer_sot_prev(t),  st_tokenizer_no_speech(t)};
    size_t n;
    const int32_t *non_speech = st_tokenizer_non_speech_tokens(t, &n);
    size_t matched = 0, index;
    json_t *value;
    json_array_foreach(suppress, index, value) {
        int id = (int)json_integer_value(value);
        bool special = false;
        for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
            special |= always[i] == id;
        if (special) continue;
        assert_true(matched < n);
        assert_int_equal(non_speech[matched], id);
        matched++;
    }
    assert_int_equal(matched, n);
    assert_true(n > 80);

    json_t *begin = json_object_get(config, "begin_suppress_tokens");
    assert_int_equal(json_array_size(begin), 2);
    assert_int_equal(json_integer_value(json_array_get(begin, 0)), st_tokenizer_space(t));
    assert_int_equal(json_integer_value(json_array_get(begin, 1)), st_tokenizer_eot(t));
    assert_int_equal(json_integer_value(json_object_get(config, "no_timestamps_token_id")),
                     st_tokenizer_no_timestamps(t));
    assert_int_equal(json_integer_value(json_object_get(config, "decoder_start_token_id")), st_tokenizer_sot(t));
    json_decref(config);
    st_tokenizer_free(t);
}

static const char *const sentences[] = {
    " And so my fellow Americans, ask not what your country can do for you.",
    "He said: \"it's 10:30 -- we're late!\"\n\n  Then   left.",
    " Привет, мир! Grüße aus München. こんにちは世界。🎉👍🏽",
    "\ttabs, trailing spaces   ",
    "",
};

static void round_trip(const st_tokenizer *t) {
    for (size_t s = 0; s < sizeof sentences / sizeof sentences[0]; s++) {
        const char *text = sentences[s];
        int32_t ids[256];
        size_t n, length;
        assert_int_equal(st_tokenizer_encode(t, text, strlen(text), ids, 256, &n, NULL), STENO_OK);
        assert_true(n <= 256);
        assert_true(n <= strlen(text));
        for (size_t i = 0; i < n; i++)
            assert_in_range(ids[i], 0, st_tokenizer_eot(t) - 1);
        char decoded[512];
        assert_int_equal(st_tokenizer_decode(t, ids, n, 0, decoded, sizeof decoded, &length, NULL), STENO_OK);
        assert_string_equal(decoded, text);
    }
}

static void multilingual_round_trips(void **state) {
    (void)state;
    st_tokenizer *t = load(tiny_file("vocab.json"), tiny_n_vocab());
    round_trip(t);
    st_tokenizer_free(t);
}

static void english_ggml_vocabulary(void **state) {
    (void)state;
    st_tokenizer *t = english();
    assert_int_equal(st_tokenizer_n_vocab(t), 51864);
    assert_false(st_tokenizer_is_multilingual(t));
    assert_int_equal(st_tokenizer_eot(t), 50256);
    assert_int_equal(st_tokenizer_sot(t), 50257);
    assert_int_equal(st_tokenizer_timestamp_begin(t), 50363);
    assert_int_equal(st_tokenizer_no_timestamps(t), 50362);
    assert_int_equal(st_tokenizer_space(t), 220);
    round_trip(t);
    /* the stored "<|endoftext|>" entry is not a text token: as text it is encoded piecewise */
    int32_t ids[16];
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, "<|endoftext|>", 13, ids, 16, &n, NULL), STENO_OK);
    assert_true(n > 1);
    for (size_t i = 0; i < n; i++)
        assert_true(ids[i] < 50256);
    st_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vocab_json_and_tokenizer_json_agree),
        cmocka_unit_test(special_ids_match_added_tokens),
        cmocka_unit_test(suppress_lists_match_generation_config),
        cmocka_unit_test(multilingual_round_trips),
        cmocka_unit_test(english_ggml_vocabulary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
