/*
 * test_store_rm.c — `steno models rm` removes exactly the model named and nothing else.
 *
 * The tree: a plain model folder (STENO_MODELS) with the real ggml base.en and tiny files and a
 * note; a Hugging Face cache (HF_HUB_CACHE) with the real CTranslate2 base.en as a
 * `models--Systran--faster-whisper-base.en` repository, and whisper.cpp's repository holding
 * both ggml files as blobs named by their SHA-256 (coreutils' sha256sum) with snapshot links.
 * Every path of the tree is listed before and after each command; the difference must be
 * exactly the removed model's files. Names that are not here, or not models, are refused with
 * a message and change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "store_support.h"
#include "test_support.h"

#define COMMIT "00112233445566778899aabbccddeeff00112233"

static char work[256];
static char flat[300], hub[300];
static char ggml_blob_base_en[512], ggml_blob_tiny[512];

static int setup(void **state) {
    (void)state;
    const char *ggml = st_test_model("ggml-base.en.bin");
    const char *tiny = st_test_model("derived/ggml-tiny.bin");
    const char *ct2 = st_test_model("derived/ct2-base.en-int8/model.bin");
    char ct2_folder[4096];
    snprintf(ct2_folder, sizeof ct2_folder, "%s", ct2);
    *strrchr(ct2_folder, '/') = '\0';
    snprintf(work, sizeof work, "/tmp/steno-rm-XXXXXX");
    if (!mkdtemp(work)) return -1;
    snprintf(flat, sizeof flat, "%s/models", work);
    snprintf(hub, sizeof hub, "%s/hub", work);
    st_test_sh("mkdir -p %s && echo 'where these came from' > %s/notes.txt", flat, flat);
    char path[1024];
    snprintf(path, sizeof path, "%s/ggml-base.en.bin", flat);
    st_test_place(ggml, path);
    snprintf(path, sizeof path, "%s/ggml-tiny.bin", flat);
    st_test_place(tiny, path);

    st_test_hf_repo(hub, "models--Systran--faster-whisper-base.en", COMMIT);
    static const char *const ct2_files[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};
    for (size_t i = 0; i < sizeof ct2_files / sizeof ct2_files[0]; i++) {
        char source[4200];
        snprintf(source, sizeof source, "%s/%s", ct2_folder, ct2_files[i]);
        st_test_hf_file(hub, "models--Systran--faster-whisper-base.en", COMMIT, source, ct2_files[i], NULL, 0);
    }
    st_test_hf_repo(hub, "models--ggerganov--whisper.cpp", COMMIT);
    st_test_hf_file(hub, "models--ggerganov--whisper.cpp", COMMIT, ggml, "ggml-base.en.bin", ggml_blob_base_en,
                    sizeof ggml_blob_base_en);
    st_test_hf_file(hub, "models--ggerganov--whisper.cpp", COMMIT, tiny, "ggml-tiny.bin", ggml_blob_tiny,
                    sizeof ggml_blob_tiny);
    st_test_sh("echo 1 > %s/version.txt", hub);

    char home[300];
    snprintf(home, sizeof home, "%s/home", work);
    setenv("HOME", home, 1);
    setenv("STENO_MODELS", flat, 1);
    setenv("HF_HUB_CACHE", hub, 1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("WHISPER_CACHE_DIR");
    unsetenv("HF_HOME");
    unsetenv("STENO_TEST_MODELS");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char command[512];
    snprintf(command, sizeof command, "rm -rf %s", work);
    return system(command) == 0 ? 0 : -1;
}

static int copies_of(const char *name) {
    st_store store;
    st_store_init(&store, NULL, 0);
    st_store_copies copies;
    st_error err;
    assert_int_equal(st_store_find(&store, st_catalogue_find(name), &copies, &err), STENO_OK);
    int n = copies.count;
    st_store_copies_free(&copies);
    return n;
}

static void removes_exactly_the_named_model(void **state) {
    (void)state;
    assert_int_equal(copies_of("base.en"), 3); /* ggml in the folder and in the hub, CTranslate2 */
    assert_int_equal(copies_of("tiny"), 2);
    st_test_listing before, after;
    st_test_list_tree(work, &before);

    /* the ggml copies only: the plain file, and whisper.cpp's link and blob for base.en —
     * tiny's link and blob in the same repository stay */
    char *output;
    assert_int_equal(st_test_run_cli("models rm base.en --format ggml --yes", &output), 0);
    assert_non_null(strstr(output, "removed"));
    free(output);
    st_test_list_tree(work, &after);
    char blob[600];
    snprintf(blob, sizeof blob, "%s", ggml_blob_base_en + strlen(work));
    const char *ggml_removed[] = {"/models/ggml-base.en.bin",
                                  "/hub/models--ggerganov--whisper.cpp/snapshots/" COMMIT "/ggml-base.en.bin", blob};
    st_test_assert_removed(&before, &after, ggml_removed, 3);
    assert_int_equal(access(ggml_blob_tiny, R_OK), 0);
    assert_int_equal(copies_of("base.en"), 1);
    assert_int_equal(copies_of("tiny"), 2);
    st_test_free_listing(&before);

    /* the rest of base.en: faster-whisper's repository stays unless named... */
    before = after;
    assert_int_equal(st_test_run_cli("models rm base.en --yes", &output), 1);
    assert_non_null(strstr(output, "faster-whisper's cache"));
    free(output);
    st_test_list_tree(work, &after);
    st_test_assert_removed(&before, &after, NULL, 0);
    st_test_free_listing(&after);
    /* ...and with --other-engines goes whole, nothing beside it */
    assert_int_equal(st_test_run_cli("models rm base.en --other-engines --yes", &output), 0);
    assert_non_null(strstr(output, "models--Systran--faster-whisper-base.en"));
    free(output);
    st_test_list_tree(work, &after);
    const char *ct2_removed[] = {"/hub/models--Systran--faster-whisper-base.en/"};
    st_test_assert_removed(&before, &after, ct2_removed, 1);
    assert_int_equal(copies_of("base.en"), 0);
    assert_int_equal(copies_of("tiny"), 2);
    st_test_free_listing(&before);
    st_test_free_listing(&after);
}

static void refuses_names_that_are_not_here(void **state) {
    (void)state;
    st_test_listing before, after;
    st_test_list_tree(work, &before);
    char *output;
    /* a model steno knows, with no copy here */
    assert_int_equal(st_test_run_cli("models rm small --yes", &output), 1);
    assert_non_null(strstr(output, "no copy of small is here"));
    assert_non_null(strstr(output, "nothing removed"));
    free(output);
    /* a copy in another format than the one asked for */
    assert_int_equal(st_test_run_cli("models rm tiny --format ct2 --yes", &output), 1);
    assert_non_null(strstr(output, "no copy of tiny in CTranslate2 is here"));
    free(output);
    /* not a model name at all */
    assert_int_equal(st_test_run_cli("models rm no-such-model --yes", &output), 1);
    assert_non_null(strstr(output, "'no-such-model' is not a model steno knows"));
    free(output);
    st_test_list_tree(work, &after);
    st_test_assert_removed(&before, &after, NULL, 0);
    st_test_free_listing(&before);
    st_test_free_listing(&after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_names_that_are_not_here),
        cmocka_unit_test(removes_exactly_the_named_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
