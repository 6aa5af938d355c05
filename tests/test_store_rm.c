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
#include <ftw.h>
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
#define MAX_PATHS 256

static char work[256];
static char flat[300], hub[300];
static char ggml_blob_base_en[512], ggml_blob_tiny[512];

/* A hard link (a copy across file systems) of a real model file. */
static void place(const char *source, const char *destination) {
    if (link(source, destination) != 0) st_test_sh("cp '%s' '%s'", source, destination);
}

/* A blob of the HF repository folder named by the file's SHA-256, and the snapshot's link. */
static void hf_file(const char *repo, const char *source, const char *name, char *blob_out, size_t blob_size) {
    char digest[65], blob[1024], link_path[1024], target[256];
    st_test_sha256sum(source, digest);
    snprintf(blob, sizeof blob, "%s/%s/blobs/%s", hub, repo, digest);
    place(source, blob);
    snprintf(link_path, sizeof link_path, "%s/%s/snapshots/" COMMIT "/%s", hub, repo, name);
    snprintf(target, sizeof target, "../../blobs/%s", digest);
    assert_int_equal(symlink(target, link_path), 0);
    if (blob_out) snprintf(blob_out, blob_size, "%s", blob);
}

static void hf_repo(const char *repo) {
    st_test_sh("mkdir -p %s/%s/blobs %s/%s/refs %s/%s/snapshots/" COMMIT " && printf " COMMIT " > %s/%s/refs/main", hub,
               repo, hub, repo, hub, repo, hub, repo);
}

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
    place(ggml, path);
    snprintf(path, sizeof path, "%s/ggml-tiny.bin", flat);
    place(tiny, path);

    hf_repo("models--Systran--faster-whisper-base.en");
    static const char *const ct2_files[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};
    for (size_t i = 0; i < sizeof ct2_files / sizeof ct2_files[0]; i++) {
        char source[4200];
        snprintf(source, sizeof source, "%s/%s", ct2_folder, ct2_files[i]);
        hf_file("models--Systran--faster-whisper-base.en", source, ct2_files[i], NULL, 0);
    }
    hf_repo("models--ggerganov--whisper.cpp");
    hf_file("models--ggerganov--whisper.cpp", ggml, "ggml-base.en.bin", ggml_blob_base_en, sizeof ggml_blob_base_en);
    hf_file("models--ggerganov--whisper.cpp", tiny, "ggml-tiny.bin", ggml_blob_tiny, sizeof ggml_blob_tiny);
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

/* ---- the tree as a sorted list of paths ---- */

typedef struct listing {
    char *paths[MAX_PATHS];
    int count;
} listing;

static listing *current;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    if (current->count == MAX_PATHS) return 1;
    current->paths[current->count++] = strdup(path + strlen(work));
    return 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_tree(listing *out) {
    out->count = 0;
    current = out;
    assert_int_equal(nftw(work, collect, 16, FTW_PHYS), 0);
    qsort(out->paths, (size_t)out->count, sizeof out->paths[0], compare_strings);
}

static void free_listing(listing *l) {
    for (int i = 0; i < l->count; i++)
        free(l->paths[i]);
    l->count = 0;
}

/* Whether path is `pattern`, or lies in it when pattern ends in '/' (a whole folder). */
static int matches(const char *path, const char *pattern) {
    size_t n = strlen(pattern);
    if (pattern[n - 1] != '/') return !strcmp(path, pattern);
    return !strncmp(path, pattern, n) || (!strncmp(path, pattern, n - 1) && path[n - 1] == '\0');
}

static int expected_gone(const char *path, const char *const *expected, int n_expected) {
    for (int e = 0; e < n_expected; e++) {
        if (matches(path, expected[e])) return 1;
    }
    return 0;
}

static int listed(const listing *l, const char *path) {
    return bsearch(&path, l->paths, (size_t)l->count, sizeof l->paths[0], compare_strings) != NULL;
}

/* before minus after must be exactly what `expected` names (paths relative to work), and
 * nothing may have appeared. */
static void assert_removed(const listing *before, const listing *after, const char *const *expected, int n_expected) {
    for (int i = 0; i < after->count; i++) {
        if (!listed(before, after->paths[i])) fail_msg("%s appeared", after->paths[i]);
    }
    for (int i = 0; i < before->count; i++) {
        int gone = !listed(after, before->paths[i]), wanted = expected_gone(before->paths[i], expected, n_expected);
        if (gone && !wanted) fail_msg("%s was removed", before->paths[i]);
        if (!gone && wanted) fail_msg("%s should have been removed", before->paths[i]);
    }
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
    listing before, after;
    list_tree(&before);

    /* the ggml copies only: the plain file, and whisper.cpp's link and blob for base.en —
     * tiny's link and blob in the same repository stay */
    char *output;
    assert_int_equal(st_test_run_cli("models rm base.en --format ggml --yes", &output), 0);
    assert_non_null(strstr(output, "removed"));
    free(output);
    list_tree(&after);
    char blob[600];
    snprintf(blob, sizeof blob, "%s", ggml_blob_base_en + strlen(work));
    const char *ggml_removed[] = {"/models/ggml-base.en.bin",
                                  "/hub/models--ggerganov--whisper.cpp/snapshots/" COMMIT "/ggml-base.en.bin", blob};
    assert_removed(&before, &after, ggml_removed, 3);
    assert_int_equal(access(ggml_blob_tiny, R_OK), 0);
    assert_int_equal(copies_of("base.en"), 1);
    assert_int_equal(copies_of("tiny"), 2);
    free_listing(&before);

    /* the rest of base.en: the whole CTranslate2 repository, nothing beside it */
    before = after;
    assert_int_equal(st_test_run_cli("models rm base.en --yes", &output), 0);
    assert_non_null(strstr(output, "models--Systran--faster-whisper-base.en"));
    free(output);
    list_tree(&after);
    const char *ct2_removed[] = {"/hub/models--Systran--faster-whisper-base.en/"};
    assert_removed(&before, &after, ct2_removed, 1);
    assert_int_equal(copies_of("base.en"), 0);
    assert_int_equal(copies_of("tiny"), 2);
    free_listing(&before);
    free_listing(&after);
}

static void refuses_names_that_are_not_here(void **state) {
    (void)state;
    listing before, after;
    list_tree(&before);
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
    list_tree(&after);
    assert_removed(&before, &after, NULL, 0);
    free_listing(&before);
    free_listing(&after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_names_that_are_not_here),
        cmocka_unit_test(removes_exactly_the_named_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
