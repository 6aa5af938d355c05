/*
 * ops.h — the row-wise and element-wise kernels of a transformer on CPU, in float32.
 *
 * Activations are row-major [rows][dim] (one row per time step or token), the layout the
 * sgemm-based layers produce, so every kernel here walks contiguous memory.
 */
#ifndef ST_NN_OPS_H
#define ST_NN_OPS_H

#include <stddef.h>

/* PyTorch's nn.LayerNorm default, which Whisper's LayerNorm keeps. */
#define ST_NN_LAYER_NORM_EPS 1e-5f

/* y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta over each row of dim values (biased
 * variance, as PyTorch). x and y may be the same buffer. */
void st_nn_layer_norm(const float *x, int n_rows, int dim, const float *gamma, const float *beta, float *y);

/* GELU in its exact form, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): PyTorch's nn.GELU default,
 * which Whisper uses (not the tanh approximation). In place over n values. */
void st_nn_gelu(float *x, size_t n);

/* Numerically stable softmax of the first n_valid of a row's values, in place; the values from
 * n_valid on are set to 0 (the masked keys of causal attention). n_valid must be at least 1. */
void st_nn_softmax_row(float *row, int n_valid, int n_cols);

/* y[i] += x[i] for n values (the residual connection). */
void st_nn_add(float *y, const float *x, size_t n);

/* Output length of st_nn_conv1d_k3 for n_in_time input steps. */
int st_nn_conv1d_k3_out_len(int n_in_time, int stride);

/* One-dimensional convolution with kernel 3, zero padding 1 and the given stride, as PyTorch's
 * Conv1d(kernel_size=3, padding=1): y[t][o] = bias[o] + sum over c, j of
 * weight[o][c][j] * x[t*stride + j - 1][c]. Input x is time-major [n_in_time][n_in_ch], output
 * y is [n_out_time][n_out_ch]. cols is scratch of n_out_time * n_in_ch * 3 floats: the input is
 * unfolded there (im2col) so that the convolution becomes one sgemm against the weight
 * [n_out_ch][n_in_ch * 3] read as is. */
void st_nn_conv1d_k3(const float *x, int n_in_time, int n_in_ch, const float *weight, const float *bias, int n_out_ch,
                     int stride, float *cols, float *y);

/* The same for n_batch independent sequences stored one after another (each padded on its
 * own): x is [n_batch][n_in_time][n_in_ch], y [n_batch][n_out_time][n_out_ch], cols scratch of
 * n_batch times the single sequence's size. One sgemm covers the whole batch. */
void st_nn_conv1d_k3_batch(const float *x, int n_batch, int n_in_time, int n_in_ch, const float *weight,
                           const float *bias, int n_out_ch, int stride, float *cols, float *y);

#endif
