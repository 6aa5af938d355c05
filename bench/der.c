/*
 * der.c — `der [--uem FILE] REFERENCE.rttm HYPOTHESIS.rttm...`: diarization error rate of one or
 * more hypothesis RTTM files (for example one per audio file from `steno diarize`) against a
 * reference, scored as src/diarize/der.h describes (no collar, overlap scored, optimal mapping).
 *
 * Prints one line per recording and an overall line (components summed over recordings):
 *     uri  total  missed  false_alarm  confusion  DER%
 * with seconds and, in parentheses, each component as a percentage of the scored speech.
 */
#include <stdio.h>
#include <string.h>

#include "diarize/der.h"

static void print_line(const char *uri, const st_der *der) {
    double total = der->total > 0 ? der->total : 1;
    printf("%-12s %8.3f %8.3f (%5.2f%%) %8.3f (%5.2f%%) %8.3f (%5.2f%%) %6.2f%%\n", uri, der->total, der->missed,
           100 * der->missed / total, der->false_alarm, 100 * der->false_alarm / total, der->confusion,
           100 * der->confusion / total, 100 * st_der_rate(der));
}

static void on_file(void *user, const char *uri, const st_der *der) {
    (void)user;
    print_line(uri, der);
}

int main(int argc, char **argv) {
    const char *uem_path = NULL;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--uem")) uem_path = argv[2], first = 3;
    if (argc - first < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: der [--uem FILE] REFERENCE.rttm HYPOTHESIS.rttm...\n");
        return 2;
    }
    st_error err;
    st_rttm reference, hypothesis;
    st_uem uem;
    st_rttm_init(&reference), st_rttm_init(&hypothesis), st_uem_init(&uem);
    steno_status status = st_rttm_read(argv[first], &reference, &err);
    for (int i = first + 1; status == STENO_OK && i < argc; i++)
        status = st_rttm_read(argv[i], &hypothesis, &err);
    if (status == STENO_OK && uem_path) status = st_uem_read(uem_path, &uem, &err);
    st_der total = {0};
    if (status == STENO_OK) {
        printf("%-12s %8s %18s %18s %18s %7s\n", "uri", "total", "missed", "false alarm", "confusion", "DER");
        status = st_der_score_rttm(&reference, &hypothesis, uem_path ? &uem : NULL, &total, on_file, NULL, &err);
    }
    if (status == STENO_OK) print_line("OVERALL", &total);
    if (status != STENO_OK) fprintf(stderr, "der: %s\n", st_error_message(&err));
    st_rttm_free(&reference), st_rttm_free(&hypothesis), st_uem_free(&uem);
    return status == STENO_OK ? 0 : 1;
}
