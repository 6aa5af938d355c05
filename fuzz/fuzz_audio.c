/*
 * fuzz_audio.c — libFuzzer target for the audio front door.
 *
 * Each input is decoded as an upload would be, through the in-memory reader, in uneven chunks:
 * by FFmpeg, or by the reader itself for 16-bit mono WAV and FLAC at the rate asked for
 * (speech_16k.wav and speech.flac seed those paths).
 * Output stops after 60 s of samples: a few bytes can legitimately describe hours of audio
 * (silence in a compressed codec, a huge sample count in a header), and decoding them all would
 * only measure FFmpeg's speed.
 */
#include <stddef.h>
#include <stdint.h>

#include "audio/audio.h"

#define FUZZ_RATE 16000
#define FUZZ_MAX_SAMPLES (60 * FUZZ_RATE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static float chunk[4099];
    st_audio_reader *reader;
    st_error err;
    if (st_audio_reader_open_memory(data, size, NULL, FUZZ_RATE, &reader, &err) != STENO_OK) return 0;
    size_t total = 0, n = 0;
    /* the chunk size varies with the input so that refills straddle frames differently */
    size_t step = size % 4099 + 1;
    while (total < FUZZ_MAX_SAMPLES && st_audio_reader_read(reader, chunk, step, &n, &err) == STENO_OK && n > 0)
        total += n;
    (void)st_audio_reader_duration(reader);
    st_audio_reader_close(reader);
    return 0;
}
