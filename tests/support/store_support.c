/* store_support.c — shell commands, sha256sum and the steno binary for the model-store tests. */
#include "store_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void st_test_sh(const char *format, ...) {
    char command[8192];
    va_list args;
    va_start(args, format);
    vsnprintf(command, sizeof command, format, args);
    va_end(args);
    if (system(command) != 0) fail_msg("command failed: %s", command);
}

void st_test_sha256sum(const char *path, char out[65]) {
    char command[4200];
    snprintf(command, sizeof command, "sha256sum '%s'", path);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    assert_int_equal(fscanf(pipe, "%64s", out), 1);
    pclose(pipe);
}

int st_test_run_shell(const char *command, char **output) {
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    size_t size = 0, capacity = 65536;
    char *text = malloc(capacity);
    assert_non_null(text);
    size_t n;
    while (size < capacity - 1 && (n = fread(text + size, 1, capacity - size - 1, pipe)) > 0)
        size += n;
    text[size] = '\0';
    int status = pclose(pipe);
    *output = text;
    print_message("$ %s\n%s", command, text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int st_test_run_cli(const char *arguments, char **output) {
    const char *binary_dir = getenv("STENO_BINARY_DIR");
    if (!binary_dir) fail_msg("STENO_BINARY_DIR is not set");
    char command[8192];
    snprintf(command, sizeof command, "%s/steno %s 2>&1 </dev/null", binary_dir, arguments);
    return st_test_run_shell(command, output);
}

void st_test_place(const char *source, const char *destination) {
    if (link(source, destination) != 0) st_test_sh("cp '%s' '%s'", source, destination);
}

void st_test_hf_repo(const char *hub, const char *repo, const char *commit) {
    st_test_sh("mkdir -p '%s/%s/blobs' '%s/%s/refs' '%s/%s/snapshots/%s' && printf %s > '%s/%s/refs/main'", hub, repo,
               hub, repo, hub, repo, commit, commit, hub, repo);
}

void st_test_hf_file(const char *hub, const char *repo, const char *commit, const char *source, const char *name,
                     char *blob_out, size_t blob_size) {
    char digest[65], blob[1024], link_path[1024], target[256];
    st_test_sha256sum(source, digest);
    snprintf(blob, sizeof blob, "%s/%s/blobs/%s", hub, repo, digest);
    if (access(blob, F_OK) != 0) st_test_place(source, blob);
    snprintf(link_path, sizeof link_path, "%s/%s/snapshots/%s/%s", hub, repo, commit, name);
    snprintf(target, sizeof target, "../../blobs/%s", digest);
    assert_int_equal(symlink(target, link_path), 0);
    if (blob_out) snprintf(blob_out, blob_size, "%s", blob);
}

/* ---- the tree as a sorted list of paths ---- */

static st_test_listing *current;
static size_t current_root_length;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    if (current->count == ST_TEST_MAX_PATHS) return 1;
    current->paths[current->count++] = strdup(path + current_root_length);
    return 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void st_test_list_tree(const char *root, st_test_listing *out) {
    out->count = 0;
    current = out;
    current_root_length = strlen(root);
    assert_int_equal(nftw(root, collect, 16, FTW_PHYS), 0);
    qsort(out->paths, (size_t)out->count, sizeof out->paths[0], compare_strings);
}

void st_test_free_listing(st_test_listing *l) {
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

static int listed(const st_test_listing *l, const char *path) {
    return bsearch(&path, l->paths, (size_t)l->count, sizeof l->paths[0], compare_strings) != NULL;
}

void st_test_assert_removed(const st_test_listing *before, const st_test_listing *after, const char *const *expected,
                            int n_expected) {
    for (int i = 0; i < after->count; i++) {
        if (!listed(before, after->paths[i])) fail_msg("%s appeared", after->paths[i]);
    }
    for (int i = 0; i < before->count; i++) {
        int gone = !listed(after, before->paths[i]), wanted = expected_gone(before->paths[i], expected, n_expected);
        if (gone && !wanted) fail_msg("%s was removed", before->paths[i]);
        if (!gone && wanted) fail_msg("%s should have been removed", before->paths[i]);
    }
}
