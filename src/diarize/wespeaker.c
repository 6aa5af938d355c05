/*
 * wespeaker.c — WeSpeaker ResNet34 embeddings (see wespeaker.h).
 *
 * Feature maps are [frequency][time][channels] (channels innermost, as the sgemm-based
 * convolutions of nn/conv.h take them), the fbank's 80 mel bins being the frequency axis.
 */
#include "diarize/wespeaker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diarize/fbank.h"
#include "models/pyannote.h"
#include "nn/conv.h"
#include "nn/linear.h"

#define BN_EPS 1e-5
#define N_BLOCKS 16
#define BASE_CHANNELS 32
#define STATS_DIM (2 * 8 * BASE_CHANNELS * (ST_FBANK_N_MELS / 8)) /* mean and std of 256 x 10 */
#define COLS_BLOCK 512
#define INT16_SCALE 32768.0f

/* A convolution with its batch norm folded in: weight [out][k][k][in], bias [out]. */
typedef struct conv {
    float *weight, *bias;
    int n_in, n_out, kernel, stride, padding;
} conv;

typedef struct block {
    conv conv1, conv2, shortcut; /* shortcut.weight NULL: the identity */
} block;

struct st_wespeaker {
    st_model model;
    st_fbank *fbank;
    conv stem;
    block blocks[N_BLOCKS];
    float *embed_weight, *embed_bias; /* seg_1: [256][5120], [256] */
    /* scratch, sized for `capacity` samples */
    size_t capacity;
    float *scaled, *features, *maps[3], *cols, *stats, *resampled;
};

static steno_status load_conv(st_wespeaker *w, const char *conv_name, const char *bn_name, int n_in, int n_out,
                              int kernel, int stride, conv *out, st_error *err) {
    char name[160];
    const st_tensor *t;
    *out = (conv){.n_in = n_in, .n_out = n_out, .kernel = kernel, .stride = stride, .padding = kernel / 2};
    snprintf(name, sizeof name, "%s.weight", conv_name);
    int64_t shape[4] = {n_out, n_in, kernel, kernel};
    steno_status status = st_model_require(&w->model, name, 4, shape, &t, err);
    float *raw = NULL, *bn[4] = {NULL, NULL, NULL, NULL};
    if (status == STENO_OK) status = st_nn_tensor_to_f32(t, &raw, err);
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4 && status == STENO_OK; i++) {
        snprintf(name, sizeof name, "%s.%s", bn_name, parts[i]);
        int64_t n = n_out;
        status = st_model_require(&w->model, name, 1, &n, &t, err);
        if (status == STENO_OK) status = st_nn_tensor_to_f32(t, &bn[i], err);
    }
    if (status == STENO_OK) {
        out->weight = st_nn_alloc((size_t)n_out * n_in * kernel * kernel);
        out->bias = st_nn_alloc((size_t)n_out);
        if (!out->weight || !out->bias) status = st_error_set(err, STENO_ERR_NO_MEMORY, "embedding: out of memory");
    }
    if (status == STENO_OK) {
        for (int o = 0; o < n_out; o++) {
            double scale = bn[0][o] / sqrt((double)bn[3][o] + BN_EPS);
            out->bias[o] = (float)(bn[1][o] - bn[2][o] * scale);
            for (int c = 0; c < n_in; c++)
                for (int k = 0; k < kernel * kernel; k++)
                    out->weight[((size_t)o * kernel * kernel + k) * n_in + c] =
                        (float)(raw[((size_t)o * n_in + c) * kernel * kernel + k] * scale);
        }
    }
    st_nn_free(raw);
    for (int i = 0; i < 4; i++)
        st_nn_free(bn[i]);
    return status;
}

static void free_conv(conv *c) {
    st_nn_free(c->weight);
    st_nn_free(c->bias);
    c->weight = c->bias = NULL;
}

static steno_status load_weights(st_wespeaker *w, st_error *err) {
    steno_status status = load_conv(w, "resnet.conv1", "resnet.bn1", 1, BASE_CHANNELS, 3, 1, &w->stem, err);
    static const int counts[4] = {3, 4, 6, 3};
    int channels = BASE_CHANNELS, index = 0;
    for (int stage = 0; stage < 4 && status == STENO_OK; stage++) {
        int width = BASE_CHANNELS << stage;
        for (int b = 0; b < counts[stage] && status == STENO_OK; b++, index++) {
            int stride = b == 0 && stage > 0 ? 2 : 1;
            char conv_name[64], bn_name[64];
            block *blk = &w->blocks[index];
            snprintf(conv_name, sizeof conv_name, "resnet.layer%d.%d.conv1", stage + 1, b);
            snprintf(bn_name, sizeof bn_name, "resnet.layer%d.%d.bn1", stage + 1, b);
            status = load_conv(w, conv_name, bn_name, channels, width, 3, stride, &blk->conv1, err);
            snprintf(conv_name, sizeof conv_name, "resnet.layer%d.%d.conv2", stage + 1, b);
            snprintf(bn_name, sizeof bn_name, "resnet.layer%d.%d.bn2", stage + 1, b);
            if (status == STENO_OK) status = load_conv(w, conv_name, bn_name, width, width, 3, 1, &blk->conv2, err);
            if (status == STENO_OK && (stride != 1 || channels != width)) {
                snprintf(conv_name, sizeof conv_name, "resnet.layer%d.%d.shortcut.0", stage + 1, b);
                snprintf(bn_name, sizeof bn_name, "resnet.layer%d.%d.shortcut.1", stage + 1, b);
                status = load_conv(w, conv_name, bn_name, channels, width, 1, stride, &blk->shortcut, err);
            }
            channels = width;
        }
    }
    const st_tensor *t;
    int64_t shape[2] = {ST_WESPEAKER_DIM, STATS_DIM};
    if (status == STENO_OK) status = st_model_require(&w->model, "resnet.seg_1.weight", 2, shape, &t, err);
    if (status == STENO_OK) status = st_nn_tensor_to_f32(t, &w->embed_weight, err);
    if (status == STENO_OK) status = st_model_require(&w->model, "resnet.seg_1.bias", 1, shape, &t, err);
    if (status == STENO_OK) status = st_nn_tensor_to_f32(t, &w->embed_bias, err);
    return status;
}

steno_status st_wespeaker_from_model(st_model *model, st_wespeaker **out, st_error *err) {
    *out = NULL;
    st_wespeaker *w = calloc(1, sizeof *w);
    if (!w) {
        st_model_free(model);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "embedding: out of memory");
    }
    w->model = *model;
    memset(model, 0, sizeof *model);
    steno_status status = load_weights(w, err);
    if (status == STENO_OK && !(w->fbank = st_fbank_create(err))) status = err ? err->code : STENO_ERR_NO_MEMORY;
    if (status != STENO_OK) {
        st_wespeaker_free(w);
        return status;
    }
    *out = w;
    return STENO_OK;
}

steno_status st_wespeaker_load(const char *path, st_wespeaker **out, st_error *err) {
    *out = NULL;
    st_model model;
    steno_status status = st_pyannote_load(path, "WeSpeakerResNet34", &model, err);
    return status == STENO_OK ? st_wespeaker_from_model(&model, out, err) : status;
}

static void free_scratch(st_wespeaker *w) {
    st_nn_free(w->scaled);
    st_nn_free(w->features);
    for (int i = 0; i < 3; i++)
        st_nn_free(w->maps[i]);
    st_nn_free(w->cols);
    st_nn_free(w->stats);
    st_nn_free(w->resampled);
    w->scaled = w->features = w->cols = w->stats = w->resampled = NULL;
    w->maps[0] = w->maps[1] = w->maps[2] = NULL;
    w->capacity = 0;
}

void st_wespeaker_free(st_wespeaker *w) {
    if (!w) return;
    free_conv(&w->stem);
    for (int i = 0; i < N_BLOCKS; i++) {
        free_conv(&w->blocks[i].conv1);
        free_conv(&w->blocks[i].conv2);
        free_conv(&w->blocks[i].shortcut);
    }
    st_nn_free(w->embed_weight);
    st_nn_free(w->embed_bias);
    free_scratch(w);
    st_fbank_free(w->fbank);
    st_model_free(&w->model);
    free(w);
}

static steno_status reserve(st_wespeaker *w, size_t n_samples, st_error *err) {
    if (n_samples <= w->capacity) return STENO_OK;
    free_scratch(w);
    size_t frames = (size_t)st_fbank_n_frames(n_samples);
    size_t map = (size_t)ST_FBANK_N_MELS * frames * BASE_CHANNELS; /* the largest map: the first stage's */
    w->scaled = st_nn_alloc(n_samples);
    w->features = st_nn_alloc(frames * ST_FBANK_N_MELS);
    for (int i = 0; i < 3; i++)
        w->maps[i] = st_nn_alloc(map);
    w->cols = st_nn_alloc((size_t)COLS_BLOCK * 9 * 8 * BASE_CHANNELS);
    w->stats = st_nn_alloc(STATS_DIM);
    w->resampled = st_nn_alloc(frames);
    if (!w->scaled || !w->features || !w->maps[0] || !w->maps[1] || !w->maps[2] || !w->cols || !w->stats ||
        !w->resampled) {
        free_scratch(w);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "embedding: out of memory for %zu samples", n_samples);
    }
    w->capacity = n_samples;
    return STENO_OK;
}

static void relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

static void run_conv(st_wespeaker *w, const conv *c, const float *x, int height, int width, float *y) {
    st_nn_conv2d(x, height, width, c->n_in, c->weight, c->bias, c->n_out, c->kernel, c->stride, c->padding, y, w->cols,
                 COLS_BLOCK);
}

/* The ResNet over the features [frames][80] into one of the maps; returns it, with its
 * height (frequency rows) and width (frames). */
static float *resnet(st_wespeaker *w, int frames, int *out_height, int *out_width) {
    float *x = w->maps[0], *t = w->maps[1], *s = w->maps[2];
    for (int f = 0; f < ST_FBANK_N_MELS; f++)
        for (int i = 0; i < frames; i++)
            t[(size_t)f * frames + i] = w->features[(size_t)i * ST_FBANK_N_MELS + f];
    int height = ST_FBANK_N_MELS, width = frames;
    run_conv(w, &w->stem, t, height, width, x);
    relu(x, (size_t)height * width * BASE_CHANNELS);
    for (int b = 0; b < N_BLOCKS; b++) {
        const block *blk = &w->blocks[b];
        int stride = blk->conv1.stride;
        int h2 = (height - 1) / stride + 1, w2 = (width - 1) / stride + 1;
        size_t n = (size_t)h2 * w2 * blk->conv1.n_out;
        run_conv(w, &blk->conv1, x, height, width, t);
        relu(t, n);
        run_conv(w, &blk->conv2, t, h2, w2, s);
        if (blk->shortcut.weight) {
            run_conv(w, &blk->shortcut, x, height, width, t);
            for (size_t i = 0; i < n; i++)
                s[i] += t[i];
        } else {
            for (size_t i = 0; i < n; i++)
                s[i] += x[i];
        }
        relu(s, n);
        float *swap = x;
        x = s;
        s = swap;
        height = h2;
        width = w2;
    }
    *out_height = height;
    *out_width = width;
    return x;
}

/* PyTorch's linear interpolation of n_in values to n_out (align_corners=False). */
static void resample(const float *in, int n_in, float *out, int n_out) {
    double scale = (double)n_in / n_out;
    for (int i = 0; i < n_out; i++) {
        double source = scale * (i + 0.5) - 0.5;
        if (source < 0) source = 0;
        int i0 = (int)source;
        if (i0 > n_in - 1) i0 = n_in - 1;
        int i1 = i0 + 1 < n_in ? i0 + 1 : n_in - 1;
        double lambda = source - i0;
        out[i] = (float)((1 - lambda) * in[i0] + lambda * in[i1]);
    }
}

/* Mean and standard deviation over the width of map [height][width][channels], ordered
 * channel-major (c * height + h), as pyannote flattens (channel, frequency); weighted when
 * weights is not NULL. */
static void pool(const float *map, int height, int width, int channels, const float *weights, float *stats) {
    int n = channels * height;
    double v1 = 0, v2 = 0;
    for (int i = 0; i < width; i++) {
        double wi = weights ? weights[i] : 1.0;
        v1 += wi;
        v2 += wi * wi;
    }
    for (int h = 0; h < height; h++) {
        for (int c = 0; c < channels; c++) {
            double sum = 0, squares = 0;
            for (int i = 0; i < width; i++)
                sum += (weights ? weights[i] : 1.0) * map[((size_t)h * width + i) * channels + c];
            double mean = sum / v1;
            for (int i = 0; i < width; i++) {
                double d = map[((size_t)h * width + i) * channels + c] - mean;
                squares += (weights ? weights[i] : 1.0) * d * d;
            }
            /* unweighted: the unbiased variance; weighted: pyannote's reliability weights */
            double var = weights ? squares / (v1 - v2 / v1) : squares / (width - 1);
            stats[c * height + h] = (float)mean;
            stats[n + c * height + h] = (float)sqrt(var);
        }
    }
}

steno_status st_wespeaker_embed(st_wespeaker *w, const float *samples, size_t n_samples, const float *weights,
                                int n_weights, int n_sets, float *embeddings, st_error *err) {
    if (n_samples < ST_FBANK_SAMPLE_RATE) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "embedding: %zu samples are under the 1 s needed",
                            n_samples);
    }
    if (n_sets < 1 || (!weights && n_sets != 1) || (weights && n_weights < 1)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "embedding: %d weight rows of %d frames", n_sets,
                            n_weights);
    }
    steno_status status = reserve(w, n_samples, err);
    if (status != STENO_OK) return status;
    for (size_t i = 0; i < n_samples; i++)
        w->scaled[i] = samples[i] * INT16_SCALE;
    int frames = st_fbank_n_frames(n_samples);
    st_fbank_compute(w->fbank, w->scaled, n_samples, w->features);
    for (int m = 0; m < ST_FBANK_N_MELS; m++) { /* mean normalisation per mel bin */
        double sum = 0;
        for (int i = 0; i < frames; i++)
            sum += w->features[(size_t)i * ST_FBANK_N_MELS + m];
        float mean = (float)(sum / frames);
        for (int i = 0; i < frames; i++)
            w->features[(size_t)i * ST_FBANK_N_MELS + m] -= mean;
    }
    int height, width;
    const float *map = resnet(w, frames, &height, &width);
    for (int set = 0; set < n_sets; set++) {
        const float *row = NULL;
        if (weights) {
            resample(weights + (size_t)set * n_weights, n_weights, w->resampled, width);
            row = w->resampled;
        }
        pool(map, height, width, 8 * BASE_CHANNELS, row, w->stats);
        st_nn_matmul_f32(w->stats, 1, w->embed_weight, w->embed_bias, STATS_DIM, ST_WESPEAKER_DIM,
                         embeddings + (size_t)set * ST_WESPEAKER_DIM, ST_WESPEAKER_DIM);
    }
    return STENO_OK;
}
