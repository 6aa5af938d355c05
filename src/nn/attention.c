/* attention.c — multi-head attention as two sgemms and a softmax per head; see attention.h. */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>

#include "nn/ops.h"

void st_nn_attention(const st_nn_attention_args *a) {
    const float scale = 1.0f / sqrtf((float)a->d_head);
    for (int h = 0; h < a->n_head; h++) {
        const float *q = a->q + (size_t)h * a->d_head;
        const float *k = a->k + (size_t)h * a->d_head;
        const float *v = a->v + (size_t)h * a->d_head;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->n_q, a->n_kv, a->d_head, scale, q, a->q_stride, k,
                    a->kv_stride, 0.0f, a->scores, a->n_kv);
        if (a->on_scores) a->on_scores(a->user, h, a->scores, a->n_q, a->n_kv);
        for (int i = 0; i < a->n_q; i++) {
            int n_valid = a->n_kv;
            if (a->causal_offset != ST_NN_NO_MASK && a->causal_offset + i + 1 < n_valid)
                n_valid = a->causal_offset + i + 1;
            st_nn_softmax_row(a->scores + (size_t)i * a->n_kv, n_valid, a->n_kv);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->n_q, a->d_head, a->n_kv, 1.0f, a->scores, a->n_kv, v,
                    a->kv_stride, 0.0f, a->out + (size_t)h * a->d_head, a->out_stride);
    }
}
