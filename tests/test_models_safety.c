/*
 * test_models_safety.c — `steno models rm` and `convert` never touch what is not a model.
 *
 * Each case builds a scratch tree around real model files (the official ggml base.en, and a
 * CTranslate2 folder that `steno models convert` makes from it) with user files beside and
 * above them, runs the steno binary as a user would (stdin not a terminal), and compares the
 * sorted list of every path before and after: the difference must be exactly the files named.
 *   - a model folder under a path containing /snapshots/ and a Hugging Face repository with a
 *     second snapshot: only the model's files (and blobs no other snapshot links) go;
 *   - without --yes and without a terminal nothing is removed; other programs' caches are kept
 *     unless named (--model-dir, --other-engines);
 *   - refs/main holding a path ("../../../victim") is refused by list, resolution and rm;
 *   - convert --force refuses /dev/null-like targets, symlinks and folders steno did not write;
 *   - check shows broken copies as broken with the reader's reason, warns about a pickle that
 *     names posix.system, and --for with an unknown model fails.
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
#include <unistd.h>

#include "models/hf_cache.h"
#include "store/store.h"
#include "store_support.h"
#include "test_support.h"

#define COMMIT "00112233445566778899aabbccddeeff00112233"
#define OLD_COMMIT "ffeeddccbbaa99887766554433221100ffeeddcc"

static char work[256], ct2[300];
static const char *ggml;
static const char *const ct2_files[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};

/* The environment of one case: every model folder inside `tree`, none of the user's. */
static void use_tree(const char *tree) {
    char path[600];
    snprintf(path, sizeof path, "%s/home", tree);
    setenv("HOME", path, 1);
    snprintf(path, sizeof path, "%s/steno", tree);
    setenv("STENO_MODELS", path, 1);
    snprintf(path, sizeof path, "%s/hub", tree);
    setenv("HF_HUB_CACHE", path, 1);
    snprintf(path, sizeof path, "%s/whisper", tree);
    setenv("WHISPER_CACHE_DIR", path, 1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HF_HOME");
    unsetenv("STENO_TEST_MODELS");
}

static int setup(void **state) {
    (void)state;
    ggml = st_test_model("ggml-base.en.bin");
    snprintf(work, sizeof work, "/tmp/steno-safety-XXXXXX");
    if (!mkdtemp(work)) return -1;
    snprintf(ct2, sizeof ct2, "%s/source-ct2", work);
    char *output;
    char arguments[1024];
    snprintf(arguments, sizeof arguments, "models convert %s %s --to ct2 --quantize int8", ggml, ct2);
    int status = st_test_run_cli(arguments, &output);
    free(output);
    return status == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char command[512];
    snprintf(command, sizeof command, "rm -rf %s", work);
    return system(command) == 0 ? 0 : -1;
}

/* A faster-whisper repository in hub with the CTranslate2 files under `commit`. */
static void ct2_repository(const char *hub, const char *commit) {
    char repo[] = "models--Systran--faster-whisper-base.en";
    st_test_hf_repo(hub, repo, commit);
    for (size_t i = 0; i < sizeof ct2_files / sizeof ct2_files[0]; i++) {
        char source[600];
        snprintf(source, sizeof source, "%s/%s", ct2, ct2_files[i]);
        st_test_hf_file(hub, repo, commit, source, ct2_files[i], NULL, 0);
    }
}

static void ct2_folder(const char *folder) {
    st_test_sh("mkdir -p '%s'", folder);
    for (size_t i = 0; i < sizeof ct2_files / sizeof ct2_files[0]; i++) {
        char source[600], destination[1024];
        snprintf(source, sizeof source, "%s/%s", ct2, ct2_files[i]);
        snprintf(destination, sizeof destination, "%s/%s", folder, ct2_files[i]);
        st_test_place(source, destination);
    }
}

/* Runs steno in `tree` and checks that exactly `expected` (relative to tree) went. */
static int run_in(const char *tree, const char *arguments, const char *const *expected, int n_expected, char **output) {
    st_test_listing before, after;
    st_test_list_tree(tree, &before);
    int status = st_test_run_cli(arguments, output);
    st_test_list_tree(tree, &after);
    st_test_assert_removed(&before, &after, expected, n_expected);
    st_test_free_listing(&before);
    st_test_free_listing(&after);
    return status;
}

/* Issue 13, 1: a model under DIR/snapshots/... was cut at /snapshots/ and all of DIR removed;
 * an HF repository went whole, other snapshots included. */
static void rm_removes_only_the_model_files(void **state) {
    (void)state;
    char tree[300], arguments[1024], path[1024], *output;
    snprintf(tree, sizeof tree, "%s/cut", work);
    use_tree(tree);
    st_test_sh("mkdir -p %s/DIR/snapshots/models %s/hub && echo keep > %s/DIR/important.txt", tree, tree, tree);
    snprintf(path, sizeof path, "%s/DIR/snapshots/models/ggml-base.en.bin", tree);
    st_test_place(ggml, path);
    snprintf(path, sizeof path, "%s/DIR/snapshots/models/faster-whisper-base.en", tree);
    ct2_folder(path);
    st_test_sh("echo mine > %s/notes.txt", path);

    snprintf(arguments, sizeof arguments, "models rm base.en --model-dir %s/DIR/snapshots/models --yes", tree);
    const char *folder_files[] = {
        "/DIR/snapshots/models/ggml-base.en.bin",
        "/DIR/snapshots/models/faster-whisper-base.en/model.bin",
        "/DIR/snapshots/models/faster-whisper-base.en/config.json",
        "/DIR/snapshots/models/faster-whisper-base.en/vocabulary.json",
        "/DIR/snapshots/models/faster-whisper-base.en/preprocessor_config.json",
    };
    assert_int_equal(run_in(tree, arguments, folder_files, 5, &output), 0);
    assert_non_null(strstr(output, "notes.txt")); /* said to be kept */
    free(output);

    /* a repository with an older snapshot sharing two blobs: the current snapshot's links go,
     * the blobs only it links go, the older snapshot and what it links stay */
    char hub[400];
    snprintf(hub, sizeof hub, "%s/hub", tree);
    ct2_repository(hub, COMMIT);
    st_test_sh("mkdir -p %s/models--Systran--faster-whisper-base.en/snapshots/" OLD_COMMIT, hub);
    for (int i = 0; i < 2; i++) {
        char source[600];
        snprintf(source, sizeof source, "%s/%s", ct2, ct2_files[i]);
        st_test_hf_file(hub, "models--Systran--faster-whisper-base.en", OLD_COMMIT, source, ct2_files[i], NULL, 0);
    }
    st_test_sh("echo 1 > %s/version.txt", hub);
    char digest[2][65], expected_paths[6][300];
    for (int i = 0; i < 2; i++) {
        char source[600];
        snprintf(source, sizeof source, "%s/%s", ct2, ct2_files[2 + i]);
        st_test_sha256sum(source, digest[i]);
        snprintf(expected_paths[i], sizeof expected_paths[i], "/hub/models--Systran--faster-whisper-base.en/blobs/%s",
                 digest[i]);
    }
    snprintf(expected_paths[2], sizeof expected_paths[2],
             "/hub/models--Systran--faster-whisper-base.en/snapshots/" COMMIT "/");
    const char *repo_files[] = {expected_paths[0], expected_paths[1], expected_paths[2]};
    assert_int_equal(run_in(tree, "models rm base.en --other-engines --yes", repo_files, 3, &output), 0);
    free(output);
}

/* Issue 13, 2: rm deleted without asking when stdin was not a terminal, and took other
 * programs' copies with steno's. */
static void rm_asks_and_keeps_other_engines_caches(void **state) {
    (void)state;
    char tree[300], path[1024], arguments[1024], *output;
    snprintf(tree, sizeof tree, "%s/ask", work);
    use_tree(tree);
    st_test_sh("mkdir -p %s/steno %s/whisper %s/hub", tree, tree, tree);
    snprintf(path, sizeof path, "%s/steno/ggml-base.en.bin", tree);
    st_test_place(ggml, path);
    snprintf(path, sizeof path, "%s/whisper/ggml-base.en.bin", tree);
    st_test_place(ggml, path);
    snprintf(path, sizeof path, "%s/hub", tree);
    ct2_repository(path, COMMIT);

    /* no terminal, no --yes: the plan is shown folder by folder and nothing goes */
    assert_int_equal(run_in(tree, "models rm base.en", NULL, 0, &output), 1);
    snprintf(path, sizeof path, "  %s/steno/\n      ggml-base.en.bin (148.0 MB)", tree);
    assert_non_null(strstr(output, path));
    assert_non_null(strstr(output, "stdin is not a terminal"));
    free(output);

    /* --yes: steno's own copy only */
    const char *own[] = {"/steno/ggml-base.en.bin"};
    assert_int_equal(run_in(tree, "models rm base.en --yes", own, 1, &output), 0);
    assert_non_null(strstr(output, "openai-whisper's cache"));
    assert_non_null(strstr(output, "faster-whisper's cache"));
    free(output);

    /* a cache named with --model-dir is the user's choice */
    const char *whisper[] = {"/whisper/ggml-base.en.bin"};
    snprintf(arguments, sizeof arguments, "models rm base.en --model-dir %s/whisper --yes", tree);
    assert_int_equal(run_in(tree, arguments, whisper, 1, &output), 0);
    free(output);
    const char *repository[] = {"/hub/models--Systran--faster-whisper-base.en/"};
    assert_int_equal(run_in(tree, "models rm base.en --other-engines --yes", repository, 1, &output), 0);
    free(output);
}

/* Issue 13, 4: refs/main was joined to snapshots/ unchecked: "../../../victim" made steno list,
 * load and remove a model outside the cache. */
static void hostile_refs_are_refused(void **state) {
    (void)state;
    char tree[300], path[1024], hub[400], *output;
    snprintf(tree, sizeof tree, "%s/refs", work);
    use_tree(tree);
    snprintf(hub, sizeof hub, "%s/hub", tree);
    st_test_sh("mkdir -p %s/victim %s", tree, hub);
    snprintf(path, sizeof path, "%s/victim/ggml-base.en.bin", tree);
    st_test_place(ggml, path);
    snprintf(path, sizeof path, "%s/victim-ct2", tree);
    ct2_folder(path);
    st_test_hf_repo(hub, "models--ggerganov--whisper.cpp", COMMIT);
    st_test_hf_file(hub, "models--ggerganov--whisper.cpp", COMMIT, ggml, "ggml-base.en.bin", NULL, 0);
    st_test_sh("printf ../../../victim > %s/models--ggerganov--whisper.cpp/refs/main", hub);
    ct2_repository(hub, COMMIT);
    st_test_sh("printf '../../../victim-ct2\\n' > %s/models--Systran--faster-whisper-base.en/refs/main", hub);

    assert_int_equal(run_in(tree, "models list", NULL, 0, &output), 0);
    assert_null(strstr(output, "victim"));
    free(output);
    run_in(tree, "models rm base.en --other-engines --yes", NULL, 0, &output);
    assert_null(strstr(output, "victim"));
    free(output);
    st_store store;
    st_store_init(&store, NULL, 0);
    char resolved[4096], why[2048];
    st_error err;
    assert_int_equal(st_store_resolve(&store, "base.en", resolved, sizeof resolved, why, sizeof why, &err),
                     STENO_ERR_NOT_FOUND);

    /* the checks themselves: a plain name is a ref; a path, or a snapshot linked outside, is not */
    char repo[600], snapshot[4096];
    snprintf(repo, sizeof repo, "%s/models--ggerganov--whisper.cpp", hub);
    assert_int_equal(st_hf_cache_snapshot(repo, snapshot, sizeof snapshot, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "not a path"));
    st_test_sh("mv %s/snapshots/" COMMIT " %s/snapshots/v1 && printf v1 > %s/refs/main", repo, repo, repo);
    assert_int_equal(st_hf_cache_snapshot(repo, snapshot, sizeof snapshot, &err), STENO_OK);
    st_test_sh("ln -s %s/victim %s/snapshots/v2 && printf v2 > %s/refs/main", tree, repo, repo);
    assert_int_equal(st_hf_cache_snapshot(repo, snapshot, sizeof snapshot, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "outside"));
    /* a FIFO as refs/main is refused, not read (which would block) */
    st_test_sh("rm %s/refs/main && mkfifo %s/refs/main", repo, repo);
    assert_int_equal(st_hf_cache_snapshot(repo, snapshot, sizeof snapshot, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(err.message, "not a regular file"));
    /* the parser alone: what a ref may hold */
    static const struct {
        const char *bytes, *name;
    } refs[] = {
        {COMMIT "\n", COMMIT},
        {"  v1\r\n", "v1"},
        {"main-copy_2.0", "main-copy_2.0"},
        {"../../../victim", NULL},
        {"a/b", NULL},
        {".", NULL},
        {"..", NULL},
        {".hidden", NULL},
        {"", NULL},
        {"two words", NULL},
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        char name[256];
        int ok = st_hf_cache_parse_ref((const uint8_t *)refs[i].bytes, strlen(refs[i].bytes), name, sizeof name);
        assert_int_equal(ok, refs[i].name != NULL);
        if (ok) assert_string_equal(name, refs[i].name);
    }
    assert_int_equal(st_hf_cache_parse_ref((const uint8_t *)"v1\0../x", 7, snapshot, sizeof snapshot), 0);
}

/* Issue 13, 3: `convert --force` renamed its output over /dev/null (as root). Each target here is
 * refused before any work, and stays exactly as it was; a folder steno wrote is replaced. The
 * device case uses a symlink to /dev/null and a FIFO, so a regression cannot harm the machine. */
static void convert_force_replaces_only_what_steno_wrote(void **state) {
    (void)state;
    char tree[300], arguments[2048], *output;
    snprintf(tree, sizeof tree, "%s/convert", work);
    st_test_sh("mkdir -p %s/user-folder %s/elsewhere && echo precious > %s/user-folder/thesis.txt && "
               "echo precious > %s/elsewhere/file && ln -s /dev/null %s/null-link && mkfifo %s/fifo && "
               "ln -s %s/elsewhere/file %s/link-elsewhere && mkdir %s/with-subfolder %s/with-subfolder/sub",
               tree, tree, tree, tree, tree, tree, tree, tree, tree, tree);
    static const struct {
        const char *target, *to, *why;
    } refused[] = {
        {"null-link", "ggml", "symbolic link"},       {"fifo", "pt", "named pipe"},
        {"link-elsewhere", "ggml", "symbolic link"},  {"user-folder", "ct2", "thesis.txt"},
        {"user-folder", "ggml", "a folder"},          {"with-subfolder", "hf", "sub"},
        {"elsewhere/file", "ct2", "is not a folder"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(arguments, sizeof arguments, "models convert %s %s/%s --to %s --force", ggml, tree, refused[i].target,
                 refused[i].to);
        assert_int_equal(run_in(tree, arguments, NULL, 0, &output), 2);
        assert_non_null(strstr(output, refused[i].why));
        assert_non_null(strstr(output, "not replaced"));
        free(output);
    }
    char *text = st_test_read_file("/dev/null", NULL);
    assert_non_null(text);
    free(text);
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    /* a CTranslate2 folder steno wrote is replaced in place */
    st_test_sh("cp -r %s %s/ours", ct2, tree);
    snprintf(arguments, sizeof arguments, "models convert %s %s/ours --to ct2 --force", ggml, tree);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    free(output);
    char path[600];
    snprintf(path, sizeof path, "%s/ours/model.bin", tree);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 100 * 1000 * 1000); /* float16 now, int8 before */
}

static void check_shows_broken_copies_and_dangerous_pickles(void **state) {
    (void)state;
    char tree[300], *output;
    snprintf(tree, sizeof tree, "%s/check", work);
    use_tree(tree);
    /* an interrupted download, an empty model.bin, a ref to a missing snapshot, and a torch.save
     * archive whose pickle calls posix.system (written by Python's own pickle and zipfile) */
    st_test_sh("mkdir -p %s/steno/faster-whisper-base.en %s/hub && head -c 1000000 %s > %s/steno/ggml-base.en.bin && "
               ": > %s/steno/faster-whisper-base.en/model.bin && cp %s/config.json %s/steno/faster-whisper-base.en/",
               tree, tree, ggml, tree, tree, ct2, tree);
    st_test_hf_repo(tree, "hub/models--Systran--faster-whisper-small", COMMIT);
    st_test_sh("rmdir %s/hub/models--Systran--faster-whisper-small/snapshots/" COMMIT, tree);
    st_test_sh("/usr/bin/python3 -c \"import os, pickle, zipfile\n"
               "class Evil:\n    def __reduce__(self): return (os.system, ('true',))\n"
               "with zipfile.ZipFile('%s/steno/tiny.pt', 'w') as z:\n"
               "    z.writestr('archive/data.pkl', pickle.dumps(Evil(), protocol=2))\n"
               "    z.writestr('archive/version', '3')\n\"",
               tree);
    assert_int_equal(run_in(tree, "models check", NULL, 0, &output), 0);
    static const char *const expected[] = {
        /* a ggml header that still names its model: listed as a model steno cannot use, and why */
        "steno cannot use it; checksum not checked (--verify)\n      (truncated at offset",
        "/steno/faster-whisper-base.en\n      BROKEN: steno cannot use it:",
        "faster-whisper-base.en/model.bin is empty (0 bytes)",
        "/hub/models--Systran--faster-whisper-small\n      BROKEN: steno cannot use it:",
        "snapshots/" COMMIT " is missing",
        "/steno/tiny.pt\n      BROKEN: steno cannot use it:",
        "WARNING: its pickle names posix.system, which runs code when Python loads it",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (!strstr(output, expected[i])) fail_msg("models check did not say '%s'", expected[i]);
    }
    free(output);
    char arguments[1024];
    snprintf(arguments, sizeof arguments, "models check %s/steno/tiny.pt", tree);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    assert_non_null(strstr(output, "WARNING: its pickle names posix.system"));
    assert_non_null(strstr(output, "reader: "));
    free(output);
    assert_int_equal(st_test_run_cli("models check --for 'transcribe -m no-such-model'", &output), 1);
    assert_non_null(strstr(output, "'no-such-model' in --for is not a model name steno knows"));
    free(output);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rm_removes_only_the_model_files),
        cmocka_unit_test(rm_asks_and_keeps_other_engines_caches),
        cmocka_unit_test(hostile_refs_are_refused),
        cmocka_unit_test(convert_force_replaces_only_what_steno_wrote),
        cmocka_unit_test(check_shows_broken_copies_and_dangerous_pickles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
