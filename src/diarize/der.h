/*
 * der.h — diarization error rate, as NIST's md-eval and pyannote.metrics define it, with no
 * forgiveness collar and overlapping speech scored.
 *
 * Time is cut into pieces at every turn and region boundary; over a piece of length d inside
 * the scored regions, with R reference speakers and H hypothesis speakers active and C of the
 * reference speakers matched by their mapped hypothesis speaker:
 *
 *     total       += d R
 *     missed      += d max(0, R - H)
 *     false alarm += d max(0, H - R)
 *     confusion   += d (min(R, H) - C)
 *
 * The mapping is the one-to-one pairing of reference and hypothesis speakers that maximises
 * their total overlap (Hungarian), chosen per recording. DER = (missed + false alarm +
 * confusion) / total. A speaker's overlapping turns count once. Several recordings are
 * summed component by component before dividing (pyannote's abs(metric)).
 */
#ifndef ST_DIARIZE_DER_H
#define ST_DIARIZE_DER_H

#include "diarize/rttm.h"

typedef struct st_der {
    double total, missed, false_alarm, confusion; /* seconds */
} st_der;

/* Scores one recording. Speaker values of either side may be any non-negative ints (names are
 * not needed). regions (n_regions >= 1) limit scoring; with regions NULL the scored span runs
 * from the earliest to the latest turn of either side, as pyannote does without a UEM. Adds
 * into *der (zero it first). */
steno_status st_der_score(const st_turn *reference, int n_reference, const st_turn *hypothesis, int n_hypothesis,
                          const st_uem_region *regions, int n_regions, st_der *der, st_error *err);

/* (missed + false alarm + confusion) / total; 0 when both are zero, 1 per second of error
 * otherwise when total is 0 (INFINITY). */
double st_der_rate(const st_der *der);

/* Scores every recording of reference (or of the UEM when one is given: its uris are the
 * recordings, each limited to its regions) against hypothesis, adding into *der. on_file, when
 * not NULL, is called with each recording's own figures. */
typedef void (*st_der_file_callback)(void *user, const char *uri, const st_der *der);
steno_status st_der_score_rttm(const st_rttm *reference, const st_rttm *hypothesis, const st_uem *uem, st_der *der,
                               st_der_file_callback on_file, void *user, st_error *err);

#endif
