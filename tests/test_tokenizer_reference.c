/* test_tokenizer_reference.c — the tokenizer against independent JavaScript tokenizers.
 *
 * The golden file comes from scripts/reference-tokenize (a CTest fixture): Hugging Face's
 * tokenizers.js on whisper-tiny's tokenizer.json for the multilingual vocabulary, js-tiktoken's
 * GPT-2 ranks for the English one. Compared here: every token's bytes, the ids of each test
 * string, and openai-whisper's non-speech suppress list. */
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

static json_t *golden;

static void hex_of(const uint8_t *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static void same_vocabulary(const st_tokenizer *t, const json_t *reference) {
    json_t *vocab_hex = json_object_get(reference, "vocab_hex");
    assert_int_equal(json_array_size(vocab_hex), st_tokenizer_eot(t));
    for (int id = 0; id < st_tokenizer_eot(t); id++) {
        size_t length;
        const uint8_t *bytes = st_tokenizer_token_bytes(t, id, &length);
        assert_non_null(bytes);
        char hex[512];
        assert_true(length < sizeof hex / 2);
        hex_of(bytes, length, hex);
        const char *expected = json_string_value(json_array_get(vocab_hex, (size_t)id));
        if (expected == NULL || strcmp(hex, expected) != 0) fail_msg("token %d: %s, expected %s", id, hex, expected);
    }
}

static void same_encodings(const st_tokenizer *t, const json_t *reference) {
    json_t *cases = json_object_get(reference, "cases"), *item;
    size_t index;
    assert_true(json_array_size(cases) > 20);
    json_array_foreach(cases, index, item) {
        const char *text = json_string_value(json_object_get(item, "text"));
        size_t text_length = json_string_length(json_object_get(item, "text"));
        json_t *expected = json_object_get(item, "ids");
        int32_t ids[512];
        size_t n;
        assert_int_equal(st_tokenizer_encode(t, text, text_length, ids, 512, &n, NULL), STENO_OK);
        bool same = n == json_array_size(expected);
        for (size_t i = 0; same && i < n; i++)
            same = ids[i] == json_integer_value(json_array_get(expected, i));
        if (!same) {
            char *want = json_dumps(expected, JSON_COMPACT);
            fprintf(stderr, "case %zu \"%s\": got", index, text);
            for (size_t i = 0; i < n && i < 512; i++)
                fprintf(stderr, " %d", (int)ids[i]);
            fprintf(stderr, ", expected %s\n", want);
            free(want);
            fail();
        }
        /* and decoding gives the text back */
        char decoded[1024];
        size_t length;
        assert_int_equal(st_tokenizer_decode(t, ids, n, 0, decoded, sizeof decoded, &length, NULL), STENO_OK);
        assert_int_equal(length, text_length);
        assert_memory_equal(decoded, text, text_length);
    }
}

static void same_non_speech(const st_tokenizer *t, const json_t *reference) {
    json_t *expected = json_object_get(reference, "non_speech_tokens");
    size_t n;
    const int32_t *ids = st_tokenizer_non_speech_tokens(t, &n);
    assert_int_equal(n, json_array_size(expected));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], json_integer_value(json_array_get(expected, i)));
}

static void multilingual_matches_tokenizers_js(void **state) {
    (void)state;
    json_t *reference = json_object_get(golden, "multilingual");
    st_tokenizer *t = NULL;
    st_error err;
    if (st_tokenizer_load_json(st_test_model("whisper-tiny/vocab.json"), 51865, &t, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    same_vocabulary(t, reference);
    same_encodings(t, reference);
    same_non_speech(t, reference);
    st_tokenizer_free(t);
}

static void english_ggml_matches_tiktoken_gpt2(void **state) {
    (void)state;
    json_t *reference = json_object_get(golden, "gpt2");
    st_test_ggml_vocab vocab;
    if (st_test_ggml_vocab_load(st_test_model("ggml-base.en.bin"), &vocab) != 0) fail();
    st_tokenizer *t = NULL;
    st_error err;
    if (st_tokenizer_create(vocab.entries, vocab.n_entries, vocab.n_vocab, &t, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    st_test_ggml_vocab_free(&vocab);
    same_vocabulary(t, reference);
    same_encodings(t, reference);
    same_non_speech(t, reference);
    st_tokenizer_free(t);
}

int main(void) {
    char path[4096];
    if (!st_test_path(path, sizeof path, "STENO_BINARY_DIR", "golden/tokenizer.json")) return ST_TEST_SKIP;
    json_error_t error;
    golden = json_load_file(path, 0, &error);
    if (golden == NULL) {
        fprintf(stderr, "SKIP: %s: %s (made by scripts/reference-tokenize, which needs node)\n", path, error.text);
        return ST_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multilingual_matches_tokenizers_js),
        cmocka_unit_test(english_ggml_matches_tiktoken_gpt2),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(golden);
    return failures;
}
