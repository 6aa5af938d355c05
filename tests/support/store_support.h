/* store_support.h — helpers of the model-store tests: shell commands, coreutils' sha256sum as
 * the independent digest, and the steno binary run as users run it. */
#ifndef ST_STORE_SUPPORT_H
#define ST_STORE_SUPPORT_H

/* Runs a shell command; fails the test when it fails. */
void st_test_sh(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* The SHA-256 of a file as coreutils' sha256sum computes it (64 hex digits and a NUL). */
void st_test_sha256sum(const char *path, char out[65]);

/* Runs $STENO_BINARY_DIR/steno with arguments (stdin from /dev/null, stderr into the output);
 * *output receives everything it printed (malloc'd). Returns its exit status, -1 if killed. */
int st_test_run_cli(const char *arguments, char **output);

#endif
