/*
 * audio.c — decoding any container/codec FFmpeg reads into mono float32 (see audio.h).
 *
 * The reader owns the whole FFmpeg pipeline for one stream: a custom AVIOContext over a file
 * descriptor or a memory buffer, the demuxer, the decoder, and a resampler that turns the
 * decoder's frames (any layout, sample format and rate) into mono float at the caller's rate.
 * Frames are fed to the resampler in slices of ST_AUDIO_SLICE input samples into a small
 * output buffer the reader owns, so memory stays bounded by the slice size, not by the frame
 * size or the length of the file.
 *
 * A WAV or FLAC file of 16-bit samples, mono, already at the caller's rate (what Whisper's tools
 * write, jfk.wav, the longform FLAC files) is read directly, without FFmpeg: FFmpeg would turn
 * each sample into sample / 32768 and change nothing else, which is what the reader does
 * itself. FFmpeg's libraries are loaded (dlopen) only when a file needs them, so a process that
 * reads such files never loads them.
 */
#include "audio/audio.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswresample/version.h>

#include "audio/flac.h"

/* Bytes the AVIOContext reads at a time. */
#define ST_AUDIO_IO_BUFFER 65536
/* Input samples per channel handed to the resampler at once. */
#define ST_AUDIO_SLICE 4096
/* libswresample mixes at most this many channels. */
#define ST_AUDIO_MAX_CHANNELS 64
/* Limits for untrusted bytes in memory: FFmpeg's defaults (5 MB, 5 s) let a crafted upload
 * make find_stream_info decode for a long time; audio streams describe themselves in far less. */
#define ST_AUDIO_MEMORY_PROBE_SIZE (1 << 20)
#define ST_AUDIO_MEMORY_ANALYZE_DURATION AV_TIME_BASE
/* The most FFmpeg may allocate at once. Some demuxers size tables from header fields, so a few
 * hundred bytes could ask for gigabytes; real audio needs far less (the largest tables, a long
 * mp4's sample index, are tens of MB for a day of audio). */
#define ST_AUDIO_MAX_FFMPEG_ALLOCATION ((size_t)128 << 20)
/* decode_*: the first allocation trusts the container's duration only up to this many samples,
 * since a header can claim hours for a few bytes. */
#define ST_AUDIO_MAX_INITIAL_SAMPLES ((size_t)1 << 22)

struct st_audio_reader {
    char *name; /* the path or the caller's name for the buffer, for messages */
    int out_rate;
    double duration;

    /* The byte source: a file descriptor, or a buffer when fd is -1. */
    int fd;
    const uint8_t *memory;
    size_t memory_size;
    size_t memory_position;
    bool seekable; /* false for a pipe or a device */
    int io_errno;  /* errno of a failed read(), so that it reports as STENO_ERR_IO */

    /* Read without FFmpeg (native_start): a WAV file's data chunk, or a FLAC stream's frames. */
    enum { FFMPEG_INPUT, WAV_INPUT, FLAC_INPUT } input;
    uint64_t wav_left;    /* WAV: bytes of the data chunk not yet read */
    st_flac_stream flac;  /* FLAC: the stream, */
    uint8_t *flac_bytes;  /* ST_AUDIO_FLAC_BUFFER bytes read and not yet decoded, */
    size_t flac_start;    /* from here */
    size_t flac_length;   /* to here, */
    bool flac_input_done; /* all of the input, */
    int32_t *flac_frame;  /* one frame's samples, */
    int flac_damaged;     /* and frames with a valid header that failed to decode */

    AVIOContext *io;
    AVFormatContext *format;
    AVCodecContext *codec;
    int stream_index;
    AVPacket *packet;
    AVFrame *frame;
    bool frame_pending; /* frame holds samples not yet resampled */
    int frame_offset;   /* how many of them have been */
    bool demuxer_done;  /* no more packets: the decoder was sent the end-of-stream flush */
    bool decoder_done;  /* the decoder returned its last frame */

    SwrContext *resampler; /* configured for the input format below */
    AVChannelLayout resampler_layout;
    int resampler_format;
    int resampler_rate;

    float *pending; /* resampled samples not yet handed to the caller */
    size_t pending_capacity;
    size_t pending_length;
    size_t pending_position;

    size_t n_produced;  /* samples resampled so far */
    size_t n_errors;    /* packets that failed to demux or decode */
    int last_error;     /* the AVERROR of the latest of those */
    char last_log[256]; /* FFmpeg's log line at that moment */
    bool finished;
    steno_status failure; /* a reader that failed keeps failing */
};

/* ---- FFmpeg, loaded on first use ------------------------------------------------------ */

/* libavformat and libavcodec bring in a hundred-odd shared libraries (codecs, TLS, X11, ...).
 * Linked, the dynamic loader maps and relocates all of them at every process start, 0.05-0.2 s
 * before main, even when the input is a WAV file the reader decodes itself. So the libraries
 * are opened with dlopen the first time a file needs them, by the sonames of the headers steno
 * was built against, and called through this table. */
#define FFMPEG_LIBRARIES(X)                                                                                            \
    X(AVUTIL, "libavutil", LIBAVUTIL_VERSION_MAJOR)                                                                    \
    X(SWRESAMPLE, "libswresample", LIBSWRESAMPLE_VERSION_MAJOR)                                                        \
    X(AVCODEC, "libavcodec", LIBAVCODEC_VERSION_MAJOR)                                                                 \
    X(AVFORMAT, "libavformat", LIBAVFORMAT_VERSION_MAJOR)
#define FFMPEG_FUNCTIONS(X)                                                                                            \
    X(AVUTIL, av_channel_layout_compare)                                                                               \
    X(AVUTIL, av_channel_layout_copy)                                                                                  \
    X(AVUTIL, av_channel_layout_default)                                                                               \
    X(AVUTIL, av_channel_layout_uninit)                                                                                \
    X(AVUTIL, av_dict_free)                                                                                            \
    X(AVUTIL, av_dict_set)                                                                                             \
    X(AVUTIL, av_frame_alloc)                                                                                          \
    X(AVUTIL, av_frame_free)                                                                                           \
    X(AVUTIL, av_frame_unref)                                                                                          \
    X(AVUTIL, av_free)                                                                                                 \
    X(AVUTIL, av_freep)                                                                                                \
    X(AVUTIL, av_get_bytes_per_sample)                                                                                 \
    X(AVUTIL, av_get_media_type_string)                                                                                \
    X(AVUTIL, av_get_sample_fmt_name)                                                                                  \
    X(AVUTIL, av_log)                                                                                                  \
    X(AVUTIL, av_log_format_line2)                                                                                     \
    X(AVUTIL, av_log_set_callback)                                                                                     \
    X(AVUTIL, av_log_set_level)                                                                                        \
    X(AVUTIL, av_malloc)                                                                                               \
    X(AVUTIL, av_max_alloc)                                                                                            \
    X(AVUTIL, av_opt_set_double)                                                                                       \
    X(AVUTIL, av_sample_fmt_is_planar)                                                                                 \
    X(AVUTIL, av_strerror)                                                                                             \
    X(SWRESAMPLE, swr_alloc_set_opts2)                                                                                 \
    X(SWRESAMPLE, swr_convert)                                                                                         \
    X(SWRESAMPLE, swr_free)                                                                                            \
    X(SWRESAMPLE, swr_get_out_samples)                                                                                 \
    X(SWRESAMPLE, swr_init)                                                                                            \
    X(AVCODEC, av_packet_alloc)                                                                                        \
    X(AVCODEC, av_packet_free)                                                                                         \
    X(AVCODEC, av_packet_unref)                                                                                        \
    X(AVCODEC, avcodec_alloc_context3)                                                                                 \
    X(AVCODEC, avcodec_free_context)                                                                                   \
    X(AVCODEC, avcodec_get_name)                                                                                       \
    X(AVCODEC, avcodec_open2)                                                                                          \
    X(AVCODEC, avcodec_parameters_to_context)                                                                          \
    X(AVCODEC, avcodec_receive_frame)                                                                                  \
    X(AVCODEC, avcodec_send_packet)                                                                                    \
    X(AVFORMAT, av_find_best_stream)                                                                                   \
    X(AVFORMAT, av_read_frame)                                                                                         \
    X(AVFORMAT, avformat_alloc_context)                                                                                \
    X(AVFORMAT, avformat_close_input)                                                                                  \
    X(AVFORMAT, avformat_find_stream_info)                                                                             \
    X(AVFORMAT, avformat_open_input)                                                                                   \
    X(AVFORMAT, avio_alloc_context)                                                                                    \
    X(AVFORMAT, avio_context_free)

enum {
#define FFMPEG_LIBRARY_INDEX(library, name, major) FFMPEG_##library,
    FFMPEG_LIBRARIES(FFMPEG_LIBRARY_INDEX) FFMPEG_N_LIBRARIES
};

static struct {
#define FFMPEG_MEMBER(library, function) __typeof__(&function) function;
    FFMPEG_FUNCTIONS(FFMPEG_MEMBER)
} ff;

#ifdef __APPLE__
#define FFMPEG_SONAME(name, major) name "." AV_STRINGIFY(major) ".dylib"
#else
#define FFMPEG_SONAME(name, major) name ".so." AV_STRINGIFY(major)
#endif

static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;
static char ffmpeg_load_error[256]; /* empty when the libraries and every function were found */

static void capture_ffmpeg_log(void *context, int level, const char *format, va_list args);

/* Opens the libraries and fills the table once; then sets FFmpeg's process-wide settings: its
 * log is captured, not printed, and no single allocation may exceed
 * ST_AUDIO_MAX_FFMPEG_ALLOCATION. The libraries stay loaded for the life of the process. */
static void load_ffmpeg(void) {
    static const char *const sonames[FFMPEG_N_LIBRARIES] = {
#define FFMPEG_LIBRARY_SONAME(library, name, major) FFMPEG_SONAME(name, major),
        FFMPEG_LIBRARIES(FFMPEG_LIBRARY_SONAME)};
    void *libraries[FFMPEG_N_LIBRARIES];
    for (int i = 0; i < FFMPEG_N_LIBRARIES; i++) {
        libraries[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!libraries[i]) {
            snprintf(ffmpeg_load_error, sizeof ffmpeg_load_error, "cannot load FFmpeg: %s", dlerror());
            return;
        }
    }
    /* dlsym gives a void *; POSIX guarantees it converts to the function's pointer type */
#define FFMPEG_RESOLVE(library, function)                                                                              \
    *(void **)&ff.function = dlsym(libraries[FFMPEG_##library], #function);                                            \
    if (!ff.function) {                                                                                                \
        snprintf(ffmpeg_load_error, sizeof ffmpeg_load_error, "cannot load FFmpeg: %s has no %s",                      \
                 sonames[FFMPEG_##library], #function);                                                                \
        return;                                                                                                        \
    }
    FFMPEG_FUNCTIONS(FFMPEG_RESOLVE)
    ff.av_log_set_level(AV_LOG_ERROR);
    ff.av_log_set_callback(capture_ffmpeg_log);
    ff.av_max_alloc(ST_AUDIO_MAX_FFMPEG_ALLOCATION);
}

/* ---- FFmpeg's log ---------------------------------------------------------------------- */

/* FFmpeg logs to stderr by default, which would spam the CLI and the server's log for every
 * damaged upload. Instead the latest error line of each thread is kept for our messages. */
static _Thread_local char ffmpeg_last_line[256];

static void capture_ffmpeg_log(void *context, int level, const char *format, va_list args) {
    if (level > AV_LOG_ERROR) return;
    char line[sizeof ffmpeg_last_line];
    int print_prefix = 0; /* the prefix holds a pointer; the component's name is enough */
    ff.av_log_format_line2(context, level, format, args, line, sizeof line, &print_prefix);
    size_t length = strlen(line);
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r' || line[length - 1] == ' '))
        line[--length] = '\0';
    if (length == 0) return;
    const AVClass *class = context ? *(const AVClass *const *)context : NULL;
    if (class && class->item_name)
        snprintf(ffmpeg_last_line, sizeof ffmpeg_last_line, "%s: %s", class->item_name(context), line);
    else
        snprintf(ffmpeg_last_line, sizeof ffmpeg_last_line, "%s", line);
}

/* Fails the reader's operation with code and a message: "audio 'name': what: ffmpeg's reason
 * (ffmpeg: last log line)". averror 0 leaves out the reason. */
static steno_status fail(const char *name, st_error *err, steno_status code, int averror, const char *what) {
    char reason[AV_ERROR_MAX_STRING_SIZE + 2] = "";
    if (averror < 0) {
        char text[AV_ERROR_MAX_STRING_SIZE];
        ff.av_strerror(averror, text, sizeof text);
        snprintf(reason, sizeof reason, ": %s", text);
    }
    if (ffmpeg_last_line[0])
        return st_error_set(err, code, "audio '%s': %s%s (ffmpeg: %s)", name, what, reason, ffmpeg_last_line);
    return st_error_set(err, code, "audio '%s': %s%s", name, what, reason);
}

/* ---- byte sources ---------------------------------------------------------------------- */

static int read_file(void *opaque, uint8_t *buffer, int size) {
    st_audio_reader *reader = opaque;
    for (;;) {
        ssize_t n = read(reader->fd, buffer, (size_t)size);
        if (n > 0) return (int)n;
        if (n == 0) return AVERROR_EOF;
        if (errno == EINTR) continue;
        reader->io_errno = errno;
        return AVERROR(errno);
    }
}

static int64_t seek_file(void *opaque, int64_t offset, int whence) {
    st_audio_reader *reader = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) {
        struct stat info;
        if (fstat(reader->fd, &info) != 0) return AVERROR(errno);
        return info.st_size;
    }
    off_t position = lseek(reader->fd, (off_t)offset, whence);
    return position < 0 ? AVERROR(errno) : (int64_t)position;
}

static int read_memory(void *opaque, uint8_t *buffer, int size) {
    st_audio_reader *reader = opaque;
    size_t left = reader->memory_size - reader->memory_position;
    if (left == 0) return AVERROR_EOF;
    size_t n = left < (size_t)size ? left : (size_t)size;
    memcpy(buffer, reader->memory + reader->memory_position, n);
    reader->memory_position += n;
    return (int)n;
}

static int64_t seek_memory(void *opaque, int64_t offset, int whence) {
    st_audio_reader *reader = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)reader->memory_size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)reader->memory_position;
        break;
    case SEEK_END:
        base = (int64_t)reader->memory_size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if ((offset < 0 && -offset > base) || (offset > 0 && offset > (int64_t)reader->memory_size - base))
        return AVERROR(EINVAL);
    reader->memory_position = (size_t)(base + offset);
    return (int64_t)reader->memory_position;
}

/* Where demuxers open the other files a playlist or a reference names: refused (see
 * reader_start). */
static int refuse_nested_open(AVFormatContext *format, AVIOContext **io, const char *url, int flags,
                              AVDictionary **options) {
    (void)format, (void)io, (void)flags, (void)options;
    ff.av_log(NULL, AV_LOG_ERROR, "refused to open '%s' named inside the input\n", url);
    return AVERROR(EPERM);
}

static steno_status reserve_pending(st_audio_reader *reader, size_t n, st_error *err);

/* ---- 16-bit mono WAV and FLAC without FFmpeg ------------------------------------------- */

/* Bytes at the start of an input searched for a WAV or FLAC header: a WAV's data chunk or a
 * FLAC's first frame must begin within them (longer metadata is left to FFmpeg). */
#define ST_AUDIO_NATIVE_HEAD 4096
/* FLAC: undecoded bytes held; a frame longer than ST_AUDIO_FLAC_MAX_FRAME (16-bit verbatim
 * samples take 128 KiB for the largest block) is damage; after ST_AUDIO_FLAC_MAX_DAMAGED frames
 * with a valid header that fail to decode, the stream is refused (each costs up to a frame's
 * bytes of decoding, so crafted input cannot make the reader spin). */
#define ST_AUDIO_FLAC_BUFFER ((size_t)512 << 10)
#define ST_AUDIO_FLAC_MAX_FRAME ((size_t)256 << 10)
#define ST_AUDIO_FLAC_MAX_DAMAGED 64

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Whether a fmt chunk (the `size` bytes of it at hand) describes 16-bit PCM, one channel, at
 * `rate` Hz: WAVE_FORMAT_PCM, or WAVE_FORMAT_EXTENSIBLE with the PCM subformat, 16 valid bits
 * and no channel mask or front centre (FFmpeg's mono). */
static bool wav_format_is_native(const uint8_t *fmt, size_t size, int rate) {
    static const uint8_t pcm_subformat[16] = {1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71};
    if (size < 16) return false;
    const uint16_t tag = le16(fmt);
    if (tag == 0xfffe) {
        if (size < 40 || le16(fmt + 16) < 22 || le16(fmt + 18) != 16 || (le32(fmt + 20) != 0 && le32(fmt + 20) != 4) ||
            memcmp(fmt + 24, pcm_subformat, sizeof pcm_subformat) != 0)
            return false;
    } else if (tag != 1) {
        return false;
    }
    return le16(fmt + 2) == 1 && le32(fmt + 4) == (uint32_t)rate && le16(fmt + 12) == 2 && le16(fmt + 14) == 16;
}

/* Whether the first `size` bytes of an input begin a RIFF WAVE file the reader decodes itself:
 * one fmt chunk as above, then the data chunk, whose size is stated (0 and 0xffffffff, which
 * FFmpeg takes as "up to the end", are left to it). Then *data_offset is where the samples
 * begin and *data_bytes the size the header claims (a truncated file has fewer). Any other
 * file, or a header that is cut short or inconsistent, is FFmpeg's to read or refuse. */
static bool wav_header(const uint8_t *head, size_t size, int rate, size_t *data_offset, uint64_t *data_bytes) {
    if (size < 12 || memcmp(head, "RIFF", 4) != 0 || memcmp(head + 8, "WAVE", 4) != 0) return false;
    bool have_format = false;
    size_t position = 12;
    while (position <= size && size - position >= 8) {
        const uint8_t *chunk = head + position;
        const uint32_t length = le32(chunk + 4);
        const size_t body = position + 8;
        if (memcmp(chunk, "data", 4) == 0) {
            if (!have_format || length == 0 || length == UINT32_MAX) return false;
            *data_offset = body;
            *data_bytes = length;
            return true;
        }
        if (memcmp(chunk, "fmt ", 4) == 0) {
            if (have_format) return false;
            const size_t at_hand = size - body < length ? size - body : length;
            if (!wav_format_is_native(head + body, at_hand, rate)) return false;
            have_format = true;
        }
        if (length > size - body) return false;
        position = body + length + (length & 1); /* chunks start at even offsets */
    }
    return false;
}

/* Moves the source to offset from its start; false when a file cannot seek there. */
static bool seek_source(st_audio_reader *reader, size_t offset) {
    if (reader->fd < 0) {
        reader->memory_position = offset;
        return true;
    }
    return lseek(reader->fd, (off_t)offset, SEEK_SET) >= 0;
}

/* Sets the reader up to read its input itself when wav_header or st_flac_stream_start says it
 * can; otherwise leaves the source where it was, for FFmpeg. Only regular files and buffers: a
 * pipe could not be given back the bytes looked at. */
static bool native_start(st_audio_reader *reader) {
    uint8_t file_head[ST_AUDIO_NATIVE_HEAD];
    const uint8_t *head = reader->memory;
    size_t size = reader->memory_size < ST_AUDIO_NATIVE_HEAD ? reader->memory_size : ST_AUDIO_NATIVE_HEAD;
    if (reader->fd >= 0) {
        if (!reader->seekable) return false;
        ssize_t n;
        do
            n = pread(reader->fd, file_head, sizeof file_head, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0) return false; /* FFmpeg's read will report it */
        head = file_head;
        size = (size_t)n;
    }
    size_t offset;
    uint64_t data_bytes;
    double duration = -1.0;
    if (wav_header(head, size, reader->out_rate, &offset, &data_bytes)) {
        if (!seek_source(reader, offset)) return false;
        reader->input = WAV_INPUT;
        reader->wav_left = data_bytes;
        duration = (double)(data_bytes / 2) / reader->out_rate;
    } else if (st_flac_stream_start(head, size, reader->out_rate, &reader->flac, &offset)) {
        reader->flac_bytes = malloc(ST_AUDIO_FLAC_BUFFER);
        reader->flac_frame = malloc(ST_FLAC_MAX_BLOCK * sizeof *reader->flac_frame);
        if (!reader->flac_bytes || !reader->flac_frame || !seek_source(reader, offset)) return false;
        reader->input = FLAC_INPUT;
        if (reader->flac.total_samples > 0) duration = (double)reader->flac.total_samples / reader->out_rate;
    } else {
        return false;
    }
    reader->duration = duration;
    return true;
}

/* Up to size bytes of the input into buffer, as the AVIOContext's callbacks give them. */
static int read_source(st_audio_reader *reader, uint8_t *buffer, size_t size) {
    return reader->fd >= 0 ? read_file(reader, buffer, (int)size) : read_memory(reader, buffer, (int)size);
}

static steno_status read_failed(const st_audio_reader *reader, st_error *err) {
    return st_error_set(err, STENO_ERR_IO, "audio '%s': read failed: %s", reader->name, strerror(reader->io_errno));
}

/* Refills pending with the next frame of a native FLAC stream (sample / 32768, as for WAV).
 * Bytes that are not a frame are skipped one at a time until one is (FFmpeg's way with damage
 * too); a frame cut short by the end of the input is no samples. */
static steno_status flac_refill(st_audio_reader *reader, st_error *err) {
    reader->pending_length = 0;
    reader->pending_position = 0;
    for (;;) {
        const size_t available = reader->flac_length - reader->flac_start;
        size_t n = 0, used = 0;
        st_flac_result result = available == 0
                                    ? ST_FLAC_NEED_MORE
                                    : st_flac_decode_frame(reader->flac_bytes + reader->flac_start, available,
                                                           &reader->flac, reader->flac_frame, &n, &used);
        if (result == ST_FLAC_NEED_MORE && available >= ST_AUDIO_FLAC_MAX_FRAME) result = ST_FLAC_DAMAGED;
        if (result == ST_FLAC_FRAME) {
            reader->flac_start += used;
            steno_status status = reserve_pending(reader, n, err);
            if (status != STENO_OK) return status;
            for (size_t i = 0; i < n; i++)
                reader->pending[i] = (float)reader->flac_frame[i] * (1.0f / 32768.0f);
            reader->pending_length = n;
            reader->n_produced += n;
            return STENO_OK;
        }
        if (result == ST_FLAC_DAMAGED && ++reader->flac_damaged > ST_AUDIO_FLAC_MAX_DAMAGED)
            return st_error_set(err, STENO_ERR_AUDIO, "audio '%s': damaged FLAC stream (more than %d bad frames)",
                                reader->name, ST_AUDIO_FLAC_MAX_DAMAGED);
        if (result != ST_FLAC_NEED_MORE) {
            reader->flac_start++;
            continue;
        }
        if (reader->flac_input_done) {
            reader->finished = true;
            if (reader->n_produced == 0 && reader->flac_damaged > 0)
                return st_error_set(err, STENO_ERR_AUDIO,
                                    "audio '%s': no audio could be decoded (%d damaged FLAC frame%s)", reader->name,
                                    reader->flac_damaged, reader->flac_damaged == 1 ? "" : "s");
            return STENO_OK;
        }
        memmove(reader->flac_bytes, reader->flac_bytes + reader->flac_start, available);
        reader->flac_start = 0;
        reader->flac_length = available;
        int got = read_source(reader, reader->flac_bytes + available, ST_AUDIO_FLAC_BUFFER - available);
        if (got == AVERROR_EOF)
            reader->flac_input_done = true;
        else if (got < 0)
            return read_failed(reader, err);
        else
            reader->flac_length += (size_t)got;
    }
}

/* Refills pending with the next samples of a native WAV file: sample / 32768, the conversion
 * FFmpeg makes from 16-bit PCM to float. At the end of the data chunk or of the input (a
 * truncated file; a last odd byte is no sample) the reader is finished. */
static steno_status wav_refill(st_audio_reader *reader, st_error *err) {
    reader->pending_length = 0;
    reader->pending_position = 0;
    steno_status status = reserve_pending(reader, ST_AUDIO_SLICE, err);
    if (status != STENO_OK) return status;
    const size_t want = reader->wav_left < 2 * ST_AUDIO_SLICE ? (size_t)reader->wav_left : 2 * ST_AUDIO_SLICE;
    uint8_t *bytes = (uint8_t *)reader->pending; /* converted in place, from the last sample back */
    size_t got = 0;
    while (got < want) {
        int n = read_source(reader, bytes + got, want - got);
        if (n == AVERROR_EOF) break;
        if (n < 0) return read_failed(reader, err);
        got += (size_t)n;
    }
    reader->wav_left = got < want ? 0 : reader->wav_left - got;
    const size_t n_samples = got / 2;
    for (size_t i = n_samples; i-- > 0;)
        reader->pending[i] = (float)(int16_t)le16(bytes + 2 * i) * (1.0f / 32768.0f);
    reader->pending_length = n_samples;
    reader->n_produced += n_samples;
    if (n_samples == 0) reader->finished = true;
    return STENO_OK;
}

/* ---- opening ---------------------------------------------------------------------------- */

static steno_status check_rate(int sample_rate, const char *name, st_error *err) {
    if (sample_rate < ST_AUDIO_MIN_SAMPLE_RATE || sample_rate > ST_AUDIO_MAX_SAMPLE_RATE)
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "audio '%s': output sample rate %d Hz is outside %d..%d Hz", name, sample_rate,
                            ST_AUDIO_MIN_SAMPLE_RATE, ST_AUDIO_MAX_SAMPLE_RATE);
    return STENO_OK;
}

static st_audio_reader *reader_new(const char *name, int sample_rate) {
    st_audio_reader *reader = calloc(1, sizeof *reader);
    if (!reader) return NULL;
    reader->name = strdup(name);
    if (!reader->name) {
        free(reader);
        return NULL;
    }
    reader->fd = -1;
    reader->out_rate = sample_rate;
    reader->duration = -1.0;
    reader->stream_index = -1;
    return reader;
}

/* Lists the stream types of a file without audio, for the message ("video, subtitle"). */
static void describe_streams(const AVFormatContext *format, char *text, size_t size) {
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < format->nb_streams && used < size; i++) {
        const char *type = ff.av_get_media_type_string(format->streams[i]->codecpar->codec_type);
        int n = snprintf(text + used, size - used, "%s%s", i ? ", " : "", type ? type : "unknown");
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* Opens the container on the reader's byte source, picks the best audio stream and opens its
 * decoder. With a custom AVIOContext, url is only a hint for probing by its extension.
 * untrusted limits how much FFmpeg reads and decodes before the first packet. */
static steno_status reader_start(st_audio_reader *reader, const char *url, bool untrusted, st_error *err) {
    const char *name = reader->name;
    pthread_once(&ffmpeg_once, load_ffmpeg);
    if (ffmpeg_load_error[0]) return st_error_set(err, STENO_ERR_AUDIO, "audio '%s': %s", name, ffmpeg_load_error);
    ffmpeg_last_line[0] = '\0';
    reader->packet = ff.av_packet_alloc();
    reader->frame = ff.av_frame_alloc();
    if (!reader->packet || !reader->frame)
        return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", name);

    bool from_file = reader->fd >= 0;
    int (*read_bytes)(void *, uint8_t *, int) = from_file ? read_file : read_memory;
    int64_t (*seek)(void *, int64_t, int) = !from_file ? seek_memory : reader->seekable ? seek_file : NULL;
    uint8_t *buffer = ff.av_malloc(ST_AUDIO_IO_BUFFER);
    if (buffer) {
        reader->io = ff.avio_alloc_context(buffer, ST_AUDIO_IO_BUFFER, 0, reader, read_bytes, NULL, seek);
        if (!reader->io) ff.av_free(buffer);
    }
    if (reader->io) reader->format = ff.avformat_alloc_context();
    if (!reader->format) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", name);
    reader->format->pb = reader->io;
    /* avformat_open_input would set this too; set now, it keeps avformat_close_input from
     * closing our AVIOContext as its own should we fail before opening */
    reader->format->flags |= AVFMT_FLAG_CUSTOM_IO;
    /* Demuxers that reference other files (playlists, concat lists, image sequences, mov data
     * references) open them through io_open or, for a nested demuxer like concat's, through
     * FFmpeg's protocols: both are closed, so that neither a file nor an upload can make steno
     * read another path or a URL. An empty whitelist allows no protocol; our own bytes come
     * through the custom AVIOContext, which is no protocol. */
    reader->format->io_open = refuse_nested_open;
    AVDictionary *options = NULL;
    if (ff.av_dict_set(&options, "protocol_whitelist", "", 0) < 0)
        return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", name);
    if (untrusted) {
        reader->format->probesize = ST_AUDIO_MEMORY_PROBE_SIZE;
        reader->format->max_analyze_duration = ST_AUDIO_MEMORY_ANALYZE_DURATION;
    }

    int ret = ff.avformat_open_input(&reader->format, url, NULL, &options);
    ff.av_dict_free(&options);
    if (ret < 0) {
        /* avformat_open_input freed the context on failure */
        if (reader->io_errno) return fail(name, err, STENO_ERR_IO, AVERROR(reader->io_errno), "read failed");
        return fail(name, err, STENO_ERR_AUDIO, ret, "not a readable audio or video file");
    }
    ret = ff.avformat_find_stream_info(reader->format, NULL);
    if (ret < 0) {
        if (reader->io_errno) return fail(name, err, STENO_ERR_IO, AVERROR(reader->io_errno), "read failed");
        return fail(name, err, STENO_ERR_AUDIO, ret, "could not read the stream information");
    }

    const AVCodec *decoder = NULL;
    ret = ff.av_find_best_stream(reader->format, AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0);
    if (ret == AVERROR_DECODER_NOT_FOUND) {
        int index = ff.av_find_best_stream(reader->format, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        char what[128];
        snprintf(what, sizeof what, "no decoder for its audio codec '%s'",
                 index >= 0 ? ff.avcodec_get_name(reader->format->streams[index]->codecpar->codec_id) : "?");
        return fail(name, err, STENO_ERR_AUDIO, 0, what);
    }
    if (ret < 0) {
        char streams[128], what[192];
        describe_streams(reader->format, streams, sizeof streams);
        snprintf(what, sizeof what, "no audio stream (%u stream%s%s%s)", reader->format->nb_streams,
                 reader->format->nb_streams == 1 ? "" : "s", reader->format->nb_streams ? ": " : "", streams);
        return fail(name, err, STENO_ERR_AUDIO, 0, what);
    }
    reader->stream_index = ret;
    for (unsigned i = 0; i < reader->format->nb_streams; i++)
        if ((int)i != reader->stream_index) reader->format->streams[i]->discard = AVDISCARD_ALL;

    const AVStream *stream = reader->format->streams[reader->stream_index];
    reader->codec = ff.avcodec_alloc_context3(decoder);
    if (!reader->codec) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", name);
    ret = ff.avcodec_parameters_to_context(reader->codec, stream->codecpar);
    if (ret >= 0) {
        reader->codec->pkt_timebase = stream->time_base;
        ret = ff.avcodec_open2(reader->codec, decoder, NULL);
    }
    if (ret < 0) {
        char what[128];
        snprintf(what, sizeof what, "could not open the '%s' decoder", decoder->name);
        return fail(name, err, STENO_ERR_AUDIO, ret, what);
    }

    if (reader->format->duration != AV_NOPTS_VALUE && reader->format->duration > 0)
        reader->duration = (double)reader->format->duration / AV_TIME_BASE;
    else if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0)
        reader->duration = (double)stream->duration * av_q2d(stream->time_base);
    return STENO_OK;
}

steno_status st_audio_reader_open(const char *path, int sample_rate, st_audio_reader **reader, st_error *err) {
    if (!reader) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: no reader to open into");
    *reader = NULL;
    if (!path || !*path) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: no path given");
    steno_status status = check_rate(sample_rate, path, err);
    if (status != STENO_OK) return status;

    struct stat info;
    if (stat(path, &info) != 0) {
        steno_status code = errno == ENOENT || errno == ENOTDIR ? STENO_ERR_NOT_FOUND : STENO_ERR_IO;
        return st_error_set(err, code, "audio '%s': %s", path, strerror(errno));
    }
    if (S_ISDIR(info.st_mode)) return st_error_set(err, STENO_ERR_IO, "audio '%s': is a directory, not a file", path);
    if (S_ISREG(info.st_mode) && info.st_size == 0)
        return st_error_set(err, STENO_ERR_AUDIO, "audio '%s': the file is empty (0 bytes)", path);

    st_audio_reader *opened = reader_new(path, sample_rate);
    if (!opened) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", path);
    opened->seekable = S_ISREG(info.st_mode);
    opened->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (opened->fd < 0) {
        status = st_error_set(err, errno == ENOENT ? STENO_ERR_NOT_FOUND : STENO_ERR_IO, "audio '%s': %s", path,
                              strerror(errno));
    } else if (!native_start(opened)) {
        status = reader_start(opened, path, false, err);
    }
    if (status != STENO_OK) {
        st_audio_reader_close(opened);
        return status;
    }
    *reader = opened;
    return STENO_OK;
}

steno_status st_audio_reader_open_memory(const void *data, size_t size, const char *name, int sample_rate,
                                         st_audio_reader **reader, st_error *err) {
    if (!reader) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: no reader to open into");
    *reader = NULL;
    const char *url = name && *name ? name : "";
    if (!*url) name = "<memory>";
    steno_status status = check_rate(sample_rate, name, err);
    if (status != STENO_OK) return status;
    if (!data || size == 0) return st_error_set(err, STENO_ERR_AUDIO, "audio '%s': the input is empty (0 bytes)", name);

    st_audio_reader *opened = reader_new(name, sample_rate);
    if (!opened) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", name);
    opened->memory = data;
    opened->memory_size = size;
    status = native_start(opened) ? STENO_OK : reader_start(opened, url, true, err);
    if (status != STENO_OK) {
        st_audio_reader_close(opened);
        return status;
    }
    *reader = opened;
    return STENO_OK;
}

double st_audio_reader_duration(const st_audio_reader *reader) {
    return reader ? reader->duration : -1.0;
}

/* Frees what reader_start opened. */
static void close_ffmpeg(st_audio_reader *reader) {
    ff.swr_free(&reader->resampler);
    ff.av_channel_layout_uninit(&reader->resampler_layout);
    ff.avcodec_free_context(&reader->codec);
    ff.avformat_close_input(&reader->format);
    if (reader->io) {
        /* avio may have replaced the buffer it was given */
        ff.av_freep(&reader->io->buffer);
        ff.avio_context_free(&reader->io);
    }
    ff.av_frame_free(&reader->frame);
    ff.av_packet_free(&reader->packet);
}

void st_audio_reader_close(st_audio_reader *reader) {
    if (!reader) return;
    if (reader->packet || reader->frame) /* FFmpeg's part, opened by reader_start */
        close_ffmpeg(reader);
    if (reader->fd >= 0) close(reader->fd);
    free(reader->flac_bytes);
    free(reader->flac_frame);
    free(reader->pending);
    free(reader->name);
    free(reader);
}

/* ---- decoding --------------------------------------------------------------------------- */

static void note_error(st_audio_reader *reader, int averror) {
    reader->n_errors++;
    reader->last_error = averror;
    snprintf(reader->last_log, sizeof reader->last_log, "%s", ffmpeg_last_line);
}

/* Decodes the next frame with samples into reader->frame. Returns false at the end of the
 * stream. A packet that fails to demux ends the stream there (a truncated file keeps what came
 * before); one that fails to decode is skipped, as the ffmpeg command does. */
static bool next_frame(st_audio_reader *reader) {
    while (!reader->decoder_done) {
        int ret = ff.avcodec_receive_frame(reader->codec, reader->frame);
        if (ret >= 0) {
            if (reader->frame->nb_samples > 0) return true;
            ff.av_frame_unref(reader->frame);
            continue;
        }
        if (ret == AVERROR_EOF) {
            reader->decoder_done = true;
            break;
        }
        /* An error is one damaged packet: note it and go on with the next packet, which is also
         * what EAGAIN (the decoder wants more input) asks for. */
        if (ret != AVERROR(EAGAIN)) note_error(reader, ret);
        if (reader->demuxer_done) {
            /* after the flush packet the decoder has nothing more to give */
            reader->decoder_done = true;
            break;
        }
        ret = ff.av_read_frame(reader->format, reader->packet);
        if (ret < 0) {
            if (ret != AVERROR_EOF) note_error(reader, ret);
            reader->demuxer_done = true;
            ret = ff.avcodec_send_packet(reader->codec, NULL);
            if (ret < 0 && ret != AVERROR_EOF) reader->decoder_done = true;
            continue;
        }
        if (reader->packet->stream_index == reader->stream_index) {
            ret = ff.avcodec_send_packet(reader->codec, reader->packet);
            if (ret < 0) note_error(reader, ret);
        }
        ff.av_packet_unref(reader->packet);
    }
    return false;
}

/* Makes room for n more pending samples. */
static steno_status reserve_pending(st_audio_reader *reader, size_t n, st_error *err) {
    if (reader->pending_length + n <= reader->pending_capacity) return STENO_OK;
    size_t capacity = reader->pending_length + n;
    float *grown = realloc(reader->pending, capacity * sizeof *grown);
    if (!grown) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", reader->name);
    reader->pending = grown;
    reader->pending_capacity = capacity;
    return STENO_OK;
}

/* Empties the resampler (the tail of its filter) into pending and frees it, at the end of the
 * stream or before the input's format changes. */
static steno_status drain_resampler(st_audio_reader *reader, st_error *err) {
    for (;;) {
        int room = ff.swr_get_out_samples(reader->resampler, 0);
        if (room < 0) return fail(reader->name, err, STENO_ERR_AUDIO, room, "resampling failed");
        steno_status status = reserve_pending(reader, (size_t)room + 1, err);
        if (status != STENO_OK) return status;
        uint8_t *out = (uint8_t *)(reader->pending + reader->pending_length);
        int n = ff.swr_convert(reader->resampler, &out, room + 1, NULL, 0);
        if (n < 0) return fail(reader->name, err, STENO_ERR_AUDIO, n, "resampling failed");
        if (n == 0) break;
        reader->pending_length += (size_t)n;
        reader->n_produced += (size_t)n;
    }
    ff.swr_free(&reader->resampler);
    ff.av_channel_layout_uninit(&reader->resampler_layout);
    return STENO_OK;
}

static bool resampler_matches(const st_audio_reader *reader, const AVFrame *frame) {
    return frame->format == reader->resampler_format && frame->sample_rate == reader->resampler_rate &&
           ff.av_channel_layout_compare(&frame->ch_layout, &reader->resampler_layout) == 0;
}

/* Sets up the resampler for frames like this one. */
static steno_status configure_resampler(st_audio_reader *reader, const AVFrame *frame, st_error *err) {
    char what[160];
    int channels = frame->ch_layout.nb_channels;
    if (frame->sample_rate < ST_AUDIO_MIN_SAMPLE_RATE || frame->sample_rate > ST_AUDIO_MAX_SAMPLE_RATE ||
        channels < 1 || channels > ST_AUDIO_MAX_CHANNELS || !ff.av_get_sample_fmt_name(frame->format)) {
        snprintf(what, sizeof what, "unsupported audio: %d Hz, %d channels, sample format %d (expected %d..%d Hz)",
                 frame->sample_rate, channels, frame->format, ST_AUDIO_MIN_SAMPLE_RATE, ST_AUDIO_MAX_SAMPLE_RATE);
        return fail(reader->name, err, STENO_ERR_AUDIO, 0, what);
    }
    /* Streams that do not name their channels get FFmpeg's usual layout for the count, which is
     * what the ffmpeg command assumes too. */
    AVChannelLayout input = {0};
    int ret = frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC ? (ff.av_channel_layout_default(&input, channels), 0)
                                                                : ff.av_channel_layout_copy(&input, &frame->ch_layout);
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    if (ret >= 0)
        ret = ff.swr_alloc_set_opts2(&reader->resampler, &mono, AV_SAMPLE_FMT_FLT, reader->out_rate, &input,
                                     frame->format, frame->sample_rate, 0, NULL);
    ff.av_channel_layout_uninit(&input);
    /* openai-whisper asks ffmpeg for s16 output, and with an integer output format swresample
     * scales the downmix matrix so that no output can clip: stereo becomes (L + R) / 2, not
     * (L + R) / sqrt(2) as it would be for float. Asking for the same bound here gives the same
     * signal as whisper sees, without its 16-bit rounding. */
    if (ret >= 0) ret = ff.av_opt_set_double(reader->resampler, "rematrix_maxval", 1.0, 0);
    if (ret >= 0) ret = ff.swr_init(reader->resampler);
    if (ret >= 0) ret = ff.av_channel_layout_copy(&reader->resampler_layout, &frame->ch_layout);
    if (ret < 0) {
        ff.swr_free(&reader->resampler);
        snprintf(what, sizeof what, "cannot convert %d Hz %s audio with %d channels", frame->sample_rate,
                 ff.av_get_sample_fmt_name(frame->format), channels);
        return fail(reader->name, err, STENO_ERR_AUDIO, ret, what);
    }
    reader->resampler_format = frame->format;
    reader->resampler_rate = frame->sample_rate;
    return STENO_OK;
}

/* Resamples the next slice of the pending frame into pending. */
static steno_status resample_slice(st_audio_reader *reader, st_error *err) {
    const AVFrame *frame = reader->frame;
    int n_in = frame->nb_samples - reader->frame_offset;
    if (n_in > ST_AUDIO_SLICE) n_in = ST_AUDIO_SLICE;
    int channels = frame->ch_layout.nb_channels;
    int bytes = ff.av_get_bytes_per_sample(frame->format);
    bool planar = ff.av_sample_fmt_is_planar(frame->format);
    const uint8_t *in[ST_AUDIO_MAX_CHANNELS] = {0};
    for (int c = 0; c < (planar ? channels : 1); c++)
        in[c] =
            frame->extended_data[c] + (size_t)reader->frame_offset * (size_t)bytes * (planar ? 1 : (size_t)channels);

    int room = ff.swr_get_out_samples(reader->resampler, n_in);
    if (room < 0) return fail(reader->name, err, STENO_ERR_AUDIO, room, "resampling failed");
    steno_status status = reserve_pending(reader, (size_t)room, err);
    if (status != STENO_OK) return status;
    uint8_t *out = (uint8_t *)(reader->pending + reader->pending_length);
    int n = ff.swr_convert(reader->resampler, &out, room, in, n_in);
    if (n < 0) return fail(reader->name, err, STENO_ERR_AUDIO, n, "resampling failed");
    reader->pending_length += (size_t)n;
    reader->n_produced += (size_t)n;
    reader->frame_offset += n_in;
    if (reader->frame_offset >= frame->nb_samples) {
        ff.av_frame_unref(reader->frame);
        reader->frame_pending = false;
    }
    return STENO_OK;
}

/* Refills pending (which is empty) with the next resampled samples, or marks the end. */
static steno_status refill(st_audio_reader *reader, st_error *err) {
    if (reader->input == WAV_INPUT) return wav_refill(reader, err);
    if (reader->input == FLAC_INPUT) return flac_refill(reader, err);
    reader->pending_length = 0;
    reader->pending_position = 0;
    if (!reader->frame_pending) {
        if (next_frame(reader)) {
            reader->frame_pending = true;
            reader->frame_offset = 0;
        } else {
            reader->finished = true;
            if (reader->resampler) {
                steno_status status = drain_resampler(reader, err);
                if (status != STENO_OK) return status;
            }
            if (reader->n_produced == 0 && reader->n_errors > 0) {
                snprintf(ffmpeg_last_line, sizeof ffmpeg_last_line, "%s", reader->last_log);
                char what[96];
                snprintf(what, sizeof what, "no audio could be decoded (%zu damaged packet%s)", reader->n_errors,
                         reader->n_errors == 1 ? "" : "s");
                return fail(reader->name, err, STENO_ERR_AUDIO, reader->last_error, what);
            }
            return STENO_OK;
        }
    }
    if (reader->resampler && !resampler_matches(reader, reader->frame)) return drain_resampler(reader, err);
    if (!reader->resampler) {
        steno_status status = configure_resampler(reader, reader->frame, err);
        if (status != STENO_OK) return status;
    }
    return resample_slice(reader, err);
}

steno_status st_audio_reader_read(st_audio_reader *reader, float *out, size_t max_samples, size_t *n_read,
                                  st_error *err) {
    if (n_read) *n_read = 0;
    if (!reader || !n_read || (!out && max_samples > 0))
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: read needs a reader, a buffer and n_read");
    if (reader->failure != STENO_OK)
        return st_error_set(err, reader->failure, "audio '%s': the reader failed earlier", reader->name);
    ffmpeg_last_line[0] = '\0';
    size_t total = 0;
    while (total < max_samples) {
        size_t available = reader->pending_length - reader->pending_position;
        if (available > 0) {
            size_t n = available < max_samples - total ? available : max_samples - total;
            memcpy(out + total, reader->pending + reader->pending_position, n * sizeof *out);
            reader->pending_position += n;
            total += n;
            continue;
        }
        /* the resampler's tail may still be pending after the end; it was handed out above */
        if (reader->finished) break;
        steno_status status = refill(reader, err);
        if (status != STENO_OK) {
            reader->failure = status;
            reader->finished = true;
            return status;
        }
    }
    *n_read = total;
    return STENO_OK;
}

/* ---- whole signals ---------------------------------------------------------------------- */

static steno_status read_all(st_audio_reader *reader, st_audio *out, st_error *err) {
    size_t capacity = 4 * ST_AUDIO_SLICE, length = 0;
    if (reader->duration > 0) {
        double estimate = reader->duration * reader->out_rate + ST_AUDIO_SLICE;
        if (estimate > (double)capacity)
            capacity =
                estimate < (double)ST_AUDIO_MAX_INITIAL_SAMPLES ? (size_t)estimate : ST_AUDIO_MAX_INITIAL_SAMPLES;
    }
    float *samples = malloc(capacity * sizeof *samples);
    if (!samples) return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory", reader->name);
    for (;;) {
        if (capacity - length < ST_AUDIO_SLICE) {
            float *bigger =
                capacity < SIZE_MAX / 2 / sizeof *bigger ? realloc(samples, 2 * capacity * sizeof *bigger) : NULL;
            if (!bigger) {
                free(samples);
                return st_error_set(err, STENO_ERR_NO_MEMORY, "audio '%s': out of memory after %zu samples",
                                    reader->name, length);
            }
            samples = bigger;
            capacity *= 2;
        }
        size_t n = 0;
        steno_status status = st_audio_reader_read(reader, samples + length, capacity - length, &n, err);
        if (status != STENO_OK) {
            free(samples);
            return status;
        }
        if (n == 0) break;
        length += n;
    }
    if (length == 0) {
        free(samples);
        samples = NULL;
    } else {
        float *fitted = realloc(samples, length * sizeof *fitted);
        if (fitted) samples = fitted;
    }
    out->samples = samples;
    out->n_samples = length;
    out->sample_rate = reader->out_rate;
    return STENO_OK;
}

steno_status st_audio_decode_file(const char *path, int sample_rate, st_audio *out, st_error *err) {
    if (!out) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: no output signal given");
    *out = (st_audio){0};
    st_audio_reader *reader;
    steno_status status = st_audio_reader_open(path, sample_rate, &reader, err);
    if (status != STENO_OK) return status;
    status = read_all(reader, out, err);
    st_audio_reader_close(reader);
    return status;
}

steno_status st_audio_decode_memory(const void *data, size_t size, const char *name, int sample_rate, st_audio *out,
                                    st_error *err) {
    if (!out) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "audio: no output signal given");
    *out = (st_audio){0};
    st_audio_reader *reader;
    steno_status status = st_audio_reader_open_memory(data, size, name, sample_rate, &reader, err);
    if (status != STENO_OK) return status;
    status = read_all(reader, out, err);
    st_audio_reader_close(reader);
    return status;
}

void st_audio_free(st_audio *audio) {
    if (!audio) return;
    free(audio->samples);
    *audio = (st_audio){0};
}
