/*
 * conv.h — general convolutions in float32, as one sgemm per block of output positions over
 * the unfolded input (im2col), for the diarization nets.
 *
 * Layouts keep the channels innermost, the layout the sgemm produces: a 1-D signal is
 * time-major [time][channels]; a 2-D map is [height][width][channels]. Weights are taken in
 * the layout the kernels read, documented per function; callers reorder PyTorch's once, when
 * a net is loaded.
 */
#ifndef ST_NN_CONV_H
#define ST_NN_CONV_H

#include <stddef.h>

/* Output length of a convolution or pooling without padding: (n - kernel) / stride + 1, or 0
 * when n < kernel. */
int st_nn_conv_out_len(int n, int kernel, int stride);

/* PyTorch's Conv1d(n_in, n_out, kernel, stride) with no padding:
 * y[t][o] = bias[o] + sum over c, j of weight[o][c][j] * x[t * stride + j][c], for the
 * st_nn_conv_out_len(n_time, kernel, stride) output steps. weight is PyTorch's [n_out][n_in][kernel]
 * as is; bias may be NULL. cols is scratch of block * n_in * kernel floats, block >= 1 being the
 * number of output steps unfolded at a time. */
void st_nn_conv1d(const float *x, int n_time, int n_in, const float *weight, const float *bias, int n_out, int kernel,
                  int stride, float *y, float *cols, int block);

/* PyTorch's Conv2d(n_in, n_out, kernel, stride, padding) on x [height][width][n_in], zero
 * padded by `padding` on every side, into y [out_height][out_width][n_out] (out sizes
 * (size + 2 padding - kernel) / stride + 1). weight is [n_out][kernel][kernel][n_in] (PyTorch's
 * [n_out][n_in][kernel][kernel] with the input channel moved innermost); bias may be NULL. cols
 * is scratch of block * kernel * kernel * n_in floats. */
void st_nn_conv2d(const float *x, int height, int width, int n_in, const float *weight, const float *bias, int n_out,
                  int kernel, int stride, int padding, float *y, float *cols, int block);

/* MaxPool1d(kernel, stride) over time of x [n_time][n_channels] into y [out][n_channels]. */
void st_nn_max_pool1d(const float *x, int n_time, int n_channels, int kernel, int stride, float *y);

/* InstanceNorm1d(n_channels, affine=True, eps 1e-5) over time of x [n_time][n_channels], in
 * place: each channel shifted and scaled to zero mean and unit (biased) variance, then
 * multiplied by gamma and shifted by beta. */
void st_nn_instance_norm1d(float *x, int n_time, int n_channels, const float *gamma, const float *beta);

/* LeakyReLU with PyTorch's default slope 0.01, in place. */
void st_nn_leaky_relu(float *x, size_t n);

#endif
