/*
 * test_web_assets.c — the web page built into libsteno: every file of web/ is served at its
 * own path, byte for byte as it is on disk, with the Content-Type its extension calls for;
 * "/" is index.html; no other path finds anything. The page's list of languages is the
 * tokenizer's, in the same order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/web_assets.h"
#include "whisper/vocabularies.h"
#include "test_support.h"

static void web_file_path(char *buffer, size_t size, const char *name) {
    char relative[512];
    snprintf(relative, sizeof relative, "web/%s", name);
    if (!st_test_path(buffer, size, "STENO_SOURCE_DIR", relative)) fail_msg("STENO_SOURCE_DIR is not set");
}

static const char *expected_mime(const char *name) {
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
    return NULL;
}

static void every_file_is_served_as_on_disk(void **state) {
    (void)state;
    char dir_path[4096];
    if (!st_test_path(dir_path, sizeof dir_path, "STENO_SOURCE_DIR", "web")) fail_msg("STENO_SOURCE_DIR is not set");
    DIR *dir = opendir(dir_path);
    assert_non_null(dir);
    int n_files = 0;
    for (struct dirent *entry; (entry = readdir(dir));) {
        if (entry->d_name[0] == '.') continue;
        char path[4096], url[512];
        web_file_path(path, sizeof path, entry->d_name);
        size_t size;
        char *bytes = st_test_read_file(path, &size);
        assert_non_null(bytes);
        snprintf(url, sizeof url, "/%s", entry->d_name);
        const unsigned char *data = NULL;
        size_t len = 0;
        const char *mime = NULL;
        if (st_web_asset(url, &data, &len, &mime) != 0) fail_msg("web/%s is not embedded", entry->d_name);
        assert_int_equal(len, size);
        assert_memory_equal(data, bytes, size);
        const char *want = expected_mime(entry->d_name);
        if (!want) fail_msg("web/%s: no Content-Type is known for its extension", entry->d_name);
        assert_string_equal(mime, want);
        free(bytes);
        n_files++;
    }
    closedir(dir);
    assert_true(n_files >= 3); /* index.html, app.js, style.css */
}

static void root_is_index_html(void **state) {
    (void)state;
    const unsigned char *root, *index;
    size_t root_len, index_len;
    const char *root_mime, *index_mime;
    assert_int_equal(st_web_asset("/", &root, &root_len, &root_mime), 0);
    assert_int_equal(st_web_asset("/index.html", &index, &index_len, &index_mime), 0);
    assert_ptr_equal(root, index);
    assert_int_equal(root_len, index_len);
    assert_string_equal(root_mime, "text/html; charset=utf-8");
    assert_true(root_len > 15 && memcmp(root, "<!doctype html>", 15) == 0);
}

static void other_paths_find_nothing(void **state) {
    (void)state;
    const char *paths[] = {"",          "index.html",     "/index.htm",     "/index.html/", "//index.html",
                           "/APP.JS",   "/../web/app.js", "/web/style.css", "/v1/models",   "/favicon.ico",
                           "/app.js?x", "/style.css\n",   "/./index.html"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const unsigned char *data = (const unsigned char *)"untouched";
        size_t len = 7;
        const char *mime = "untouched";
        if (st_web_asset(paths[i], &data, &len, &mime) == 0) fail_msg("'%s' was found", paths[i]);
        assert_int_equal(len, 7);
    }
    const unsigned char *data;
    size_t len;
    const char *mime;
    assert_int_equal(st_web_asset(NULL, &data, &len, &mime), -1);
}

/* app.js's LANGUAGES (quoted codes between "const LANGUAGES = [" and "];") are the languages of
 * the largest multilingual vocabulary (large-v3, 100 languages), in token order. */
static void page_languages_are_the_tokenizers(void **state) {
    (void)state;
    const unsigned char *data;
    size_t len;
    const char *mime;
    assert_int_equal(st_web_asset("/app.js", &data, &len, &mime), 0);
    const char *text = (const char *)data; /* the embedded file is followed by a NUL byte */
    const char *begin = strstr(text, "const LANGUAGES = [");
    assert_non_null(begin);
    const char *end = strstr(begin, "];");
    assert_non_null(end);
    st_tokenizer *tokenizer;
    st_error err;
    assert_int_equal(st_tokenizer_create_builtin(51866, &tokenizer, &err), STENO_OK);
    const int first = st_tokenizer_language_token(tokenizer, "en");
    int n = 0;
    for (const char *p = strchr(begin, '\''); p && p < end; p = strchr(p, '\'')) {
        const char *close = strchr(p + 1, '\'');
        assert_non_null(close);
        char code[8] = {0};
        assert_true(close - p - 1 > 0 && close - p - 1 < (long)sizeof code);
        memcpy(code, p + 1, (size_t)(close - p - 1));
        if (st_tokenizer_language_token(tokenizer, code) != first + n)
            fail_msg("app.js language %d '%s' is out of place", n, code);
        n++;
        p = close + 1;
    }
    assert_int_equal(n, st_tokenizer_n_languages(tokenizer));
    st_tokenizer_free(tokenizer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_file_is_served_as_on_disk),
        cmocka_unit_test(root_is_index_html),
        cmocka_unit_test(other_paths_find_nothing),
        cmocka_unit_test(page_languages_are_the_tokenizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
