/* silero.c — the Silero VAD network (v5 and v6, 16 kHz branch) in C (see vad.h).
 *
 * The ONNX file holds two copies of the net, one per sample rate, as the branches of an If on
 * `sr`; the 16 kHz branch is the subgraph whose STFT basis is [258, 1, 256], and every other
 * weight is taken from that same subgraph. Its op sequence, per 512-sample frame x with the
 * 64 samples before it in front (576 samples):
 *
 *   reflect-pad 64 on the right (640) → Conv1d with the STFT basis, kernel 256, stride 128
 *   (4 steps × 258 = 129 real + 129 imaginary bins) → magnitude sqrt(re² + im²)
 *   → 4 × [Conv1d k3 pad 1 + ReLU]: 129→128 stride 1, 128→64 stride 2, 64→64 stride 2,
 *     64→128 stride 1 (time 4 → 4 → 2 → 1 → 1)
 *   → LSTM cell (hidden 128, PyTorch gate order i, f, g, o) on the state carried over from the
 *     previous frame → ReLU → 1×1 Conv 128→1 → sigmoid: the speech probability.
 *
 * Everything before the LSTM depends on one frame only, so it runs on blocks of frames as
 * sgemm; only the LSTM's recurrent product goes frame by frame.
 */
#include "vad/vad.h"

#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn/linear.h"
#include "nn/ops.h"
#include "util/mapped_file.h"
#include "vad/onnx.h"

enum {
    CONTEXT = 64,                        /* samples of the previous frame in front of each */
    WINDOW = CONTEXT + ST_VAD_FRAME,     /* 576 */
    PADDED = WINDOW + 64,                /* after the reflection pad */
    FILTER = 256,                        /* STFT filter length */
    HOP = 128,                           /* STFT stride */
    STEPS = (PADDED - FILTER) / HOP + 1, /* 4 STFT steps per frame */
    BINS = FILTER / 2 + 1,               /* 129 */
    HIDDEN = 128,
    GATES = 4 * HIDDEN,
    BLOCK = 256, /* frames whose front end runs as one batch (8 s) */
};

typedef struct conv_layer {
    int n_in, n_out, stride;
    float *weight; /* [n_out][n_in][3] */
    float *bias;   /* [n_out] */
} conv_layer;

struct st_vad {
    float *basis; /* [2 * BINS][FILTER] */
    conv_layer encoder[4];
    float *w_ih;        /* [GATES][HIDDEN] */
    float *w_hh_t;      /* weight_hh transposed, [HIDDEN][GATES]: the recurrent product runs
                           along the gates (vectors of independent sums, each summed in order) */
    float *gate_bias;   /* b_ih + b_hh [GATES] */
    float *head_weight; /* [HIDDEN] */
    float head_bias;
    float h[HIDDEN], c[HIDDEN];
    /* Scratch for one block. */
    float *windows;  /* [BLOCK * STEPS][FILTER] */
    float *spectrum; /* [BLOCK * STEPS][2 * BINS] */
    float *a, *b;    /* activations, [BLOCK][STEPS][BINS] at most */
    float *cols;     /* im2col of the widest layer */
    float *gates;    /* [BLOCK][GATES] */
    /* The probabilities of the last call, kept when st_vad_keep_last asked for them: a second
     * call on the same samples (same buffer, same length) copies them. */
    int keep_last;
    const float *last_samples;
    size_t last_n_samples;
    float *last_probs;
};

/* Frames the network has run on in this process, for st_vad_frames_run. */
static _Atomic size_t frames_run;

static const int encoder_shapes[4][3] = {{BINS, 128, 1}, {128, 64, 2}, {64, 64, 2}, {64, 128, 1}};

/* Copies the float tensor named *suffix with the given shape, from graph, into a new buffer. */
static steno_status load(const st_onnx_model *model, int graph, const char *suffix, const int64_t *dims, int n_dims,
                         float **out, const char *path, st_error *err) {
    const st_onnx_tensor *t = st_onnx_find(model, graph, suffix, dims, n_dims);
    if (!t) {
        return st_error_set(err, STENO_ERR_FORMAT, "%s: no tensor '%s' of the expected shape in Silero's 16 kHz branch",
                            path, suffix);
    }
    *out = malloc(t->n_elements * sizeof **out);
    if (!*out) return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    return st_onnx_tensor_floats(t, *out, path, err);
}

static steno_status load_weights(st_vad *vad, const st_onnx_model *model, const char *path, st_error *err) {
    const int64_t basis_dims[] = {2 * BINS, 1, FILTER};
    const st_onnx_tensor *basis = st_onnx_find(model, -1, "stft.forward_basis_buffer", basis_dims, 3);
    if (!basis) {
        return st_error_set(
            err, STENO_ERR_FORMAT,
            "%s: not a Silero VAD model (no 16 kHz STFT basis 'stft.forward_basis_buffer' [258, 1, 256])", path);
    }
    int g = basis->graph;
    steno_status s = load(model, g, "stft.forward_basis_buffer", basis_dims, 3, &vad->basis, path, err);
    for (int i = 0; i < 4 && s == STENO_OK; i++) {
        conv_layer *layer = &vad->encoder[i];
        layer->n_in = encoder_shapes[i][0];
        layer->n_out = encoder_shapes[i][1];
        layer->stride = encoder_shapes[i][2];
        char name[64];
        snprintf(name, sizeof name, "encoder.%d.reparam_conv.weight", i);
        const int64_t w_dims[] = {layer->n_out, layer->n_in, 3}, b_dims[] = {layer->n_out};
        s = load(model, g, name, w_dims, 3, &layer->weight, path, err);
        snprintf(name, sizeof name, "encoder.%d.reparam_conv.bias", i);
        if (s == STENO_OK) s = load(model, g, name, b_dims, 1, &layer->bias, path, err);
    }
    const int64_t matrix[] = {GATES, HIDDEN}, vector[] = {GATES}, head_dims[] = {1, HIDDEN, 1}, one[] = {1};
    float *b_ih = NULL, *b_hh = NULL, *head_bias = NULL;
    if (s == STENO_OK) s = load(model, g, "decoder.rnn.weight_ih", matrix, 2, &vad->w_ih, path, err);
    float *w_hh = NULL;
    if (s == STENO_OK) s = load(model, g, "decoder.rnn.weight_hh", matrix, 2, &w_hh, path, err);
    if (s == STENO_OK && !(vad->w_hh_t = malloc((size_t)GATES * HIDDEN * sizeof *vad->w_hh_t))) {
        s = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    for (int r = 0; s == STENO_OK && r < GATES; r++) {
        for (int k = 0; k < HIDDEN; k++)
            vad->w_hh_t[(size_t)k * GATES + r] = w_hh[(size_t)r * HIDDEN + k];
    }
    free(w_hh);
    if (s == STENO_OK) s = load(model, g, "decoder.rnn.bias_ih", vector, 1, &b_ih, path, err);
    if (s == STENO_OK) s = load(model, g, "decoder.rnn.bias_hh", vector, 1, &b_hh, path, err);
    if (s == STENO_OK) s = load(model, g, "decoder.decoder.2.weight", head_dims, 3, &vad->head_weight, path, err);
    if (s == STENO_OK) s = load(model, g, "decoder.decoder.2.bias", one, 1, &head_bias, path, err);
    if (s == STENO_OK) {
        vad->gate_bias = b_ih; /* summed in place: both biases are added to every gate */
        for (int i = 0; i < GATES; i++)
            vad->gate_bias[i] += b_hh[i];
        b_ih = NULL;
        vad->head_bias = head_bias[0];
    }
    free(b_ih);
    free(b_hh);
    free(head_bias);
    return s;
}

static steno_status alloc_scratch(st_vad *vad, const char *path, st_error *err) {
    size_t activations = (size_t)BLOCK * STEPS * BINS; /* the widest: the magnitudes */
    vad->windows = malloc((size_t)BLOCK * STEPS * FILTER * sizeof(float));
    vad->spectrum = malloc((size_t)BLOCK * STEPS * 2 * BINS * sizeof(float));
    vad->a = malloc(activations * sizeof(float));
    vad->b = malloc(activations * sizeof(float));
    vad->cols = malloc((size_t)BLOCK * STEPS * BINS * 3 * sizeof(float));
    vad->gates = malloc((size_t)BLOCK * GATES * sizeof(float));
    if (!vad->windows || !vad->spectrum || !vad->a || !vad->b || !vad->cols || !vad->gates) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    return STENO_OK;
}

steno_status st_vad_open_memory(const uint8_t *data, size_t size, const char *name, st_vad **out, st_error *err) {
    *out = NULL;
    st_onnx_model model;
    steno_status s = st_onnx_parse(data, size, name, &model, err);
    if (s != STENO_OK) return s;
    st_vad *vad = calloc(1, sizeof *vad);
    if (!vad) s = st_error_set(err, STENO_ERR_NO_MEMORY, "%s: out of memory", name);
    if (s == STENO_OK) s = load_weights(vad, &model, name, err);
    if (s == STENO_OK) s = alloc_scratch(vad, name, err);
    st_onnx_model_free(&model);
    if (s != STENO_OK) {
        st_vad_free(vad);
        return s;
    }
    *out = vad;
    return STENO_OK;
}

steno_status st_vad_open(const char *path, st_vad **out, st_error *err) {
    *out = NULL;
    st_mapped_file file;
    steno_status s = st_mapped_file_open(&file, path, err);
    if (s != STENO_OK) return s;
    s = st_vad_open_memory(file.data, file.size, path, out, err);
    st_mapped_file_close(&file);
    return s;
}

void st_vad_free(st_vad *vad) {
    if (!vad) return;
    free(vad->basis);
    for (int i = 0; i < 4; i++) {
        free(vad->encoder[i].weight);
        free(vad->encoder[i].bias);
    }
    free(vad->w_ih);
    free(vad->w_hh_t);
    free(vad->gate_bias);
    free(vad->head_weight);
    free(vad->windows);
    free(vad->spectrum);
    free(vad->a);
    free(vad->b);
    free(vad->cols);
    free(vad->gates);
    free(vad->last_probs);
    free(vad);
}

size_t st_vad_n_frames(size_t n_samples) {
    return n_samples / ST_VAD_FRAME + 1;
}

/* Sample i of the zero-padded signal (0 outside [0, n)). */
static float sample_at(const float *samples, size_t n, ptrdiff_t i) {
    return i >= 0 && (size_t)i < n ? samples[i] : 0.0f;
}

/* The STFT windows of frame f: its 576 samples (context first), reflected by 64 at the end
 * (PyTorch's ReflectionPad1d: x[575 + j] mirrors to x[575 − j]), cut into 4 hops. */
static void frame_windows(const float *samples, size_t n, size_t frame, float *windows) {
    float padded[PADDED];
    ptrdiff_t first = (ptrdiff_t)(frame * ST_VAD_FRAME) - CONTEXT;
    for (int i = 0; i < WINDOW; i++)
        padded[i] = sample_at(samples, n, first + i);
    /* The first frame's context is zeros; later frames see the previous frame's last 64. */
    for (int j = 1; j <= PADDED - WINDOW; j++)
        padded[WINDOW - 1 + j] = padded[WINDOW - 1 - j];
    for (int s = 0; s < STEPS; s++)
        memcpy(windows + (size_t)s * FILTER, padded + s * HOP, FILTER * sizeof(float));
}

static float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* Frames [first, first + count): front end as one batch, then the LSTM frame by frame. */
static void run_block(st_vad *vad, const float *samples, size_t n, size_t first, int count, float *probs) {
    for (int f = 0; f < count; f++)
        frame_windows(samples, n, first + (size_t)f, vad->windows + (size_t)f * STEPS * FILTER);
    st_nn_matmul_f32(vad->windows, count * STEPS, vad->basis, NULL, FILTER, 2 * BINS, vad->spectrum, 2 * BINS);
    for (int r = 0; r < count * STEPS; r++) {
        const float *row = vad->spectrum + (size_t)r * 2 * BINS;
        for (int k = 0; k < BINS; k++)
            vad->a[(size_t)r * BINS + k] = sqrtf(row[k] * row[k] + row[BINS + k] * row[BINS + k]);
    }
    float *x = vad->a, *y = vad->b;
    int time = STEPS;
    for (int i = 0; i < 4; i++) {
        const conv_layer *layer = &vad->encoder[i];
        st_nn_conv1d_k3_batch(x, count, time, layer->n_in, layer->weight, layer->bias, layer->n_out, layer->stride,
                              vad->cols, y);
        time = st_nn_conv1d_k3_out_len(time, layer->stride);
        for (size_t j = 0; j < (size_t)count * time * layer->n_out; j++)
            y[j] = y[j] > 0.0f ? y[j] : 0.0f;
        float *swap = x;
        x = y;
        y = swap;
    }
    /* x: [count][1][128], the LSTM's inputs. Their gate contributions, with both biases. */
    st_nn_matmul_f32(x, count, vad->w_ih, vad->gate_bias, HIDDEN, GATES, vad->gates, GATES);
    for (int f = 0; f < count; f++) {
        float *g = vad->gates + (size_t)f * GATES;
        float sums[GATES] = {0};
        for (int k = 0; k < HIDDEN; k++) {
            const float *w = vad->w_hh_t + (size_t)k * GATES, h = vad->h[k];
            for (int r = 0; r < GATES; r++)
                sums[r] += w[r] * h;
        }
        for (int r = 0; r < GATES; r++)
            g[r] += sums[r];
        float logit = vad->head_bias;
        for (int k = 0; k < HIDDEN; k++) {
            float in = sigmoid(g[k]), forget = sigmoid(g[HIDDEN + k]), cell = tanhf(g[2 * HIDDEN + k]),
                  out = sigmoid(g[3 * HIDDEN + k]);
            vad->c[k] = forget * vad->c[k] + in * cell;
            vad->h[k] = out * tanhf(vad->c[k]);
            logit += vad->head_weight[k] * (vad->h[k] > 0.0f ? vad->h[k] : 0.0f);
        }
        probs[f] = sigmoid(logit);
    }
}

steno_status st_vad_probabilities(st_vad *vad, const float *samples, size_t n_samples, float *probs, st_error *err) {
    if (!samples && n_samples) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "no samples given");
    size_t n_frames = st_vad_n_frames(n_samples);
    if (vad->last_probs && vad->last_samples == samples && vad->last_n_samples == n_samples) {
        memcpy(probs, vad->last_probs, n_frames * sizeof *probs);
        return STENO_OK;
    }
    memset(vad->h, 0, sizeof vad->h);
    memset(vad->c, 0, sizeof vad->c);
    for (size_t first = 0; first < n_frames; first += BLOCK) {
        int count = n_frames - first < BLOCK ? (int)(n_frames - first) : BLOCK;
        run_block(vad, samples, n_samples, first, count, probs + first);
    }
    frames_run += n_frames;
    if (vad->keep_last) {
        free(vad->last_probs);
        vad->last_samples = NULL;
        if ((vad->last_probs = malloc(n_frames * sizeof *probs))) {
            memcpy(vad->last_probs, probs, n_frames * sizeof *probs);
            vad->last_samples = samples, vad->last_n_samples = n_samples;
        }
    }
    return STENO_OK;
}

void st_vad_keep_last(st_vad *vad, int keep) {
    vad->keep_last = keep;
    if (!keep) {
        free(vad->last_probs);
        vad->last_probs = NULL, vad->last_samples = NULL;
    }
}

size_t st_vad_frames_run(void) {
    return frames_run;
}

steno_status st_vad_speech_spans(st_vad *vad, const float *samples, size_t n_samples, const st_vad_options *options,
                                 st_vad_span **spans, size_t *n_spans, st_error *err) {
    *spans = NULL;
    *n_spans = 0;
    st_vad_options defaults = st_vad_default_options();
    size_t n_frames = st_vad_n_frames(n_samples);
    float *probs = malloc(n_frames * sizeof *probs);
    if (!probs) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory for %zu VAD frames", n_frames);
    steno_status s = st_vad_probabilities(vad, samples, n_samples, probs, err);
    if (s == STENO_OK) {
        s = st_vad_spans_from_probabilities(probs, n_frames, n_samples, options ? options : &defaults, spans, n_spans,
                                            err);
    }
    free(probs);
    return s;
}
