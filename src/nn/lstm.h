/*
 * lstm.h — one direction of one layer of PyTorch's nn.LSTM, in float32.
 *
 * PyTorch's gates, in its order i, f, g, o: i = σ(W_ii x + b_ii + W_hi h + b_hi), likewise f
 * and o, g = tanh(…); c' = f c + i g; h' = o tanh(c'), from h = c = 0. The input projection of
 * every step is one sgemm; the recurrence is a matrix-vector product per step on the
 * transposed recurrent weight, so that the inner loop runs over contiguous gate rows.
 */
#ifndef ST_NN_LSTM_H
#define ST_NN_LSTM_H

#include "models/tensor_set.h"
#include "util/error.h"

typedef struct st_nn_lstm_direction {
    int n_in, n_hidden;
    float *weight_ih;   /* [4 n_hidden][n_in] */
    float *weight_hh_t; /* [n_hidden][4 n_hidden]: weight_hh transposed */
    float *bias;        /* [4 n_hidden]: bias_ih + bias_hh */
} st_nn_lstm_direction;

/* Builds a direction from PyTorch's weight_ih [4H][n_in], weight_hh [4H][H], bias_ih and
 * bias_hh [4H] (shapes checked by the caller). */
steno_status st_nn_lstm_direction_init(st_nn_lstm_direction *d, const st_tensor *weight_ih, const st_tensor *weight_hh,
                                       const st_tensor *bias_ih, const st_tensor *bias_hh, st_error *err);
void st_nn_lstm_direction_free(st_nn_lstm_direction *d);

/* Runs over x [n_time][n_in], forward in time or (reverse) backward, writing h of step t to
 * y[t * y_stride ...] (n_hidden values: one half of a bidirectional layer's output). gates is
 * scratch of n_time * 4 n_hidden floats, state of 2 n_hidden. */
void st_nn_lstm_direction_run(const st_nn_lstm_direction *d, const float *x, int n_time, int reverse, float *y,
                              int y_stride, float *gates, float *state);

#endif
