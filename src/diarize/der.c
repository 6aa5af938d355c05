/*
 * der.c — diarization error rate by one sweep over the sorted turn and region boundaries.
 *
 * The confusion needs the speaker mapping, and the mapping needs the overlaps, but one pass is
 * enough: over the whole recording, the matched speakers C summed piece by piece equal the
 * summed overlaps of the mapped pairs, so confusion = sum d min(R, H) - sum of mapped overlaps.
 */
#include "diarize/der.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diarize/cluster.h"

typedef struct event {
    double time;
    int side; /* 0 reference, 1 hypothesis, 2 scored region */
    int speaker;
    int delta;
} event;

static int compare_events(const void *a, const void *b) {
    const event *x = a, *y = b;
    return x->time < y->time ? -1 : x->time > y->time;
}

/* Compact indexes for the speaker ids of one side; returns the count or -1 on no memory. */
static int index_speakers(const st_turn *turns, int n, int *local) {
    int *ids = malloc(sizeof(int) * (n ? n : 1));
    if (!ids) return -1;
    int count = 0;
    for (int i = 0; i < n; i++) {
        int s = 0;
        while (s < count && ids[s] != turns[i].speaker)
            s++;
        if (s == count) ids[count++] = turns[i].speaker;
        local[i] = s;
    }
    free(ids);
    return count;
}

steno_status st_der_score(const st_turn *reference, int n_reference, const st_turn *hypothesis, int n_hypothesis,
                          const st_uem_region *regions, int n_regions, st_der *der, st_error *err) {
    if (n_reference < 0 || n_hypothesis < 0 || (n_reference && !reference) || (n_hypothesis && !hypothesis) ||
        (regions && n_regions < 1) || !der) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "DER needs turn lists");
    }
    const st_turn *sides[2] = {reference, hypothesis};
    int counts[2] = {n_reference, n_hypothesis};
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < counts[side]; i++) {
            const st_turn *t = &sides[side][i];
            if (!isfinite(t->start) || !isfinite(t->end) || t->end < t->start || t->speaker < 0) {
                return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "%s turn %d (%g..%g) is not a time span",
                                    side ? "hypothesis" : "reference", i, t->start, t->end);
            }
        }
    }
    st_uem_region extent = {.start = INFINITY, .end = -INFINITY};
    if (!regions) {
        for (int side = 0; side < 2; side++) {
            for (int i = 0; i < counts[side]; i++) {
                extent.start = fmin(extent.start, sides[side][i].start);
                extent.end = fmax(extent.end, sides[side][i].end);
            }
        }
        if (extent.start > extent.end) return STENO_OK; /* nothing on either side */
        regions = &extent, n_regions = 1;
    }
    size_t n_events = 2 * ((size_t)n_reference + n_hypothesis + n_regions);
    event *events = malloc(sizeof(event) * n_events);
    int *local = malloc(sizeof(int) * (size_t)(n_reference + n_hypothesis + 1));
    int n_speakers[2] = {0, 0};
    int *active[2] = {NULL, NULL};
    double *overlap = NULL;
    int *mapping = NULL;
    steno_status status = STENO_OK;
    if (!events || !local) goto no_memory;
    n_speakers[0] = index_speakers(reference, n_reference, local);
    n_speakers[1] = index_speakers(hypothesis, n_hypothesis, local + n_reference);
    if (n_speakers[0] < 0 || n_speakers[1] < 0) goto no_memory;
    active[0] = calloc(n_speakers[0] + 1, sizeof(int));
    active[1] = calloc(n_speakers[1] + 1, sizeof(int));
    overlap = calloc((size_t)(n_speakers[0] + 1) * (n_speakers[1] + 1), sizeof(double));
    mapping = malloc(sizeof(int) * (n_speakers[0] + 1));
    if (!active[0] || !active[1] || !overlap || !mapping) goto no_memory;

    size_t e = 0;
    for (int side = 0; side < 2; side++) {
        for (int i = 0; i < counts[side]; i++) {
            int speaker = local[side ? n_reference + i : i];
            events[e++] = (event){sides[side][i].start, side, speaker, +1};
            events[e++] = (event){sides[side][i].end, side, speaker, -1};
        }
    }
    for (int i = 0; i < n_regions; i++) {
        events[e++] = (event){regions[i].start, 2, 0, +1};
        events[e++] = (event){regions[i].end, 2, 0, -1};
    }
    qsort(events, n_events, sizeof(event), compare_events);

    int depth = 0, present[2] = {0, 0};
    double sum_min = 0;
    for (size_t i = 0; i < n_events;) {
        double now = events[i].time;
        for (; i < n_events && events[i].time == now; i++) {
            const event *ev = &events[i];
            if (ev->side == 2) {
                depth += ev->delta;
                continue;
            }
            int *a = &active[ev->side][ev->speaker];
            if (ev->delta > 0 && (*a)++ == 0) present[ev->side]++;
            if (ev->delta < 0 && --(*a) == 0) present[ev->side]--;
        }
        if (i == n_events || depth <= 0) continue;
        double d = events[i].time - now;
        int r = present[0], h = present[1];
        der->total += d * r;
        der->missed += d * (r > h ? r - h : 0);
        der->false_alarm += d * (h > r ? h - r : 0);
        sum_min += d * (r < h ? r : h);
        for (int a = 0; a < n_speakers[0] && r && h; a++) {
            if (!active[0][a]) continue;
            for (int b = 0; b < n_speakers[1]; b++) {
                if (active[1][b]) overlap[(size_t)a * n_speakers[1] + b] += d;
            }
        }
    }
    /* the mapping that maximises matched time */
    double matched = 0;
    if (n_speakers[0] && n_speakers[1]) {
        size_t cells = (size_t)n_speakers[0] * n_speakers[1];
        for (size_t c = 0; c < cells; c++)
            overlap[c] = -overlap[c];
        status = st_assignment_solve(overlap, n_speakers[0], n_speakers[1], mapping, err);
        for (int a = 0; status == STENO_OK && a < n_speakers[0]; a++) {
            if (mapping[a] >= 0) matched -= overlap[(size_t)a * n_speakers[1] + mapping[a]];
        }
    }
    /* rounding can leave a hair of negative confusion when everything matches */
    der->confusion += sum_min - matched > 0 ? sum_min - matched : 0;
    goto done;
no_memory:
    status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory scoring %d + %d turns", n_reference, n_hypothesis);
done:
    free(events), free(local), free(active[0]), free(active[1]), free(overlap), free(mapping);
    return status;
}

double st_der_rate(const st_der *der) {
    double errors = der->missed + der->false_alarm + der->confusion;
    if (der->total > 0) return errors / der->total;
    return errors > 0 ? INFINITY : 0.0;
}

static int has_uri(const char *const *uris, int n, const char *uri) {
    for (int i = 0; i < n; i++) {
        if (!strcmp(uris[i], uri)) return 1;
    }
    return 0;
}

steno_status st_der_score_rttm(const st_rttm *reference, const st_rttm *hypothesis, const st_uem *uem, st_der *der,
                               st_der_file_callback on_file, void *user, st_error *err) {
    /* the recordings: the UEM's when given, else the reference's */
    int n_uris = uem ? uem->n_regions : reference->n_files;
    const char **uris = malloc(sizeof(char *) * (n_uris ? n_uris : 1));
    st_uem_region *regions = malloc(sizeof(st_uem_region) * (uem && uem->n_regions ? uem->n_regions : 1));
    if (!uris || !regions) {
        free(uris), free(regions);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory scoring");
    }
    int n = 0;
    for (int i = 0; i < n_uris; i++) {
        const char *uri = uem ? uem->regions[i].uri : reference->files[i].uri;
        if (!has_uri(uris, n, uri)) uris[n++] = uri;
    }
    steno_status status = STENO_OK;
    for (int i = 0; i < n && status == STENO_OK; i++) {
        int n_regions = 0;
        for (int r = 0; uem && r < uem->n_regions; r++) {
            if (!strcmp(uem->regions[r].uri, uris[i])) regions[n_regions++] = uem->regions[r];
        }
        const st_rttm_file *ref = st_rttm_find(reference, uris[i]), *hyp = st_rttm_find(hypothesis, uris[i]);
        st_der one = {0};
        status = st_der_score(ref ? ref->turns : NULL, ref ? ref->n_turns : 0, hyp ? hyp->turns : NULL,
                              hyp ? hyp->n_turns : 0, uem ? regions : NULL, n_regions, &one, err);
        if (status != STENO_OK) break;
        der->total += one.total, der->missed += one.missed;
        der->false_alarm += one.false_alarm, der->confusion += one.confusion;
        if (on_file) on_file(user, uris[i], &one);
    }
    free(uris), free(regions);
    return status;
}
