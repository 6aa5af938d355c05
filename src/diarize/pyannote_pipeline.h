/*
 * pyannote_pipeline.h — pyannote 3.1's speaker diarization (pyannote/speaker-diarization-3.1)
 * from the checkpoints users have, read in place.
 *
 * The recipe, as pyannote.audio 3.1's SpeakerDiarization pipeline runs it:
 *   1. PyanNet (pyannote_seg.h) on 10 s chunks every 1 s (the last one zero-padded when the
 *      audio does not end on a step); each frame's most likely powerset class becomes 0/1
 *      activity per local speaker;
 *   2. the instantaneous speaker count: per chunk frame the number of active local speakers,
 *      averaged over the chunks that cover each output frame and rounded half to even; output
 *      frames follow the net's receptive field (991 samples every 270);
 *   3. one WeSpeaker embedding (wespeaker.h) per (chunk, local speaker), pooled over the frames
 *      where that speaker is active alone (over all its active frames when 2 or fewer are);
 *   4. clustering (cluster.h) of the embeddings of speakers active alone for at least 20 % of
 *      their chunk: centroid linkage on unit vectors cut at the config's threshold, clusters
 *      under min_cluster_size folded into the nearest large one, --num/min/max-speakers
 *      honoured; every embedding then goes to the nearest centroid (the mean of its cluster's
 *      embeddings) in cosine distance, and local speakers never active are dropped;
 *   5. reconstruction: per output frame, each cluster's activity summed over the chunks, and
 *      the `count` most active clusters (count capped by the maximum number of speakers) speak;
 *   6. turns: each speaker's runs of active frames, from the middle of the first frame to the
 *      middle of the frame after the run (gaps shorter than min_duration_off filled).
 * Speakers are numbered 0..K-1 in the order of their clusters; RTTM names them SPEAKER_00….
 * Unlike pyannote, all embeddings are clustered (pyannote samples 1000 at random beyond that).
 */
#ifndef ST_DIARIZE_PYANNOTE_PIPELINE_H
#define ST_DIARIZE_PYANNOTE_PIPELINE_H

#include <stddef.h>

#include "diarize/rttm.h"
#include "util/error.h"

#define ST_PYANNOTE_PIPELINE_REPO "pyannote/speaker-diarization-3.1"

/* What the pipeline's config.yaml says. */
typedef struct st_pyannote_config {
    char segmentation[1024]; /* a repository id ("pyannote/segmentation-3.0") or a path */
    char embedding[1024];
    double threshold;        /* params.clustering.threshold */
    int min_cluster_size;    /* params.clustering.min_cluster_size */
    double min_duration_off; /* params.segmentation.min_duration_off, seconds */
    int exclude_overlap;     /* pipeline.params.embedding_exclude_overlap */
} st_pyannote_config;

/* Parses config.yaml text (untrusted: any bytes are refused or read within size). The pipeline
 * must be pyannote.audio.pipelines.SpeakerDiarization with centroid clustering; name labels
 * messages. */
steno_status st_pyannote_config_parse(const char *text, size_t size, const char *name, st_pyannote_config *out,
                                      st_error *err);

typedef struct st_pyannote st_pyannote;

/* Where a pipeline's parts are, as st_pyannote_open finds them (below), without loading the
 * nets: the folder of config.yaml, what it says, and the two nets it names (a snapshot folder
 * of the cache, or a checkpoint file). */
typedef struct st_pyannote_files {
    char folder[4096];
    st_pyannote_config config;
    char segmentation[4096], embedding[4096];
} st_pyannote_files;

steno_status st_pyannote_locate(const char *path, st_pyannote_files *out, st_error *err);

/* Opens the pipeline at path: a Hugging Face cache folder (hub) holding
 * models--pyannote--speaker-diarization-3.1, that repository or one of its snapshots, or any
 * folder with a config.yaml. The nets the config names are repository ids looked up in the
 * same cache, or paths (relative to the config's folder); both are read in place. */
steno_status st_pyannote_open(const char *path, st_pyannote **out, st_error *err);
void st_pyannote_close(st_pyannote *pipeline);

const st_pyannote_config *st_pyannote_get_config(const st_pyannote *pipeline);

/* Speaker-count constraints, 0 when not given (pyannote's num_speakers, min_speakers,
 * max_speakers). */
typedef struct st_pyannote_options {
    int num_speakers, min_speakers, max_speakers;
} st_pyannote_options;

typedef struct st_pyannote_result {
    st_turn *turns; /* sorted by start, then end, then speaker */
    int n_turns;
    int n_speakers; /* speakers are 0..n_speakers-1 */
} st_pyannote_result;

/* Diarizes samples[0..n_samples) (16 kHz mono, [-1, 1]). options may be NULL. */
steno_status st_pyannote_diarize(st_pyannote *pipeline, const float *samples, size_t n_samples,
                                 const st_pyannote_options *options, st_pyannote_result *out, st_error *err);
void st_pyannote_result_free(st_pyannote_result *result);

#endif
