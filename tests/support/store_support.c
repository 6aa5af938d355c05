/* store_support.c — shell commands, sha256sum and the steno binary for the model-store tests. */
#include "store_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

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

int st_test_run_cli(const char *arguments, char **output) {
    const char *binary_dir = getenv("STENO_BINARY_DIR");
    if (!binary_dir) fail_msg("STENO_BINARY_DIR is not set");
    char command[8192];
    snprintf(command, sizeof command, "%s/steno %s 2>&1 </dev/null", binary_dir, arguments);
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
    print_message("$ steno %s\n%s", arguments, text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
