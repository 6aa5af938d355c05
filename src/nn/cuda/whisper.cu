/*
 * whisper.cu — the Whisper network on an NVIDIA GPU: kernels, cuBLAS products and the
 * model and state the C side drives through backend.h.
 *
 * Numbers: weights and the inputs of every matrix product are halves, products accumulate in
 * float32 (cuBLAS's 32-bit compute type on tensor cores), and the residual stream, layer norms
 * and softmax stay in float32. That is the precision openai-whisper runs at on a GPU (fp16=True).
 *
 * Encoder: the two convolutions are im2col + one product each; attention is one strided-batched
 * product for the scores of all heads, a softmax kernel, and one for the weighted values.
 * Decoder: a row per (sequence, token); the self-attention cache lives on the device, the
 * cross-attention keys and values are made once per window by encode, and one attention kernel
 * (a block per row and head, scores in shared memory) serves both self and cross attention, and
 * copies the scores the word aligner asks for. Beam search's cache reordering gathers the
 * surviving slots into a second cache in one kernel and swaps the two.
 *
 * Every head is 64 wide in every Whisper model; the attention kernel is written for that, and a
 * model with other heads is refused at creation.
 */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <new>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

namespace {

constexpr int HEAD = 64;           /* d_head of every Whisper model */
constexpr int MAX_HEADS = 32;      /* large-v3 has 20 */
constexpr int MAX_SEQUENCES = 256; /* st_whisper_state_init's limit */
constexpr int ATTENTION_THREADS = 128;
constexpr int ATTENTION_WARPS = ATTENTION_THREADS / 32;
constexpr int LOGIT_ROWS = 64; /* rows of logits made (and copied back) per product */
/* The attention kernel keeps a row's n_kv scores in shared memory: 8192 floats (32 KiB) stay
 * under the 48 KiB a launch gets without opting in (Whisper has 1500 and 448). */
constexpr int MAX_CONTEXT = 8192;

int report(char *message, size_t size, int code, const char *format, ...) {
    if (message && size) {
        va_list args;
        va_start(args, format);
        vsnprintf(message, size, format, args);
        va_end(args);
    }
    return code;
}

int cuda_failure(char *message, size_t size, cudaError_t error, const char *what) {
    return report(message, size, error == cudaErrorMemoryAllocation ? ST_CUDA_NO_MEMORY : ST_CUDA_FAILED,
                  "CUDA: %s: %s", what, cudaGetErrorString(error));
}

#define CUDA_TRY(call)                                                          \
    do {                                                                        \
        cudaError_t cuda_error_ = (call);                                       \
        if (cuda_error_ != cudaSuccess) return cuda_failure(message, size, cuda_error_, #call); \
    } while (0)

#define CUBLAS_TRY(call)                                                                                    \
    do {                                                                                                    \
        cublasStatus_t cublas_status_ = (call);                                                             \
        if (cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                                      \
            return report(message, size,                                                                    \
                          cublas_status_ == CUBLAS_STATUS_ALLOC_FAILED ? ST_CUDA_NO_MEMORY : ST_CUDA_FAILED, \
                          "cuBLAS: %s: %s", #call, cublasGetStatusString(cublas_status_));                 \
        }                                                                                                   \
    } while (0)

/* ---- kernels ---------------------------------------------------------------------------- */

__device__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

/* The sum (or maximum) of v over the block, returned to every thread. blockDim.x is a multiple of
 * 32; red holds one float per warp. */
__device__ float block_reduce(float v, bool maximum, float *red) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        float other = __shfl_xor_sync(0xffffffffu, v, offset);
        v = maximum ? fmaxf(v, other) : v + other;
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n_warps = blockDim.x >> 5;
    __syncthreads(); /* the previous call's readers are done with red */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < n_warps ? red[lane] : (maximum ? -INFINITY : 0.0f);
    for (int offset = 16; offset > 0; offset >>= 1) {
        float other = __shfl_xor_sync(0xffffffffu, v, offset);
        v = maximum ? fmaxf(v, other) : v + other;
    }
    return v;
}

/* cols[t][c * 3 + k] = in(t * stride + k - 1, c), zero outside 0..n_in_time-1: a kernel-3
 * convolution with padding 1 becomes one product with the weights [out][in * 3]. The input
 * element (time, channel) is in[time * time_stride + channel * channel_stride]. */
template <typename T>
__global__ void im2col_k3(const T *in, long time_stride, long channel_stride, int n_in_time, int n_channels,
                          int stride, int n_out_time, __half *cols) {
    const long width = (long)n_channels * 3, total = (long)n_out_time * width;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const long t = e / width;
        const int j = (int)(e % width), channel = j / 3, k = j % 3;
        const long time = t * stride + k - 1;
        float value = 0.0f;
        if (time >= 0 && time < n_in_time) value = (float)in[time * time_stride + channel * channel_stride];
        cols[e] = __float2half(value);
    }
}

/* What follows a product acc [rows][cols] (+ bias): */
enum Epilogue {
    TO_HALF,         /* out = acc + bias, as halves */
    TO_HALF_GELU,    /* out = gelu(acc + bias), as halves */
    ADD_RESIDUAL,    /* x += acc + bias */
    GELU_POSITIONS,  /* x = gelu(acc + bias) + positions */
};

__global__ void epilogue(const float *acc, const float *bias, int rows, int cols, Epilogue mode, float *x,
                         const float *positions, __half *out, int out_stride) {
    const long total = (long)rows * cols;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const long r = e / cols;
        const int c = (int)(e % cols);
        const float v = acc[e] + (bias ? bias[c] : 0.0f);
        switch (mode) {
        case TO_HALF: out[r * out_stride + c] = __float2half(v); break;
        case TO_HALF_GELU: out[r * out_stride + c] = __float2half(gelu(v)); break;
        case ADD_RESIDUAL: x[e] += v; break;
        case GELU_POSITIONS: x[e] = gelu(v) + positions[e]; break;
        }
    }
}

/* Layer norm (eps 1e-5, as PyTorch's default) of input rows row * in_step + in_offset, one block
 * per output row, into halves out16 [rows][width] and, if out32 is not NULL, floats too. */
__global__ void layer_norm(const float *x, int width, int in_step, int in_offset, const float *weight,
                           const float *bias, __half *out16, float *out32) {
    __shared__ float red[32];
    const long out_row = blockIdx.x;
    const float *row = x + (out_row * in_step + in_offset) * width;
    float sum = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x)
        sum += row[c];
    const float mean = block_reduce(sum, false, red) / (float)width;
    float squares = 0.0f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        const float centred = row[c] - mean;
        squares += centred * centred;
    }
    const float inv_std = rsqrtf(block_reduce(squares, false, red) / (float)width + 1e-5f);
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        const float y = (row[c] - mean) * inv_std * weight[c] + bias[c];
        out16[out_row * width + c] = __float2half(y);
        if (out32) out32[out_row * width + c] = y;
    }
}

/* The encoder's softmax: one block per row of scores [rows][n], into halves. */
__global__ void softmax_rows(const float *scores, int n, __half *probabilities) {
    __shared__ float red[32];
    const float *row = scores + (long)blockIdx.x * n;
    __half *out = probabilities + (long)blockIdx.x * n;
    float largest = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        largest = fmaxf(largest, row[j]);
    largest = block_reduce(largest, true, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        sum += expf(row[j] - largest);
    const float inv_sum = 1.0f / block_reduce(sum, false, red);
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        out[j] = __float2half(expf(row[j] - largest) * inv_sum);
}

/* x[r] = token_embedding[tokens[r]] + positions[n_past + r % n_tokens]. */
__global__ void embed(const int *tokens, int rows, int n_tokens, int n_past, const __half *token_embedding,
                      const float *positions, int width, float *x) {
    const long total = (long)rows * width;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const int r = (int)(e / width), c = (int)(e % width);
        x[e] = __half2float(token_embedding[(long)tokens[r] * width + c]) +
               positions[(long)(n_past + r % n_tokens) * width + c];
    }
}

/* The new keys and values (columns width.. and 2*width.. of qkv [rows][3 * width]) into the
 * cache slots: row r is token r % n_tokens of sequence r / n_tokens, at n_past + r % n_tokens. A
 * layer's cache is [max_sequences][n_text_ctx][width]. */
__global__ void append_cache(const __half *qkv, int rows, int n_tokens, int n_past, int width, int n_ctx,
                             __half *cache_k, __half *cache_v) {
    const long total = (long)rows * width;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const int r = (int)(e / width), c = (int)(e % width);
        const long slot = r / n_tokens, position = n_past + r % n_tokens;
        const long at = (slot * n_ctx + position) * width + c;
        cache_k[at] = qkv[(long)r * 3 * width + width + c];
        cache_v[at] = qkv[(long)r * 3 * width + 2 * width + c];
    }
}

struct Sources {
    int slot[MAX_SEQUENCES];
};

/* Beam search: to[layer][i][p] = from[layer][source.slot[i]][p] for every slot i of every layer
 * and positions p < n_positions (slots past the reordered ones have slot[i] = i). */
__global__ void gather_cache(const __half *from, __half *to, int n_layers, int max_sequences, int n_ctx,
                             int n_positions, int width, Sources source) {
    const long per_slot = (long)n_positions * width, total = (long)n_layers * max_sequences * per_slot;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const long layer_slot = e / per_slot, within = e % per_slot;
        const long layer = layer_slot / max_sequences, slot = layer_slot % max_sequences;
        const long layer_base = layer * max_sequences * (long)n_ctx * width;
        to[layer_base + slot * n_ctx * width + within] =
            from[layer_base + (long)source.slot[slot] * n_ctx * width + within];
    }
}

/* Which capture row block (0..n_heads-1) each head of a layer fills, or -1. */
struct CaptureSlots {
    int slot[MAX_HEADS];
};

/* Attention for a decoder row: block (row, head), rows on x (a grid's y stops at 65535, and 256
 * sequences of 448 tokens are more); row r is token r % n_tokens of sequence r / n_tokens.
 * Queries q [rows] (stride q_stride, head h at h * 64); keys and values of that sequence start
 * at k/v + sequence * sequence_stride, one position every kv_stride. causal >= 0
 * lets token i see positions 0 .. causal + i only; causal < 0 lets every row see all n_kv. The
 * scaled scores (before softmax) of the heads in capture go to
 * captured[(slot * capture_rows + r) * n_kv + j]. Output halves out [rows][out_stride]. */
__global__ void __launch_bounds__(ATTENTION_THREADS)
    attention_rows(const __half *q, int q_stride, const __half *k, const __half *v, int kv_stride,
                   long sequence_stride, int n_tokens, int n_kv, int causal, float scale, __half *out, int out_stride,
                   float *captured, int capture_rows, CaptureSlots capture) {
    extern __shared__ float scores[]; /* [n_kv] */
    __shared__ float query[HEAD];
    __shared__ float red[32];
    __shared__ float partial[ATTENTION_WARPS][HEAD];
    const int head = blockIdx.y, r = blockIdx.x, sequence = r / n_tokens, token = r % n_tokens;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int limit = causal < 0 ? n_kv : min(n_kv, causal + token + 1);
    const int slot = captured ? capture.slot[head] : -1;

    if (threadIdx.x < HEAD) query[threadIdx.x] = __half2float(q[(long)r * q_stride + head * HEAD + threadIdx.x]) * scale;
    __syncthreads();
    const __half *keys = k + sequence * sequence_stride + head * HEAD;
    const __half *values = v + sequence * sequence_stride + head * HEAD;
    const float2 q2 = make_float2(query[2 * lane], query[2 * lane + 1]);

    /* scores: a warp per position, each lane two of the 64 dimensions (coalesced 128 bytes) */
    for (int j = warp; j < limit; j += ATTENTION_WARPS) {
        const float2 key = __half22float2(reinterpret_cast<const __half2 *>(keys + (long)j * kv_stride)[lane]);
        float dot = q2.x * key.x + q2.y * key.y;
        for (int offset = 16; offset > 0; offset >>= 1)
            dot += __shfl_xor_sync(0xffffffffu, dot, offset);
        if (lane == 0) {
            scores[j] = dot;
            if (slot >= 0) captured[((long)slot * capture_rows + r) * n_kv + j] = dot;
        }
    }
    __syncthreads();

    float largest = -INFINITY;
    for (int j = threadIdx.x; j < limit; j += blockDim.x)
        largest = fmaxf(largest, scores[j]);
    largest = block_reduce(largest, true, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < limit; j += blockDim.x) {
        const float p = expf(scores[j] - largest);
        scores[j] = p;
        sum += p;
    }
    const float inv_sum = 1.0f / block_reduce(sum, false, red); /* its barrier also publishes scores */

    /* weighted values: a warp per position again, lanes over the dimensions */
    float2 acc = make_float2(0.0f, 0.0f);
    for (int j = warp; j < limit; j += ATTENTION_WARPS) {
        const float2 value = __half22float2(reinterpret_cast<const __half2 *>(values + (long)j * kv_stride)[lane]);
        acc.x += scores[j] * value.x;
        acc.y += scores[j] * value.y;
    }
    partial[warp][2 * lane] = acc.x;
    partial[warp][2 * lane + 1] = acc.y;
    __syncthreads();
    if (threadIdx.x < HEAD) {
        float total = 0.0f;
        for (int w = 0; w < ATTENTION_WARPS; w++)
            total += partial[w][threadIdx.x];
        out[(long)r * out_stride + head * HEAD + threadIdx.x] = __float2half(total * inv_sum);
    }
}

/* Grid for an elementwise kernel over n items, 256 threads a block. */
unsigned blocks_for(long n) {
    const long blocks = (n + 255) / 256;
    return (unsigned)(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

/* ---- model and state -------------------------------------------------------------------- */

struct Block {
    float *attn_ln_weight, *attn_ln_bias;
    __half *qkv_weight;
    float *qkv_bias;
    __half *attn_out_weight;
    float *attn_out_bias;
    float *cross_ln_weight, *cross_ln_bias;
    __half *cross_query_weight;
    float *cross_query_bias;
    __half *cross_kv_weight;
    float *cross_kv_bias;
    __half *cross_out_weight;
    float *cross_out_bias;
    float *mlp_ln_weight, *mlp_ln_bias;
    __half *mlp_in_weight;
    float *mlp_in_bias;
    __half *mlp_out_weight;
    float *mlp_out_bias;
};

/* Hands out pieces of one allocation, 256-byte aligned; with base NULL it only counts, so the
 * same layout function sizes the allocation and then carves it. */
struct Carver {
    char *base;
    size_t used;
    template <typename T> T *take(size_t count) {
        used = (used + 255) / 256 * 256;
        T *piece = base ? reinterpret_cast<T *>(base + used) : nullptr;
        used += count * sizeof(T);
        return piece;
    }
};

struct Model {
    int device;
    st_cuda_dims d;
    void *memory;
    size_t bytes;
    __half *conv1_weight, *conv2_weight, *token_embedding;
    float *conv1_bias, *conv2_bias, *encoder_positions, *ln_post_weight, *ln_post_bias;
    float *decoder_positions, *decoder_ln_weight, *decoder_ln_bias;
    Block *encoder, *decoder; /* host arrays of device pointers */
};

void layout_block(Carver &c, Block &b, int width, bool decoder) {
    const size_t w = (size_t)width;
    b.attn_ln_weight = c.take<float>(w);
    b.attn_ln_bias = c.take<float>(w);
    b.qkv_weight = c.take<__half>(3 * w * w);
    b.qkv_bias = c.take<float>(3 * w);
    b.attn_out_weight = c.take<__half>(w * w);
    b.attn_out_bias = c.take<float>(w);
    if (decoder) {
        b.cross_ln_weight = c.take<float>(w);
        b.cross_ln_bias = c.take<float>(w);
        b.cross_query_weight = c.take<__half>(w * w);
        b.cross_query_bias = c.take<float>(w);
        b.cross_kv_weight = c.take<__half>(2 * w * w);
        b.cross_kv_bias = c.take<float>(2 * w);
        b.cross_out_weight = c.take<__half>(w * w);
        b.cross_out_bias = c.take<float>(w);
    }
    b.mlp_ln_weight = c.take<float>(w);
    b.mlp_ln_bias = c.take<float>(w);
    b.mlp_in_weight = c.take<__half>(4 * w * w);
    b.mlp_in_bias = c.take<float>(4 * w);
    b.mlp_out_weight = c.take<__half>(4 * w * w);
    b.mlp_out_bias = c.take<float>(w);
}

void layout_model(Carver &c, Model &m) {
    const st_cuda_dims &d = m.d;
    const size_t audio = (size_t)d.n_audio_state, text = (size_t)d.n_text_state;
    m.conv1_weight = c.take<__half>(audio * d.n_mels * 3);
    m.conv1_bias = c.take<float>(audio);
    m.conv2_weight = c.take<__half>(audio * audio * 3);
    m.conv2_bias = c.take<float>(audio);
    m.encoder_positions = c.take<float>((size_t)d.n_audio_ctx * audio);
    m.ln_post_weight = c.take<float>(audio);
    m.ln_post_bias = c.take<float>(audio);
    m.token_embedding = c.take<__half>((size_t)d.n_vocab * text);
    m.decoder_positions = c.take<float>((size_t)d.n_text_ctx * text);
    m.decoder_ln_weight = c.take<float>(text);
    m.decoder_ln_bias = c.take<float>(text);
    for (int i = 0; i < d.n_audio_layer; i++)
        layout_block(c, m.encoder[i], d.n_audio_state, false);
    for (int i = 0; i < d.n_text_layer; i++)
        layout_block(c, m.decoder[i], d.n_text_state, true);
}

struct State {
    Model *model;
    int max_sequences, max_rows;
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *memory;
    size_t bytes;
    /* encoder */
    float *mel;        /* [n_mels][2 * n_audio_ctx] */
    __half *cols;      /* im2col of either convolution */
    __half *conv1_out; /* [2 * n_audio_ctx][n_audio_state] */
    float *x;          /* residual stream: encoder [n_audio_ctx][width], decoder [max_rows][width] */
    float *audio;      /* encoder output [n_audio_ctx][n_audio_state] */
    __half *audio16;
    float *scores;        /* encoder [n_audio_head][n_audio_ctx][n_audio_ctx] */
    __half *probabilities; /* the same as halves */
    __half *cross_kv;     /* [n_text_layer][n_audio_ctx][2 * n_text_state]: keys, then values */
    /* both */
    __half *normed;  /* [rows][width] */
    __half *qkv;     /* [rows][3 * width] */
    __half *attended; /* [rows][width] */
    __half *hidden;  /* [rows][4 * width] */
    float *acc;      /* a product's output [rows][4 * width] */
    /* decoder */
    __half *cache_k[2], *cache_v[2]; /* [n_text_layer][max_sequences][n_text_ctx][n_text_state] */
    int current;                     /* which of the two caches is live (reorder swaps them) */
    int *tokens;                     /* [max_rows] */
    float *logits;                   /* [LOGIT_ROWS][n_vocab] */
    int *host_tokens;                /* pinned [max_rows] */
    float *host_logits;              /* pinned [LOGIT_ROWS][n_vocab] */
    float *captured;                 /* [capture_floats], grown on demand */
    size_t capture_floats;
};

void layout_state(Carver &c, State &s) {
    const st_cuda_dims &d = s.model->d;
    const size_t n = (size_t)d.n_audio_ctx, frames = 2 * n, audio = (size_t)d.n_audio_state;
    const size_t text = (size_t)d.n_text_state, rows = (size_t)s.max_rows;
    const size_t width = audio > text ? audio : text, most_rows = rows > frames ? rows : frames;
    const size_t cols1 = frames * d.n_mels * 3, cols2 = n * audio * 3;
    const size_t acc_rows = rows > n ? rows : n;
    const size_t acc1 = frames * audio; /* conv1's product */
    const size_t acc2 = acc_rows * 4 * width;
    const size_t cache = (size_t)d.n_text_layer * s.max_sequences * d.n_text_ctx * text;
    s.mel = c.take<float>((size_t)d.n_mels * frames);
    s.cols = c.take<__half>(cols1 > cols2 ? cols1 : cols2);
    s.conv1_out = c.take<__half>(frames * audio);
    s.x = c.take<float>((rows > n ? rows : n) * width);
    s.audio = c.take<float>(n * audio);
    s.audio16 = c.take<__half>(n * audio);
    s.scores = c.take<float>((size_t)d.n_audio_head * n * n);
    s.probabilities = c.take<__half>((size_t)d.n_audio_head * n * n);
    s.cross_kv = c.take<__half>((size_t)d.n_text_layer * n * 2 * text);
    s.normed = c.take<__half>(most_rows * width);
    s.qkv = c.take<__half>(acc_rows * 3 * width);
    s.attended = c.take<__half>(acc_rows * width);
    s.hidden = c.take<__half>(acc_rows * 4 * width);
    s.acc = c.take<float>(acc1 > acc2 ? acc1 : acc2);
    for (int i = 0; i < 2; i++) {
        s.cache_k[i] = c.take<__half>(cache);
        s.cache_v[i] = c.take<__half>(cache);
    }
    s.tokens = c.take<int>(rows);
    s.logits = c.take<float>((size_t)LOGIT_ROWS * d.n_vocab);
}

/* y [rows][n_out] (floats) = x [rows][n_in] (halves, row stride x_stride) times w [n_out][n_in]
 * transposed. cuBLAS is column-major: there y^T = op(w) x^T with w read as the [n_in][n_out]
 * column-major matrix it is, transposed. */
int product(State &s, const __half *x, int x_stride, int rows, const __half *w, int n_in, int n_out, float *y,
            char *message, size_t size) {
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_TRY(cublasGemmEx(s.cublas, CUBLAS_OP_T, CUBLAS_OP_N, n_out, rows, n_in, &one, w, CUDA_R_16F, n_in, x,
                            CUDA_R_16F, x_stride, &zero, y, CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return ST_CUDA_OK;
}

/* product, then the epilogue on its output. */
int linear(State &s, const __half *x, int x_stride, int rows, const __half *w, const float *bias, int n_in, int n_out,
           Epilogue mode, float *residual, const float *positions, __half *out, char *message, size_t size) {
    int status = product(s, x, x_stride, rows, w, n_in, n_out, s.acc, message, size);
    if (status != ST_CUDA_OK) return status;
    epilogue<<<blocks_for((long)rows * n_out), 256, 0, s.stream>>>(s.acc, bias, rows, n_out, mode, residual, positions,
                                                                    out, n_out);
    CUDA_TRY(cudaGetLastError());
    return ST_CUDA_OK;
}

int norm(State &s, const float *x, int rows, int width, int in_step, int in_offset, const float *weight,
         const float *bias, __half *out16, float *out32, char *message, size_t size) {
    layer_norm<<<rows, 256, 0, s.stream>>>(x, width, in_step, in_offset, weight, bias, out16, out32);
    CUDA_TRY(cudaGetLastError());
    return ST_CUDA_OK;
}


/* The decoder's attention over rows (see attention_rows), into s.attended. */
int attend(State &s, const __half *q, int q_stride, const __half *k, const __half *v, int kv_stride,
           long sequence_stride, int rows, int n_tokens, int n_kv, int causal, float *captured,
           const CaptureSlots &slots, char *message, size_t size) {
    const st_cuda_dims &d = s.model->d;
    const dim3 grid((unsigned)rows, (unsigned)d.n_text_head);
    attention_rows<<<grid, ATTENTION_THREADS, (size_t)n_kv * sizeof(float), s.stream>>>(
        q, q_stride, k, v, kv_stride, sequence_stride, n_tokens, n_kv, causal, 1.0f / sqrtf((float)HEAD), s.attended,
        d.n_text_state, captured, rows, slots);
    CUDA_TRY(cudaGetLastError());
    return ST_CUDA_OK;
}

/* The encoder's self-attention over s.qkv [n][3 * width] into s.attended [n][width]: per head,
 * scores = q k^T / 8 as one strided-batched product (row-major [n][n] is the column-major
 * [n_kv][n_q] that k^T-by-q gives), a softmax, then values times probabilities. */
int encoder_attention(State &s, char *message, size_t size) {
    const st_cuda_dims &d = s.model->d;
    const int n = d.n_audio_ctx, width = d.n_audio_state, heads = d.n_audio_head;
    const float scale = 1.0f / sqrtf((float)HEAD), one = 1.0f, zero = 0.0f;
    const long long square = (long long)n * n;
    CUBLAS_TRY(cublasGemmStridedBatchedEx(s.cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, HEAD, &scale, s.qkv + width,
                                          CUDA_R_16F, 3 * width, HEAD, s.qkv, CUDA_R_16F, 3 * width, HEAD, &zero,
                                          s.scores, CUDA_R_32F, n, square, heads, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
    softmax_rows<<<(unsigned)(heads * n), 256, 0, s.stream>>>(s.scores, n, s.probabilities);
    CUDA_TRY(cudaGetLastError());
    CUBLAS_TRY(cublasGemmStridedBatchedEx(s.cublas, CUBLAS_OP_N, CUBLAS_OP_N, HEAD, n, n, &one, s.qkv + 2 * width,
                                          CUDA_R_16F, 3 * width, HEAD, s.probabilities, CUDA_R_16F, n, square, &zero,
                                          s.attended, CUDA_R_16F, width, HEAD, heads, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
    return ST_CUDA_OK;
}

#define STEP(call)                                \
    do {                                          \
        int step_status_ = (call);                \
        if (step_status_ != ST_CUDA_OK) return step_status_; \
    } while (0)

int encode_window(State &s, const float *mel, float *audio, char *message, size_t size) {
    const Model &m = *s.model;
    const st_cuda_dims &d = m.d;
    const int n = d.n_audio_ctx, frames = 2 * n, width = d.n_audio_state, text = d.n_text_state;
    CUDA_TRY(cudaMemcpyAsync(s.mel, mel, sizeof(float) * d.n_mels * frames, cudaMemcpyHostToDevice, s.stream));
    /* conv1 (stride 1) and GELU; the mel is band-major, [n_mels][frames] */
    im2col_k3<float><<<blocks_for((long)frames * d.n_mels * 3), 256, 0, s.stream>>>(s.mel, 1, frames, frames,
                                                                                     d.n_mels, 1, frames, s.cols);
    CUDA_TRY(cudaGetLastError());
    STEP(linear(s, s.cols, d.n_mels * 3, frames, m.conv1_weight, m.conv1_bias, d.n_mels * 3, width, TO_HALF_GELU,
                nullptr, nullptr, s.conv1_out, message, size));
    /* conv2 (stride 2), GELU and the positions */
    im2col_k3<__half><<<blocks_for((long)n * width * 3), 256, 0, s.stream>>>(s.conv1_out, width, 1, frames, width, 2,
                                                                             n, s.cols);
    CUDA_TRY(cudaGetLastError());
    STEP(linear(s, s.cols, width * 3, n, m.conv2_weight, m.conv2_bias, width * 3, width, GELU_POSITIONS, s.x,
                m.encoder_positions, nullptr, message, size));
    for (int layer = 0; layer < d.n_audio_layer; layer++) {
        const Block &b = m.encoder[layer];
        STEP(norm(s, s.x, n, width, 1, 0, b.attn_ln_weight, b.attn_ln_bias, s.normed, nullptr, message, size));
        STEP(linear(s, s.normed, width, n, b.qkv_weight, b.qkv_bias, width, 3 * width, TO_HALF, nullptr, nullptr,
                    s.qkv, message, size));
        STEP(encoder_attention(s, message, size));
        STEP(linear(s, s.attended, width, n, b.attn_out_weight, b.attn_out_bias, width, width, ADD_RESIDUAL, s.x,
                    nullptr, nullptr, message, size));
        STEP(norm(s, s.x, n, width, 1, 0, b.mlp_ln_weight, b.mlp_ln_bias, s.normed, nullptr, message, size));
        STEP(linear(s, s.normed, width, n, b.mlp_in_weight, b.mlp_in_bias, width, 4 * width, TO_HALF_GELU, nullptr,
                    nullptr, s.hidden, message, size));
        STEP(linear(s, s.hidden, 4 * width, n, b.mlp_out_weight, b.mlp_out_bias, 4 * width, width, ADD_RESIDUAL, s.x,
                    nullptr, nullptr, message, size));
    }
    STEP(norm(s, s.x, n, width, 1, 0, m.ln_post_weight, m.ln_post_bias, s.audio16, s.audio, message, size));
    /* every decoder layer's cross-attention keys and values, once per window */
    for (int layer = 0; layer < d.n_text_layer; layer++) {
        const Block &b = m.decoder[layer];
        STEP(linear(s, s.audio16, width, n, b.cross_kv_weight, b.cross_kv_bias, width, 2 * text, TO_HALF, nullptr,
                    nullptr, s.cross_kv + (size_t)layer * n * 2 * text, message, size));
    }
    CUDA_TRY(cudaMemcpyAsync(audio, s.audio, sizeof(float) * n * width, cudaMemcpyDeviceToHost, s.stream));
    CUDA_TRY(cudaStreamSynchronize(s.stream));
    return ST_CUDA_OK;
}

int decode_rows(State &s, int n_seq, const int *tokens, int n_tokens, int n_past, int all_rows, float *logits,
                const st_cuda_capture *capture, char *message, size_t size) {
    const Model &m = *s.model;
    const st_cuda_dims &d = m.d;
    const int rows = n_seq * n_tokens, width = d.n_text_state, n_audio = d.n_audio_ctx, n_ctx = d.n_text_ctx;
    const bool capturing = capture && capture->n_heads > 0;
    if (capturing) { /* grown on demand, while the stream is idle (every call ends synchronised) */
        const size_t need = (size_t)capture->n_heads * rows * n_audio;
        if (need > s.capture_floats) {
            cudaFree(s.captured);
            s.captured = nullptr;
            s.capture_floats = 0;
            CUDA_TRY(cudaMalloc(&s.captured, need * sizeof(float)));
            s.capture_floats = need;
        }
    }
    memcpy(s.host_tokens, tokens, sizeof(int) * rows);
    CUDA_TRY(cudaMemcpyAsync(s.tokens, s.host_tokens, sizeof(int) * rows, cudaMemcpyHostToDevice, s.stream));
    embed<<<blocks_for((long)rows * width), 256, 0, s.stream>>>(s.tokens, rows, n_tokens, n_past, m.token_embedding,
                                                                m.decoder_positions, width, s.x);
    CUDA_TRY(cudaGetLastError());

    const size_t layer_cache = (size_t)s.max_sequences * n_ctx * width;
    CaptureSlots none;
    for (int h = 0; h < MAX_HEADS; h++)
        none.slot[h] = -1;
    for (int layer = 0; layer < d.n_text_layer; layer++) {
        const Block &b = m.decoder[layer];
        __half *cache_k = s.cache_k[s.current] + layer * layer_cache, *cache_v = s.cache_v[s.current] + layer * layer_cache;
        /* self-attention: new keys and values into each sequence's slot, then causal attention */
        STEP(norm(s, s.x, rows, width, 1, 0, b.attn_ln_weight, b.attn_ln_bias, s.normed, nullptr, message, size));
        STEP(linear(s, s.normed, width, rows, b.qkv_weight, b.qkv_bias, width, 3 * width, TO_HALF, nullptr, nullptr,
                    s.qkv, message, size));
        append_cache<<<blocks_for((long)rows * width), 256, 0, s.stream>>>(s.qkv, rows, n_tokens, n_past, width, n_ctx,
                                                                            cache_k, cache_v);
        CUDA_TRY(cudaGetLastError());
        STEP(attend(s, s.qkv, 3 * width, cache_k, cache_v, width, (long)n_ctx * width, rows, n_tokens,
                    n_past + n_tokens, n_past, nullptr, none, message, size));
        STEP(linear(s, s.attended, width, rows, b.attn_out_weight, b.attn_out_bias, width, width, ADD_RESIDUAL, s.x,
                    nullptr, nullptr, message, size));

        /* cross-attention on the window's keys and values; the aligner's heads keep their scores */
        STEP(norm(s, s.x, rows, width, 1, 0, b.cross_ln_weight, b.cross_ln_bias, s.normed, nullptr, message, size));
        STEP(linear(s, s.normed, width, rows, b.cross_query_weight, b.cross_query_bias, width, width, TO_HALF, nullptr,
                    nullptr, s.qkv, message, size));
        CaptureSlots slots = none;
        bool any = false;
        for (int i = 0; capturing && i < capture->n_heads; i++) {
            const int head = capture->heads[2 * i + 1];
            if (capture->heads[2 * i] == layer && slots.slot[head] < 0) slots.slot[head] = i, any = true;
        }
        const __half *cross = s.cross_kv + (size_t)layer * n_audio * 2 * width;
        STEP(attend(s, s.qkv, width, cross, cross + width, 2 * width, 0, rows, n_tokens, n_audio, -1,
                    any ? s.captured : nullptr, slots, message, size));
        STEP(linear(s, s.attended, width, rows, b.cross_out_weight, b.cross_out_bias, width, width, ADD_RESIDUAL, s.x,
                    nullptr, nullptr, message, size));

        STEP(norm(s, s.x, rows, width, 1, 0, b.mlp_ln_weight, b.mlp_ln_bias, s.normed, nullptr, message, size));
        STEP(linear(s, s.normed, width, rows, b.mlp_in_weight, b.mlp_in_bias, width, 4 * width, TO_HALF_GELU, nullptr,
                    nullptr, s.hidden, message, size));
        STEP(linear(s, s.hidden, 4 * width, rows, b.mlp_out_weight, b.mlp_out_bias, 4 * width, width, ADD_RESIDUAL,
                    s.x, nullptr, nullptr, message, size));
    }

    /* logits of every row, or of each sequence's last: the token embedding read as [n_vocab][width] */
    const int out_rows = all_rows ? rows : n_seq;
    STEP(norm(s, s.x, out_rows, width, all_rows ? 1 : n_tokens, all_rows ? 0 : n_tokens - 1, m.decoder_ln_weight,
              m.decoder_ln_bias, s.normed, nullptr, message, size));
    for (int first = 0; first < out_rows; first += LOGIT_ROWS) {
        const int count = out_rows - first < LOGIT_ROWS ? out_rows - first : LOGIT_ROWS;
        const size_t floats = (size_t)count * d.n_vocab;
        STEP(product(s, s.normed + (size_t)first * width, width, count, m.token_embedding, width, d.n_vocab, s.logits,
                     message, size));
        CUDA_TRY(cudaMemcpyAsync(s.host_logits, s.logits, sizeof(float) * floats, cudaMemcpyDeviceToHost, s.stream));
        CUDA_TRY(cudaStreamSynchronize(s.stream));
        memcpy(logits + (size_t)first * d.n_vocab, s.host_logits, sizeof(float) * floats);
    }
    /* a pair listed twice is filled from its first listing */
    for (int i = 0; capturing && i < capture->n_heads; i++) {
        int first = 0;
        while (capture->heads[2 * first] != capture->heads[2 * i] || capture->heads[2 * first + 1] != capture->heads[2 * i + 1])
            first++;
        CUDA_TRY(cudaMemcpyAsync(capture->scores + (size_t)i * capture->max_rows * n_audio,
                                 s.captured + (size_t)first * rows * n_audio, sizeof(float) * rows * n_audio,
                                 cudaMemcpyDeviceToHost, s.stream));
    }
    CUDA_TRY(cudaStreamSynchronize(s.stream));
    return ST_CUDA_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

int device_count(int *count, char *message, size_t size) {
    *count = 0;
    int n = 0;
    cudaError_t error = cudaGetDeviceCount(&n);
    if (error != cudaSuccess) {
        return report(message, size, ST_CUDA_FAILED, "no usable CUDA driver or GPU (%s)", cudaGetErrorString(error));
    }
    if (n < 1) return report(message, size, ST_CUDA_FAILED, "no CUDA GPU is visible");
    *count = n;
    return ST_CUDA_OK;
}

int device_info(int device, char *name, size_t name_size, size_t *free_bytes, size_t *total_bytes, char *message,
                size_t size) {
    cudaDeviceProp properties;
    CUDA_TRY(cudaSetDevice(device));
    CUDA_TRY(cudaGetDeviceProperties(&properties, device));
    CUDA_TRY(cudaMemGetInfo(free_bytes, total_bytes));
    snprintf(name, name_size, "%s (compute capability %d.%d)", properties.name, properties.major, properties.minor);
    return ST_CUDA_OK;
}

void model_free(void *handle) {
    Model *m = static_cast<Model *>(handle);
    if (!m) return;
    cudaSetDevice(m->device);
    cudaFree(m->memory);
    free(m->encoder);
    free(m->decoder);
    delete m;
}

/* cudaMemcpy from pageable memory may return before the copy lands; the callers end with
 * cudaDeviceSynchronize, as the states' streams do not wait for the default stream. */
int upload(void *to, const void *from, size_t bytes, char *message, size_t size) {
    if (!from) return report(message, size, ST_CUDA_INVALID, "CUDA model: a weight is missing");
    CUDA_TRY(cudaMemcpy(to, from, bytes, cudaMemcpyHostToDevice));
    return ST_CUDA_OK;
}

int model_create(const st_cuda_dims *dims, const st_cuda_globals *g, int device, void **out, char *message,
                 size_t size) {
    *out = nullptr;
    const st_cuda_dims &d = *dims;
    if (d.n_audio_state != d.n_text_state || d.n_audio_state != HEAD * d.n_audio_head ||
        d.n_text_state != HEAD * d.n_text_head || d.n_text_head > MAX_HEADS || d.n_mels < 1 || d.n_audio_ctx < 1 ||
        d.n_text_ctx < 1 || d.n_audio_ctx > MAX_CONTEXT || d.n_text_ctx > MAX_CONTEXT || d.n_vocab < 1 ||
        d.n_audio_layer < 1 || d.n_text_layer < 1) {
        return report(message, size, ST_CUDA_INVALID,
                      "CUDA model: width %d/%d with %d/%d heads, contexts %d/%d: the CUDA kernels need one width, "
                      "heads of %d (at most %d) and contexts of at most %d",
                      d.n_audio_state, d.n_text_state, d.n_audio_head, d.n_text_head, d.n_audio_ctx, d.n_text_ctx,
                      HEAD, MAX_HEADS, MAX_CONTEXT);
    }
    CUDA_TRY(cudaSetDevice(device));
    Model *m = new (std::nothrow) Model{};
    if (!m) return report(message, size, ST_CUDA_NO_MEMORY, "out of memory");
    m->device = device;
    m->d = d;
    m->encoder = static_cast<Block *>(calloc((size_t)d.n_audio_layer, sizeof(Block)));
    m->decoder = static_cast<Block *>(calloc((size_t)d.n_text_layer, sizeof(Block)));
    if (!m->encoder || !m->decoder) {
        model_free(m);
        return report(message, size, ST_CUDA_NO_MEMORY, "out of memory");
    }
    Carver count{nullptr, 0};
    layout_model(count, *m);
    cudaError_t error = cudaMalloc(&m->memory, count.used);
    if (error != cudaSuccess) {
        model_free(m);
        return cuda_failure(message, size, error, "the model's weights");
    }
    m->bytes = count.used;
    Carver carve{static_cast<char *>(m->memory), 0};
    layout_model(carve, *m);
    const size_t audio = (size_t)d.n_audio_state, text = (size_t)d.n_text_state;
    const struct {
        void *to;
        const void *from;
        size_t bytes;
    } parts[] = {
        {m->conv1_weight, g->conv1_weight, 2 * audio * d.n_mels * 3},
        {m->conv1_bias, g->conv1_bias, 4 * audio},
        {m->conv2_weight, g->conv2_weight, 2 * audio * audio * 3},
        {m->conv2_bias, g->conv2_bias, 4 * audio},
        {m->encoder_positions, g->encoder_positions, 4 * audio * d.n_audio_ctx},
        {m->ln_post_weight, g->ln_post_weight, 4 * audio},
        {m->ln_post_bias, g->ln_post_bias, 4 * audio},
        {m->token_embedding, g->token_embedding, 2 * text * d.n_vocab},
        {m->decoder_positions, g->decoder_positions, 4 * text * d.n_text_ctx},
        {m->decoder_ln_weight, g->decoder_ln_weight, 4 * text},
        {m->decoder_ln_bias, g->decoder_ln_bias, 4 * text},
    };
    for (const auto &part : parts) {
        int status = upload(part.to, part.from, part.bytes, message, size);
        if (status != ST_CUDA_OK) {
            model_free(m);
            return status;
        }
    }
    error = cudaDeviceSynchronize();
    if (error != cudaSuccess) {
        model_free(m);
        return cuda_failure(message, size, error, "uploading the model");
    }
    *out = m;
    return ST_CUDA_OK;
}

int model_set_block(void *handle, int decoder, int layer, const st_cuda_block *from, char *message, size_t size) {
    Model &m = *static_cast<Model *>(handle);
    if (layer < 0 || layer >= (decoder ? m.d.n_text_layer : m.d.n_audio_layer)) {
        return report(message, size, ST_CUDA_INVALID, "CUDA model: no block %d", layer);
    }
    CUDA_TRY(cudaSetDevice(m.device));
    const Block &to = decoder ? m.decoder[layer] : m.encoder[layer];
    const size_t w = (size_t)(decoder ? m.d.n_text_state : m.d.n_audio_state), f = sizeof(float), h = 2;
    const struct {
        void *to;
        const void *from;
        size_t bytes;
    } parts[] = {
        {to.attn_ln_weight, from->attn_ln_weight, f * w},
        {to.attn_ln_bias, from->attn_ln_bias, f * w},
        {to.qkv_weight, from->qkv_weight, h * 3 * w * w},
        {to.qkv_bias, from->qkv_bias, f * 3 * w},
        {to.attn_out_weight, from->attn_out_weight, h * w * w},
        {to.attn_out_bias, from->attn_out_bias, f * w},
        {to.mlp_ln_weight, from->mlp_ln_weight, f * w},
        {to.mlp_ln_bias, from->mlp_ln_bias, f * w},
        {to.mlp_in_weight, from->mlp_in_weight, h * 4 * w * w},
        {to.mlp_in_bias, from->mlp_in_bias, f * 4 * w},
        {to.mlp_out_weight, from->mlp_out_weight, h * 4 * w * w},
        {to.mlp_out_bias, from->mlp_out_bias, f * w},
        /* decoder blocks only (to's cross_ pointers are NULL in an encoder block) */
        {to.cross_ln_weight, from->cross_ln_weight, f * w},
        {to.cross_ln_bias, from->cross_ln_bias, f * w},
        {to.cross_query_weight, from->cross_query_weight, h * w * w},
        {to.cross_query_bias, from->cross_query_bias, f * w},
        {to.cross_kv_weight, from->cross_kv_weight, h * 2 * w * w},
        {to.cross_kv_bias, from->cross_kv_bias, f * 2 * w},
        {to.cross_out_weight, from->cross_out_weight, h * w * w},
        {to.cross_out_bias, from->cross_out_bias, f * w},
    };
    for (const auto &part : parts) {
        if (!part.to) continue;
        int status = upload(part.to, part.from, part.bytes, message, size);
        if (status != ST_CUDA_OK) return status;
    }
    CUDA_TRY(cudaDeviceSynchronize());
    return ST_CUDA_OK;
}

size_t model_bytes(const void *handle) { return static_cast<const Model *>(handle)->bytes; }

void state_free(void *handle) {
    State *s = static_cast<State *>(handle);
    if (!s) return;
    cudaSetDevice(s->model->device);
    if (s->stream) cudaStreamSynchronize(s->stream);
    if (s->cublas) cublasDestroy(s->cublas);
    if (s->stream) cudaStreamDestroy(s->stream);
    cudaFree(s->memory);
    cudaFree(s->captured);
    cudaFreeHost(s->host_tokens);
    cudaFreeHost(s->host_logits);
    delete s;
}

int state_setup(State &s, char *message, size_t size) {
    const st_cuda_dims &d = s.model->d;
    CUDA_TRY(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    CUBLAS_TRY(cublasCreate(&s.cublas));
    CUBLAS_TRY(cublasSetStream(s.cublas, s.stream));
    Carver count{nullptr, 0};
    layout_state(count, s);
    CUDA_TRY(cudaMalloc(&s.memory, count.used));
    s.bytes = count.used;
    Carver carve{static_cast<char *>(s.memory), 0};
    layout_state(carve, s);
    /* zeroed once, so no kernel ever reads memory nothing wrote (compute-sanitizer's initcheck) */
    CUDA_TRY(cudaMemsetAsync(s.memory, 0, count.used, s.stream));
    CUDA_TRY(cudaStreamSynchronize(s.stream));
    CUDA_TRY(cudaMallocHost(&s.host_tokens, sizeof(int) * s.max_rows));
    CUDA_TRY(cudaMallocHost(&s.host_logits, sizeof(float) * LOGIT_ROWS * d.n_vocab));
    return ST_CUDA_OK;
}

int state_create(void *model, int max_sequences, void **out, char *message, size_t size) {
    *out = nullptr;
    Model *m = static_cast<Model *>(model);
    if (max_sequences < 1 || max_sequences > MAX_SEQUENCES) {
        return report(message, size, ST_CUDA_INVALID, "CUDA state: %d sequences, expected 1..%d", max_sequences,
                      MAX_SEQUENCES);
    }
    CUDA_TRY(cudaSetDevice(m->device));
    State *s = new (std::nothrow) State{};
    if (!s) return report(message, size, ST_CUDA_NO_MEMORY, "out of memory");
    s->model = m;
    s->max_sequences = max_sequences;
    s->max_rows = max_sequences * m->d.n_text_ctx;
    int status = state_setup(*s, message, size);
    if (status != ST_CUDA_OK) {
        state_free(s);
        return status;
    }
    *out = s;
    return ST_CUDA_OK;
}

size_t state_bytes(const void *handle) {
    const State *s = static_cast<const State *>(handle);
    return s->bytes + s->capture_floats * sizeof(float);
}

int encode(void *handle, const float *mel, float *audio, char *message, size_t size) {
    State &s = *static_cast<State *>(handle);
    CUDA_TRY(cudaSetDevice(s.model->device));
    return encode_window(s, mel, audio, message, size);
}

int decode(void *handle, int n_seq, const int *tokens, int n_tokens, int n_past, int all_rows, float *logits,
           const st_cuda_capture *capture, char *message, size_t size) {
    State &s = *static_cast<State *>(handle);
    CUDA_TRY(cudaSetDevice(s.model->device));
    return decode_rows(s, n_seq, tokens, n_tokens, n_past, all_rows, logits, capture, message, size);
}

int reorder(void *handle, const int *source, int n_seq, int n_positions, char *message, size_t size) {
    State &s = *static_cast<State *>(handle);
    const st_cuda_dims &d = s.model->d;
    CUDA_TRY(cudaSetDevice(s.model->device));
    if (n_positions == 0) return ST_CUDA_OK;
    Sources sources;
    for (int i = 0; i < s.max_sequences; i++)
        sources.slot[i] = i < n_seq ? source[i] : i;
    const int next = 1 - s.current;
    const long total = (long)d.n_text_layer * s.max_sequences * n_positions * d.n_text_state;
    gather_cache<<<blocks_for(total), 256, 0, s.stream>>>(s.cache_k[s.current], s.cache_k[next], d.n_text_layer,
                                                          s.max_sequences, d.n_text_ctx, n_positions, d.n_text_state,
                                                          sources);
    gather_cache<<<blocks_for(total), 256, 0, s.stream>>>(s.cache_v[s.current], s.cache_v[next], d.n_text_layer,
                                                          s.max_sequences, d.n_text_ctx, n_positions, d.n_text_state,
                                                          sources);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaStreamSynchronize(s.stream));
    s.current = next;
    return ST_CUDA_OK;
}

const st_cuda_api api = {
    ST_CUDA_ABI_VERSION, device_count, device_info, model_create, model_set_block, model_bytes, model_free,
    state_create,        state_bytes,  state_free,  encode,       decode,          reorder,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const st_cuda_api *st_cuda_backend(void) { return &api; }
