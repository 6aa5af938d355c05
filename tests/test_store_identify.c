/*
 * test_store_identify.c — the store names files by content: every entry of the tree that
 * scripts/make-store-fixtures.py builds (torch, CTranslate2, safetensors, HF cache, pyannote,
 * GGUF, the real ggml base.en) is identified as its manifest says; names resolve to the first
 * usable copy in lookup order; the real ggml file's SHA-1 matches whisper.cpp's published one.
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
    assert_true(json_object_size(manifest) >= 7);
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

    /* medium: the .pt is found, identified, and (with no pt reader yet) reported unusable */
    st_store_copies copies;
    st_error err;
    assert_int_equal(st_store_find(&store, st_catalogue_find("medium"), &copies, &err), STENO_OK);
    assert_int_equal(copies.count, 1);
    assert_int_equal(copies.items[0].format, ST_FORMAT_PT);
    assert_string_equal(store.roots[copies.items[0].root].source, "WHISPER_CACHE_DIR");
    st_store_copies_free(&copies);

    /* Systran/faster-whisper-base is the repository id of base's CTranslate2 copy */
    assert_ptr_equal(st_catalogue_find("Systran/faster-whisper-base"), st_catalogue_find("base"));
    assert_int_equal(st_store_find(&store, st_catalogue_find("base"), &copies, &err), STENO_OK);
    assert_int_equal(copies.count, 1);
    assert_int_equal(copies.items[0].format, ST_FORMAT_CT2);
    st_store_copies_free(&copies);

    /* a name with no usable copy: not found, and the message says what pull would fetch */
    char path[4096], why[2048];
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
    assert_int_equal(pyannote, 2);
    assert_true(whisper_models >= 3);
    st_store_copies_free(&copies);
    if (test_models) setenv("STENO_TEST_MODELS", test_models, 1);
    free(test_models);
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
        cmocka_unit_test(real_ggml_resolves_and_matches_published_sha1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
