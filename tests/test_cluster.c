/*
 * test_cluster.c — agglomerative clustering of embeddings (pyannote's rules), centroids,
 * constrained assignment and the Hungarian solver, on synthetic data with known answers.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diarize/cluster.h"

#define DIM 16

/* Deterministic normal deviates (xorshift + Box-Muller) so the data is the same everywhere. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) {
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* n_per points around each of k random directions, noise sigma; truth[i] = the direction. */
static float *blobs(int k, int n_per, double sigma, int *truth) {
    float *centers = malloc(sizeof(float) * k * DIM), *x = malloc(sizeof(float) * k * n_per * DIM);
    for (int i = 0; i < k * DIM; i++)
        centers[i] = (float)normal();
    for (int i = 0; i < k * n_per; i++) {
        int c = i % k; /* interleaved, so label order is not the input order */
        truth[i] = c;
        for (int d = 0; d < DIM; d++)
            x[i * DIM + d] = centers[c * DIM + d] + (float)(sigma * normal());
    }
    free(centers);
    return x;
}

/* Same partition up to renaming. */
static void assert_same_partition(const int *a, const int *b, int n) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            assert_int_equal(a[i] == a[j], b[i] == b[j]);
    }
}

static void test_separated_blobs(void **state) {
    (void)state;
    int truth[60], labels[60], k = 0;
    float *x = blobs(3, 20, 0.15, truth);
    st_cluster_options options = st_cluster_default_options();
    st_error err;
    assert_int_equal(st_cluster_agglomerative(x, 60, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 3);
    assert_same_partition(labels, truth, 60);
    assert_int_equal(labels[0], 0); /* numbered by first appearance */
    assert_int_equal(labels[1], 1);
    assert_int_equal(labels[2], 2);
    free(x);
}

/* Tight blobs: every merge inside a blob is far closer than the threshold, so pyannote's search
 * for a forced count (merges tried in order of their distance's nearness to the threshold) meets
 * the merges between blobs first. (With loose blobs it can stop on a cut through the blobs' own
 * merges that happens to leave the right number of large fragments: pyannote does the same.) */
static void test_speaker_counts(void **state) {
    (void)state;
    int truth[80], labels[80], k = 0;
    float *x = blobs(4, 20, 0.01, truth);
    st_error err;
    st_cluster_options options = st_cluster_default_options();
    options.num_clusters = 2;
    assert_int_equal(st_cluster_agglomerative(x, 80, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    /* whole blobs stay together when forced to fewer clusters */
    for (int i = 0; i < 80; i++)
        assert_int_equal(labels[i], labels[truth[i]]);
    options = st_cluster_default_options();
    options.max_clusters = 3;
    assert_int_equal(st_cluster_agglomerative(x, 80, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 3);
    options = st_cluster_default_options();
    options.min_clusters = 2, options.max_clusters = 6; /* 4 is inside the bounds: kept */
    assert_int_equal(st_cluster_agglomerative(x, 80, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 4);
    assert_same_partition(labels, truth, 80);
    /* a threshold so high everything merges, but at least 4 asked for */
    options = st_cluster_default_options();
    options.threshold = 2.0, options.min_clusters = 4;
    assert_int_equal(st_cluster_agglomerative(x, 80, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 4);
    assert_same_partition(labels, truth, 80);
    options.min_clusters = 5, options.max_clusters = 3;
    assert_int_equal(st_cluster_agglomerative(x, 80, DIM, NULL, &options, labels, &k, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    free(x);
}

/* Two big speakers and two stray points (each a cluster of one below the threshold): the strays
 * are folded into the big cluster whose centroid is nearest. */
static void test_small_clusters_folded(void **state) {
    (void)state;
    int truth[42], labels[42], k = 0;
    float *x = blobs(2, 20, 0.1, truth);
    x = realloc(x, sizeof(float) * 42 * DIM);
    for (int d = 0; d < DIM; d++) {
        /* stray 40 leans towards blob 0's first point, stray 41 towards blob 1's */
        x[40 * DIM + d] = x[0 * DIM + d] + (d == 0 ? 3.0f : 0.0f);
        x[41 * DIM + d] = x[1 * DIM + d] + (d == 1 ? 3.0f : 0.0f);
    }
    st_cluster_options options = st_cluster_default_options();
    options.threshold = 0.3; /* the strays are farther than this from everything */
    st_error err;
    assert_int_equal(st_cluster_agglomerative(x, 42, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    assert_int_equal(labels[40], labels[0]);
    assert_int_equal(labels[41], labels[1]);
    /* with min cluster size 1 they stay on their own */
    options.min_cluster_size = 1;
    assert_int_equal(st_cluster_agglomerative(x, 42, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 4);
    free(x);
}

/* Unit vectors at 0, 10 and 90 degrees. The first two are 2 sin 5deg = 0.1743 apart; their
 * centroid ((1 + cos 10deg)/2, sin 10deg / 2) = (0.99240, 0.08682) is 1.3486 from (0, 1). */
static void test_centroid_linkage_by_hand(void **state) {
    (void)state;
    const double r = 3.141592653589793 / 180;
    float x[3 * 2] = {1, 0, (float)cos(10 * r), (float)sin(10 * r), 0, 5 /* length does not matter */};
    int labels[3], k;
    st_error err;
    st_cluster_options options = {.threshold = 0.17, .min_cluster_size = 1};
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 3);
    options.threshold = 0.18;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    assert_int_equal(labels[0], labels[1]);
    options.threshold = 1.348;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    options.threshold = 1.349;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 1);
    /* weights move the centroid: 0deg weighing 9 and 10deg 1 give (0.99848, 0.01736), 1.3894 from
     * (0, 1): merged at 1.389 no more */
    float w[3] = {9, 1, 1};
    options.threshold = 1.389;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, w, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    float centroids[2 * 2];
    assert_int_equal(st_cluster_centroids(x, 3, 2, w, labels, 2, centroids, &err), STENO_OK);
    assert_true(fabs(centroids[labels[0] * 2 + 0] - (9 + cos(10 * r)) / 10) < 1e-6);
    assert_true(fabs(centroids[labels[2] * 2 + 1] - 1) < 1e-6);
}

/* The same three directions with cosine linkage: 1 - cos 10deg = 0.01519, then the pair's
 * centroid points at 5deg, 1 - cos 85deg = 0.91284 from the third. */
static void test_cosine_linkage_by_hand(void **state) {
    (void)state;
    const double r = 3.141592653589793 / 180;
    float x[3 * 2] = {1, 0, (float)cos(10 * r), (float)sin(10 * r), 0, 1};
    int labels[3], k;
    st_error err;
    st_cluster_options options = {.linkage = ST_CLUSTER_CENTROID_COSINE, .threshold = 0.0151, .min_cluster_size = 1};
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 3);
    options.threshold = 0.0153;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    options.threshold = 0.9128;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    options.threshold = 0.9129;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 1);
}

static void test_degenerate_inputs(void **state) {
    (void)state;
    float one[DIM] = {1}, zero[2 * DIM] = {1};
    int labels[2], k = 0;
    st_error err;
    st_cluster_options options = st_cluster_default_options();
    assert_int_equal(st_cluster_agglomerative(one, 1, DIM, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 1);
    assert_int_equal(labels[0], 0);
    assert_int_equal(st_cluster_agglomerative(zero, 2, DIM, NULL, &options, labels, &k, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(st_error_message(&err), "embedding 1 has zero length"));
    float nan_row[2 * DIM] = {1, [DIM] = NAN};
    assert_int_equal(st_cluster_agglomerative(nan_row, 2, DIM, NULL, &options, labels, &k, &err),
                     STENO_ERR_INVALID_ARGUMENT);
    float w[2] = {1, 0};
    float fine[2 * DIM] = {1, [DIM + 1] = 1};
    assert_int_equal(st_cluster_agglomerative(fine, 2, DIM, w, &options, labels, &k, &err), STENO_ERR_INVALID_ARGUMENT);
}

/* Numbering: {0} alone and {1, 2} close together. By first appearance {0} is cluster 0; scipy's
 * fcluster, whose order pyannote keeps, walks into the merged pair {1, 2} before the root's
 * leaf 0, so {1, 2} is cluster 0 there. */
static void test_pyannote_numbering(void **state) {
    (void)state;
    float x[3 * 2] = {1, 0, 0, 1, 0.1f, 1};
    int labels[3], k = 0;
    st_error err;
    st_cluster_options options = st_cluster_default_options();
    options.threshold = 0.5, options.min_cluster_size = 1;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 1), assert_int_equal(labels[2], 1);
    options.pyannote_numbering = 1;
    assert_int_equal(st_cluster_agglomerative(x, 3, 2, NULL, &options, labels, &k, &err), STENO_OK);
    assert_int_equal(k, 2);
    assert_int_equal(labels[0], 1), assert_int_equal(labels[1], 0), assert_int_equal(labels[2], 0);
}

/* Two embeddings of one group both nearest to centroid 0: the pair goes where the summed
 * similarity is largest (a to 0, b to 1), the ungrouped c stays on its nearest. */
static void test_constrained_assignment(void **state) {
    (void)state;
    float centroids[2 * 2] = {1, 0, 0, 1};
    float x[3 * 2] = {1, 0.1f, 1, 0.9f, 1, 0.5f};
    int groups[3] = {7, 7, -1}, labels[3];
    st_error err;
    assert_int_equal(st_cluster_assign(x, 3, 2, NULL, centroids, 2, labels, &err), STENO_OK);
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 0), assert_int_equal(labels[2], 0);
    assert_int_equal(st_cluster_assign(x, 3, 2, groups, centroids, 2, labels, &err), STENO_OK);
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 1), assert_int_equal(labels[2], 0);
    /* a group of three with two centroids: the weakest member is dropped (-1) */
    int trio[3] = {1, 1, 1};
    assert_int_equal(st_cluster_assign(x, 3, 2, trio, centroids, 2, labels, &err), STENO_OK);
    assert_int_equal(labels[0], 0), assert_int_equal(labels[1], 1), assert_int_equal(labels[2], -1);
}

static void test_hungarian(void **state) {
    (void)state;
    /* the classic 3x3: optimum 5 (rows to columns 1, 0, 2: 1 + 2 + 2) */
    double cost[9] = {4, 1, 3, 2, 0, 5, 3, 2, 2};
    int map[4];
    st_error err;
    assert_int_equal(st_assignment_solve(cost, 3, 3, map, &err), STENO_OK);
    assert_int_equal(map[0], 1), assert_int_equal(map[1], 0), assert_int_equal(map[2], 2);
    /* 2 rows, 3 columns and 3 rows, 2 columns (its transpose) */
    double wide[6] = {5, 1, 4, 1, 6, 9};
    assert_int_equal(st_assignment_solve(wide, 2, 3, map, &err), STENO_OK);
    assert_int_equal(map[0], 1), assert_int_equal(map[1], 0);
    double tall[6] = {5, 1, 1, 6, 4, 9};
    assert_int_equal(st_assignment_solve(tall, 3, 2, map, &err), STENO_OK);
    assert_int_equal(map[0], 1), assert_int_equal(map[1], 0), assert_int_equal(map[2], -1);
    /* exhaustive check on random 4x4 problems */
    for (int trial = 0; trial < 50; trial++) {
        double c[16];
        for (int i = 0; i < 16; i++)
            c[i] = floor(uniform() * 20) - 10;
        assert_int_equal(st_assignment_solve(c, 4, 4, map, &err), STENO_OK);
        double got = 0, best = INFINITY;
        for (int r = 0; r < 4; r++)
            got += c[r * 4 + map[r]];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                for (int d = 0; d < 4; d++)
                    for (int e = 0; e < 4; e++) {
                        if (a == b || a == d || a == e || b == d || b == e || d == e) continue;
                        double s = c[a] + c[4 + b] + c[8 + d] + c[12 + e];
                        if (s < best) best = s;
                    }
        assert_true(fabs(got - best) < 1e-9);
    }
    double bad[1] = {NAN};
    assert_int_equal(st_assignment_solve(bad, 1, 1, map, &err), STENO_ERR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separated_blobs),        cmocka_unit_test(test_speaker_counts),
        cmocka_unit_test(test_small_clusters_folded),  cmocka_unit_test(test_centroid_linkage_by_hand),
        cmocka_unit_test(test_cosine_linkage_by_hand), cmocka_unit_test(test_degenerate_inputs),
        cmocka_unit_test(test_pyannote_numbering),
        cmocka_unit_test(test_constrained_assignment), cmocka_unit_test(test_hungarian),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
