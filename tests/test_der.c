/*
 * test_der.c — RTTM/UEM reading and writing, and the diarization error rate: hand-made cases
 * with answers worked out on paper, then damaged copies of the shared references scored against
 * the independent Python scorer (scripts/der_reference.py, fixture reference_der).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diarize/der.h"
#include "test_support.h"

#define SECONDS 1e-9
/* this cmocka has no assert_near */
#define assert_near(a, b, tolerance) assert_true(fabs((double)(a) - (double)(b)) <= (tolerance))

static st_der score(const st_turn *ref, int n_ref, const st_turn *hyp, int n_hyp, const st_uem_region *uem, int n_uem) {
    st_der der = {0};
    st_error err;
    assert_int_equal(st_der_score(ref, n_ref, hyp, n_hyp, uem, n_uem, &der, &err), STENO_OK);
    return der;
}

static void expect(st_der der, double total, double missed, double false_alarm, double confusion) {
    assert_near(der.total, total, SECONDS);
    assert_near(der.missed, missed, SECONDS);
    assert_near(der.false_alarm, false_alarm, SECONDS);
    assert_near(der.confusion, confusion, SECONDS);
}

/* A [0,10] B [10,20] against X [0,12] Y [12,20]: B's first 2 s go to X, which is A's. */
static void test_boundary_shift(void **state) {
    (void)state;
    st_turn ref[] = {{0, 10, 0}, {10, 20, 1}}, hyp[] = {{0, 12, 7}, {12, 20, 3}};
    st_der der = score(ref, 2, hyp, 2, NULL, 0);
    expect(der, 20, 0, 0, 2);
    assert_near(st_der_rate(&der), 0.1, 1e-12);
}

/* A [0,10] B [5,15] (overlap 5..10) against one speaker X [0,15]: 5 s of the overlap missed, and
 * whichever of A and B X stands for, the other's 5 s alone are confusion. */
static void test_overlap_scored(void **state) {
    (void)state;
    st_turn ref[] = {{0, 10, 0}, {5, 15, 1}}, hyp[] = {{0, 15, 0}};
    expect(score(ref, 2, hyp, 1, NULL, 0), 20, 5, 0, 5);
}

/* Scoring only inside the UEM: A [0,10], X [5,20], regions [0,8] and [12,30]:
 * [0,5] missed 5, [5,8] correct, [8,12] unscored, [12,20] false alarm 8. */
static void test_uem_limits_scoring(void **state) {
    (void)state;
    st_turn ref[] = {{0, 10, 0}}, hyp[] = {{5, 20, 0}};
    st_uem_region uem[] = {{NULL, 0, 8}, {NULL, 12, 30}};
    st_der der = score(ref, 1, hyp, 1, uem, 2);
    expect(der, 8, 5, 8, 0);
    assert_near(st_der_rate(&der), 13.0 / 8.0, 1e-12);
}

/* More hypothesis speakers than reference ones: A [0,10] split into X [0,4] Y [4,10]; A maps to
 * Y (6 s), X's 4 s are confusion. */
static void test_split_speaker(void **state) {
    (void)state;
    st_turn ref[] = {{0, 10, 5}}, hyp[] = {{0, 4, 1}, {4, 10, 2}};
    expect(score(ref, 1, hyp, 2, NULL, 0), 10, 0, 0, 4);
}

/* A speaker's own overlapping turns count once; an empty hypothesis misses everything. */
static void test_self_overlap_and_empty(void **state) {
    (void)state;
    st_turn ref[] = {{0, 10, 0}, {5, 8, 0}}, hyp[] = {{0, 10, 9}};
    expect(score(ref, 2, hyp, 1, NULL, 0), 10, 0, 0, 0);
    expect(score(ref, 2, NULL, 0, NULL, 0), 10, 10, 0, 0);
    expect(score(NULL, 0, hyp, 1, NULL, 0), 0, 0, 10, 0);
    st_der nothing = score(NULL, 0, NULL, 0, NULL, 0);
    assert_near(st_der_rate(&nothing), 0, 0);
}

/* Without a UEM the extent of both sides is scored: A [2,4] and X [6,8]. */
static void test_extent_without_uem(void **state) {
    (void)state;
    st_turn ref[] = {{2, 4, 0}}, hyp[] = {{6, 8, 0}};
    expect(score(ref, 1, hyp, 1, NULL, 0), 2, 2, 2, 0);
}

/* Where a greedy mapping fails: co-occurrence A-X 5, A-Y 4, B-X 4. Greedy pairs A-X (5 matched);
 * the optimum is A-Y + B-X (8 matched), so confusion is 13 - 8 = 5 (X over A in [0,5]). */
static void test_optimal_mapping(void **state) {
    (void)state;
    st_turn ref[] = {{0, 9, 0}, {9, 13, 1}}, hyp[] = {{0, 5, 0}, {5, 9, 1}, {9, 13, 0}};
    expect(score(ref, 2, hyp, 3, NULL, 0), 13, 0, 0, 5);
}

static void test_bad_turns_refused(void **state) {
    (void)state;
    st_turn backwards[] = {{5, 4, 0}}, fine[] = {{0, 1, 0}};
    st_der der = {0};
    st_error err;
    assert_int_equal(st_der_score(backwards, 1, fine, 1, NULL, 0, &der, &err), STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(st_error_message(&err), "reference turn 0"));
}

static void test_rttm_parse(void **state) {
    (void)state;
    const char text[] = ";; a comment\r\n"
                        "SPKR-INFO a 1 <NA> <NA> <NA> unknown A <NA> <NA>\n"
                        "SPEAKER a 1 0.5 1.25 <NA> <NA> A <NA> <NA>\r\n"
                        "\n"
                        "SPEAKER b 1 3 2 <NA> <NA> M\xc3\x89O069 <NA> <NA>\n"
                        "SPEAKER a 1 2.0 0.5 <NA> <NA> B\n";
    st_rttm rttm;
    st_rttm_init(&rttm);
    st_error err;
    assert_int_equal(st_rttm_parse(text, sizeof text - 1, "t.rttm", &rttm, &err), STENO_OK);
    assert_int_equal(rttm.n_files, 2);
    assert_int_equal(rttm.n_speakers, 3);
    const st_rttm_file *a = st_rttm_find(&rttm, "a");
    assert_non_null(a);
    assert_int_equal(a->n_turns, 2);
    assert_near(a->turns[0].start, 0.5, 0);
    assert_near(a->turns[0].end, 1.75, 0);
    assert_string_equal(rttm.speakers[a->turns[1].speaker], "B");
    assert_string_equal(rttm.speakers[st_rttm_find(&rttm, "b")->turns[0].speaker], "M\xc3\x89O069");
    assert_null(st_rttm_find(&rttm, "c"));

    /* written back, read again: the same turns */
    st_strbuf out;
    st_strbuf_init(&out);
    st_rttm_format("a", a->turns, a->n_turns, (const char *const *)rttm.speakers, &out);
    assert_string_equal(out.data, "SPEAKER a 1 0.500 1.250 <NA> <NA> A <NA> <NA>\n"
                                  "SPEAKER a 1 2.000 0.500 <NA> <NA> B <NA> <NA>\n");
    st_strbuf_free(&out);
    st_rttm_free(&rttm);
}

static void expect_rttm_error_n(const char *text, size_t size, const char *message) {
    st_rttm rttm;
    st_rttm_init(&rttm);
    st_error err;
    steno_status status = st_rttm_parse(text, size, "bad.rttm", &rttm, &err);
    st_rttm_free(&rttm);
    assert_int_equal(status, STENO_ERR_FORMAT);
    if (!strstr(st_error_message(&err), message)) fail_msg("'%s' lacks '%s'", st_error_message(&err), message);
}

static void expect_rttm_error(const char *text, const char *message) {
    expect_rttm_error_n(text, strlen(text), message);
}

static void test_rttm_errors(void **state) {
    (void)state;
    expect_rttm_error("SPEAKER a 1 0 1 <NA> <NA>\n", "bad.rttm:1: a SPEAKER line needs");
    expect_rttm_error("\nSPEAKER a 1 0 -1 <NA> <NA> A\n", "bad.rttm:2: duration '-1'");
    expect_rttm_error("SPEAKER a 1 nan 1 <NA> <NA> A\n", "onset 'nan'");
    expect_rttm_error("SPEAKER a 1 1.5s 1 <NA> <NA> A\n", "onset '1.5s'");
    expect_rttm_error("SPEAKER a 1 1e300 1 <NA> <NA> A\n", "onset");
    static const char with_nul[] = "SPEAKER a 1 0 1 <NA> <NA> A\nSPEAKER\0 a";
    expect_rttm_error_n(with_nul, sizeof with_nul - 1, "bad.rttm:2: NUL byte");
    char *long_number = calloc(200, 1);
    memcpy(long_number, "SPEAKER a 1 ", 12);
    memset(long_number + 12, '1', 100);
    strcat(long_number, " 1 <NA> <NA> A\n");
    expect_rttm_error(long_number, "onset is not a number");
    free(long_number);
}

static void test_uem(void **state) {
    (void)state;
    st_uem uem;
    st_uem_init(&uem);
    st_error err;
    const char good[] = "trn00 NA 0.000 30.000\ntrn01 1 2 3\n";
    assert_int_equal(st_uem_parse(good, sizeof good - 1, "u", &uem, &err), STENO_OK);
    assert_int_equal(uem.n_regions, 2);
    assert_string_equal(uem.regions[1].uri, "trn01");
    assert_near(uem.regions[1].end, 3, 0);
    const char backwards[] = "x NA 5 4\n", short_line[] = "x NA 5\n";
    assert_int_equal(st_uem_parse(backwards, sizeof backwards - 1, "u", &uem, &err), STENO_ERR_FORMAT);
    assert_non_null(strstr(st_error_message(&err), "u:1: region ends before it starts"));
    assert_int_equal(st_uem_parse(short_line, sizeof short_line - 1, "u", &uem, &err), STENO_ERR_FORMAT);
    st_uem_free(&uem);
}

/* Damaged copies of the shared references, scored here and by scripts/der_reference.py. */
static void test_against_python_reference(void **state) {
    (void)state;
    static const struct {
        const char *name, *reference, *uem;
    } sets[] = {{"ami", "diarization/ami/train.rttm", "diarization/ami/train.uem"},
                {"sample", "diarization/pyannote_sample/sample.rttm", NULL},
                {"falcon", "diarization/falcon/test.rttm", NULL}};
    int compared = 0;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        for (int seed = 1; seed <= 5; seed++) {
            char relative[256], hyp_path[4096], tsv_path[4096];
            snprintf(relative, sizeof relative, "der/%s%d.hyp.rttm", sets[s].name, seed);
            if (!st_test_path(hyp_path, sizeof hyp_path, "STENO_REFERENCE_DIR", relative)) {
                fprintf(stderr, "STENO_REFERENCE_DIR unset: run through ctest (fixture reference_der)\n");
                exit(ST_TEST_SKIP);
            }
            snprintf(relative, sizeof relative, "der/%s%d.tsv", sets[s].name, seed);
            st_test_path(tsv_path, sizeof tsv_path, "STENO_REFERENCE_DIR", relative);
            st_rttm reference, hypothesis;
            st_uem uem;
            st_rttm_init(&reference), st_rttm_init(&hypothesis), st_uem_init(&uem);
            st_error err;
            assert_int_equal(st_rttm_read(st_test_data(sets[s].reference), &reference, &err), STENO_OK);
            assert_int_equal(st_rttm_read(hyp_path, &hypothesis, &err), STENO_OK);
            if (sets[s].uem) assert_int_equal(st_uem_read(st_test_data(sets[s].uem), &uem, &err), STENO_OK);
            size_t size;
            char *tsv = st_test_read_file(tsv_path, &size);
            assert_non_null(tsv);
            for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
                char uri[64];
                st_der want, got = {0};
                assert_int_equal(sscanf(line, "%63s %lf %lf %lf %lf", uri, &want.total, &want.missed, &want.false_alarm,
                                        &want.confusion),
                                 5);
                const st_rttm_file *ref = st_rttm_find(&reference, uri), *hyp = st_rttm_find(&hypothesis, uri);
                st_uem_region regions[8];
                int n_regions = 0;
                for (int r = 0; r < uem.n_regions && n_regions < 8; r++) {
                    if (!strcmp(uem.regions[r].uri, uri)) regions[n_regions++] = uem.regions[r];
                }
                assert_int_equal(st_der_score(ref->turns, ref->n_turns, hyp ? hyp->turns : NULL, hyp ? hyp->n_turns : 0,
                                              n_regions ? regions : NULL, n_regions, &got, &err),
                                 STENO_OK);
                expect(got, want.total, want.missed, want.false_alarm, want.confusion);
                compared++;
            }
            /* the whole-set scorer agrees with the per-file sums */
            st_der all = {0};
            assert_int_equal(
                st_der_score_rttm(&reference, &hypothesis, sets[s].uem ? &uem : NULL, &all, NULL, NULL, &err),
                STENO_OK);
            assert_true(all.total > 0);
            free(tsv);
            st_rttm_free(&reference), st_rttm_free(&hypothesis), st_uem_free(&uem);
        }
    }
    assert_int_equal(compared, 5 * (10 + 1 + 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary_shift),
        cmocka_unit_test(test_overlap_scored),
        cmocka_unit_test(test_uem_limits_scoring),
        cmocka_unit_test(test_split_speaker),
        cmocka_unit_test(test_self_overlap_and_empty),
        cmocka_unit_test(test_extent_without_uem),
        cmocka_unit_test(test_optimal_mapping),
        cmocka_unit_test(test_bad_turns_refused),
        cmocka_unit_test(test_rttm_parse),
        cmocka_unit_test(test_rttm_errors),
        cmocka_unit_test(test_uem),
        cmocka_unit_test(test_against_python_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
