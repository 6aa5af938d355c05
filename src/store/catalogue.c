/*
 * catalogue.c — the table of models steno can name and download.
 *
 * Sources, read for this table (facts, not code):
 *  - openai-whisper `whisper/__init__.py` `_MODELS`: each .pt URL embeds the file's SHA-256 as
 *    its second-to-last path component (tiny.en … large-v3, large-v3-turbo); large = large-v3,
 *    turbo = large-v3-turbo. Sizes there are not published: rounded MiB figures below.
 *  - whisper.cpp `models/README.md` "Available models": ggml files on
 *    huggingface.co/ggerganov/whisper.cpp with rounded sizes and SHA-1 (not SHA-256); base.en's
 *    exact size is that of the official file in scripts/fetch-models' cache.
 *  - faster-whisper `faster_whisper/utils.py` `_MODELS` and `download_model`'s allow-list
 *    (config.json, preprocessor_config.json, model.bin, tokenizer.json, vocabulary.*): the
 *    Systran/faster-whisper-* and faster-distil-whisper-* repositories (float16 CTranslate2),
 *    turbo from mobiuslabsgmbh/faster-whisper-large-v3-turbo. Sizes are the Hub's rounded
 *    figures; SHA-256 of these LFS files is taken at download time from the Hub's
 *    X-Linked-Etag header, which is the file's SHA-256.
 *  - pyannote `speaker-diarization-3.1` config.yaml: segmentation-3.0 and
 *    wespeaker-voxceleb-resnet34-LM checkpoints, all three repositories gated.
 *  - Shapes: openai-whisper ModelDimensions per checkpoint (REFERENCE.md §1a), distil-whisper
 *    configs (decoder_layers 2).
 */
#include "store/catalogue.h"

#include <string.h>

#define MIB (1024LL * 1024LL)
#define MB (1000LL * 1000LL)

/* An openai .pt: one file whose URL path carries its SHA-256. */
#define PT(file, mib, sha)                                                                                             \
    {                                                                                                                  \
        .format = ST_FORMAT_PT, .host = ST_HOST_OPENAI, .n_files = 1, .files = {                                       \
            {.path = file, .size = (mib)*MIB, .sha256 = sha}                                                           \
        }                                                                                                              \
    }

/* A whisper.cpp ggml file in ggerganov/whisper.cpp. */
#define GGML(file, bytes, exact, sha)                                                                                  \
    {                                                                                                                  \
        .format = ST_FORMAT_GGML, .host = ST_HOST_HUGGINGFACE, .repo = "ggerganov/whisper.cpp", .n_files = 1,          \
        .files = {                                                                                                     \
            {.path = file, .size = bytes, .size_exact = exact, .sha1 = sha}                                            \
        }                                                                                                              \
    }

/* A CTranslate2 repository as faster-whisper downloads it (vocabulary.txt in the older ones). */
#define CT2(repository, bytes)                                                                                         \
    {                                                                                                                  \
        .format = ST_FORMAT_CT2, .host = ST_HOST_HUGGINGFACE, .repo = repository, .n_files = 4, .files = {             \
            {.path = "model.bin", .size = bytes},                                                                      \
            {.path = "config.json", .size = 2 * 1024},                                                                 \
            {.path = "tokenizer.json", .size = 2200 * 1024},                                                           \
            {.path = "vocabulary.txt", .size = 460 * 1024}                                                             \
        }                                                                                                              \
    }
#define CT2_V3(repository, bytes)                                                                                      \
    {                                                                                                                  \
        .format = ST_FORMAT_CT2, .host = ST_HOST_HUGGINGFACE, .repo = repository, .n_files = 5, .files = {             \
            {.path = "model.bin", .size = bytes},                                                                      \
            {.path = "config.json", .size = 2 * 1024},                                                                 \
            {.path = "preprocessor_config.json", .size = 1024},                                                        \
            {.path = "tokenizer.json", .size = 2400 * 1024},                                                           \
            {.path = "vocabulary.json", .size = 1100 * 1024}                                                           \
        }                                                                                                              \
    }

#define SHAPE(mels, state, enc, dec, vocab)                                                                            \
    { mels, state, enc, dec, vocab }

static const st_catalogue_model models[] = {
    {"tiny.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 384, 4, 4, 51864),
     "openai/whisper-tiny.en",
     3,
     {PT("tiny.en.pt", 72, "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03"),
      GGML("ggml-tiny.en.bin", 75 * MIB, 0, "c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
      CT2("Systran/faster-whisper-tiny.en", 75 * MB)},
     {NULL}},
    {"tiny",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 384, 4, 4, 51865),
     "openai/whisper-tiny",
     3,
     {PT("tiny.pt", 72, "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9"),
      GGML("ggml-tiny.bin", 75 * MIB, 0, "bd577a113a864445d4c299885e0cb97d4ba92b5f"),
      CT2("Systran/faster-whisper-tiny", 75 * MB)},
     {NULL}},
    {"base.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 512, 6, 6, 51864),
     "openai/whisper-base.en",
     3,
     {PT("base.en.pt", 139, "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead"),
      GGML("ggml-base.en.bin", 147964211, 1, "137c40403d78fd54d454da0f9bd998f78703390c"),
      CT2("Systran/faster-whisper-base.en", 145 * MB)},
     {NULL}},
    {"base",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 512, 6, 6, 51865),
     "openai/whisper-base",
     3,
     {PT("base.pt", 139, "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e"),
      GGML("ggml-base.bin", 142 * MIB, 0, "465707469ff3a37a2b9b8d8f89f2f99de7299dac"),
      CT2("Systran/faster-whisper-base", 145 * MB)},
     {NULL}},
    {"small.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 768, 12, 12, 51864),
     "openai/whisper-small.en",
     3,
     {PT("small.en.pt", 461, "f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872"),
      GGML("ggml-small.en.bin", 466 * MIB, 0, "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022"),
      CT2("Systran/faster-whisper-small.en", 484 * MB)},
     {NULL}},
    {"small",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 768, 12, 12, 51865),
     "openai/whisper-small",
     3,
     {PT("small.pt", 461, "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794"),
      GGML("ggml-small.bin", 466 * MIB, 0, "55356645c2b361a969dfd0ef2c5a50d530afd8d5"),
      CT2("Systran/faster-whisper-small", 484 * MB)},
     {NULL}},
    {"medium.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1024, 24, 24, 51864),
     "openai/whisper-medium.en",
     3,
     {PT("medium.en.pt", 1457, "d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f"),
      GGML("ggml-medium.en.bin", 1533 * MIB, 0, "8c30f0e44ce9560643ebd10bbe50cd20eafd3723"),
      CT2("Systran/faster-whisper-medium.en", 1530 * MB)},
     {NULL}},
    {"medium",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1024, 24, 24, 51865),
     "openai/whisper-medium",
     3,
     {PT("medium.pt", 1457, "345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1"),
      GGML("ggml-medium.bin", 1533 * MIB, 0, "fd9727b6e1217c2f614f9b698455c4ffd82463b4"),
      CT2("Systran/faster-whisper-medium", 1530 * MB)},
     {NULL}},
    {"large-v1",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1280, 32, 32, 51865),
     "openai/whisper-large",
     3,
     {PT("large-v1.pt", 2944, "e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a"),
      GGML("ggml-large-v1.bin", 2950 * MIB, 0, "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299"),
      CT2("Systran/faster-whisper-large-v1", 3090 * MB)},
     {NULL}},
    {"large-v2",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1280, 32, 32, 51865),
     "openai/whisper-large-v2",
     3,
     {PT("large-v2.pt", 2944, "81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524"),
      GGML("ggml-large-v2.bin", 2950 * MIB, 0, "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6"),
      CT2("Systran/faster-whisper-large-v2", 3090 * MB)},
     {NULL}},
    {"large-v3",
     "large",
     ST_FAMILY_WHISPER,
     SHAPE(128, 1280, 32, 32, 51866),
     "openai/whisper-large-v3",
     3,
     {PT("large-v3.pt", 2944, "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb"),
      GGML("ggml-large-v3.bin", 2950 * MIB, 0, "ad82bf6a9043ceed055076d0fd39f5f186ff8062"),
      CT2_V3("Systran/faster-whisper-large-v3", 3090 * MB)},
     {NULL}},
    {"turbo",
     "large-v3-turbo",
     ST_FAMILY_WHISPER,
     SHAPE(128, 1280, 32, 4, 51866),
     "openai/whisper-large-v3-turbo",
     3,
     {PT("large-v3-turbo.pt", 1543, "aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a"),
      GGML("ggml-large-v3-turbo.bin", 1549 * MIB, 0, "4af2b29d7ec73d781377bfd1758ca957a807e941"),
      CT2_V3("mobiuslabsgmbh/faster-whisper-large-v3-turbo", 1620 * MB)},
     {NULL}},
    {"distil-large-v3",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(128, 1280, 32, 2, 51866),
     "distil-whisper/distil-large-v3",
     1,
     {CT2_V3("Systran/faster-distil-whisper-large-v3", 1510 * MB)},
     {NULL}},
    {"distil-large-v2",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1280, 32, 2, 51865),
     "distil-whisper/distil-large-v2",
     1,
     {CT2("Systran/faster-distil-whisper-large-v2", 1510 * MB)},
     {NULL}},
    {"distil-medium.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 1024, 24, 2, 51864),
     "distil-whisper/distil-medium.en",
     1,
     {CT2("Systran/faster-distil-whisper-medium.en", 789 * MB)},
     {NULL}},
    {"distil-small.en",
     NULL,
     ST_FAMILY_WHISPER,
     SHAPE(80, 768, 12, 2, 51864),
     "distil-whisper/distil-small.en",
     1,
     {CT2("Systran/faster-distil-whisper-small.en", 332 * MB)},
     {NULL}},
    {"pyannote/speaker-diarization-3.1",
     NULL,
     ST_FAMILY_PYANNOTE_PIPELINE,
     SHAPE(0, 0, 0, 0, 0),
     NULL,
     1,
     {{.format = ST_FORMAT_UNKNOWN,
       .host = ST_HOST_HUGGINGFACE,
       .repo = "pyannote/speaker-diarization-3.1",
       .gated = 1,
       .n_files = 1,
       .files = {{.path = "config.yaml", .size = 1024}}}},
     {"pyannote/segmentation-3.0", "pyannote/wespeaker-voxceleb-resnet34-LM"}},
    {"pyannote/segmentation-3.0",
     NULL,
     ST_FAMILY_PYANNOTE_SEGMENTATION,
     SHAPE(0, 0, 0, 0, 0),
     NULL,
     1,
     {{.format = ST_FORMAT_PT,
       .host = ST_HOST_HUGGINGFACE,
       .repo = "pyannote/segmentation-3.0",
       .gated = 1,
       .n_files = 2,
       .files = {{.path = "pytorch_model.bin", .size = 5910 * 1000}, {.path = "config.yaml", .size = 1024}}}},
     {NULL}},
    {"pyannote/wespeaker-voxceleb-resnet34-LM",
     NULL,
     ST_FAMILY_PYANNOTE_EMBEDDING,
     SHAPE(0, 0, 0, 0, 0),
     NULL,
     1,
     {{.format = ST_FORMAT_PT,
       .host = ST_HOST_HUGGINGFACE,
       .repo = "pyannote/wespeaker-voxceleb-resnet34-LM",
       .gated = 1,
       .n_files = 2,
       .files = {{.path = "pytorch_model.bin", .size = 26600 * 1000}, {.path = "config.yaml", .size = 1024}}}},
     {NULL}},
};

const st_catalogue_model *st_catalogue_models(int *count) {
    *count = (int)(sizeof models / sizeof models[0]);
    return models;
}

const st_catalogue_model *st_catalogue_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const st_catalogue_model *m = &models[i];
        if (!strcmp(name, m->name) || (m->alias && !strcmp(name, m->alias))) return m;
        if (m->hf_repo && !strcmp(name, m->hf_repo)) return m;
        for (int d = 0; d < m->n_downloads; d++) {
            /* ggerganov/whisper.cpp holds every size: it names no single model */
            if (m->downloads[d].repo && m->downloads[d].format != ST_FORMAT_GGML && !strcmp(name, m->downloads[d].repo))
                return m;
        }
    }
    return NULL;
}

const st_catalogue_model *st_catalogue_match_shape(const st_catalogue_shape *shape, int *ambiguous) {
    const st_catalogue_model *found = NULL;
    int matches = 0;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const st_catalogue_shape *s = &models[i].shape;
        if (models[i].family != ST_FAMILY_WHISPER) continue;
        if (s->n_mels == shape->n_mels && s->n_audio_state == shape->n_audio_state &&
            s->n_audio_layer == shape->n_audio_layer && s->n_text_layer == shape->n_text_layer &&
            s->n_vocab == shape->n_vocab) {
            if (!found) found = &models[i];
            matches++;
        }
    }
    if (ambiguous) *ambiguous = matches > 1;
    return found;
}

const st_catalogue_model *st_catalogue_find_checksum(const char *sha256, const char *sha1,
                                                     const st_catalogue_download **download) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        for (int d = 0; d < models[i].n_downloads; d++) {
            const st_catalogue_file *f = &models[i].downloads[d].files[0];
            if ((sha256 && f->sha256 && !strcmp(sha256, f->sha256)) || (sha1 && f->sha1 && !strcmp(sha1, f->sha1))) {
                if (download) *download = &models[i].downloads[d];
                return &models[i];
            }
        }
    }
    return NULL;
}

const st_catalogue_download *st_catalogue_download_in(const st_catalogue_model *model, st_model_format format) {
    for (int d = 0; d < model->n_downloads; d++) {
        if (model->downloads[d].format == format) return &model->downloads[d];
    }
    return NULL;
}

int64_t st_catalogue_download_size(const st_catalogue_download *download) {
    int64_t total = 0;
    for (int i = 0; i < download->n_files; i++)
        total += download->files[i].size;
    return total;
}
