/*
 * cluster.c — centroid-linkage agglomerative clustering of speaker embeddings with pyannote's
 * rules for small clusters and speaker counts, centroid assignment, and the Hungarian solver.
 *
 * The dendrogram is built without a distance matrix: each live cluster keeps its (weighted)
 * centroid, its nearest neighbour and the squared distance to it. After a merge only the new
 * cluster's row and the rows whose neighbour took part in the merge are recomputed, so memory
 * stays O(n dim). Centroid linkage is not monotonic (a merge can be closer than an earlier one),
 * which is why neighbours may also get closer after a merge and why cutting uses the largest
 * merge distance inside each subtree, as scipy's fcluster does.
 */
#include "diarize/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

st_cluster_options st_cluster_default_options(void) {
    return (st_cluster_options){.threshold = ST_CLUSTER_PYANNOTE_THRESHOLD,
                                .min_cluster_size = ST_CLUSTER_PYANNOTE_MIN_CLUSTER_SIZE};
}

/* One merge of the dendrogram, scipy's linkage row: nodes 0..n-1 are embeddings, node n+m is
 * the cluster made by merge m. */
typedef struct merge {
    int a, b;
    double distance;
    int size;
} merge;

static steno_status unit_vectors(const float *embeddings, int n, int dim, double *unit, st_error *err) {
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int d = 0; d < dim; d++) {
            double v = embeddings[(size_t)i * dim + d];
            if (!isfinite(v))
                return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "embedding %d holds a non-finite value", i);
            norm += v * v;
        }
        if (!(norm > 0)) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "embedding %d has zero length", i);
        norm = sqrt(norm);
        for (int d = 0; d < dim; d++)
            unit[(size_t)i * dim + d] = embeddings[(size_t)i * dim + d] / norm;
    }
    return STENO_OK;
}

/* Sums over dim values in eight interleaved partial sums (index d goes to sum d % 8), added
 * pairwise at the end: independent chains the compiler can vectorise, where one running sum
 * waited on every addition (an hour of speech, 4000 windows of 1024 values, clustered in 48 s
 * that way). A fixed order, so the same input gives the same bits everywhere. */
#define PARTIAL_SUMS 8

static double sum_of_products(const double *x, const double *y, int dim) {
    double part[PARTIAL_SUMS] = {0};
    int d = 0;
    for (; d + PARTIAL_SUMS <= dim; d += PARTIAL_SUMS)
        for (int k = 0; k < PARTIAL_SUMS; k++)
            part[k] += x[d + k] * y[d + k];
    for (int k = 0; d < dim; d++, k++)
        part[k] += x[d] * y[d];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

static double squared_distance(const double *x, const double *y, int dim) {
    double part[PARTIAL_SUMS] = {0};
    int d = 0;
    for (; d + PARTIAL_SUMS <= dim; d += PARTIAL_SUMS)
        for (int k = 0; k < PARTIAL_SUMS; k++)
            part[k] += (x[d + k] - y[d + k]) * (x[d + k] - y[d + k]);
    for (int k = 0; d < dim; d++, k++)
        part[k] += (x[d] - y[d]) * (x[d] - y[d]);
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/* The cosine distance of x and y given their squared lengths. */
static double cosine_distance_of(const double *x, const double *y, int dim, double xx, double yy) {
    if (!(xx > 0) || !(yy > 0)) return 1.0;
    return 1.0 - sum_of_products(x, y, dim) / sqrt(xx * yy);
}

static double cosine_distance(const double *x, const double *y, int dim) {
    return cosine_distance_of(x, y, dim, sum_of_products(x, x, dim), sum_of_products(y, y, dim));
}

typedef struct agglomeration {
    int n, dim;
    st_cluster_linkage linkage;
    double *centroid; /* n x dim; slot i holds a live cluster while alive[i] */
    double *square;   /* each centroid's squared length (cosine linkage) */
    double *weight;
    int *size, *node, *nearest;
    double *nearest_distance;     /* squared Euclidean, or cosine distance */
    unsigned char *alive, *stale; /* stale: its nearest must be found again */
} agglomeration;

static double linkage_distance(const agglomeration *g, int i, int k) {
    const double *x = g->centroid + (size_t)i * g->dim, *y = g->centroid + (size_t)k * g->dim;
    return g->linkage == ST_CLUSTER_CENTROID_COSINE ? cosine_distance_of(x, y, g->dim, g->square[i], g->square[k])
                                                    : squared_distance(x, y, g->dim);
}

static void find_nearest(agglomeration *g, int i) {
    g->nearest[i] = -1;
    g->nearest_distance[i] = INFINITY;
    for (int k = 0; k < g->n; k++) {
        if (k == i || !g->alive[k]) continue;
        double d = linkage_distance(g, i, k);
        if (d < g->nearest_distance[i]) g->nearest_distance[i] = d, g->nearest[i] = k;
    }
}

/* Fills merges[0..n-2]. unit: n x dim unit vectors. */
static steno_status build_dendrogram(const double *unit, int n, int dim, const float *weights,
                                     st_cluster_linkage linkage, merge *merges, st_error *err) {
    agglomeration g = {.n = n, .dim = dim, .linkage = linkage};
    g.centroid = malloc(sizeof(double) * (size_t)n * dim);
    g.square = malloc(sizeof(double) * n);
    g.weight = malloc(sizeof(double) * n);
    g.size = malloc(sizeof(int) * n);
    g.node = malloc(sizeof(int) * n);
    g.nearest = malloc(sizeof(int) * n);
    g.nearest_distance = malloc(sizeof(double) * n);
    g.alive = malloc(n);
    g.stale = calloc((size_t)n, 1);
    steno_status status = STENO_OK;
    if (!g.centroid || !g.square || !g.weight || !g.size || !g.node || !g.nearest || !g.nearest_distance || !g.alive ||
        !g.stale) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory clustering %d embeddings", n);
        goto done;
    }
    memcpy(g.centroid, unit, sizeof(double) * (size_t)n * dim);
    for (int i = 0; i < n; i++) {
        g.weight[i] = weights ? weights[i] : 1.0;
        g.size[i] = 1, g.node[i] = i, g.alive[i] = 1;
        g.square[i] = sum_of_products(unit + (size_t)i * dim, unit + (size_t)i * dim, dim);
    }
    /* every pair's distance once, offered to both rows: each row still meets its candidates in
     * index order, as find_nearest would (the first of equal distances wins) */
    for (int i = 0; i < n; i++)
        g.nearest[i] = -1, g.nearest_distance[i] = INFINITY;
    for (int i = 0; i < n; i++) {
        for (int k = i + 1; k < n; k++) {
            double d = linkage_distance(&g, i, k);
            if (d < g.nearest_distance[i]) g.nearest_distance[i] = d, g.nearest[i] = k;
            if (d < g.nearest_distance[k]) g.nearest_distance[k] = d, g.nearest[k] = i;
        }
    }
    for (int m = 0; m < n - 1; m++) {
        int i = -1;
        for (int k = 0; k < n; k++) {
            if (g.alive[k] && (i < 0 || g.nearest_distance[k] < g.nearest_distance[i])) i = k;
        }
        int j = g.nearest[i];
        if (i > j) { /* the merged cluster lives in the lower slot, whichever was found first */
            int t = i;
            i = j, j = t;
        }
        int low = g.node[i] < g.node[j] ? g.node[i] : g.node[j], high = g.node[i] ^ g.node[j] ^ low;
        merges[m] = (merge){.a = low,
                            .b = high,
                            .distance = linkage == ST_CLUSTER_CENTROID_COSINE ? g.nearest_distance[i]
                                                                              : sqrt(g.nearest_distance[i]),
                            .size = g.size[i] + g.size[j]};
        double wi = g.weight[i], wj = g.weight[j];
        for (int d = 0; d < dim; d++) {
            double *ci = g.centroid + (size_t)i * dim, *cj = g.centroid + (size_t)j * dim;
            ci[d] = (wi * ci[d] + wj * cj[d]) / (wi + wj);
        }
        g.weight[i] = wi + wj, g.size[i] += g.size[j], g.node[i] = n + m, g.alive[j] = 0;
        g.square[i] = sum_of_products(g.centroid + (size_t)i * dim, g.centroid + (size_t)i * dim, dim);
        /* the new cluster's distances, once each: its own nearest, and the others' when it is
         * nearer; rows whose nearest took part in the merge look again afterwards */
        g.nearest[i] = -1, g.nearest_distance[i] = INFINITY;
        for (int k = 0; k < n; k++) {
            if (!g.alive[k] || k == i) continue;
            double d = linkage_distance(&g, i, k);
            if (d < g.nearest_distance[i]) g.nearest_distance[i] = d, g.nearest[i] = k;
            if (g.nearest[k] == i || g.nearest[k] == j) {
                g.stale[k] = 1;
            } else if (d < g.nearest_distance[k]) {
                g.nearest_distance[k] = d, g.nearest[k] = i;
            }
        }
        for (int k = 0; k < n; k++) {
            if (g.stale[k]) g.stale[k] = 0, find_nearest(&g, k);
        }
    }
done:
    free(g.centroid), free(g.square), free(g.weight), free(g.size), free(g.node), free(g.nearest),
        free(g.nearest_distance);
    free(g.alive), free(g.stale);
    return status;
}

static int find_root(int *parent, int x) {
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

/* Flat clusters: merge m is applied when key[m] <= cut (key is non-decreasing from children to
 * parents, so applied merges form whole subtrees). labels get 0..K-1 in order of first
 * appearance; returns K. parent: scratch of 2n - 1 ints. */
static int cut_dendrogram(const merge *merges, const double *key, int n, double cut, int *parent, int *labels) {
    for (int x = 0; x < 2 * n - 1; x++)
        parent[x] = x;
    for (int m = 0; m < n - 1; m++) {
        if (key[m] <= cut)
            parent[find_root(parent, merges[m].a)] = n + m, parent[find_root(parent, merges[m].b)] = n + m;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        labels[i] = -1;
    for (int i = 0; i < n; i++) {
        if (labels[i] >= 0) continue;
        int root = find_root(parent, i);
        for (int j = i; j < n; j++) {
            if (labels[j] < 0 && find_root(parent, j) == root) labels[j] = k;
        }
        k++;
    }
    return k;
}

/* scipy's fcluster numbering of the flat clusters of the cut (key[m] <= cut): rank[c] is the
 * number scipy gives first-appearance cluster c. scipy walks from the root; at each node it
 * first descends into the non-leaf children (left, the lower node id, then right) and only then
 * numbers the leaf children; a subtree within the cut is one cluster, numbered when the walk
 * enters it. n >= 2; stack: n ints of scratch; visited: 2n - 1 bytes. */
static void scipy_ranks(const merge *merges, const double *key, int n, double cut, const int *labels, int *rank,
                        int *stack, unsigned char *visited) {
    memset(visited, 0, (size_t)(2 * n - 1));
    int top = 0, leader = -1, count = 0;
    stack[0] = 2 * n - 2;
    while (top >= 0) {
        int m = stack[top] - n, left = merges[m].a, right = merges[m].b;
        if (leader < 0 && key[m] <= cut) leader = m, count++;
        if (left >= n && !visited[left]) {
            visited[left] = 1, stack[++top] = left;
            continue;
        }
        if (right >= n && !visited[right]) {
            visited[right] = 1, stack[++top] = right;
            continue;
        }
        if (left < n) rank[labels[left]] = leader < 0 ? ++count : count;
        if (right < n) rank[labels[right]] = leader < 0 ? ++count : count;
        if (leader == m) leader = -1;
        top--;
    }
}

static int count_large(const int *labels, int n, int k, int min_size, int *counts) {
    memset(counts, 0, sizeof(int) * k);
    for (int i = 0; i < n; i++)
        counts[labels[i]]++;
    int large = 0;
    for (int c = 0; c < k; c++)
        large += counts[c] >= min_size;
    return large;
}

/* Folds clusters with fewer than min_size members into the nearest large one (cosine distance
 * between weighted centroids) and renumbers; returns the new count. */
static int fold_small_clusters(const double *unit, const float *weights, int n, int dim, int *labels, int k,
                               int min_size, const int *counts, const int *rank, double *centroids, int *map) {
    memset(centroids, 0, sizeof(double) * (size_t)k * dim);
    for (int i = 0; i < n; i++) {
        double w = weights ? weights[i] : 1.0;
        for (int d = 0; d < dim; d++)
            centroids[(size_t)labels[i] * dim + d] += w * unit[(size_t)i * dim + d];
    }
    for (int c = 0; c < k; c++) {
        map[c] = c;
        if (counts[c] >= min_size) continue;
        double best = INFINITY;
        for (int l = 0; l < k; l++) {
            if (counts[l] < min_size) continue;
            double d = cosine_distance(centroids + (size_t)c * dim, centroids + (size_t)l * dim, dim);
            if (d < best) best = d, map[c] = l;
        }
    }
    for (int i = 0; i < n; i++)
        labels[i] = map[labels[i]];
    /* renumber in order of first appearance, or by rank (pyannote's np.unique over scipy's ids) */
    int *renumber = map;
    for (int c = 0; c < k; c++)
        renumber[c] = -1;
    int next = 0;
    if (rank) {
        for (int c = 0; c < k; c++) {
            if (counts[c] < min_size) continue;
            renumber[c] = 0;
            for (int l = 0; l < k; l++)
                renumber[c] += counts[l] >= min_size && rank[l] < rank[c];
            next++;
        }
    }
    for (int i = 0; i < n; i++) {
        if (renumber[labels[i]] < 0) renumber[labels[i]] = next++;
        labels[i] = renumber[labels[i]];
    }
    return next;
}

steno_status st_cluster_agglomerative(const float *embeddings, int n, int dim, const float *weights,
                                      const st_cluster_options *options, int *labels, int *n_clusters, st_error *err) {
    if (!embeddings || n < 1 || dim < 1 || !options || !labels || !n_clusters) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "clustering needs at least one embedding");
    }
    if (!(options->threshold >= 0) || (unsigned)options->linkage > ST_CLUSTER_CENTROID_COSINE ||
        options->min_cluster_size < 0 || options->num_clusters < 0 || options->min_clusters < 0 ||
        options->max_clusters < 0) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "clustering options out of range");
    }
    for (int i = 0; weights && i < n; i++) {
        if (!(weights[i] > 0) || !isfinite(weights[i])) {
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "embedding %d has weight %g (must be > 0)", i,
                                (double)weights[i]);
        }
    }
    /* pyannote's set_num_clusters: an exact number fixes both bounds; bounds clip to 1..n */
    int min_clusters = options->num_clusters   ? options->num_clusters
                       : options->min_clusters ? options->min_clusters
                                               : 1;
    int max_clusters = options->num_clusters   ? options->num_clusters
                       : options->max_clusters ? options->max_clusters
                                               : n;
    if (options->min_clusters && options->max_clusters && options->min_clusters > options->max_clusters) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "at least %d clusters wanted but at most %d allowed",
                            options->min_clusters, options->max_clusters);
    }
    min_clusters = min_clusters < 1 ? 1 : min_clusters > n ? n : min_clusters;
    max_clusters = max_clusters < 1 ? 1 : max_clusters > n ? n : max_clusters;
    if (min_clusters > max_clusters) min_clusters = max_clusters;
    int wanted = min_clusters == max_clusters ? min_clusters : 0;

    double *unit = malloc(sizeof(double) * (size_t)n * dim);
    merge *merges = malloc(sizeof(merge) * (size_t)(n > 1 ? n - 1 : 1));
    double *key = malloc(sizeof(double) * (size_t)(n > 1 ? n - 1 : 1));
    double *order_distance = malloc(sizeof(double) * (size_t)(n > 1 ? n - 1 : 1));
    int *parent = malloc(sizeof(int) * (size_t)(2 * n));
    int *counts = malloc(sizeof(int) * (size_t)n), *map = malloc(sizeof(int) * (size_t)n);
    int *order = malloc(sizeof(int) * (size_t)n);
    double *centroids = NULL;
    steno_status status = STENO_OK;
    if (!unit || !merges || !key || !order_distance || !parent || !counts || !map || !order) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory clustering %d embeddings", n);
        goto done;
    }
    if ((status = unit_vectors(embeddings, n, dim, unit, err)) != STENO_OK) goto done;
    if (n == 1) {
        labels[0] = 0, *n_clusters = 1;
        goto done;
    }
    if ((status = build_dendrogram(unit, n, dim, weights, options->linkage, merges, err)) != STENO_OK) goto done;

    /* fcluster's "distance" criterion cuts on the largest merge distance in each subtree */
    for (int m = 0; m < n - 1; m++) {
        key[m] = merges[m].distance;
        if (merges[m].a >= n && key[merges[m].a - n] > key[m]) key[m] = key[merges[m].a - n];
        if (merges[m].b >= n && key[merges[m].b - n] > key[m]) key[m] = key[merges[m].b - n];
    }
    int min_size = (int)nearbyint(0.1 * n); /* Python's round(): half to even, like nearbyint */
    if (min_size < 1) min_size = 1;
    if (options->min_cluster_size < min_size) min_size = options->min_cluster_size;
    if (min_size < 1) min_size = 1;

    double cut = options->threshold;
    int k = cut_dendrogram(merges, key, n, cut, parent, labels);
    int large = count_large(labels, n, k, min_size, counts);
    int target = wanted ? wanted : large < min_clusters ? min_clusters : large > max_clusters ? max_clusters : 0;
    if (target) {
        /* pyannote: cut by merge index instead, trying the merges in order of how far their
         * distance is from the threshold, until one gives exactly the target count of large
         * clusters; otherwise the closest count seen. */
        for (int m = 0; m < n - 1; m++)
            key[m] = m, order[m] = m, order_distance[m] = fabs(merges[m].distance - options->threshold);
        /* stable insertion sort of merge indices by |distance - threshold| (argsort) */
        for (int a = 1; a < n - 1; a++) {
            int v = order[a];
            int b = a - 1;
            while (b >= 0 && order_distance[order[b]] > order_distance[v])
                order[b + 1] = order[b], b--;
            order[b + 1] = v;
        }
        int best_iteration = n - 1, best_large = 1;
        for (int t = 0; t < n - 1; t++) {
            int m = order[t];
            if (merges[m].size < min_size) continue;
            k = cut_dendrogram(merges, key, n, m, parent, labels);
            large = count_large(labels, n, k, min_size, counts);
            cut = m;
            if (abs(large - target) < abs(best_large - target)) best_iteration = m, best_large = large;
            if (large == target) break;
        }
        if (best_large != target) {
            cut = best_iteration;
            k = cut_dendrogram(merges, key, n, best_iteration, parent, labels);
            large = count_large(labels, n, k, min_size, counts);
        }
    }
    if (large == 0) {
        for (int i = 0; i < n; i++)
            labels[i] = 0;
        *n_clusters = 1;
        goto done;
    }
    centroids = malloc(sizeof(double) * (size_t)k * dim);
    if (!centroids) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory clustering %d embeddings", n);
        goto done;
    }
    int *rank = NULL;
    if (options->pyannote_numbering) {
        rank = malloc(sizeof(int) * (size_t)k);
        unsigned char *visited = malloc((size_t)(2 * n - 1));
        if (!rank || !visited) {
            free(rank), free(visited);
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory clustering %d embeddings", n);
            goto done;
        }
        scipy_ranks(merges, key, n, cut, labels, rank, order, visited); /* order: n ints, free now */
        free(visited);
    }
    *n_clusters = fold_small_clusters(unit, weights, n, dim, labels, k, min_size, counts, rank, centroids, map);
    free(rank);
done:
    free(unit), free(merges), free(key), free(order_distance), free(parent), free(counts), free(map), free(order);
    free(centroids);
    return status;
}

steno_status st_cluster_centroids(const float *embeddings, int n, int dim, const float *weights, const int *labels,
                                  int n_clusters, float *centroids, st_error *err) {
    if (n < 0 || dim < 1 || n_clusters < 1 || !labels || !centroids || (n > 0 && !embeddings)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "centroids need embeddings, labels and a cluster count");
    }
    double *sum = calloc((size_t)n_clusters * dim, sizeof(double));
    double *total = calloc((size_t)n_clusters, sizeof(double));
    if (!sum || !total) {
        free(sum), free(total);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory computing %d centroids", n_clusters);
    }
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_clusters) continue;
        const float *e = embeddings + (size_t)i * dim;
        double norm = 0;
        for (int d = 0; d < dim; d++)
            norm += (double)e[d] * e[d];
        if (!(norm > 0) || !isfinite(norm)) continue;
        double w = (weights ? weights[i] : 1.0) / sqrt(norm);
        for (int d = 0; d < dim; d++)
            sum[(size_t)labels[i] * dim + d] += w * e[d];
        total[labels[i]] += weights ? weights[i] : 1.0;
    }
    for (int c = 0; c < n_clusters; c++) {
        for (int d = 0; d < dim; d++) {
            centroids[(size_t)c * dim + d] = total[c] > 0 ? (float)(sum[(size_t)c * dim + d] / total[c]) : 0.0f;
        }
    }
    free(sum), free(total);
    return STENO_OK;
}

static double cosine_similarity_f(const float *x, const float *y, int dim) {
    double dot = 0, xx = 0, yy = 0;
    for (int d = 0; d < dim; d++)
        dot += (double)x[d] * y[d], xx += (double)x[d] * x[d], yy += (double)y[d] * y[d];
    if (!(xx > 0) || !(yy > 0)) return -1.0; /* a zero vector is as far as can be */
    return dot / sqrt(xx * yy);
}

steno_status st_cluster_assign(const float *embeddings, int n, int dim, const int *groups, const float *centroids,
                               int n_clusters, int *labels, st_error *err) {
    if (n < 0 || dim < 1 || n_clusters < 1 || !centroids || !labels || (n > 0 && !embeddings)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "assignment needs embeddings and centroids");
    }
    for (int i = 0; i < n; i++) {
        double best = -INFINITY;
        labels[i] = 0;
        for (int c = 0; c < n_clusters; c++) {
            double s = cosine_similarity_f(embeddings + (size_t)i * dim, centroids + (size_t)c * dim, dim);
            if (s > best) best = s, labels[i] = c;
        }
    }
    if (!groups || n == 0) return STENO_OK;
    int *members = malloc(sizeof(int) * n), *choice = malloc(sizeof(int) * n);
    double *cost = malloc(sizeof(double) * (size_t)n * n_clusters);
    unsigned char *done = calloc(n, 1);
    steno_status status = STENO_OK;
    if (!members || !choice || !cost || !done) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory assigning %d embeddings", n);
        goto out;
    }
    for (int i = 0; i < n && status == STENO_OK; i++) {
        if (groups[i] < 0 || done[i]) continue;
        int count = 0;
        for (int j = i; j < n; j++) {
            if (groups[j] == groups[i]) members[count++] = j, done[j] = 1;
        }
        if (count < 2) continue;
        for (int r = 0; r < count; r++) {
            for (int c = 0; c < n_clusters; c++) {
                cost[(size_t)r * n_clusters + c] =
                    -cosine_similarity_f(embeddings + (size_t)members[r] * dim, centroids + (size_t)c * dim, dim);
            }
        }
        status = st_assignment_solve(cost, count, n_clusters, choice, err);
        for (int r = 0; status == STENO_OK && r < count; r++)
            labels[members[r]] = choice[r];
    }
out:
    free(members), free(choice), free(cost), free(done);
    return status;
}

/*
 * Kuhn-Munkres with row and column potentials (the shortest augmenting path form): rows are
 * added one at a time, each by a Dijkstra-like search over reduced costs. Needs n_rows <=
 * n_cols; the caller's problem is transposed otherwise.
 */
static steno_status hungarian(const double *cost, int rows, int cols, int transposed, int *row_to_col, st_error *err) {
    double *u = calloc(rows + 1, sizeof(double)), *v = calloc(cols + 1, sizeof(double));
    double *min_slack = malloc(sizeof(double) * (cols + 1));
    int *match = calloc(cols + 1, sizeof(int)); /* match[c] = row (1-based) holding column c, 0 = free */
    int *way = malloc(sizeof(int) * (cols + 1));
    unsigned char *used = malloc(cols + 1);
    if (!u || !v || !min_slack || !match || !way || !used) {
        free(u), free(v), free(min_slack), free(match), free(way), free(used);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory solving a %d x %d assignment", rows, cols);
    }
#define COST(r, c) (transposed ? cost[(size_t)(c)*rows + (r)] : cost[(size_t)(r)*cols + (c)])
    for (int r = 1; r <= rows; r++) {
        match[0] = r;
        int c0 = 0;
        for (int c = 0; c <= cols; c++)
            min_slack[c] = INFINITY, used[c] = 0;
        do {
            used[c0] = 1;
            int r0 = match[c0], c1 = 0;
            double delta = INFINITY;
            for (int c = 1; c <= cols; c++) {
                if (used[c]) continue;
                double slack = COST(r0 - 1, c - 1) - u[r0] - v[c];
                if (slack < min_slack[c]) min_slack[c] = slack, way[c] = c0;
                if (min_slack[c] < delta) delta = min_slack[c], c1 = c;
            }
            for (int c = 0; c <= cols; c++) {
                if (used[c]) {
                    u[match[c]] += delta, v[c] -= delta;
                } else {
                    min_slack[c] -= delta;
                }
            }
            c0 = c1;
        } while (match[c0] != 0);
        do { /* flip the augmenting path */
            int c1 = way[c0];
            match[c0] = match[c1];
            c0 = c1;
        } while (c0);
    }
#undef COST
    for (int r = 0; r < rows; r++)
        row_to_col[r] = -1;
    for (int c = 1; c <= cols; c++) {
        if (match[c]) row_to_col[match[c] - 1] = c - 1;
    }
    free(u), free(v), free(min_slack), free(match), free(way), free(used);
    return STENO_OK;
}

steno_status st_assignment_solve(const double *cost, int n_rows, int n_cols, int *row_to_col, st_error *err) {
    if (n_rows < 0 || n_cols < 0 || (n_rows > 0 && (!row_to_col || (n_cols > 0 && !cost)))) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "assignment problem of %d x %d", n_rows, n_cols);
    }
    for (size_t i = 0; i < (size_t)n_rows * n_cols; i++) {
        if (!isfinite(cost[i]))
            return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "assignment cost %zu is not finite", i);
    }
    if (n_rows == 0) return STENO_OK;
    if (n_cols == 0) {
        for (int r = 0; r < n_rows; r++)
            row_to_col[r] = -1;
        return STENO_OK;
    }
    if (n_rows <= n_cols) return hungarian(cost, n_rows, n_cols, 0, row_to_col, err);
    /* more rows than columns: solve the transpose (columns as rows), then invert */
    int *col_to_row = malloc(sizeof(int) * n_cols);
    if (!col_to_row) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory solving an assignment");
    steno_status status = hungarian(cost, n_cols, n_rows, 1, col_to_row, err);
    if (status == STENO_OK) {
        for (int r = 0; r < n_rows; r++)
            row_to_col[r] = -1;
        for (int c = 0; c < n_cols; c++) {
            if (col_to_row[c] >= 0) row_to_col[col_to_row[c]] = c;
        }
    }
    free(col_to_row);
    return status;
}
