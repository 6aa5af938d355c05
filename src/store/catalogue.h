/*
 * catalogue.h — the models steno knows by name: their shapes, the Hugging Face repositories
 * that hold each format, and the files a download fetches with sizes and published checksums.
 *
 * A name resolves to a catalogue entry (`tiny`, `large` = `large-v3`, `turbo`,
 * `Systran/faster-whisper-small`, `pyannote/speaker-diarization-3.1`); the store then looks for
 * any copy of it on disk before anything is downloaded.
 */
#ifndef ST_STORE_CATALOGUE_H
#define ST_STORE_CATALOGUE_H

#include <stdint.h>

#include "models/loader.h"

typedef enum st_model_family {
    ST_FAMILY_WHISPER,
    ST_FAMILY_PYANNOTE_PIPELINE,     /* config.yaml naming the nets below */
    ST_FAMILY_PYANNOTE_SEGMENTATION, /* PyanNet (SincNet + LSTM) */
    ST_FAMILY_PYANNOTE_EMBEDDING,    /* WeSpeaker ResNet34 */
} st_model_family;

/* Where a download comes from: a file in a Hugging Face repository, or openai's own URL. */
typedef enum st_catalogue_host { ST_HOST_HUGGINGFACE, ST_HOST_OPENAI } st_catalogue_host;

#define ST_CATALOGUE_MAX_FILES 9

/* One file of a download. Sizes are bytes; `size_exact` is 0 where the source gives only a
 * rounded figure (the transfer then trusts the server's Content-Length). */
typedef struct st_catalogue_file {
    const char *path; /* inside the repository, or the file name of an openai URL */
    int64_t size;
    int size_exact;
    const char *sha256; /* lowercase hex, NULL when nobody publishes it */
    const char *sha1;   /* whisper.cpp publishes SHA-1 only */
} st_catalogue_file;

/* One downloadable form of a model: a format in one repository. files[0] holds the weights. */
typedef struct st_catalogue_download {
    st_model_format format;
    st_catalogue_host host;
    const char *repo; /* "Systran/faster-whisper-base"; NULL for openai */
    int gated;        /* the repository needs an accepted licence and HF_TOKEN */
    int n_files;
    st_catalogue_file files[ST_CATALOGUE_MAX_FILES];
} st_catalogue_download;

/* Whisper shape keys, the same fields openai-whisper's ModelDimensions holds. */
typedef struct st_catalogue_shape {
    int n_mels, n_audio_state, n_audio_layer, n_text_layer, n_vocab;
} st_catalogue_shape;

#define ST_CATALOGUE_MAX_DOWNLOADS 4
#define ST_CATALOGUE_MAX_NEEDS 2

typedef struct st_catalogue_model {
    const char *name;
    const char *alias; /* a second name users type (large → large-v3), or NULL */
    st_model_family family;
    st_catalogue_shape shape; /* zero for the pyannote nets */
    const char *hf_repo;      /* the transformers (safetensors) repository, or NULL */
    int n_downloads;
    st_catalogue_download downloads[ST_CATALOGUE_MAX_DOWNLOADS];
    const char *needs[ST_CATALOGUE_MAX_NEEDS]; /* other models this one cannot run without */
} st_catalogue_model;

/* Every model, in the order `steno models list` shows them. */
const st_catalogue_model *st_catalogue_models(int *count);

/* The model a name means: its name, alias, or the repository id of one of its downloads
 * (Systran/faster-whisper-small, openai/whisper-small). NULL when unknown. Names are matched
 * exactly, the way openai-whisper and faster-whisper match them. */
const st_catalogue_model *st_catalogue_find(const char *name);

/* The model whose shape this is; `ambiguous` is set when the shape alone cannot tell two
 * models apart (large-v1 and large-v2 share every dimension). NULL when none matches. */
const st_catalogue_model *st_catalogue_match_shape(const st_catalogue_shape *shape, int *ambiguous);

/* The model a downloaded file belongs to, found by its checksum (either algorithm). */
const st_catalogue_model *st_catalogue_find_checksum(const char *sha256, const char *sha1,
                                                     const st_catalogue_download **download);

/* The download of `model` in `format`, or NULL when the model is not published in it. */
const st_catalogue_download *st_catalogue_download_in(const st_catalogue_model *model, st_model_format format);

/* The total bytes of a download. */
int64_t st_catalogue_download_size(const st_catalogue_download *download);

#endif
