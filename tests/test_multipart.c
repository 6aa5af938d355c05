/*
 * test_multipart.c — the server's multipart/form-data parser: parts, file names and bytes come
 * out the same whatever the chunking (down to one byte at a time), delimiter look-alikes inside
 * a part stay data, and every malformed body is an error naming the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "server/multipart.h"
#include "util/strbuf.h"

typedef struct log {
    st_strbuf text;
} log;

static steno_status on_part(void *user, const st_multipart_part *part, st_error *err) {
    (void)err;
    st_strbuf_printf(&((log *)user)->text, "<%s|%s|%s>", part->name, part->has_filename ? part->filename : "-",
                     part->content_type);
    return STENO_OK;
}

static steno_status on_data(void *user, const char *data, size_t n, st_error *err) {
    (void)err;
    st_strbuf_append(&((log *)user)->text, data, n);
    return STENO_OK;
}

static steno_status on_part_end(void *user, st_error *err) {
    (void)err;
    st_strbuf_append_str(&((log *)user)->text, "</>");
    return STENO_OK;
}

/* Parses body in chunks of `chunk` bytes; the log of what came out in *text (caller frees). */
static steno_status parse(const char *content_type, const char *body, size_t size, size_t chunk, st_strbuf *text,
                          st_error *err) {
    log l;
    st_strbuf_init(&l.text);
    st_multipart_handler handler = {.on_part = on_part, .on_data = on_data, .on_part_end = on_part_end, .user = &l};
    st_multipart *parser;
    steno_status status = st_multipart_create(content_type, &handler, &parser, err);
    if (status != STENO_OK) {
        *text = l.text;
        return status;
    }
    for (size_t at = 0; at < size && status == STENO_OK; at += chunk) {
        status = st_multipart_feed(parser, body + at, size - at < chunk ? size - at : chunk, err);
    }
    if (status == STENO_OK) status = st_multipart_finish(parser, err);
    st_multipart_free(parser);
    *text = l.text;
    return status;
}

static const char *const form = "multipart/form-data; boundary=----b0undary";

static void parts_come_out_whatever_the_chunking(void **state) {
    (void)state;
    const char body[] = "ignored preamble\r\n"
                        "------b0undary\r\n"
                        "Content-Disposition: form-data; name=\"model\"\r\n\r\n"
                        "whisper-1\r\n"
                        "------b0undary\r\n"
                        "Content-Disposition: form-data; name=\"file\"; filename=\"my \\\"talk\\\".wav\"\r\n"
                        "Content-Type: audio/wav\r\n\r\n"
                        "RIFF\r\n------b0undar\r\n\r\n------b0undarX\0bin\r\n"
                        "------b0undary--\r\n"
                        "epilogue";
    const char expected[] = "<model|-|>whisper-1</><file|my \"talk\".wav|audio/wav>RIFF\r\n------b0undar\r\n"
                            "\r\n------b0undarX\0bin</>";
    for (size_t chunk = 1; chunk <= sizeof body; chunk++) {
        st_strbuf text;
        st_error err;
        st_error_clear(&err);
        assert_int_equal(parse(form, body, sizeof body - 1, chunk, &text, &err), STENO_OK);
        assert_int_equal(text.length, sizeof expected - 1);
        assert_memory_equal(text.data, expected, sizeof expected - 1);
        st_strbuf_free(&text);
    }
}

static void expect_error(const char *content_type, const char *body, const char *message) {
    st_strbuf text;
    st_error err;
    st_error_clear(&err);
    assert_int_not_equal(parse(content_type, body, strlen(body), 7, &text, &err), STENO_OK);
    if (!strstr(st_error_message(&err), message)) fail_msg("'%s' lacks '%s'", st_error_message(&err), message);
    st_strbuf_free(&text);
}

static void malformed_bodies_are_clear_errors(void **state) {
    (void)state;
    expect_error(NULL, "", "no Content-Type");
    expect_error("application/json", "{}", "must be multipart/form-data");
    expect_error("multipart/form-data", "", "without a boundary");
    expect_error("multipart/form-data; boundary=\"\"", "", "without a boundary");
    expect_error(
        "multipart/form-data; boundary=0123456789012345678901234567890123456789012345678901234567890123456789x", "",
        "longer than 70");
    expect_error(form, "------b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end", "truncated");
    expect_error(form, "", "truncated");
    expect_error(form, "------b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n------b0undary--",
                 "without Content-Disposition");
    expect_error(form, "------b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n------b0undary--",
                 "without a field name");
    expect_error(form, "------b0undary\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n------b0undary--",
                 "not form-data");
    expect_error(form, "------b0undary\r\nno colon here\r\n\r\nx\r\n------b0undary--", "without a colon");
    expect_error(form, "------b0undaryZ\r\n", "not followed by CRLF");

    /* a header block over the limit, and more parts than allowed */
    st_strbuf big;
    st_strbuf_init(&big);
    st_strbuf_append_str(&big, "------b0undary\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
    for (int i = 0; i < ST_MULTIPART_MAX_HEADERS; i++)
        st_strbuf_append_char(&big, 'p');
    expect_error(form, big.data, "headers longer than");
    st_strbuf_clear(&big);
    for (int i = 0; i <= ST_MULTIPART_MAX_PARTS; i++) {
        st_strbuf_append_str(&big, "------b0undary\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n");
    }
    st_strbuf_append_str(&big, "------b0undary--");
    expect_error(form, big.data, "more than 64 multipart parts");
    st_strbuf_free(&big);
}

static steno_status refuse_data(void *user, const char *data, size_t n, st_error *err) {
    (void)user, (void)data, (void)n;
    return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "too large");
}

/* A callback's refusal stops the parse and sticks. */
static void a_callback_can_stop_the_parse(void **state) {
    (void)state;
    st_multipart_handler handler = {.on_data = refuse_data};
    st_multipart *parser;
    st_error err;
    st_error_clear(&err);
    assert_int_equal(st_multipart_create(form, &handler, &parser, &err), STENO_OK);
    const char body[] = "------b0undary\r\nContent-Disposition: form-data; name=file\r\n\r\nabc";
    assert_int_equal(st_multipart_feed(parser, body, sizeof body - 1, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_string_equal(st_error_message(&err), "too large");
    assert_int_equal(st_multipart_feed(parser, "x", 1, &err), STENO_ERR_FORMAT);
    assert_int_not_equal(st_multipart_finish(parser, &err), STENO_OK);
    st_multipart_free(parser);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parts_come_out_whatever_the_chunking),
        cmocka_unit_test(malformed_bodies_are_clear_errors),
        cmocka_unit_test(a_callback_can_stop_the_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
