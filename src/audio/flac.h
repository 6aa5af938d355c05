/*
 * flac.h — FLAC frames of 16-bit mono streams, decoded without FFmpeg (RFC 9639).
 *
 * The audio reader (audio.c) reads such a stream itself when it is already at the rate asked
 * for, as it reads 16-bit mono WAV: FFmpeg would decode the same integers (FLAC is lossless)
 * and scale them by 1 / 32768. Everything else about FLAC (other channel counts and sample
 * sizes, metadata past the reader's first bytes, an ID3 tag in front) is FFmpeg's.
 *
 * Every frame's header CRC-8 and whole-frame CRC-16 are checked, and every field and decoded
 * sample is range-checked, so damaged or hostile bytes are reported as such, never decoded into
 * noise or read past.
 */
#ifndef ST_AUDIO_FLAC_H
#define ST_AUDIO_FLAC_H

#include <stddef.h>
#include <stdint.h>

/* The most samples a frame holds (its block size is a 16-bit field). */
#define ST_FLAC_MAX_BLOCK 65536

/* What the STREAMINFO block says, for the streams the reader decodes itself. */
typedef struct st_flac_stream {
    int sample_rate;
    uint64_t total_samples; /* 0: not stated */
    uint16_t crc16[256];    /* the frames' CRC-16, a byte at a time */
} st_flac_stream;

/* Whether the first `size` bytes of an input are a FLAC stream ("fLaC", STREAMINFO first) of one
 * channel of 16-bit samples at `rate` Hz whose metadata blocks all end within them; then
 * *frames_offset is where its first frame begins. */
int st_flac_stream_start(const uint8_t *head, size_t size, int rate, st_flac_stream *stream, size_t *frames_offset);

typedef enum st_flac_result {
    ST_FLAC_FRAME,       /* a frame was decoded */
    ST_FLAC_NEED_MORE,   /* the bytes end inside the frame */
    ST_FLAC_NOT_A_FRAME, /* no frame header starts at bytes[0] (cheap to find out) */
    ST_FLAC_DAMAGED,     /* a valid frame header, then bytes that are not its frame */
} st_flac_result;

/* Decodes the frame at bytes[0 .. size) into samples (room for ST_FLAC_MAX_BLOCK; also the
 * working space): on ST_FLAC_FRAME, *n_samples 16-bit values and *frame_bytes consumed. */
st_flac_result st_flac_decode_frame(const uint8_t *bytes, size_t size, const st_flac_stream *stream, int32_t *samples,
                                    size_t *n_samples, size_t *frame_bytes);

#endif
