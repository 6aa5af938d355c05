/*
 * test_store_identify.c — the store names files by content: every entry of the tree that
 * scripts/make-store-fixtures.py builds (real ggml, .pt, CTranslate2 and HF-cache copies of
 * base.en and tiny, a safetensors file, pyannote checkpoints, GGUF) is identified as its
 * manifest says, and the real models are usable in place; identifying the bytes in memory
 * agrees with identifying the file; names resolve to the first usable copy in lookup order; the
 * real ggml file's SHA-1 matches whisper.cpp's published one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "test_support.h"

static char tree[4096];

static const char *fixture_tree(void) {
    const char *binary_dir = getenv("STENO_BINARY_DIR");
    if (!binary_dir) fail_msg("STENO_BINARY_DIR is not set");
    snprintf(tree, sizeof tree, "%s/store-fixtures", binary_dir);
    return tree;
}

static void every_manifest_entry_is_identified_by_content(void **state) {
    (void)state;
    char path[8192];
    snprintf(path, sizeof path, "%s/manifest.json", fixture_tree());
    json_t *manifest = json_load_file(path, 0, NULL);
    assert_non_null(manifest);
    assert_true(json_object_size(manifest) >= 16);
    const char *relative;
    json_t *expected;
    json_object_foreach(manifest, relative, expected) {
        snprintf(path, sizeof path, "%s/%s", tree, relative);
        st_identity id;
        st_error err;
        assert_int_equal(st_identify(path, &id, &err), STENO_OK);
        print_message("%s: %s %s %s (%s)\n", relative, st_model_format_name(id.format), id.model ? id.model->name : "-",
                      id.precision, id.how);
        assert_string_equal(st_model_format_name(id.format), json_string_value(json_object_get(expected, "format")));
        json_t *model = json_object_get(expected, "model");
        if (json_is_string(model)) {
            assert_non_null(id.model);
            assert_string_equal(id.model->name, json_string_value(model));
        } else {
            assert_null(id.model);
            assert_false(id.is_model);
        }
        json_t *precision = json_object_get(expected, "precision");
        if (json_is_string(precision)) assert_string_equal(id.precision, json_string_value(precision));
        json_t *architecture = json_object_get(expected, "architecture");
        if (json_is_string(architecture)) assert_string_equal(id.architecture, json_string_value(architecture));
        json_t *usable = json_object_get(expected, "usable");
        if (json_is_true(usable)) assert_true(id.usable);
        if (json_is_false(usable)) {
            assert_false(id.usable);
            assert_true(id.unusable[0] != '\0');
        }
    }
    json_decref(manifest);
}

static void names_resolve_in_lookup_order(void **state) {
    (void)state;
    fixture_tree();
    char steno[4200], whisper[4200], hub[4200];
    snprintf(steno, sizeof steno, "%s/steno", tree);
    snprintf(whisper, sizeof whisper, "%s/whisper", tree);
    snprintf(hub, sizeof hub, "%s/hf/hub", tree);
    setenv("STENO_MODELS", steno, 1);
    setenv("WHISPER_CACHE_DIR", whisper, 1);
    setenv("HF_HUB_CACHE", hub, 1);
    char *test_models = getenv("STENO_TEST_MODELS") ? strdup(getenv("STENO_TEST_MODELS")) : NULL;
    unsetenv("STENO_TEST_MODELS");
    st_store store;
    st_store_init(&store, NULL, 0);
    assert_string_equal(store.roots[0].source, "STENO_MODELS");
    assert_string_equal(store.roots[1].source, "WHISPER_CACHE_DIR");

    /* medium: the .pt is found and named by its pickled dims, and the reader's reason to refuse
     * its toy tensors is kept */
    st_store_copies copies;
    st_error err;
    assert_int_equal(st_store_find(&store, st_catalogue_find("medium"), &copies, &err), STENO_OK);
    assert_int_equal(copies.count, 1);
    assert_int_equal(copies.items[0].format, ST_FORMAT_PT);
    assert_string_equal(store.roots[copies.items[0].root].source, "WHISPER_CACHE_DIR");
    assert_ptr_equal(copies.items[0].identity.model, st_catalogue_find("medium"));
    assert_false(copies.items[0].identity.usable);
    assert_non_null(strstr(copies.items[0].identity.unusable, "encoder.conv1.weight"));
    st_store_copies_free(&copies);

    /* base.en in every layout, each usable, in lookup order: STENO_MODELS (ggml, then the
     * CTranslate2 folder named like faster-whisper's repository), WHISPER_CACHE_DIR's .pt, then
     * the HF cache's CTranslate2 repository and transformers' repository (read through its
     * model.safetensors) */
    assert_ptr_equal(st_catalogue_find("Systran/faster-whisper-base.en"), st_catalogue_find("base.en"));
    assert_int_equal(st_store_find(&store, st_catalogue_find("base.en"), &copies, &err), STENO_OK);
    static const st_model_format formats[] = {ST_FORMAT_GGML, ST_FORMAT_CT2, ST_FORMAT_PT, ST_FORMAT_CT2,
                                             ST_FORMAT_SAFETENSORS};
    static const char *const sources[] = {"STENO_MODELS", "STENO_MODELS", "WHISPER_CACHE_DIR", "HF_HUB_CACHE",
                                          "HF_HUB_CACHE"};
    assert_int_equal(copies.count, 5);
    for (int i = 0; i < copies.count; i++) {
        print_message("base.en copy %d: %s (%s)\n", i, copies.items[i].identity.open_path,
                      st_model_format_name(copies.items[i].format));
        assert_int_equal(copies.items[i].format, formats[i]);
        assert_string_equal(store.roots[copies.items[i].root].source, sources[i]);
        assert_true(copies.items[i].identity.usable);
        assert_ptr_equal(copies.items[i].identity.model, st_catalogue_find("base.en"));
    }
    st_store_copies_free(&copies);
    char path[4096], why[2048];
    assert_int_equal(st_store_resolve(&store, "base.en", path, sizeof path, why, sizeof why, &err), STENO_OK);
    assert_non_null(strstr(path, "/steno/ggml-base.en.bin"));
    /* the quantized copy is reached by its own name, outside the catalogue */
    assert_int_equal(st_store_resolve(&store, "base.en-q5_0", path, sizeof path, why, sizeof why, &err), STENO_OK);
    assert_non_null(strstr(path, "/steno/ggml-base.en-q5_0.bin"));

    /* a name with no usable copy: not found, and the message says what pull would fetch */
    assert_int_equal(st_store_resolve(&store, "small", path, sizeof path, why, sizeof why, &err), STENO_ERR_NOT_FOUND);
    assert_non_null(strstr(why, "steno models pull small"));
    assert_non_null(strstr(why, "ggml-small.bin"));
    assert_int_equal(st_store_resolve(&store, "no-such-model", path, sizeof path, why, sizeof why, &err),
                     STENO_ERR_NOT_FOUND);

    /* the scan finds every model of the tree, and nothing that is not one */
    assert_int_equal(st_store_scan(&store, &copies, &err), STENO_OK);
    int pyannote = 0, whisper_models = 0;
    for (int i = 0; i < copies.count; i++) {
        pyannote += copies.items[i].identity.family != ST_FAMILY_WHISPER;
        whisper_models += copies.items[i].identity.family == ST_FAMILY_WHISPER;
    }
    assert_int_equal(pyannote, 3); /* segmentation, embedding, pipeline */
    assert_int_equal(whisper_models, 8);
    st_store_copies_free(&copies);
    if (test_models) setenv("STENO_TEST_MODELS", test_models, 1);
    free(test_models);
}

/* The bytes alone are named as the file is (the fuzz target's entry point). */
static void memory_identification_agrees_with_the_file(void **state) {
    (void)state;
    static const char *const files[] = {
        "whisper/base.en.pt",
        "steno/ggml-tiny.bin",
        "steno/faster-whisper-base.en/model.bin",
        "whisper/medium.pt",
        "hf/hub/models--pyannote--segmentation-3.0/snapshots/0123456789abcdef0123456789abcdef01234567/"
        "pytorch_model.bin",
        "hf/hub/models--openai--whisper-base.en/snapshots/0123456789abcdef0123456789abcdef01234567/model.safetensors",
        "other/model.gguf"};
    fixture_tree();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", tree, files[i]);
        size_t size;
        uint8_t *bytes = (uint8_t *)st_test_read_file(path, &size);
        assert_non_null(bytes);
        st_identity from_file, from_memory;
        st_error err;
        assert_int_equal(st_identify(path, &from_file, &err), STENO_OK);
        assert_int_equal(st_identify_memory(bytes, size, files[i], &from_memory, &err), STENO_OK);
        print_message("%s: %s\n", files[i], from_memory.how);
        assert_int_equal(from_memory.format, from_file.format);
        assert_int_equal(from_memory.is_model, from_file.is_model);
        assert_int_equal(from_memory.family, from_file.family);
        assert_ptr_equal(from_memory.model, from_file.model);
        assert_string_equal(from_memory.precision, from_file.precision);
        assert_string_equal(from_memory.architecture, from_file.architecture);
        assert_memory_equal(&from_memory.shape, &from_file.shape, sizeof from_file.shape);
        assert_int_equal(from_memory.usable, from_file.usable);
        assert_int_equal(from_memory.size, (int64_t)size);
        free(bytes);
    }
}

static void real_ggml_resolves_and_matches_published_sha1(void **state) {
    (void)state;
    const char *model = st_test_model("ggml-base.en.bin");
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", model);
    *strrchr(folder, '/') = '\0';
    setenv("STENO_MODELS", folder, 1);
    st_store store;
    st_store_init(&store, NULL, 0);
    char path[4096], why[2048];
    st_error err;
    assert_int_equal(st_store_resolve(&store, "base.en", path, sizeof path, why, sizeof why, &err), STENO_OK);
    assert_string_equal(path, model);
    assert_non_null(strstr(why, "STENO_MODELS"));
    st_identity id;
    assert_int_equal(st_identify(model, &id, &err), STENO_OK);
    assert_int_equal(st_identify_verify(&id, &err), STENO_OK);
    assert_int_equal(id.verified, 1);
    /* whisper.cpp's models/README.md publishes this SHA-1 for ggml-base.en.bin */
    assert_string_equal(id.digest.sha1, "137c40403d78fd54d454da0f9bd998f78703390c");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_manifest_entry_is_identified_by_content),
        cmocka_unit_test(names_resolve_in_lookup_order),
        cmocka_unit_test(memory_identification_agrees_with_the_file),
        cmocka_unit_test(real_ggml_resolves_and_matches_published_sha1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
