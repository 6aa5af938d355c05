/*
 * steno.h — the public C API of libsteno.
 *
 * What programs linking libsteno (the steno CLI and server among them) see: status codes and
 * their messages, and the version. Each later capability (transcription, diarization, the
 * model store) adds its calls here in the whisper.cpp style: an opaque context, a
 * steno_*_default_params() that fills a params struct, one call per job.
 */
#ifndef STENO_H
#define STENO_H

#ifdef __cplusplus
extern "C" {
#endif

#define STENO_VERSION_MAJOR 0
#define STENO_VERSION_MINOR 1
#define STENO_VERSION_PATCH 0

/* Every fallible call returns one of these. 0 is success. */
typedef enum steno_status {
    STENO_OK = 0,
    STENO_ERR_INVALID_ARGUMENT, /* a caller's argument is out of range or malformed */
    STENO_ERR_NO_MEMORY,        /* an allocation failed */
    STENO_ERR_IO,               /* a file could not be opened, read, mapped or written */
    STENO_ERR_NOT_FOUND,        /* a file, tensor or model that was asked for is absent */
    STENO_ERR_FORMAT,           /* bytes are not what their format requires: corrupt, truncated or hostile */
    STENO_ERR_UNSUPPORTED,      /* well-formed, but a variant steno does not handle */
    STENO_ERR_AUDIO,            /* the audio could not be decoded */
    STENO_ERR_CANCELLED,        /* a callback asked to stop */
    STENO_ERR_INTERNAL,         /* a bug in steno: please report it */
    STENO_STATUS_COUNT
} steno_status;

/* A short static description of a status code ("corrupt or unsupported file format"). */
const char *steno_strerror(steno_status status);

/* "MAJOR.MINOR.PATCH" */
const char *steno_version(void);

#ifdef __cplusplus
}
#endif
#endif /* STENO_H */
