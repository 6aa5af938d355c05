/* store_support.h — helpers of the model-store tests: shell commands, coreutils' sha256sum as
 * the independent digest, and the steno binary run as users run it. */
#ifndef ST_STORE_SUPPORT_H
#define ST_STORE_SUPPORT_H

#include <stddef.h>

/* Runs a shell command; fails the test when it fails. */
void st_test_sh(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* The SHA-256 of a file as coreutils' sha256sum computes it (64 hex digits and a NUL). */
void st_test_sha256sum(const char *path, char out[65]);

/* Runs $STENO_BINARY_DIR/steno with arguments (stdin from /dev/null, stderr into the output);
 * *output receives everything it printed (malloc'd). Returns its exit status, -1 if killed. */
int st_test_run_cli(const char *arguments, char **output);

/* Runs a shell command line (sh -c), *output receiving its stdout (malloc'd); its exit status. */
int st_test_run_shell(const char *command, char **output);

/* A hard link (a copy across file systems) of a real model file. */
void st_test_place(const char *source, const char *destination);

/* A Hugging Face cache repository folder hub/repo with refs/main naming commit and its empty
 * snapshot folder; st_test_hf_file adds a blob named by the file's SHA-256 and the snapshot's
 * relative link to it (blob_out, may be NULL, receives the blob's path). */
void st_test_hf_repo(const char *hub, const char *repo, const char *commit);
void st_test_hf_file(const char *hub, const char *repo, const char *commit, const char *source, const char *name,
                     char *blob_out, size_t blob_size);

/* Every path under a folder (relative to it), sorted: a snapshot to compare before and after. */
#define ST_TEST_MAX_PATHS 512
typedef struct st_test_listing {
    char *paths[ST_TEST_MAX_PATHS];
    int count;
} st_test_listing;

void st_test_list_tree(const char *root, st_test_listing *out);
void st_test_free_listing(st_test_listing *listing);

/* before minus after must be exactly what `expected` names (paths relative to the root; one
 * ending in '/' stands for a folder and everything in it), and nothing may have appeared. */
void st_test_assert_removed(const st_test_listing *before, const st_test_listing *after, const char *const *expected,
                            int n_expected);

#endif
