/* ops.c — layer norm, GELU, softmax, residual add and the im2col convolution; see ops.h. */
#include "nn/ops.h"

#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/threads.h"

/* Rows per layer-norm task. */
#define NORM_TASK_ROWS 64

static void layer_norm_rows(const float *x, int first, int n_rows, int dim, const float *gamma, const float *beta,
                            float *y) {
    for (int r = first; r < first + n_rows; r++) {
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

typedef struct norm_job {
    const float *x;
    int n_rows, dim;
    const float *gamma, *beta;
    float *y;
} norm_job;

static void norm_task(void *context, int task) {
    const norm_job *job = context;
    int first = task * NORM_TASK_ROWS;
    int count = job->n_rows - first < NORM_TASK_ROWS ? job->n_rows - first : NORM_TASK_ROWS;
    layer_norm_rows(job->x, first, count, job->dim, job->gamma, job->beta, job->y);
}

void st_nn_layer_norm(const float *x, int n_rows, int dim, const float *gamma, const float *beta, float *y) {
    norm_job job = {x, n_rows, dim, gamma, beta, y};
    st_nn_parallel_for((n_rows + NORM_TASK_ROWS - 1) / NORM_TASK_ROWS, norm_task, &job);
}

/* Values per GELU task: 64 KiB of floats, enough to amortise taking a task. */
#define GELU_TASK 16384

typedef struct gelu_job {
    float *x;
    size_t n;
} gelu_job;

static void gelu_task(void *context, int task) {
    const gelu_job *job = context;
    size_t begin = (size_t)task * GELU_TASK;
    size_t count = job->n - begin < GELU_TASK ? job->n - begin : GELU_TASK;
    st_nn_kernels_best()->gelu(job->x + begin, count);
}

void st_nn_gelu(float *x, size_t n) {
    gelu_job job = {x, n};
    st_nn_parallel_for((int)((n + GELU_TASK - 1) / GELU_TASK), gelu_task, &job);
}

void st_nn_softmax_row(float *row, int n_valid, int n_cols) {
    st_nn_kernels_best()->softmax(row, n_valid, n_cols);
}

void st_nn_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

int st_nn_conv1d_k3_out_len(int n_in_time, int stride) {
    return (n_in_time + 2 - 3) / stride + 1;
}

void st_nn_conv1d_k3_batch(const float *x, int n_batch, int n_in_time, int n_in_ch, const float *weight,
                           const float *bias, int n_out_ch, int stride, float *cols, float *y) {
    int n_out_time = st_nn_conv1d_k3_out_len(n_in_time, stride);
    size_t width = (size_t)n_in_ch * 3;
    /* Unfold: row t of sequence b holds, for each input channel c, the three taps
     * x[b][t*stride-1 .. +1][c] in the order of the weight's innermost dimensions [c][j]. */
    for (int b = 0; b < n_batch; b++) {
        const float *sequence = x + (size_t)b * n_in_time * n_in_ch;
        for (int t = 0; t < n_out_time; t++) {
            float *row = cols + ((size_t)b * n_out_time + t) * width;
            for (int j = 0; j < 3; j++) {
                int source = t * stride + j - 1;
                if (source < 0 || source >= n_in_time) {
                    for (int c = 0; c < n_in_ch; c++)
                        row[(size_t)c * 3 + j] = 0.0f;
                } else {
                    const float *in = sequence + (size_t)source * n_in_ch;
                    for (int c = 0; c < n_in_ch; c++)
                        row[(size_t)c * 3 + j] = in[c];
                }
            }
        }
    }
    st_nn_matmul_f32(cols, n_batch * n_out_time, weight, bias, (int)width, n_out_ch, y, n_out_ch);
}

void st_nn_conv1d_k3(const float *x, int n_in_time, int n_in_ch, const float *weight, const float *bias, int n_out_ch,
                     int stride, float *cols, float *y) {
    st_nn_conv1d_k3_batch(x, 1, n_in_time, n_in_ch, weight, bias, n_out_ch, stride, cols, y);
}
