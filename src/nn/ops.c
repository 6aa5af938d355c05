/* ops.c — layer norm, GELU, softmax, residual add and the im2col convolution; see ops.h. */
#include "nn/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void st_nn_layer_norm(const float *x, int n_rows, int dim, const float *gamma, const float *beta, float *y) {
    for (int r = 0; r < n_rows; r++) {
        const float *in = x + (size_t)r * dim;
        float *out = y + (size_t)r * dim;
        /* Two passes in double: the mean first, then the variance around it, so a row with a
         * large offset loses no precision (PyTorch's kernel is equally careful). */
        double sum = 0.0;
        for (int i = 0; i < dim; i++)
            sum += in[i];
        double mean = sum / dim;
        double squares = 0.0;
        for (int i = 0; i < dim; i++) {
            double centred = in[i] - mean;
            squares += centred * centred;
        }
        float inv_std = (float)(1.0 / sqrt(squares / dim + ST_NN_LAYER_NORM_EPS));
        float mean_f = (float)mean;
        for (int i = 0; i < dim; i++)
            out[i] = (in[i] - mean_f) * inv_std * gamma[i] + beta[i];
    }
}

void st_nn_gelu(float *x, size_t n) {
    const float inv_sqrt2 = 0.70710678118654752f;
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

void st_nn_softmax_row(float *row, int n_valid, int n_cols) {
    float max = row[0];
    for (int i = 1; i < n_valid; i++)
        max = row[i] > max ? row[i] : max;
    float sum = 0.0f;
    for (int i = 0; i < n_valid; i++) {
        row[i] = expf(row[i] - max);
        sum += row[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n_valid; i++)
        row[i] *= inv;
    for (int i = n_valid; i < n_cols; i++)
        row[i] = 0.0f;
}

void st_nn_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

int st_nn_conv1d_k3_out_len(int n_in_time, int stride) {
    return (n_in_time + 2 - 3) / stride + 1;
}

void st_nn_conv1d_k3(const float *x, int n_in_time, int n_in_ch, const float *weight, const float *bias, int n_out_ch,
                     int stride, float *cols, float *y) {
    int n_out_time = st_nn_conv1d_k3_out_len(n_in_time, stride);
    size_t width = (size_t)n_in_ch * 3;
    /* Unfold: row t holds, for each input channel c, the three taps x[t*stride-1 .. +1][c] in
     * the order of the weight's innermost dimensions [c][j]. */
    for (int t = 0; t < n_out_time; t++) {
        float *row = cols + (size_t)t * width;
        for (int j = 0; j < 3; j++) {
            int source = t * stride + j - 1;
            if (source < 0 || source >= n_in_time) {
                for (int c = 0; c < n_in_ch; c++)
                    row[(size_t)c * 3 + j] = 0.0f;
            } else {
                const float *in = x + (size_t)source * n_in_ch;
                for (int c = 0; c < n_in_ch; c++)
                    row[(size_t)c * 3 + j] = in[c];
            }
        }
    }
    for (int t = 0; t < n_out_time; t++)
        memcpy(y + (size_t)t * n_out_ch, bias, sizeof(float) * (size_t)n_out_ch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_out_time, n_out_ch, (int)width, 1.0f, cols, (int)width,
                weight, (int)width, 1.0f, y, n_out_ch);
}
