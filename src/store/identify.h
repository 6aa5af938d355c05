/*
 * identify.h — what a file or folder holds, judged by its bytes and never by its name.
 *
 * `steno models check PATH` and the store's listing use this to say "a CTranslate2 float16
 * Whisper base (6 encoder layers, 512 wide, 80 mels)" about a `model.bin` someone found under
 * HF_HOME. The formats' own readers do the reading: a Whisper file is opened with
 * st_model_open (which maps the file and points at its tensors, so it costs no more than the
 * headers on multi-gigabyte files), and its dimensions and precision are read off the result;
 * a file the reader refuses is still named from what its format's entry points can tell
 * (a ggml magic, a CTranslate2 specification name, a torch checkpoint's pickled `dims`), with
 * the reader's reason. pyannote checkpoints are opened with st_torch_open and named from their
 * pickled object tree: the class pyannote.audio saved under "architecture" and the shapes of
 * the state dict.
 *
 * safetensors files are described from their JSON header here only until the Hugging Face
 * reader is merged; once st_model_detect recognises those folders the generic path takes over.
 */
#ifndef ST_STORE_IDENTIFY_H
#define ST_STORE_IDENTIFY_H

#include <stdint.h>

#include "store/catalogue.h"
#include "store/digest.h"

#define ST_IDENTITY_TEXT 256

typedef struct st_identity {
    st_model_format format;          /* ST_FORMAT_UNKNOWN when nothing recognisable is there */
    int is_model;                    /* a Whisper or pyannote model was recognised */
    st_model_family family;          /* meaningful when is_model */
    char architecture[64];           /* "Whisper", "PyanNet", "WeSpeakerResNet34", "SpeakerDiarization pipeline" */
    st_catalogue_shape shape;        /* Whisper dimensions, zero when unknown */
    const st_catalogue_model *model; /* which model the shape (or checksum) says it is, or NULL */
    int ambiguous;                   /* the shape fits more than one model (large-v1/large-v2) */
    char precision[32];              /* "float16", "int8_float16", "q5_0"…; empty when unknown */
    int64_t size;                    /* bytes: the file, or the folder's files together */
    char weights[4096];              /* the file holding the weights (the path itself for a file) */
    char open_path[4096];            /* what st_model_open should be given (file or folder) */
    char how[ST_IDENTITY_TEXT];      /* how it was recognised, for people */
    int usable;                      /* st_model_open accepted it */
    char unusable[ST_IDENTITY_TEXT]; /* why not, when !usable */
    char warning[ST_IDENTITY_TEXT];  /* a danger for other programs (a pickle naming posix.system) */
    /* checksum state, filled by st_identify_verify */
    int verified; /* 1 matches a published checksum, -1 differs, 0 not checked / none known */
    char checksum_note[ST_IDENTITY_TEXT];
    st_digest_hex digest;
} st_identity;

/* Identifies path. STENO_OK whenever path could be read, even when the content is not a
 * model (format ST_FORMAT_UNKNOWN and `how` says what was seen); an error only when path is
 * missing or unreadable. */
steno_status st_identify(const char *path, st_identity *out, st_error *err);

/* Identifies one file's bytes (ggml, CTranslate2 model.bin, torch archive, safetensors, GGUF)
 * with the readers' in-memory entry points; nothing beside the file is read, and `usable`
 * means the reader accepted the bytes alone. name labels the file in messages. STENO_OK for
 * any bytes: what they are not is said in `how`. The fuzz target's entry point. */
steno_status st_identify_memory(const uint8_t *data, size_t size, const char *name, st_identity *out, st_error *err);

/* Hashes the weights file and compares it with the catalogue's published checksum and, in a
 * Hugging Face cache, with the blob's name (the file's SHA-256 for LFS files). */
steno_status st_identify_verify(st_identity *identity, st_error *err);

/* The Hugging Face cache snapshot a `models--org--name` folder's refs/main points at, written
 * to out; 0 when path is not such a folder, the snapshot is missing, or refs/main is not a
 * commit or plain name resolving inside the repository's snapshots/ (st_hf_cache_snapshot). */
int st_identify_hf_snapshot(const char *repo_folder, char *out, size_t size);

#endif
