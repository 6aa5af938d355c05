/*
 * model.h — the Whisper network on CPU: weights, run state, encoder and decoder passes.
 *
 * The weights come from any loader's st_model (canonical openai-whisper names), checked name by
 * name and shape by shape. The linear layers borrow their weights from the st_model where a
 * kernel reads the stored type (half, q8_0, CTranslate2 int8: see nn/linear.h), so the
 * st_model must outlive the st_whisper_model (st_whisper_context frees the model first and
 * its file last); everything else is converted to float32 once. A state holds every
 * buffer a pass needs, sized once for the model and a maximum number of sequences, so encoding
 * and decoding allocate nothing.
 *
 * Use:
 *   st_whisper_model_init(&model, &loaded, &err);          `loaded` must outlive `model`
 *   st_whisper_state_init(&state, &model, n_beams, &err);
 *   st_whisper_encode(&model, &state, mel, &err);          also precomputes cross-attention K/V
 *   st_whisper_decode(&model, &state, prompt, n, 0, logits, &err);
 *   st_whisper_decode(&model, &state, &next, 1, n, logits, &err);   ... one token at a time
 *
 * Several sequences (beams, or best-of samples) decode together: the self-attention cache has a
 * slot per sequence, st_whisper_decode_batch runs all of them through every layer as one matrix
 * (so the weights are read once per step, not once per beam), they share the cross-attention
 * K/V of the one audio window, and st_whisper_kv_reorder copies cache slots when beam search
 * keeps some hypotheses and drops others.
 */
#ifndef ST_WHISPER_MODEL_H
#define ST_WHISPER_MODEL_H

#include <stdint.h>

#include "models/tensor_set.h"
#include "nn/linear.h"
#include "util/error.h"

typedef struct st_whisper_norm {
    float *weight; /* [dim] */
    float *bias;   /* [dim] */
} st_whisper_norm;

typedef struct st_whisper_attention {
    st_nn_linear query;
    st_nn_linear key; /* without bias, as in openai-whisper */
    st_nn_linear value;
    st_nn_linear out;
} st_whisper_attention;

/* A residual attention block. Encoder blocks leave the cross-attention parts empty. */
typedef struct st_whisper_block {
    st_whisper_norm attn_ln;
    st_whisper_attention attn;
    st_whisper_norm cross_attn_ln;
    st_whisper_attention cross_attn;
    st_whisper_norm mlp_ln;
    st_nn_linear mlp_in;  /* mlp.0: [4d, d] */
    st_nn_linear mlp_out; /* mlp.2: [d, 4d] */
} st_whisper_block;

typedef struct st_whisper_model {
    st_whisper_dims dims;
    float *conv1_weight; /* [n_audio_state][n_mels][3] */
    float *conv1_bias;
    float *conv2_weight; /* [n_audio_state][n_audio_state][3] */
    float *conv2_bias;
    float *encoder_positions; /* [n_audio_ctx][n_audio_state] */
    st_whisper_block *encoder_blocks;
    st_whisper_norm ln_post;
    st_nn_linear token_embedding; /* [n_vocab][n_text_state], also the output projection */
    float *decoder_positions;     /* [n_text_ctx][n_text_state] */
    st_whisper_block *decoder_blocks;
    st_whisper_norm decoder_ln;
    /* int8 and bf16 models keep the cross-attention keys and values as int8 with one scale per
     * frame and head (st_whisper_cross_layer_i8): a quarter of float32's bytes each decoder step
     * reads. The keys are then transposed in blocks of 16 frames (nn/kernels.h,
     * ST_NN_KEY_BLOCK). */
    int cross_i8;
    void *device; /* the weights on a GPU (whisper/device.h); NULL on the CPU */
} st_whisper_model;

/* Cross-attention scores to keep during decoding, for word timestamps (openai-whisper's
 * timing.py reads the same values through hooks on its alignment heads). The caller owns the
 * struct and the buffer and points state->capture at it; NULL turns capturing off. */
typedef struct st_whisper_capture {
    const int *heads; /* n_heads (decoder layer, head) pairs: heads[2*i], heads[2*i+1] */
    int n_heads;
    float *scores; /* [n_heads][max_rows][n_audio_ctx]: scaled q·k before softmax */
    int max_rows;  /* capacity in rows (sequence-major: row = sequence * n_tokens + token) */
    int n_rows;    /* rows the last st_whisper_decode_batch wrote: n_seq * n_tokens */
} st_whisper_capture;

typedef struct st_whisper_state {
    const st_whisper_model *model;
    int max_sequences;
    int max_rows; /* tokens one decode call may carry over all its sequences */
    int have_audio;
    float *arena; /* the one allocation every buffer below lies in */

    /* half weights widened for sgemm over many rows (see nn/linear.h) */
    float *weight_scratch;
    size_t weight_scratch_floats;

    /* encoder scratch; `audio` ends as the encoder output [n_audio_ctx][n_audio_state] */
    float *mel_by_time; /* [2*n_audio_ctx][n_mels] */
    float *conv_cols;   /* im2col of either convolution */
    float *conv1_out;   /* [2*n_audio_ctx][n_audio_state] */
    float *audio;
    float *enc_norm, *enc_q, *enc_k, *enc_v, *enc_attn; /* [n_audio_ctx][n_audio_state] each */
    float *enc_hidden;                                  /* [n_audio_ctx][4*n_audio_state] */
    float *enc_scores;                                  /* [n_audio_ctx][n_audio_ctx] */

    /* cross-attention keys and values of the encoded window, per decoder layer, laid out for
     * a decoder step's few queries: keys transposed [n_text_layer][n_text_state][n_audio_ctx]
     * (all frames scored with vector multiply-adds), values head by head [n_text_layer]
     * [n_text_head][n_audio_ctx][d_head] (one contiguous stream per head). A state made for
     * several windows (st_whisper_state_init_windows) holds n_windows such pairs,
     * cross_window_floats apart from cross_k_windows / cross_v_windows; cross_k and cross_v
     * point at the selected one (st_whisper_select_window), which encoding writes and
     * st_whisper_decode_batch reads. */
    float *cross_k, *cross_v;
    float *cross_k_windows, *cross_v_windows;
    size_t cross_k_window_floats, cross_v_window_floats;
    int n_windows;

    /* self-attention cache: [n_text_layer][max_sequences][n_text_ctx][n_text_state] */
    float *self_k, *self_v;

    /* decoder scratch, max_rows rows each */
    float *dec_x, *dec_norm, *dec_q, *dec_k, *dec_v, *dec_attn; /* [max_rows][n_text_state] */
    float *dec_hidden;                                          /* [max_rows][4*n_text_state] */
    float *dec_scores;                                          /* [max_rows][max(n_text_ctx, n_audio_ctx)] */
    size_t dec_scores_floats;

    st_whisper_capture *capture; /* optional, see st_whisper_capture */
    void *device;                /* the GPU's buffers when the model is on one (whisper/device.h) */
} st_whisper_state;

/* A linear layer of the model over n_rows rows, with the state's weight scratch. */
static inline void st_whisper_linear(st_whisper_state *state, const st_nn_linear *layer, const float *x, int n_rows,
                                     float *y) {
    st_nn_linear_forward(layer, x, n_rows, y, state->weight_scratch, state->weight_scratch_floats);
}

/* Which rows st_whisper_decode_batch turns into logits. */
typedef enum st_whisper_logits {
    ST_WHISPER_LOGITS_LAST, /* the last token of each sequence: logits [n_seq][n_vocab] */
    ST_WHISPER_LOGITS_ALL   /* every token: logits [n_seq][n_tokens][n_vocab] */
} st_whisper_logits;

/* Checks every tensor of source (presence and shape) and converts the weights to float32.
 * On failure *model is zeroed and err names the missing or misshapen tensor. */
steno_status st_whisper_model_init(st_whisper_model *model, const st_model *source, st_error *err);
void st_whisper_model_free(st_whisper_model *model);

/* Allocates the run state for up to max_sequences sequences decoded together. */
steno_status st_whisper_state_init(st_whisper_state *state, const st_whisper_model *model, int max_sequences,
                                   st_error *err);
/* The same with cross-attention keys and values for n_windows encoded windows, so sequences
 * of different windows decode together (st_whisper_decode_windows); CPU only. */
steno_status st_whisper_state_init_windows(st_whisper_state *state, const st_whisper_model *model, int max_sequences,
                                           int n_windows, st_error *err);
void st_whisper_state_free(st_whisper_state *state);
/* Makes window (0 .. n_windows-1) the one st_whisper_encode writes and the single-window calls
 * (st_whisper_decode, st_whisper_decode_batch) read. */
void st_whisper_select_window(st_whisper_state *state, int window);

/* Encodes one window, mel [n_mels][2*n_audio_ctx] (the log-mel of 30 s, padded), and
 * precomputes every decoder layer's cross-attention keys and values from it. The encoder
 * output is then state->audio, [n_audio_ctx][n_audio_state]. */
steno_status st_whisper_encode(const st_whisper_model *model, st_whisper_state *state, const float *mel, st_error *err);

/* st_whisper_encode in its steps (CPU only; tests compare the network layer by layer with them):
 * stem (conv1, GELU, conv2 with stride 2, GELU, plus positions) into state->audio, then each
 * block in order, then finish (ln_post and the cross-attention K/V). */
void st_whisper_encode_stem(const st_whisper_model *model, st_whisper_state *state, const float *mel);
void st_whisper_encode_block(const st_whisper_model *model, st_whisper_state *state, int layer);
void st_whisper_encode_finish(const st_whisper_model *model, st_whisper_state *state);
/* The stem and the first n_blocks blocks of a window (mel as for st_whisper_encode): state->audio
 * ends as the hidden states [n_audio_ctx][n_audio_state] st_whisper_encode has before its later
 * blocks (speaker features, diarize.h). CPU only; the state's decoder is left as it was. */
void st_whisper_encode_prefix(const st_whisper_model *model, st_whisper_state *state, const float *mel, int n_blocks);
/* The rest of st_whisper_encode after st_whisper_encode_prefix's first n_done blocks (their states
 * in state->audio): the remaining blocks, then st_whisper_encode_finish. */
void st_whisper_encode_resume(const st_whisper_model *model, st_whisper_state *state, int n_done);

/* Runs n_tokens tokens of one sequence (cache slot 0) at positions n_past .. n_past+n_tokens-1
 * and writes the logits of the last one, [n_vocab], to logits. Positions before n_past must
 * hold this sequence's earlier tokens (from earlier calls). */
steno_status st_whisper_decode(const st_whisper_model *model, st_whisper_state *state, const int *tokens, int n_tokens,
                               int n_past, float *logits, st_error *err);

/* The same for n_seq sequences at once (cache slots 0 .. n_seq-1), all at the same n_past, with
 * tokens [n_seq][n_tokens]; which says whether logits gets the last row of each sequence or
 * every row. n_seq * n_tokens may not exceed state->max_rows. */
steno_status st_whisper_decode_batch(const st_whisper_model *model, st_whisper_state *state, int n_seq,
                                     const int *tokens, int n_tokens, int n_past, st_whisper_logits which,
                                     float *logits, st_error *err);

/* st_whisper_decode_batch for sequences of different encoded windows (a state made by
 * st_whisper_state_init_windows): sequence i uses cache slot slots[i] and the cross-attention
 * of window windows[i] (sequences of one window come next to one another, so each window's
 * rows attend together). The rows go through every linear layer as one matrix: one read of the
 * weights serves all the windows. CPU only, without capture. */
steno_status st_whisper_decode_windows(const st_whisper_model *model, st_whisper_state *state, int n_seq,
                                       const int *slots, const int *windows, const int *tokens, int n_tokens,
                                       int n_past, st_whisper_logits which, float *logits, st_error *err);

/* Reorders the self-attention cache for beam search: afterwards slot i holds what slot
 * source[i] held, for positions 0 .. n_positions-1 of slots 0 .. n_seq-1 (source may repeat a
 * slot, e.g. {0, 0, 0, 0, 0} fans a decoded prompt out to five beams). */
steno_status st_whisper_kv_reorder(st_whisper_state *state, const int *source, int n_seq, int n_positions,
                                   st_error *err);
/* The same for slots first_slot .. first_slot+n_seq-1, source counted from first_slot (CPU only). */
steno_status st_whisper_kv_reorder_at(st_whisper_state *state, int first_slot, const int *source, int n_seq,
                                      int n_positions, st_error *err);

/* One decoder layer's cross-attention keys and values in an int8 model's window (model->
 * cross_i8): the keys [n_text_head] blocked as nn/kernels.h lays them out, the values
 * [n_text_head][n_audio_ctx][d_head], and the scales of both [n_text_head][slots], slots the
 * frames rounded up to a whole ST_NN_KEY_BLOCK. Each layer takes st_whisper_cross_floats_i8
 * floats of cross_k (keys, then their scales) and as many of cross_v. */
typedef struct st_whisper_cross_i8 {
    int8_t *keys, *values;
    float *key_scales, *value_scales;
} st_whisper_cross_i8;

size_t st_whisper_cross_floats_i8(const st_whisper_dims *d);
st_whisper_cross_i8 st_whisper_cross_layer_i8(const st_whisper_dims *d, float *cross_k, float *cross_v, int layer);

#endif
