/* test_error.c — status codes, messages and the st_error helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/error.h"

static void every_status_has_a_distinct_description(void **state) {
    (void)state;
    for (int a = 0; a < STENO_STATUS_COUNT; a++) {
        assert_non_null(steno_strerror((steno_status)a));
        assert_true(strlen(steno_strerror((steno_status)a)) > 0);
        for (int b = a + 1; b < STENO_STATUS_COUNT; b++) {
            assert_string_not_equal(steno_strerror((steno_status)a), steno_strerror((steno_status)b));
        }
    }
    assert_string_equal(steno_strerror((steno_status)999), "unknown status");
}

static void error_set_formats_and_returns_code(void **state) {
    (void)state;
    st_error err;
    st_error_clear(&err);
    assert_int_equal(err.code, STENO_OK);
    assert_string_equal(st_error_message(&err), "success");
    assert_int_equal(st_error_set(&err, STENO_ERR_FORMAT, "%s: bad magic at offset %d", "m.bin", 0), STENO_ERR_FORMAT);
    assert_int_equal(err.code, STENO_ERR_FORMAT);
    assert_string_equal(st_error_message(&err), "m.bin: bad magic at offset 0");
    /* NULL is allowed and only returns the code */
    assert_int_equal(st_error_set(NULL, STENO_ERR_IO, "x"), STENO_ERR_IO);
}

static void long_messages_are_truncated_not_overflowed(void **state) {
    (void)state;
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    st_error err;
    st_error_set(&err, STENO_ERR_IO, "%s", big);
    assert_int_equal(strlen(err.message), ST_ERROR_MESSAGE_SIZE - 1);
}

static void version_is_dotted(void **state) {
    (void)state;
    assert_string_equal(steno_version(), "0.1.0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_status_has_a_distinct_description),
        cmocka_unit_test(error_set_formats_and_returns_code),
        cmocka_unit_test(long_messages_are_truncated_not_overflowed),
        cmocka_unit_test(version_is_dotted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
