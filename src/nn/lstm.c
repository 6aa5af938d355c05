/*
 * lstm.c — one LSTM direction (see lstm.h).
 */
#include "nn/lstm.h"

#include <math.h>
#include <string.h>

#include "nn/linear.h"

steno_status st_nn_lstm_direction_init(st_nn_lstm_direction *d, const st_tensor *weight_ih, const st_tensor *weight_hh,
                                       const st_tensor *bias_ih, const st_tensor *bias_hh, st_error *err) {
    memset(d, 0, sizeof *d);
    d->n_hidden = (int)weight_hh->shape[1];
    d->n_in = (int)weight_ih->shape[1];
    int rows = 4 * d->n_hidden;
    float *w_hh = NULL, *b_ih = NULL, *b_hh = NULL;
    steno_status status = st_nn_tensor_to_f32(weight_ih, &d->weight_ih, err);
    if (status == STENO_OK) status = st_nn_tensor_to_f32(weight_hh, &w_hh, err);
    if (status == STENO_OK) status = st_nn_tensor_to_f32(bias_ih, &b_ih, err);
    if (status == STENO_OK) status = st_nn_tensor_to_f32(bias_hh, &b_hh, err);
    if (status == STENO_OK) {
        d->weight_hh_t = st_nn_alloc((size_t)rows * d->n_hidden);
        d->bias = st_nn_alloc((size_t)rows);
        if (!d->weight_hh_t || !d->bias) status = st_error_set(err, STENO_ERR_NO_MEMORY, "LSTM: out of memory");
    }
    if (status == STENO_OK) {
        for (int r = 0; r < rows; r++) {
            d->bias[r] = b_ih[r] + b_hh[r];
            for (int k = 0; k < d->n_hidden; k++)
                d->weight_hh_t[(size_t)k * rows + r] = w_hh[(size_t)r * d->n_hidden + k];
        }
    }
    st_nn_free(w_hh);
    st_nn_free(b_ih);
    st_nn_free(b_hh);
    if (status != STENO_OK) st_nn_lstm_direction_free(d);
    return status;
}

void st_nn_lstm_direction_free(st_nn_lstm_direction *d) {
    st_nn_free(d->weight_ih);
    st_nn_free(d->weight_hh_t);
    st_nn_free(d->bias);
    memset(d, 0, sizeof *d);
}

static float sigmoid(float v) {
    return 1.0f / (1.0f + expf(-v));
}

void st_nn_lstm_direction_run(const st_nn_lstm_direction *d, const float *x, int n_time, int reverse, float *y,
                              int y_stride, float *gates, float *state) {
    int hidden = d->n_hidden, rows = 4 * hidden;
    st_nn_matmul_f32(x, n_time, d->weight_ih, d->bias, d->n_in, rows, gates, rows);
    float *h = state, *c = state + hidden;
    memset(state, 0, sizeof(float) * 2 * (size_t)hidden);
    for (int step = 0; step < n_time; step++) {
        int t = reverse ? n_time - 1 - step : step;
        float *g = gates + (size_t)t * rows;
        for (int k = 0; k < hidden; k++) {
            const float *w = d->weight_hh_t + (size_t)k * rows;
            float hk = h[k];
            for (int r = 0; r < rows; r++)
                g[r] += hk * w[r];
        }
        for (int k = 0; k < hidden; k++) {
            c[k] = sigmoid(g[hidden + k]) * c[k] + sigmoid(g[k]) * tanhf(g[2 * hidden + k]);
            h[k] = sigmoid(g[3 * hidden + k]) * tanhf(c[k]);
        }
        memcpy(y + (size_t)t * y_stride, h, sizeof(float) * (size_t)hidden);
    }
}
