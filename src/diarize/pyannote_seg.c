/*
 * pyannote_seg.c — PyanNet's forward pass (see pyannote_seg.h).
 *
 * Activations are time-major [frames][channels]. The sinc filters are built once at load, in
 * float32 as pyannote.audio builds them on every call, from the checkpoint's low_hz_ and
 * band_hz_ and its two fixed buffers (n_: the angular times 2π t / 16000 of the 125 taps
 * before the centre; window_: the first half of a 251-point Hamming window).
 */
#include "diarize/pyannote_seg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/pyannote.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/lstm.h"

#define SAMPLE_RATE 16000.0f
#define N_FILTERS 80
#define SINC_TAPS 251
#define SINC_HALF 125
#define SINC_STRIDE 10
#define MIN_LOW_HZ 50.0f
#define MIN_BAND_HZ 50.0f
#define CONV_TAPS 5
#define CONV_CHANNELS 60
#define POOL 3
#define LSTM_LAYERS 4
#define HIDDEN 128
#define COLS_BLOCK 1024

struct st_pyannote_seg {
    st_model model;
    float *wav_norm[2];    /* gamma, beta of the waveform's InstanceNorm1d(1) */
    float *filters;        /* [80][251] */
    float *conv_weight[2]; /* [60][80 or 60][5] */
    float *conv_bias[2];   /* [60] */
    float *norm[3][2];     /* gamma, beta of InstanceNorm1d(80), (60), (60) */
    st_nn_lstm_direction lstm[LSTM_LAYERS][2];
    float *linear_weight[3]; /* linear.0 [128][256], linear.1 [128][128], classifier [7][128] */
    float *linear_bias[3];
    /* scratch, sized for `capacity` samples */
    size_t capacity;
    float *a, *b, *cols, *gates, *state;
};

static const st_tensor *require(const st_pyannote_seg *s, const char *name, int n_dims, int64_t d0, int64_t d1,
                                int64_t d2, steno_status *status, st_error *err) {
    if (*status != STENO_OK) return NULL;
    int64_t shape[3] = {d0, d1, d2};
    const st_tensor *t = NULL;
    *status = st_model_require(&s->model, name, n_dims, shape, &t, err);
    return t;
}

/* A required tensor as an owned float32 copy. */
static float *require_f32(const st_pyannote_seg *s, const char *name, int n_dims, int64_t d0, int64_t d1, int64_t d2,
                          steno_status *status, st_error *err) {
    const st_tensor *t = require(s, name, n_dims, d0, d1, d2, status, err);
    float *out = NULL;
    if (t) *status = st_nn_tensor_to_f32(t, &out, err);
    return out;
}

/* asteroid's ParamSincFB.filters(): cosine (even) filters, then sine (odd) ones. */
static void build_filters(float *filters, const float *low_hz, const float *band_hz, const float *n,
                          const float *window) {
    for (int f = 0; f < N_FILTERS / 2; f++) {
        float low = MIN_LOW_HZ + fabsf(low_hz[f]);
        float high = low + MIN_BAND_HZ + fabsf(band_hz[f]);
        high = high < MIN_LOW_HZ ? MIN_LOW_HZ : high > SAMPLE_RATE / 2 ? SAMPLE_RATE / 2 : high;
        float band = high - low;
        float *even = filters + (size_t)f * SINC_TAPS, *odd = filters + (size_t)(f + N_FILTERS / 2) * SINC_TAPS;
        for (int j = 0; j < SINC_HALF; j++) {
            float phase_low = low * n[j], phase_high = high * n[j];
            float left_even = (sinf(phase_high) - sinf(phase_low)) / (n[j] / 2) * window[j];
            float left_odd = (cosf(phase_low) - cosf(phase_high)) / (n[j] / 2) * window[j];
            even[j] = left_even / (2 * band);
            even[SINC_TAPS - 1 - j] = left_even / (2 * band);
            odd[j] = left_odd / (2 * band);
            odd[SINC_TAPS - 1 - j] = -left_odd / (2 * band);
        }
        even[SINC_HALF] = 2 * band / (2 * band);
        odd[SINC_HALF] = 0.0f / (2 * band);
    }
}

static steno_status load_weights(st_pyannote_seg *s, st_error *err) {
    steno_status status = STENO_OK;
    const char *sinc = "sincnet.conv1d.0.filterbank.";
    char name[128];
    s->wav_norm[0] = require_f32(s, "sincnet.wav_norm1d.weight", 1, 1, 0, 0, &status, err);
    s->wav_norm[1] = require_f32(s, "sincnet.wav_norm1d.bias", 1, 1, 0, 0, &status, err);
    float *low = NULL, *band = NULL, *n = NULL, *window = NULL;
    snprintf(name, sizeof name, "%slow_hz_", sinc);
    low = require_f32(s, name, 2, N_FILTERS / 2, 1, 0, &status, err);
    snprintf(name, sizeof name, "%sband_hz_", sinc);
    band = require_f32(s, name, 2, N_FILTERS / 2, 1, 0, &status, err);
    /* ParamSincFB's buffers, in the state dict as asteroid registers them; rebuilt as it
     * builds them should a checkpoint lack them */
    snprintf(name, sizeof name, "%sn_", sinc);
    if (st_model_find(&s->model, name)) {
        n = require_f32(s, name, 2, 1, SINC_HALF, 0, &status, err);
    } else if ((n = st_nn_alloc(SINC_HALF))) {
        for (int j = 0; j < SINC_HALF; j++)
            n[j] = (float)(j - SINC_HALF) / SAMPLE_RATE * (float)(2 * M_PI);
    }
    snprintf(name, sizeof name, "%swindow_", sinc);
    if (st_model_find(&s->model, name)) {
        window = require_f32(s, name, 1, SINC_HALF, 0, 0, &status, err);
    } else if ((window = st_nn_alloc(SINC_HALF))) {
        for (int j = 0; j < SINC_HALF; j++) /* numpy's symmetric Hamming window, first half */
            window[j] = (float)(0.54 - 0.46 * cos(2 * M_PI * j / (SINC_TAPS - 1)));
    }
    if (status == STENO_OK && (!n || !window))
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "segmentation: out of memory");
    if (status == STENO_OK) {
        s->filters = st_nn_alloc((size_t)N_FILTERS * SINC_TAPS);
        if (!s->filters)
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "segmentation: out of memory");
        else
            build_filters(s->filters, low, band, n, window);
    }
    st_nn_free(low);
    st_nn_free(band);
    st_nn_free(n);
    st_nn_free(window);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "sincnet.conv1d.%d.weight", i + 1);
        s->conv_weight[i] =
            require_f32(s, name, 3, CONV_CHANNELS, i == 0 ? N_FILTERS : CONV_CHANNELS, CONV_TAPS, &status, err);
        snprintf(name, sizeof name, "sincnet.conv1d.%d.bias", i + 1);
        s->conv_bias[i] = require_f32(s, name, 1, CONV_CHANNELS, 0, 0, &status, err);
    }
    for (int i = 0; i < 3; i++) {
        int channels = i == 0 ? N_FILTERS : CONV_CHANNELS;
        snprintf(name, sizeof name, "sincnet.norm1d.%d.weight", i);
        s->norm[i][0] = require_f32(s, name, 1, channels, 0, 0, &status, err);
        snprintf(name, sizeof name, "sincnet.norm1d.%d.bias", i);
        s->norm[i][1] = require_f32(s, name, 1, channels, 0, 0, &status, err);
    }
    for (int layer = 0; layer < LSTM_LAYERS; layer++) {
        int n_in = layer == 0 ? CONV_CHANNELS : 2 * HIDDEN;
        for (int direction = 0; direction < 2; direction++) {
            const char *suffix = direction ? "_reverse" : "";
            const st_tensor *t[4];
            snprintf(name, sizeof name, "lstm.weight_ih_l%d%s", layer, suffix);
            t[0] = require(s, name, 2, 4 * HIDDEN, n_in, 0, &status, err);
            snprintf(name, sizeof name, "lstm.weight_hh_l%d%s", layer, suffix);
            t[1] = require(s, name, 2, 4 * HIDDEN, HIDDEN, 0, &status, err);
            snprintf(name, sizeof name, "lstm.bias_ih_l%d%s", layer, suffix);
            t[2] = require(s, name, 1, 4 * HIDDEN, 0, 0, &status, err);
            snprintf(name, sizeof name, "lstm.bias_hh_l%d%s", layer, suffix);
            t[3] = require(s, name, 1, 4 * HIDDEN, 0, 0, &status, err);
            if (status == STENO_OK) {
                status = st_nn_lstm_direction_init(&s->lstm[layer][direction], t[0], t[1], t[2], t[3], err);
            }
        }
    }
    static const char *const linear[3] = {"linear.0", "linear.1", "classifier"};
    for (int i = 0; i < 3; i++) {
        int n_in = i == 0 ? 2 * HIDDEN : HIDDEN, n_out = i == 2 ? ST_PYANNOTE_SEG_CLASSES : HIDDEN;
        snprintf(name, sizeof name, "%s.weight", linear[i]);
        s->linear_weight[i] = require_f32(s, name, 2, n_out, n_in, 0, &status, err);
        snprintf(name, sizeof name, "%s.bias", linear[i]);
        s->linear_bias[i] = require_f32(s, name, 1, n_out, 0, 0, &status, err);
    }
    return status;
}

steno_status st_pyannote_seg_from_model(st_model *model, st_pyannote_seg **out, st_error *err) {
    *out = NULL;
    st_pyannote_seg *s = calloc(1, sizeof *s);
    if (!s) {
        st_model_free(model);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "segmentation: out of memory");
    }
    s->model = *model;
    memset(model, 0, sizeof *model);
    steno_status status = load_weights(s, err);
    if (status != STENO_OK) {
        st_pyannote_seg_free(s);
        return status;
    }
    *out = s;
    return STENO_OK;
}

steno_status st_pyannote_seg_load(const char *path, st_pyannote_seg **out, st_error *err) {
    *out = NULL;
    st_model model;
    steno_status status = st_pyannote_load(path, "PyanNet", &model, err);
    return status == STENO_OK ? st_pyannote_seg_from_model(&model, out, err) : status;
}

void st_pyannote_seg_free(st_pyannote_seg *s) {
    if (!s) return;
    for (int i = 0; i < 2; i++) {
        st_nn_free(s->wav_norm[i]);
        st_nn_free(s->conv_weight[i]);
        st_nn_free(s->conv_bias[i]);
    }
    st_nn_free(s->filters);
    for (int i = 0; i < 3; i++) {
        st_nn_free(s->norm[i][0]);
        st_nn_free(s->norm[i][1]);
        st_nn_free(s->linear_weight[i]);
        st_nn_free(s->linear_bias[i]);
    }
    for (int layer = 0; layer < LSTM_LAYERS; layer++) {
        st_nn_lstm_direction_free(&s->lstm[layer][0]);
        st_nn_lstm_direction_free(&s->lstm[layer][1]);
    }
    st_nn_free(s->a);
    st_nn_free(s->b);
    st_nn_free(s->cols);
    st_nn_free(s->gates);
    st_nn_free(s->state);
    st_model_free(&s->model);
    free(s);
}

/* Frame counts through SincNet: the sinc convolution, then pool, conv, pool, conv, pool. */
static void sincnet_lengths(size_t n_samples, int lengths[6]) {
    int n = n_samples > (size_t)1 << 30 ? 1 << 30 : (int)n_samples;
    lengths[0] = st_nn_conv_out_len(n, SINC_TAPS, SINC_STRIDE);
    lengths[1] = st_nn_conv_out_len(lengths[0], POOL, POOL);
    lengths[2] = st_nn_conv_out_len(lengths[1], CONV_TAPS, 1);
    lengths[3] = st_nn_conv_out_len(lengths[2], POOL, POOL);
    lengths[4] = st_nn_conv_out_len(lengths[3], CONV_TAPS, 1);
    lengths[5] = st_nn_conv_out_len(lengths[4], POOL, POOL);
}

int st_pyannote_seg_n_frames(size_t n_samples) {
    int lengths[6];
    sincnet_lengths(n_samples, lengths);
    return lengths[5];
}

static steno_status reserve(st_pyannote_seg *s, size_t n_samples, st_error *err) {
    if (n_samples <= s->capacity) return STENO_OK;
    int lengths[6];
    sincnet_lengths(n_samples, lengths);
    size_t frames = (size_t)lengths[5];
    /* a: the samples, the first pooled maps, the LSTM's input; b: the convolutions' outputs */
    size_t a = n_samples, b = (size_t)lengths[0] * N_FILTERS;
    if (a < (size_t)lengths[1] * N_FILTERS) a = (size_t)lengths[1] * N_FILTERS;
    if (a < frames * 2 * HIDDEN) a = frames * 2 * HIDDEN;
    if (b < frames * 2 * HIDDEN) b = frames * 2 * HIDDEN;
    st_nn_free(s->a);
    st_nn_free(s->b);
    st_nn_free(s->cols);
    st_nn_free(s->gates);
    st_nn_free(s->state);
    s->a = st_nn_alloc(a);
    s->b = st_nn_alloc(b);
    s->cols = st_nn_alloc((size_t)COLS_BLOCK * (SINC_TAPS > N_FILTERS * CONV_TAPS ? SINC_TAPS : N_FILTERS * CONV_TAPS));
    s->gates = st_nn_alloc(frames * 4 * HIDDEN);
    s->state = st_nn_alloc(2 * HIDDEN);
    if (!s->a || !s->b || !s->cols || !s->gates || !s->state) {
        s->capacity = 0;
        return st_error_set(err, STENO_ERR_NO_MEMORY, "segmentation: out of memory for %zu samples", n_samples);
    }
    s->capacity = n_samples;
    return STENO_OK;
}

steno_status st_pyannote_seg_run(st_pyannote_seg *s, const float *samples, size_t n_samples, float *log_probs,
                                 st_error *err) {
    int L[6];
    sincnet_lengths(n_samples, L);
    if (L[5] < 1) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "segmentation: %zu samples are too few for one frame",
                            n_samples);
    }
    steno_status status = reserve(s, n_samples, err);
    if (status != STENO_OK) return status;
    float *a = s->a, *b = s->b;
    memcpy(a, samples, sizeof(float) * n_samples);
    st_nn_instance_norm1d(a, (int)n_samples, 1, s->wav_norm[0], s->wav_norm[1]);
    st_nn_conv1d(a, (int)n_samples, 1, s->filters, NULL, N_FILTERS, SINC_TAPS, SINC_STRIDE, b, s->cols, COLS_BLOCK);
    for (size_t i = 0; i < (size_t)L[0] * N_FILTERS; i++)
        b[i] = fabsf(b[i]);
    st_nn_max_pool1d(b, L[0], N_FILTERS, POOL, POOL, a);
    st_nn_instance_norm1d(a, L[1], N_FILTERS, s->norm[0][0], s->norm[0][1]);
    st_nn_leaky_relu(a, (size_t)L[1] * N_FILTERS);
    int channels = N_FILTERS;
    for (int i = 0; i < 2; i++) {
        int length = L[1 + 2 * i];
        st_nn_conv1d(a, length, channels, s->conv_weight[i], s->conv_bias[i], CONV_CHANNELS, CONV_TAPS, 1, b, s->cols,
                     COLS_BLOCK);
        st_nn_max_pool1d(b, L[2 + 2 * i], CONV_CHANNELS, POOL, POOL, a);
        st_nn_instance_norm1d(a, L[3 + 2 * i], CONV_CHANNELS, s->norm[i + 1][0], s->norm[i + 1][1]);
        st_nn_leaky_relu(a, (size_t)L[3 + 2 * i] * CONV_CHANNELS);
        channels = CONV_CHANNELS;
    }
    int frames = L[5];
    for (int layer = 0; layer < LSTM_LAYERS; layer++) { /* a [frames][n_in] -> b [frames][256] -> a */
        for (int direction = 0; direction < 2; direction++) {
            st_nn_lstm_direction_run(&s->lstm[layer][direction], a, frames, direction, b + direction * HIDDEN,
                                     2 * HIDDEN, s->gates, s->state);
        }
        memcpy(a, b, sizeof(float) * (size_t)frames * 2 * HIDDEN);
    }
    st_nn_matmul_f32(a, frames, s->linear_weight[0], s->linear_bias[0], 2 * HIDDEN, HIDDEN, b, HIDDEN);
    st_nn_leaky_relu(b, (size_t)frames * HIDDEN);
    st_nn_matmul_f32(b, frames, s->linear_weight[1], s->linear_bias[1], HIDDEN, HIDDEN, a, HIDDEN);
    st_nn_leaky_relu(a, (size_t)frames * HIDDEN);
    st_nn_matmul_f32(a, frames, s->linear_weight[2], s->linear_bias[2], HIDDEN, ST_PYANNOTE_SEG_CLASSES, log_probs,
                     ST_PYANNOTE_SEG_CLASSES);
    for (int t = 0; t < frames; t++) {
        float *row = log_probs + (size_t)t * ST_PYANNOTE_SEG_CLASSES, top = row[0];
        for (int k = 1; k < ST_PYANNOTE_SEG_CLASSES; k++)
            top = row[k] > top ? row[k] : top;
        double sum = 0;
        for (int k = 0; k < ST_PYANNOTE_SEG_CLASSES; k++)
            sum += exp((double)row[k] - top);
        float log_sum = top + (float)log(sum);
        for (int k = 0; k < ST_PYANNOTE_SEG_CLASSES; k++)
            row[k] -= log_sum;
    }
    return STENO_OK;
}

void st_pyannote_powerset_to_multilabel(const float *log_probs, int n_frames, float *multilabel) {
    /* class k's speakers, as bits: {}, {1}, {2}, {3}, {1,2}, {1,3}, {2,3} */
    static const int members[ST_PYANNOTE_SEG_CLASSES] = {0, 1, 2, 4, 3, 5, 6};
    for (int t = 0; t < n_frames; t++) {
        const float *row = log_probs + (size_t)t * ST_PYANNOTE_SEG_CLASSES;
        int best = 0;
        for (int k = 1; k < ST_PYANNOTE_SEG_CLASSES; k++)
            if (row[k] > row[best]) best = k;
        for (int speaker = 0; speaker < ST_PYANNOTE_SEG_SPEAKERS; speaker++)
            multilabel[(size_t)t * ST_PYANNOTE_SEG_SPEAKERS + speaker] = (float)((members[best] >> speaker) & 1);
    }
}
