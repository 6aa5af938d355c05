/*
 * conv.c — general convolutions, pooling and instance normalisation (see conv.h).
 */
#include "nn/conv.h"

#include <math.h>
#include <string.h>

#include "nn/linear.h"

int st_nn_conv_out_len(int n, int kernel, int stride) {
    return n < kernel ? 0 : (n - kernel) / stride + 1;
}

void st_nn_conv1d(const float *x, int n_time, int n_in, const float *weight, const float *bias, int n_out, int kernel,
                  int stride, float *y, float *cols, int block) {
    int n_steps = st_nn_conv_out_len(n_time, kernel, stride), width = n_in * kernel;
    for (int t0 = 0; t0 < n_steps; t0 += block) {
        int rows = n_steps - t0 < block ? n_steps - t0 : block;
        /* cols[r][c * kernel + j] = x[(t0 + r) * stride + j][c]: the weight's own order */
        for (int r = 0; r < rows; r++) {
            const float *in = x + (size_t)(t0 + r) * stride * n_in;
            float *row = cols + (size_t)r * width;
            if (n_in == 1) {
                memcpy(row, in, sizeof(float) * (size_t)kernel);
                continue;
            }
            for (int j = 0; j < kernel; j++) {
                for (int c = 0; c < n_in; c++)
                    row[c * kernel + j] = in[(size_t)j * n_in + c];
            }
        }
        st_nn_matmul_f32(cols, rows, weight, bias, width, n_out, y + (size_t)t0 * n_out, n_out);
    }
}

void st_nn_conv2d(const float *x, int height, int width, int n_in, const float *weight, const float *bias, int n_out,
                  int kernel, int stride, int padding, float *y, float *cols, int block) {
    int out_h = (height + 2 * padding - kernel) / stride + 1, out_w = (width + 2 * padding - kernel) / stride + 1;
    int positions = out_h * out_w, depth = kernel * kernel * n_in;
    for (int p0 = 0; p0 < positions; p0 += block) {
        int rows = positions - p0 < block ? positions - p0 : block;
        for (int r = 0; r < rows; r++) {
            int oh = (p0 + r) / out_w, ow = (p0 + r) % out_w;
            float *row = cols + (size_t)r * depth;
            for (int ky = 0; ky < kernel; ky++) {
                int ih = oh * stride + ky - padding;
                for (int kx = 0; kx < kernel; kx++) {
                    int iw = ow * stride + kx - padding;
                    float *dst = row + (size_t)(ky * kernel + kx) * n_in;
                    if (ih < 0 || ih >= height || iw < 0 || iw >= width) {
                        memset(dst, 0, sizeof(float) * (size_t)n_in);
                    } else {
                        memcpy(dst, x + ((size_t)ih * width + iw) * n_in, sizeof(float) * (size_t)n_in);
                    }
                }
            }
        }
        st_nn_matmul_f32(cols, rows, weight, bias, depth, n_out, y + (size_t)p0 * n_out, n_out);
    }
}

void st_nn_max_pool1d(const float *x, int n_time, int n_channels, int kernel, int stride, float *y) {
    int n_out = st_nn_conv_out_len(n_time, kernel, stride);
    for (int t = 0; t < n_out; t++) {
        float *out = y + (size_t)t * n_channels;
        memcpy(out, x + (size_t)t * stride * n_channels, sizeof(float) * (size_t)n_channels);
        for (int j = 1; j < kernel; j++) {
            const float *in = x + ((size_t)t * stride + j) * n_channels;
            for (int c = 0; c < n_channels; c++)
                out[c] = in[c] > out[c] ? in[c] : out[c];
        }
    }
}

void st_nn_instance_norm1d(float *x, int n_time, int n_channels, const float *gamma, const float *beta) {
    for (int c = 0; c < n_channels; c++) {
        double sum = 0, squares = 0;
        for (int t = 0; t < n_time; t++)
            sum += x[(size_t)t * n_channels + c];
        double mean = sum / n_time;
        for (int t = 0; t < n_time; t++) {
            double d = x[(size_t)t * n_channels + c] - mean;
            squares += d * d;
        }
        double scale = gamma[c] / sqrt(squares / n_time + 1e-5);
        for (int t = 0; t < n_time; t++) {
            float *v = &x[(size_t)t * n_channels + c];
            *v = (float)((*v - mean) * scale + beta[c]);
        }
    }
}

void st_nn_leaky_relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] < 0 ? 0.01f * x[i] : x[i];
}
