/* test_tokenizer.c — the tokenizer on a small synthetic vocabulary: layout of the special
 * tokens for each n_vocab, BPE merge order, UTF-8 repair when decoding, capacity handling and
 * rejection of malformed vocabularies. The real vocabularies are tested in
 * test_tokenizer_models.c and against independent tokenizers in test_tokenizer_reference.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "whisper/tokenizer.h"

#define N_TEXT_ENGLISH 50256

/* Merged tokens after the 256 single bytes (id = byte value): id 256 + index. */
static const char *const merged[] = {"aa", "aaaa", "th", "he", "the", " t", " the", "ab", "bc", "abc"};
enum { ID_AA = 256, ID_AAAA, ID_TH, ID_HE, ID_THE, ID_SPACE_T, ID_SPACE_THE, ID_AB, ID_BC, ID_ABC };

/* A vocabulary of n_text entries: single bytes, the merges above, then empty tokens (as the
 * multilingual vocabulary's id 50256 is). */
static st_vocab_entry *synthetic_entries(size_t n_text, uint8_t *single_bytes) {
    st_vocab_entry *entries = calloc(n_text, sizeof *entries);
    assert_non_null(entries);
    for (int b = 0; b < 256; b++) {
        single_bytes[b] = (uint8_t)b;
        entries[b] = (st_vocab_entry){single_bytes + b, 1};
    }
    for (size_t i = 0; i < sizeof merged / sizeof merged[0]; i++) {
        entries[256 + i] = (st_vocab_entry){(const uint8_t *)merged[i], (uint32_t)strlen(merged[i])};
    }
    return entries;
}

static st_tokenizer *synthetic(int n_vocab) {
    static uint8_t single_bytes[256];
    size_t n_text = N_TEXT_ENGLISH + (n_vocab > 51864 ? 1 : 0);
    st_vocab_entry *entries = synthetic_entries(n_text, single_bytes);
    st_tokenizer *t = NULL;
    st_error err;
    steno_status status = st_tokenizer_create(entries, n_text, n_vocab, &t, &err);
    if (status != STENO_OK) fail_msg("%s", st_error_message(&err));
    free(entries);
    return t;
}

static void encode_expect(const st_tokenizer *t, const char *text, const int32_t *expected, size_t n_expected) {
    int32_t ids[64];
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, text, strlen(text), ids, 64, &n, NULL), STENO_OK);
    assert_int_equal(n, n_expected);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], expected[i]);
}

static void decode_expect(const st_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, const char *expected) {
    char text[256];
    size_t length;
    assert_int_equal(st_tokenizer_decode(t, ids, n, flags, text, sizeof text, &length, NULL), STENO_OK);
    assert_int_equal(length, strlen(expected));
    assert_memory_equal(text, expected, length + 1);
}

/* The layouts openai-whisper's get_encoding builds: specials appended after the text tokens in
 * the order eot, sot, languages, translate, transcribe, startoflm, startofprev, nospeech,
 * notimestamps, timestamps. */
static void layout_follows_n_vocab(void **state) {
    (void)state;
    st_tokenizer *en = synthetic(51864);
    assert_false(st_tokenizer_is_multilingual(en));
    assert_int_equal(st_tokenizer_n_languages(en), 99);
    assert_int_equal(st_tokenizer_eot(en), 50256);
    assert_int_equal(st_tokenizer_sot(en), 50257);
    assert_int_equal(st_tokenizer_translate(en), 50357);
    assert_int_equal(st_tokenizer_transcribe(en), 50358);
    assert_int_equal(st_tokenizer_sot_lm(en), 50359);
    assert_int_equal(st_tokenizer_sot_prev(en), 50360);
    assert_int_equal(st_tokenizer_no_speech(en), 50361);
    assert_int_equal(st_tokenizer_no_timestamps(en), 50362);
    assert_int_equal(st_tokenizer_timestamp_begin(en), 50363);
    assert_int_equal(st_tokenizer_timestamp_begin(en) + 1500, st_tokenizer_n_vocab(en) - 1);
    st_tokenizer_free(en);

    st_tokenizer *v2 = synthetic(51865);
    assert_true(st_tokenizer_is_multilingual(v2));
    assert_int_equal(st_tokenizer_n_languages(v2), 99);
    assert_int_equal(st_tokenizer_eot(v2), 50257);
    assert_int_equal(st_tokenizer_language_token(v2, "en"), 50259);
    assert_int_equal(st_tokenizer_language_token(v2, "su"), 50357);
    assert_int_equal(st_tokenizer_language_token(v2, "yue"), -1);
    assert_int_equal(st_tokenizer_translate(v2), 50358);
    assert_int_equal(st_tokenizer_timestamp_begin(v2), 50364);
    st_tokenizer_free(v2);

    st_tokenizer *v3 = synthetic(51866);
    assert_int_equal(st_tokenizer_n_languages(v3), 100);
    assert_int_equal(st_tokenizer_language_token(v3, "yue"), 50358);
    assert_string_equal(st_tokenizer_language_code(v3, 50358), "yue");
    assert_int_equal(st_tokenizer_translate(v3), 50359);
    assert_int_equal(st_tokenizer_transcribe(v3), 50360);
    assert_int_equal(st_tokenizer_no_timestamps(v3), 50364);
    assert_int_equal(st_tokenizer_timestamp_begin(v3), 50365);
    assert_null(st_tokenizer_language_code(v3, 50359));
    assert_null(st_tokenizer_language_code(v3, 50258));
    assert_null(st_tokenizer_language_code(v3, INT32_MIN)); /* found by fuzz_tokenizer: no overflow */
    assert_null(st_tokenizer_language_code(v3, INT32_MAX));
    char name[8];
    assert_int_equal(st_tokenizer_special_name(v3, INT32_MIN, name, sizeof name), -1);
    assert_int_equal(st_tokenizer_language_token(v3, "xx"), -1);
    assert_int_equal(st_tokenizer_language_token(v3, NULL), -1);
    st_tokenizer_free(v3);
}

static void special_names_and_decode_flags(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51865);
    char name[64];
    assert_int_equal(st_tokenizer_special_name(t, 50257, name, sizeof name), 13);
    assert_string_equal(name, "<|endoftext|>");
    st_tokenizer_special_name(t, 50258, name, sizeof name);
    assert_string_equal(name, "<|startoftranscript|>");
    st_tokenizer_special_name(t, 50263, name, sizeof name);
    assert_string_equal(name, "<|ru|>");
    st_tokenizer_special_name(t, 50362, name, sizeof name);
    assert_string_equal(name, "<|nospeech|>");
    st_tokenizer_special_name(t, 50364 + 54, name, sizeof name);
    assert_string_equal(name, "<|1.08|>");
    st_tokenizer_special_name(t, 51864, name, sizeof name);
    assert_string_equal(name, "<|30.00|>");
    assert_int_equal(st_tokenizer_special_name(t, 'a', name, sizeof name), -1);
    assert_int_equal(st_tokenizer_special_name(t, 51865, name, sizeof name), -1);
    /* snprintf semantics: the full length is returned even when it does not fit */
    assert_int_equal(st_tokenizer_special_name(t, 50258, name, 4), 21);
    assert_string_equal(name, "<|s");

    const int32_t ids[] = {50258, 50259, 50359, 50364, ID_SPACE_THE, 'x', 50364 + 54, 50257};
    const size_t n = sizeof ids / sizeof ids[0];
    decode_expect(t, ids, n, 0, " thex");
    decode_expect(t, ids, n, ST_DECODE_TIMESTAMPS, "<|0.00|> thex<|1.08|>");
    decode_expect(t, ids, n, ST_DECODE_SPECIALS, "<|startoftranscript|><|en|><|transcribe|> thex<|endoftext|>");
    decode_expect(t, ids, n, ST_DECODE_SPECIALS | ST_DECODE_TIMESTAMPS,
                  "<|startoftranscript|><|en|><|transcribe|><|0.00|> thex<|1.08|><|endoftext|>");
    st_tokenizer_free(t);
}

/* tiktoken's rule: merge the lowest-ranked adjacent pair, leftmost first on ties. */
static void bpe_merges_lowest_rank_leftmost_first(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    /* a·a·a·a·a: the three "aa" pairs tie; the leftmost merges, then the next free one, giving
     * aa·aa·a, then "aaaa" (rank 257) forms: aaaa·a. */
    encode_expect(t, "aaaaa", (const int32_t[]){ID_AAAA, 'a'}, 2);
    /* a·b·c·a·b: both "ab" pairs (263) outrank "bc" (264); the left one merges first, then the
     * right one, then ab·c forms "abc" (265); "cab" is no token */
    encode_expect(t, "abcab", (const int32_t[]){ID_ABC, ID_AB}, 2);
    /* " the" is a token as a whole, so it is taken without merging */
    encode_expect(t, " the", (const int32_t[]){ID_SPACE_THE}, 1);
    /* t·h·e·y: "th" (258) first, then "the" (260); "the"+"y" is no token */
    encode_expect(t, "they", (const int32_t[]){ID_THE, 'y'}, 2);
    /* pieces split before merging: "aa" never joins across the space */
    encode_expect(t, "a a", (const int32_t[]){'a', ' ', 'a'}, 3);
    st_tokenizer_free(t);
}

static void encode_counts_beyond_capacity(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    int32_t ids[2] = {-7, -7};
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, "xyz!", 4, NULL, 0, &n, NULL), STENO_OK);
    assert_int_equal(n, 4);
    assert_int_equal(st_tokenizer_encode(t, "xyz!", 4, ids, 1, &n, NULL), STENO_OK);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 'x');
    assert_int_equal(ids[1], -7); /* nothing written past capacity */
    assert_int_equal(st_tokenizer_encode(t, "", 0, ids, 2, &n, NULL), STENO_OK);
    assert_int_equal(n, 0);

    char text[4];
    size_t length;
    const int32_t hello[] = {'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(st_tokenizer_decode(t, hello, 5, 0, text, sizeof text, &length, NULL), STENO_OK);
    assert_int_equal(length, 5);
    assert_string_equal(text, "hel");
    assert_int_equal(st_tokenizer_decode(t, hello, 5, 0, NULL, 0, &length, NULL), STENO_OK);
    assert_int_equal(length, 5);
    st_tokenizer_free(t);
}

static void decode_rejects_ids_outside_the_vocabulary(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    st_error err;
    char text[16];
    size_t length = 99;
    const int32_t bad_high[] = {'a', 51864};
    assert_int_equal(st_tokenizer_decode(t, bad_high, 2, 0, text, sizeof text, &length, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "51864"));
    assert_int_equal(length, 0);
    const int32_t bad_low[] = {-1};
    assert_int_equal(st_tokenizer_decode(t, bad_low, 1, 0, text, sizeof text, &length, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    size_t n;
    assert_null(st_tokenizer_token_bytes(t, 50256, &n));
    assert_null(st_tokenizer_token_bytes(t, -1, &n));
    const uint8_t *bytes = st_tokenizer_token_bytes(t, ID_SPACE_THE, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(bytes, " the", 4);
    st_tokenizer_free(t);
}

/* Decoding repairs UTF-8 as Python's bytes.decode("utf-8", errors="replace") does (one U+FFFD
 * per maximal invalid subpart, Unicode §3.9); single-byte tokens split characters at will. */
static void decode_repairs_split_and_invalid_utf8(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    const char *fffd = "\xEF\xBF\xBD";
    char expected[64];
    /* a character split over three tokens reassembles */
    decode_expect(t, (const int32_t[]){0xE2, 0x82, 0xAC}, 3, 0, "\xE2\x82\xAC");
    /* a truncated sequence followed by ASCII: one replacement, then the ASCII */
    snprintf(expected, sizeof expected, "%sA", fffd);
    decode_expect(t, (const int32_t[]){0xE2, 0x82, 'A'}, 3, 0, expected);
    /* a stray continuation byte and a never-valid lead byte each become one replacement */
    snprintf(expected, sizeof expected, "%s%s%s", fffd, fffd, fffd);
    decode_expect(t, (const int32_t[]){0x80, 0xC0, 0xAF}, 3, 0, expected);
    /* overlong E0 80 80 and surrogate ED A0 80: the lead byte's range excludes the next byte */
    decode_expect(t, (const int32_t[]){0xE0, 0x80, 0x80}, 3, 0, expected);
    decode_expect(t, (const int32_t[]){0xED, 0xA0, 0x80}, 3, 0, expected);
    /* a special token interrupts a pending sequence */
    snprintf(expected, sizeof expected, "%s<|endoftext|>", fffd);
    decode_expect(t, (const int32_t[]){0xF0, 0x9F, 50256}, 3, ST_DECODE_SPECIALS, expected);
    /* an incomplete character at the very end is kept for a streaming caller, or replaced */
    decode_expect(t, (const int32_t[]){'x', 0xF0, 0x9F, 0x98}, 4, 0, "x\xF0\x9F\x98");
    snprintf(expected, sizeof expected, "x%s", fffd);
    decode_expect(t, (const int32_t[]){'x', 0xF0, 0x9F, 0x98}, 4, ST_DECODE_REPLACE_INCOMPLETE, expected);
    st_tokenizer_free(t);
}

static void encode_keeps_invalid_utf8_bytes(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    const char input[] = "ok\xFF\xC3( caf\xC3\xA9\x80";
    int32_t ids[64];
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, input, sizeof input - 1, ids, 64, &n, NULL), STENO_OK);
    uint8_t out[64];
    size_t length = 0;
    for (size_t i = 0; i < n; i++) {
        size_t token_length;
        const uint8_t *bytes = st_tokenizer_token_bytes(t, ids[i], &token_length);
        assert_non_null(bytes);
        memcpy(out + length, bytes, token_length);
        length += token_length;
    }
    assert_int_equal(length, sizeof input - 1);
    assert_memory_equal(out, input, length);
    st_tokenizer_free(t);
}

/* A single 200 kB "word" must not take quadratic time (the merge uses a heap). */
static void long_runs_encode(void **state) {
    (void)state;
    st_tokenizer *t = synthetic(51864);
    size_t size = 200000;
    char *text = malloc(size);
    int32_t *ids = malloc(size * sizeof *ids);
    assert_non_null(text);
    assert_non_null(ids);
    memset(text, 'a', size);
    size_t n;
    assert_int_equal(st_tokenizer_encode(t, text, size, ids, size, &n, NULL), STENO_OK);
    assert_int_equal(n, size / 4); /* all "aaaa" */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], ID_AAAA);
    free(text);
    free(ids);
    st_tokenizer_free(t);
}

static void create_rejects_bad_vocabularies(void **state) {
    (void)state;
    uint8_t single_bytes[256];
    st_vocab_entry *entries = synthetic_entries(N_TEXT_ENGLISH, single_bytes);
    st_tokenizer *t = (st_tokenizer *)&t;
    st_error err;
    assert_int_equal(st_tokenizer_create(entries, N_TEXT_ENGLISH, 51000, &t, &err), STENO_ERR_UNSUPPORTED);
    assert_null(t);
    assert_int_equal(st_tokenizer_create(entries, 50000, 51864, &t, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "50000"));
    /* multilingual needs one more text token than GPT-2 */
    assert_int_equal(st_tokenizer_create(entries, N_TEXT_ENGLISH, 51865, &t, &err), STENO_ERR_FORMAT);
    entries['Q'].length = 0; /* byte 'Q' can no longer be encoded */
    assert_int_equal(st_tokenizer_create(entries, N_TEXT_ENGLISH, 51864, &t, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "0x51"));
    free(entries);
}

static steno_status from_json(const char *json, st_error *err) {
    st_tokenizer *t = NULL;
    steno_status status = st_tokenizer_create_from_json(json, strlen(json), "vocab.json", 51864, &t, err);
    st_tokenizer_free(t);
    return status;
}

static void json_vocabularies_are_checked(void **state) {
    (void)state;
    st_error err;
    assert_int_equal(from_json("{\"a\": 0,", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "vocab.json: invalid JSON at line 1"));
    assert_int_equal(from_json("{\"model\": {\"vocab\": 1}}", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "expected a vocabulary"));
    assert_int_equal(from_json("{\"a\": \"0\"}", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "integer id"));
    assert_int_equal(from_json("{\"a\": 0, \"b\": 0}", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "id 0 is given to two tokens"));
    assert_int_equal(from_json("{\"a\": 0}", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "no token has id 1"));
    /* " " is no GPT-2 character: a space byte is spelt "Ġ" */
    assert_int_equal(from_json("{\"a b\": 0}", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "outside GPT-2's byte alphabet"));
    assert_int_equal(from_json("[\"a\", 7]", &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "entry 1 is not a string"));
    assert_int_equal(from_json("[\"a\"]", &err), STENO_ERR_FORMAT);
    st_tokenizer *t = NULL;
    assert_int_equal(st_tokenizer_load_json("/nonexistent/vocab.json", 51864, &t, &err), STENO_ERR_NOT_FOUND);
    assert_null(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_follows_n_vocab),
        cmocka_unit_test(special_names_and_decode_flags),
        cmocka_unit_test(bpe_merges_lowest_rank_leftmost_first),
        cmocka_unit_test(encode_counts_beyond_capacity),
        cmocka_unit_test(decode_rejects_ids_outside_the_vocabulary),
        cmocka_unit_test(decode_repairs_split_and_invalid_utf8),
        cmocka_unit_test(encode_keeps_invalid_utf8_bytes),
        cmocka_unit_test(long_runs_encode),
        cmocka_unit_test(create_rejects_bad_vocabularies),
        cmocka_unit_test(json_vocabularies_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
