/* test_support.c — locating test data and weights; see test_support.h. */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *st_test_path(char *buffer, size_t size, const char *env_var, const char *relative) {
    const char *root = getenv(env_var);
    if (!root || !*root) return NULL;
    snprintf(buffer, size, "%s/%s", root, relative);
    return buffer;
}

static const char *existing_or_skip(const char *env_var, const char *relative, const char *hint) {
    static char paths[8][4096];
    static int next;
    char *buffer = paths[next++ % 8];
    if (!st_test_path(buffer, sizeof paths[0], env_var, relative)) {
        fprintf(stderr, "SKIP: %s is not set\n", env_var);
        exit(ST_TEST_SKIP);
    }
    if (access(buffer, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s is missing (%s)\n", buffer, hint);
        exit(ST_TEST_SKIP);
    }
    return buffer;
}

const char *st_test_data(const char *relative) {
    return existing_or_skip("STENO_SHARED_DATA", relative, "the shared test data is not beside the checkout");
}

const char *st_test_model(const char *relative) {
    return existing_or_skip("STENO_TEST_MODELS", relative, "run scripts/fetch-models");
}

char *st_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long length = ftell(f);
    rewind(f);
    char *data = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (data && fread(data, 1, (size_t)length, f) != (size_t)length) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) {
        data[length] = '\0';
        if (size) *size = (size_t)length;
    }
    return data;
}
