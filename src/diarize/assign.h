/*
 * assign.h — speakers on a transcript: every word gets the speaker whose turns overlap it most
 * (the nearest turn when none does), and a segment whose words change speaker is split there,
 * so that each segment has one speaker (st_segment.speaker) for the writers to show.
 */
#ifndef ST_DIARIZE_ASSIGN_H
#define ST_DIARIZE_ASSIGN_H

#include "diarize/rttm.h"
#include "output/transcript.h"

/* The speaker for the span [start, end]: the one with the most time in turns overlapping it;
 * with no overlap (or a span of no length) the speaker of the nearest turn, the earlier one on a
 * tie; -1 when there are no turns. Speakers are 0..n_speakers-1. */
int st_diarize_speaker_at(const st_turn *turns, int n_turns, int n_speakers, double start, double end);

/*
 * Assigns speakers to the transcript's words and segments and splits segments at speaker
 * changes. Needs word timestamps (transcript->has_words); a segment without words takes the
 * speaker of its own span. A split piece keeps its parent's statistics (temperature,
 * avg_logprob, ...) and seek, takes its words' text, starts at its first word (the first piece
 * at the parent's start) and ends at its last word (the last piece at the parent's end); its
 * tokens are its words' tokens, the parent's leading timestamp token going to the first piece
 * and whatever follows the last word to the last. Segments are renumbered. keep_words false
 * drops the words afterwards (has_words becomes false), for callers that only wanted them to
 * place speakers.
 */
steno_status st_diarize_assign(st_transcript *transcript, const st_turn *turns, int n_turns, int n_speakers,
                               bool keep_words, st_error *err);

#endif
