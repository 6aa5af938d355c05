/*
 * cluster.h — clustering of speaker embeddings, as pyannote.audio's AgglomerativeClustering
 * (speaker-diarization-3.1) does it, plus the optimal assignment (Hungarian) it and the DER
 * scorer rely on.
 *
 * The clustering is general: N embeddings of D floats, any source (WeSpeaker vectors from the
 * pyannote nets, or the default pipeline's features). The recipe:
 *
 *   1. every embedding is scaled to unit length (cosine metric);
 *   2. centroid-linkage agglomerative clustering builds the full dendrogram: repeatedly merge the
 *      two clusters whose centroids (means of their unit vectors, optionally weighted) are
 *      closest in Euclidean distance (or cosine distance, see st_cluster_linkage);
 *   3. the dendrogram is cut at `threshold` (a cluster is kept whole when no merge inside it is
 *      farther than the threshold, scipy's fcluster "distance" criterion);
 *   4. clusters with fewer than min(min_cluster_size, max(1, round(0.1 N))) members are "small";
 *      when the number of large clusters is outside [min_clusters, max_clusters] (or differs
 *      from num_clusters) the cut moves to the merge step whose count of large clusters is
 *      closest to the wanted one, searching outward from the threshold;
 *   5. each small cluster joins the large cluster whose centroid is nearest in cosine distance;
 *      labels are renumbered 0..K-1 in order of first appearance (embedding 0 has label 0), or
 *      with pyannote_numbering in the order pyannote gives them.
 *
 * With no large cluster at all every embedding gets label 0. One embedding gets label 0.
 */
#ifndef ST_DIARIZE_CLUSTER_H
#define ST_DIARIZE_CLUSTER_H

#include "util/error.h"

/* pyannote/speaker-diarization-3.1 config.yaml: clustering.threshold and min_cluster_size. */
#define ST_CLUSTER_PYANNOTE_THRESHOLD 0.7045654963945799
#define ST_CLUSTER_PYANNOTE_MIN_CLUSTER_SIZE 12

/* How the distance between two clusters is measured, both on the centroids (means of the
 * members' unit vectors). pyannote uses the first; the second suits embeddings whose members
 * are only weakly correlated (a centroid of many such vectors is short, so Euclidean distances
 * between big clusters shrink below those between single members). */
typedef enum st_cluster_linkage {
    ST_CLUSTER_CENTROID_EUCLIDEAN = 0, /* |c_a - c_b|, in 0..2 (scipy's centroid linkage) */
    ST_CLUSTER_CENTROID_COSINE,        /* 1 - cos(c_a, c_b), in 0..2 */
} st_cluster_linkage;

typedef struct st_cluster_options {
    st_cluster_linkage linkage;
    double threshold;     /* merges farther than this (in the linkage's distance) are cut */
    int min_cluster_size; /* clusters smaller than this are folded into the nearest large one */
    int num_clusters;     /* exact number wanted; 0: estimated from the threshold */
    int min_clusters;     /* lower bound when estimating; 0: 1 */
    int max_clusters;     /* upper bound when estimating; 0: N */
    /* 0: labels in order of first appearance (step 5 below); 1: in pyannote's order, the
     * order scipy's fcluster numbers the flat clusters of the cut (its walk from the root takes
     * a node's non-leaf children, left then right, before its leaf children), which pyannote's
     * reconstruction uses to break ties between equally active speakers */
    int pyannote_numbering;
} st_cluster_options;

/* pyannote 3.1's threshold and minimum cluster size, number of clusters free. */
st_cluster_options st_cluster_default_options(void);

/*
 * Clusters n embeddings (row-major n x dim floats, not modified) into labels[0..n-1] in
 * 0..*n_clusters-1. weights (n values > 0, or NULL for all 1) weight each embedding in the
 * centroids (for example by the seconds of speech it stands for); cluster sizes for
 * min_cluster_size still count embeddings. An embedding of zero length or with a non-finite
 * value is an error (STENO_ERR_INVALID_ARGUMENT), as are inconsistent bounds
 * (min_clusters > max_clusters). Cost: O(n^2 dim) time, O(n dim) memory.
 */
steno_status st_cluster_agglomerative(const float *embeddings, int n, int dim, const float *weights,
                                      const st_cluster_options *options, int *labels, int *n_clusters, st_error *err);

/*
 * Centroids of labelled embeddings: centroids[k*dim..] is the mean of the unit-length
 * embeddings labelled k (weighted when weights is not NULL). Labels outside 0..n_clusters-1
 * (for example -1 for "not clustered") are ignored; a cluster with no member gets zeros.
 */
steno_status st_cluster_centroids(const float *embeddings, int n, int dim, const float *weights, const int *labels,
                                  int n_clusters, float *centroids, st_error *err);

/*
 * Assigns every embedding to its nearest centroid in cosine distance, except that embeddings
 * sharing a group id (groups[i] >= 0; for example the local speakers of one pyannote chunk)
 * must go to different centroids when there are enough: within a group the assignment that
 * maximises total cosine similarity is chosen (pyannote's constrained_assignment). groups may
 * be NULL (no constraint); embeddings with groups[i] < 0 are unconstrained. In a group larger
 * than n_clusters the members left without a centroid get label -1, as pyannote drops them.
 */
steno_status st_cluster_assign(const float *embeddings, int n, int dim, const int *groups, const float *centroids,
                               int n_clusters, int *labels, st_error *err);

/*
 * The optimal assignment problem (Hungarian / Kuhn-Munkres, O(max(r,c)^3)): chooses at most
 * one column per row and one row per column so that the sum of cost[r*n_cols + c] over chosen
 * pairs is as small as possible, with min(n_rows, n_cols) pairs. row_to_col[r] is the chosen
 * column or -1. Costs must be finite. To maximise a score, pass its negation.
 */
steno_status st_assignment_solve(const double *cost, int n_rows, int n_cols, int *row_to_col, st_error *err);

#endif
