/*
 * speed.c — micro-benchmark of steno's Whisper network on CPU: the encoder per 30-second
 * window and the decoder per token with 1 and 5 sequences (greedy and beam search), in wall
 * time and process CPU time (the latter is what to compare on a machine shared with others).
 *
 *   speed-steno-micro MODEL [THREADS] [STEPS] [WINDOWS] [COMPUTE]
 *
 * COMPUTE is the compute type of the linear layers (auto, fp32, int8, bf16; nn/linear.h).
 *
 * The input is a synthetic log-mel and arbitrary text tokens: the network's cost does not
 * depend on the values. End-to-end runs are in bench/speed-steno, which calls this first.
 */
#include <stdio.h>
#include <stdlib.h>

#include "models/loader.h"
#include "nn/kernels.h"
#include "nn/linear.h"
#include "nn/threads.h"
#include "whisper/model.h"

#include "clocks.h"

#define PROMPT_TOKENS 32

static int fail(const st_error *err) {
    fprintf(stderr, "speed: %s\n", err->message);
    return 1;
}

/* Prefills a prompt into every sequence's slot, then times `steps` single-token steps of all
 * n_seq sequences together. */
static steno_status time_decoder(const st_whisper_model *model, st_whisper_state *state, int n_seq, int steps,
                                 float *logits, int *tokens, st_error *err) {
    const st_whisper_dims *d = &model->dims;
    for (int i = 0; i < PROMPT_TOKENS; i++)
        tokens[i] = (i * 7919) % (d->n_vocab - 1000);
    steno_status status = st_whisper_decode(model, state, tokens, PROMPT_TOKENS, 0, logits, err);
    if (status != STENO_OK) return status;
    int fan_out[256] = {0};
    if ((status = st_whisper_kv_reorder(state, fan_out, n_seq, PROMPT_TOKENS, err)) != STENO_OK) return status;
    clocks start = now();
    for (int step = 0; step < steps; step++) {
        for (int s = 0; s < n_seq; s++)
            tokens[s] = (step * 31 + s * 101) % (d->n_vocab - 1000);
        status = st_whisper_decode_batch(model, state, n_seq, tokens, 1, PROMPT_TOKENS + step, ST_WHISPER_LOGITS_LAST,
                                         logits, err);
        if (status != STENO_OK) return status;
    }
    clocks spent = since(start);
    printf("decoder, %d sequence%s: %7.2f ms/step wall, %7.2f ms/step cpu (%d steps)\n", n_seq, n_seq > 1 ? "s" : "",
           1e3 * spent.wall / steps, 1e3 * spent.cpu / steps, steps);
    return STENO_OK;
}

int main(int argc, char **argv) {
    st_nn_compute compute = ST_NN_COMPUTE_AUTO;
    if (argc < 2 || argc > 6 || (argc > 5 && st_nn_compute_from_name(argv[5], &compute) != 0)) {
        fprintf(stderr, "usage: %s MODEL [THREADS] [STEPS] [WINDOWS] [auto|fp32|int8|bf16]\n", argv[0]);
        return 2;
    }
    int n_threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 100;
    int windows = argc > 4 ? atoi(argv[4]) : 3;
    if (steps < 1 || steps > 400) steps = 100;
    if (windows < 1 || windows > 100) windows = 3;
    st_nn_set_threads(n_threads);
    st_nn_set_compute(compute);
    st_error err = {0};
    st_model file;
    st_whisper_model model;
    st_whisper_state state;
    clocks start = now();
    if (st_model_open(argv[1], &file, &err) != STENO_OK) return fail(&err);
    /* The model's layers borrow their weights from the file's mapping (whisper/model.h): the
     * file stays open until the model is freed. */
    if (st_whisper_model_init(&model, &file, &err) != STENO_OK) return fail(&err);
    if (st_whisper_state_init(&state, &model, 5, &err) != STENO_OK) return fail(&err);
    clocks load = since(start);
    const st_whisper_dims *d = &model.dims;
    printf("kernels %s, %d threads, load %.2f s\n", st_nn_kernels_best()->name, st_nn_get_threads(), load.wall);

    size_t mel_size = (size_t)d->n_mels * 2 * d->n_audio_ctx;
    float *mel = malloc(mel_size * sizeof *mel);
    float *logits = malloc((size_t)5 * d->n_vocab * sizeof *logits);
    int *tokens = malloc(PROMPT_TOKENS * sizeof *tokens);
    if (!mel || !logits || !tokens) {
        fprintf(stderr, "speed: out of memory\n");
        return 1;
    }
    uint32_t seed = 12345;
    for (size_t i = 0; i < mel_size; i++) { /* a log-mel in openai's range, roughly -1 .. 1 */
        seed = seed * 1664525u + 1013904223u;
        mel[i] = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    if (st_whisper_encode(&model, &state, mel, &err) != STENO_OK) return fail(&err); /* warm-up */
    start = now();
    for (int i = 0; i < windows; i++)
        if (st_whisper_encode(&model, &state, mel, &err) != STENO_OK) return fail(&err);
    clocks encode = since(start);
    printf("encoder: %7.1f ms/window wall, %7.1f ms/window cpu (%d runs)\n", 1e3 * encode.wall / windows,
           1e3 * encode.cpu / windows, windows);

    if (time_decoder(&model, &state, 1, steps, logits, tokens, &err) != STENO_OK ||
        time_decoder(&model, &state, 5, steps, logits, tokens, &err) != STENO_OK)
        return fail(&err);
    free(mel);
    free(logits);
    free(tokens);
    st_whisper_state_free(&state);
    st_whisper_model_free(&model);
    st_model_free(&file);
    return 0;
}
