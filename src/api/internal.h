/*
 * internal.h — what the files of src/api share: the result behind steno_result and the message
 * of the last failed call that has no context (steno_context_error(NULL)).
 */
#ifndef ST_API_INTERNAL_H
#define ST_API_INTERNAL_H

#include "diarize/diarize.h"
#include "diarize/pyannote_pipeline.h"
#include "output/output.h"
#include "store/store.h"

struct steno_result {
    st_transcript transcript;
    st_diarization diarization; /* empty unless diarized */
    int diarized;
};

extern _Thread_local st_error st_api_error;

#endif
