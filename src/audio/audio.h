/*
 * audio.h — the audio front door: any file FFmpeg can read, as mono float32 at one sample rate.
 *
 * A reader demuxes the first audio stream of a container (wav, flac, mp3, ogg/opus, m4a, a video
 * file…), decodes it with libavcodec and converts it with libswresample to mono float32 at the
 * rate the caller asks for (Whisper wants 16 kHz). It streams: it holds one packet, one decoded
 * frame and the resampler's state, never the whole signal, so its memory does not grow with the
 * length of the file. The bytes come from a path or from a buffer in memory (an HTTP upload).
 *
 * A WAV or FLAC file of 16-bit samples, one channel, already at that rate is read without
 * FFmpeg, giving the samples FFmpeg would (sample / 32768; flac.h decodes FLAC's frames).
 * FFmpeg's libraries are not linked: the first reader that needs them loads them (dlopen), so a
 * process that reads only such files never pays for loading them; where they cannot be loaded,
 * that reader fails with STENO_ERR_AUDIO saying so.
 *
 * Downmixing follows what openai-whisper gets from `ffmpeg -ac 1 -f s16le`: FFmpeg's standard
 * downmix matrix normalised so that no output can exceed full scale, which for stereo is the mean
 * of the two channels.
 *
 * Damaged input never crashes: a missing file is STENO_ERR_NOT_FOUND, a file that cannot be read
 * is STENO_ERR_IO, and bytes that are not decodable audio (empty, text, no audio stream, no
 * decoder) are STENO_ERR_AUDIO, each with a message that names the file and the reason, ending
 * with FFmpeg's own last error line when it logged one. A truncated file yields the audio that
 * is there; packets that fail to decode in the middle of a stream are skipped, as the ffmpeg
 * command does, unless no audio at all could be decoded. A well-formed file holding zero samples
 * decodes to an empty signal.
 *
 * Neither a file nor an upload can make the reader open anything else: demuxers that would read
 * other files or URLs (playlists, concat lists, image sequences) are refused that.
 *
 * FFmpeg's settings are process-wide, and the first reader that loads it sets them: its log is
 * captured, not printed, and no single allocation inside FFmpeg may exceed 128 MiB (a crafted
 * header cannot make it ask for gigabytes).
 */
#ifndef ST_AUDIO_AUDIO_H
#define ST_AUDIO_AUDIO_H

#include <stddef.h>

#include "util/error.h"

/* Output sample rates a caller may ask for, and the source rates a stream may have. Outside
 * this range the resampler's filter tables grow without bound (a hostile header can claim any
 * rate), and nothing below 1 kHz carries speech. */
#define ST_AUDIO_MIN_SAMPLE_RATE 1000
#define ST_AUDIO_MAX_SAMPLE_RATE 768000

/* A whole decoded signal. */
typedef struct st_audio {
    float *samples; /* n_samples mono samples in [-1, 1] (owned; NULL when empty) */
    size_t n_samples;
    int sample_rate;
} st_audio;

typedef struct st_audio_reader st_audio_reader;

/* Opens the first audio stream of the file at path for decoding to mono at sample_rate Hz.
 * On failure *reader is NULL and err says why. */
steno_status st_audio_reader_open(const char *path, int sample_rate, st_audio_reader **reader, st_error *err);

/* Same, reading the size bytes at data, which must stay valid until the reader is closed (they
 * are not copied). name is used in messages and as a hint to format probing ("upload.mp3"); it
 * may be NULL. Since these bytes are untrusted (an upload), the reader probes and analyses less
 * of them before the first packet than FFmpeg's defaults. */
steno_status st_audio_reader_open_memory(const void *data, size_t size, const char *name, int sample_rate,
                                         st_audio_reader **reader, st_error *err);

/* Decodes the next samples into out, filling it up to max_samples unless the stream ends first.
 * *n_read is the number written; 0 means the end of the stream (and stays 0). */
steno_status st_audio_reader_read(st_audio_reader *reader, float *out, size_t max_samples, size_t *n_read,
                                  st_error *err);

/* The container's estimate of the duration in seconds, or a negative number when it has none.
 * An estimate only: the decoded length can differ (a truncated or mislabelled file). */
double st_audio_reader_duration(const st_audio_reader *reader);

/* Frees the reader; NULL is allowed. */
void st_audio_reader_close(st_audio_reader *reader);

/* Decodes the whole file at path into out (mono, sample_rate Hz). On failure out is zeroed. */
steno_status st_audio_decode_file(const char *path, int sample_rate, st_audio *out, st_error *err);

/* Decodes a whole file held in memory, as st_audio_reader_open_memory reads it. */
steno_status st_audio_decode_memory(const void *data, size_t size, const char *name, int sample_rate, st_audio *out,
                                    st_error *err);

/* Frees the samples and zeroes the struct; safe on a zeroed struct. */
void st_audio_free(st_audio *audio);

#endif
