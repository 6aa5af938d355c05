/*
 * mel.c — openai-whisper's log-mel spectrogram: Slaney mel filters, a 400-point real FFT and
 * the log/clamp/scale steps; see mel.h.
 *
 * The FFT is our own: a 400-point real transform done as a 200-point complex one (even
 * samples in the real part, odd in the imaginary) followed by the usual split step, and the
 * 200-point transform is a mixed-radix (4·2·5·5) Stockham FFT whose twiddles are computed
 * once in double precision. The mel projection walks only the non-zero span of each
 * triangular filter (a few bins each) instead of a dense 201-wide dot product.
 */
#include "audio/mel.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MEL_FFT_SIZE (ST_MEL_N_FFT / 2) /* the complex transform behind the real one */
#define MEL_MAX_STAGES 8

typedef struct mel_complex {
    float re, im;
} mel_complex;

typedef struct mel_fft_stage {
    int radix;
    int m;            /* sub-transform length after this stage: n / radix */
    int twiddle_base; /* index of this stage's first twiddle in twiddles[] */
} mel_fft_stage;

struct st_mel_filters {
    int n_mels;
    float *weights; /* [n_mels][ST_MEL_N_BINS] */
    int *first_bin; /* the non-zero span of filter m is [first_bin[m], end_bin[m]) */
    int *end_bin;
    float window[ST_MEL_N_FFT];
    int n_stages;
    mel_fft_stage stages[MEL_MAX_STAGES];
    /* Per stage, for q < m and k = 1..radix-1: exp(-2πi·q·k / (radix·m)). Fewer than
     * MEL_FFT_SIZE per stage. */
    mel_complex twiddles[MEL_MAX_STAGES * MEL_FFT_SIZE];
    mel_complex split_twiddles[ST_MEL_N_BINS]; /* exp(-2πi·k / ST_MEL_N_FFT) */
};

/* ---- Slaney mel scale (librosa's htk=False): linear below 1 kHz, 3 mels per 200 Hz, and
 * logarithmic above with 27 mels per factor 6.4 in frequency. ---- */

#define SLANEY_HZ_PER_MEL (200.0 / 3.0)
#define SLANEY_LOG_START_HZ 1000.0
#define SLANEY_LOG_START_MEL (SLANEY_LOG_START_HZ / SLANEY_HZ_PER_MEL)

static double slaney_log_step(void) {
    return log(6.4) / 27.0;
}

static double slaney_hz_to_mel(double hz) {
    if (hz < SLANEY_LOG_START_HZ) return hz / SLANEY_HZ_PER_MEL;
    return SLANEY_LOG_START_MEL + log(hz / SLANEY_LOG_START_HZ) / slaney_log_step();
}

static double slaney_mel_to_hz(double mel) {
    if (mel < SLANEY_LOG_START_MEL) return SLANEY_HZ_PER_MEL * mel;
    return SLANEY_LOG_START_HZ * exp(slaney_log_step() * (mel - SLANEY_LOG_START_MEL));
}

/*
 * librosa.filters.mel with fmin 0, fmax sr/2, norm="slaney": n_mels + 2 points evenly spaced
 * in mel give, for filter m, a triangle rising from point m to point m + 1 and falling to
 * point m + 2 over the FFT bin frequencies, scaled by 2 / (hz[m + 2] - hz[m]) so that each
 * filter has the same area. librosa holds the triangle in float32 and then multiplies it
 * by the float64 normalisation, rounding twice; we round at the same two places.
 */
static void build_filter_bank(st_mel_filters *filters) {
    const int n_mels = filters->n_mels;
    const int n_points = n_mels + 2;
    const double max_mel = slaney_hz_to_mel(ST_MEL_SAMPLE_RATE / 2.0);
    double point_hz[ST_MEL_MAX_MELS + 2];
    for (int i = 0; i < n_points; i++) {
        /* numpy.linspace: i·step from the start, and the last point exactly the stop */
        double mel = i == n_points - 1 ? max_mel : i * (max_mel / (n_points - 1));
        point_hz[i] = slaney_mel_to_hz(mel);
    }
    for (int m = 0; m < n_mels; m++) {
        const double rise = point_hz[m + 1] - point_hz[m];
        const double fall = point_hz[m + 2] - point_hz[m + 1];
        const double area_norm = 2.0 / (point_hz[m + 2] - point_hz[m]);
        float *row = filters->weights + (size_t)m * ST_MEL_N_BINS;
        filters->first_bin[m] = ST_MEL_N_BINS;
        filters->end_bin[m] = 0;
        for (int k = 0; k < ST_MEL_N_BINS; k++) {
            const double hz = (double)k * ST_MEL_SAMPLE_RATE / ST_MEL_N_FFT;
            const double lower = (hz - point_hz[m]) / rise;
            const double upper = (point_hz[m + 2] - hz) / fall;
            const double triangle = fmax(0.0, fmin(lower, upper));
            row[k] = (float)((double)(float)triangle * area_norm);
            if (row[k] != 0.0f) {
                if (filters->first_bin[m] == ST_MEL_N_BINS) filters->first_bin[m] = k;
                filters->end_bin[m] = k + 1;
            }
        }
        if (filters->end_bin[m] == 0) filters->first_bin[m] = 0; /* an empty span */
    }
}

/* ---- FFT ---- */

static mel_complex unit_root(long numerator, long denominator) {
    const double angle = -2.0 * M_PI * (double)numerator / (double)denominator;
    return (mel_complex){(float)cos(angle), (float)sin(angle)};
}

static void build_fft(st_mel_filters *filters) {
    /* Radix 4 first, then 2 and 5: the orders cover 200 = 4·2·5·5. */
    static const int radixes[] = {4, 2, 5};
    int n = MEL_FFT_SIZE, twiddle_base = 0;
    filters->n_stages = 0;
    for (size_t r = 0; r < sizeof radixes / sizeof radixes[0]; r++) {
        while (n % radixes[r] == 0 && n > 1) {
            mel_fft_stage *stage = &filters->stages[filters->n_stages++];
            stage->radix = radixes[r];
            stage->m = n / radixes[r];
            stage->twiddle_base = twiddle_base;
            for (int q = 0; q < stage->m; q++) {
                for (int k = 1; k < stage->radix; k++) {
                    filters->twiddles[twiddle_base++] = unit_root((long)q * k, n);
                }
            }
            n = stage->m;
        }
    }
    for (int k = 0; k < ST_MEL_N_BINS; k++)
        filters->split_twiddles[k] = unit_root(k, ST_MEL_N_FFT);
}

static inline mel_complex c_add(mel_complex a, mel_complex b) {
    return (mel_complex){a.re + b.re, a.im + b.im};
}
static inline mel_complex c_sub(mel_complex a, mel_complex b) {
    return (mel_complex){a.re - b.re, a.im - b.im};
}
static inline mel_complex c_mul(mel_complex a, mel_complex b) {
    return (mel_complex){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
/* -i·a */
static inline mel_complex c_mul_neg_i(mel_complex a) {
    return (mel_complex){a.im, -a.re};
}

/*
 * One decimation-in-frequency Stockham stage. x holds `stride` interleaved sequences of
 * length n = radix·m; element j·m + q of sequence t is at x[t + stride·(q + m·j)]. Each
 * radix-point DFT over j, times the twiddle exp(-2πi·q·k/n), becomes element q of the k-th
 * sub-sequence, which the next stage (stride·radix sequences of length m) finds at
 * y[t + stride·(radix·q + k)]. After the last stage the output is in natural order.
 */
static void fft_stage(const st_mel_filters *filters, const mel_fft_stage *stage, int stride, const mel_complex *x,
                      mel_complex *y) {
    const int m = stage->m;
    const mel_complex *twiddles = filters->twiddles + stage->twiddle_base;
    switch (stage->radix) {
    case 2:
        for (int q = 0; q < m; q++) {
            const mel_complex w1 = twiddles[q];
            for (int t = 0; t < stride; t++) {
                const mel_complex a0 = x[t + stride * q], a1 = x[t + stride * (q + m)];
                y[t + stride * (2 * q)] = c_add(a0, a1);
                y[t + stride * (2 * q + 1)] = c_mul(c_sub(a0, a1), w1);
            }
        }
        break;
    case 4:
        for (int q = 0; q < m; q++) {
            const mel_complex *w = twiddles + 3 * q;
            for (int t = 0; t < stride; t++) {
                const mel_complex a0 = x[t + stride * q], a1 = x[t + stride * (q + m)];
                const mel_complex a2 = x[t + stride * (q + 2 * m)], a3 = x[t + stride * (q + 3 * m)];
                const mel_complex s02 = c_add(a0, a2), d02 = c_sub(a0, a2);
                const mel_complex s13 = c_add(a1, a3), d13 = c_mul_neg_i(c_sub(a1, a3));
                mel_complex *out = y + t + stride * (4 * q);
                out[0] = c_add(s02, s13);
                out[stride] = c_mul(c_add(d02, d13), w[0]);
                out[2 * stride] = c_mul(c_sub(s02, s13), w[1]);
                out[3 * stride] = c_mul(c_sub(d02, d13), w[2]);
            }
        }
        break;
    case 5: {
        /* b_k = Σ a_j e^{-2πi jk/5}; pairing j with 5 - j leaves two cosines and two sines */
        const float c1 = (float)cos(2.0 * M_PI / 5.0), c2 = (float)cos(4.0 * M_PI / 5.0);
        const float s1 = (float)sin(2.0 * M_PI / 5.0), s2 = (float)sin(4.0 * M_PI / 5.0);
        for (int q = 0; q < m; q++) {
            const mel_complex *w = twiddles + 4 * q;
            for (int t = 0; t < stride; t++) {
                const mel_complex a0 = x[t + stride * q], a1 = x[t + stride * (q + m)];
                const mel_complex a2 = x[t + stride * (q + 2 * m)], a3 = x[t + stride * (q + 3 * m)];
                const mel_complex a4 = x[t + stride * (q + 4 * m)];
                const mel_complex t1 = c_add(a1, a4), t2 = c_add(a2, a3);
                const mel_complex d1 = c_sub(a1, a4), d2 = c_sub(a2, a3);
                const mel_complex r1 = {a0.re + c1 * t1.re + c2 * t2.re, a0.im + c1 * t1.im + c2 * t2.im};
                const mel_complex r2 = {a0.re + c2 * t1.re + c1 * t2.re, a0.im + c2 * t1.im + c1 * t2.im};
                /* i1 = -i(s1·d1 + s2·d2), i2 = -i(s2·d1 - s1·d2) */
                const mel_complex i1 = c_mul_neg_i((mel_complex){s1 * d1.re + s2 * d2.re, s1 * d1.im + s2 * d2.im});
                const mel_complex i2 = c_mul_neg_i((mel_complex){s2 * d1.re - s1 * d2.re, s2 * d1.im - s1 * d2.im});
                mel_complex *out = y + t + stride * (5 * q);
                out[0] = c_add(a0, c_add(t1, t2));
                out[stride] = c_mul(c_add(r1, i1), w[0]);
                out[2 * stride] = c_mul(c_add(r2, i2), w[1]);
                out[3 * stride] = c_mul(c_sub(r2, i2), w[2]);
                out[4 * stride] = c_mul(c_sub(r1, i1), w[3]);
            }
        }
        break;
    }
    default:
        break; /* build_fft makes only radixes 2, 4 and 5 */
    }
}

void st_mel_power_spectrum(const st_mel_filters *filters, const float *frame, float *power) {
    mel_complex buffer_a[MEL_FFT_SIZE], buffer_b[MEL_FFT_SIZE];
    for (int i = 0; i < MEL_FFT_SIZE; i++)
        buffer_a[i] = (mel_complex){frame[2 * i], frame[2 * i + 1]};
    mel_complex *x = buffer_a, *y = buffer_b;
    int stride = 1;
    for (int s = 0; s < filters->n_stages; s++) {
        fft_stage(filters, &filters->stages[s], stride, x, y);
        stride *= filters->stages[s].radix;
        mel_complex *swap = x;
        x = y;
        y = swap;
    }
    /* x = Z, the transform of z[i] = frame[2i] + i·frame[2i+1]. The even and odd halves'
     * transforms are E[k] = (Z[k] + conj Z[M-k]) / 2 and O[k] = -i(Z[k] - conj Z[M-k]) / 2,
     * and X[k] = E[k] + exp(-2πik/N)·O[k]. At k = 0 and k = M they reduce to Re Z[0] ± Im Z[0]. */
    const float dc = x[0].re + x[0].im, nyquist = x[0].re - x[0].im;
    power[0] = dc * dc;
    power[MEL_FFT_SIZE] = nyquist * nyquist;
    for (int k = 1; k < MEL_FFT_SIZE; k++) {
        const mel_complex z = x[k];
        const mel_complex mirror = {x[MEL_FFT_SIZE - k].re, -x[MEL_FFT_SIZE - k].im};
        const mel_complex even = {0.5f * (z.re + mirror.re), 0.5f * (z.im + mirror.im)};
        const mel_complex odd = c_mul_neg_i((mel_complex){0.5f * (z.re - mirror.re), 0.5f * (z.im - mirror.im)});
        const mel_complex bin = c_add(even, c_mul(filters->split_twiddles[k], odd));
        power[k] = bin.re * bin.re + bin.im * bin.im;
    }
}

/* ---- filters object ---- */

st_mel_filters *st_mel_filters_create(int n_mels, st_error *err) {
    if (n_mels != 80 && n_mels != ST_MEL_MAX_MELS) {
        st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: %d mel bins asked for; Whisper uses 80 or 128", n_mels);
        return NULL;
    }
    st_mel_filters *filters = calloc(1, sizeof *filters);
    if (filters) {
        filters->n_mels = n_mels;
        filters->weights = malloc((size_t)n_mels * ST_MEL_N_BINS * sizeof *filters->weights);
        filters->first_bin = malloc((size_t)n_mels * sizeof *filters->first_bin);
        filters->end_bin = malloc((size_t)n_mels * sizeof *filters->end_bin);
    }
    if (!filters || !filters->weights || !filters->first_bin || !filters->end_bin) {
        st_mel_filters_free(filters);
        st_error_set(err, STENO_ERR_NO_MEMORY, "mel: out of memory building %d mel filters", n_mels);
        return NULL;
    }
    build_filter_bank(filters);
    /* torch.hann_window(400), periodic: 0.5 - 0.5·cos(2πn/400) */
    for (int i = 0; i < ST_MEL_N_FFT; i++) {
        filters->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / ST_MEL_N_FFT));
    }
    build_fft(filters);
    return filters;
}

void st_mel_filters_free(st_mel_filters *filters) {
    if (!filters) return;
    free(filters->weights);
    free(filters->first_bin);
    free(filters->end_bin);
    free(filters);
}

int st_mel_filters_n_mels(const st_mel_filters *filters) {
    return filters->n_mels;
}

const float *st_mel_filters_weights(const st_mel_filters *filters) {
    return filters->weights;
}

/* ---- the spectrogram ---- */

size_t st_mel_frame_count(size_t n_samples, size_t n_padding_samples) {
    /* torch.stft with center=True gives 1 + total/hop frames; openai-whisper drops the last */
    return (n_samples + n_padding_samples) / ST_MEL_HOP;
}

typedef struct mel_job {
    const st_mel_filters *filters;
    /* signal samples [buffer_start, buffer_start + buffer_length) of the audio */
    const float *buffer;
    size_t buffer_start, buffer_length;
    size_t n_audio; /* the audio's length: later signal samples are padding zeros */
    size_t n_total; /* audio plus padding, where the reflect padding mirrors the end */
    size_t first_frame, end_frame;
    float *data;   /* frame f of mel m at data[m * stride + f - data_first_frame] */
    size_t stride, data_first_frame;
    float max_log; /* the largest log10 this job wrote */
} mel_job;

/* Sample i of the signal seen by torch.stft(center=True): the audio, then zeros, mirrored
 * about the first and last samples without repeating them (reflect padding). */
static float padded_sample(const mel_job *job, ptrdiff_t i) {
    if (i < 0) i = -i;
    if ((size_t)i >= job->n_total) i = 2 * ((ptrdiff_t)job->n_total - 1) - i;
    if ((size_t)i >= job->n_audio) return 0.0f;
    return job->buffer[(size_t)i - job->buffer_start];
}

static void *mel_job_run(void *argument) {
    mel_job *job = argument;
    const st_mel_filters *filters = job->filters;
    const float *window = filters->window;
    float frame[ST_MEL_N_FFT], power[ST_MEL_N_BINS];
    float max_log = -INFINITY;
    const size_t buffer_end = job->buffer_start + job->buffer_length;
    for (size_t f = job->first_frame; f < job->end_frame; f++) {
        /* frame f covers signal samples [f·hop - n_fft/2, f·hop + n_fft/2) */
        const ptrdiff_t start = (ptrdiff_t)(f * ST_MEL_HOP) - ST_MEL_N_FFT / 2;
        const size_t end = (size_t)(start + ST_MEL_N_FFT);
        if (start >= 0 && (size_t)start >= job->buffer_start && end <= buffer_end && end <= job->n_audio) {
            const float *source = job->buffer + ((size_t)start - job->buffer_start);
            for (int i = 0; i < ST_MEL_N_FFT; i++)
                frame[i] = source[i] * window[i];
            st_mel_power_spectrum(filters, frame, power);
        } else if (start >= 0 && (size_t)start >= job->n_audio && end <= job->n_total) {
            /* wholly inside the zero padding: nothing to transform */
            memset(power, 0, sizeof power);
        } else {
            for (int i = 0; i < ST_MEL_N_FFT; i++)
                frame[i] = padded_sample(job, start + i) * window[i];
            st_mel_power_spectrum(filters, frame, power);
        }
        for (int m = 0; m < filters->n_mels; m++) {
            const float *weights = filters->weights + (size_t)m * ST_MEL_N_BINS;
            float sum = 0.0f;
            for (int k = filters->first_bin[m]; k < filters->end_bin[m]; k++)
                sum += weights[k] * power[k];
            /* openai-whisper: clamp(min=1e-10).log10() */
            const float value = log10f(fmaxf(sum, 1e-10f));
            if (value > max_log) max_log = value;
            job->data[(size_t)m * job->stride + (f - job->data_first_frame)] = value;
        }
    }
    job->max_log = max_log;
    return NULL;
}

/* Runs the frames of *task split over n_threads (job 0 on the calling thread; a job whose
 * thread cannot be started runs here too). Returns the largest log10 written. */
static float run_jobs(const mel_job *task, int n_threads) {
    enum { MAX_JOBS = 64 };
    size_t n_frames = task->end_frame - task->first_frame;
    size_t n_jobs = (size_t)n_threads < n_frames ? (size_t)n_threads : n_frames;
    if (n_jobs > MAX_JOBS) n_jobs = MAX_JOBS;
    if (n_jobs < 1) return -INFINITY;
    mel_job jobs[MAX_JOBS];
    pthread_t threads[MAX_JOBS];
    bool started[MAX_JOBS] = {false};
    for (size_t j = 0; j < n_jobs; j++) {
        jobs[j] = *task;
        jobs[j].first_frame = task->first_frame + n_frames * j / n_jobs;
        jobs[j].end_frame = task->first_frame + n_frames * (j + 1) / n_jobs;
    }
    for (size_t j = 1; j < n_jobs; j++)
        started[j] = pthread_create(&threads[j], NULL, mel_job_run, &jobs[j]) == 0;
    mel_job_run(&jobs[0]);
    float max_log = jobs[0].max_log;
    for (size_t j = 1; j < n_jobs; j++) {
        if (started[j]) {
            pthread_join(threads[j], NULL);
        } else {
            mel_job_run(&jobs[j]);
        }
        if (jobs[j].max_log > max_log) max_log = jobs[j].max_log;
    }
    return max_log;
}

float st_mel_log_frames(const st_mel_filters *filters, const float *buffer, size_t buffer_start, size_t buffer_length,
                        size_t n_audio, size_t n_total, size_t first_frame, size_t n_frames, float *out,
                        size_t stride, int n_threads) {
    mel_job task = {
        .filters = filters,
        .buffer = buffer,
        .buffer_start = buffer_start,
        .buffer_length = buffer_length,
        .n_audio = n_audio,
        .n_total = n_total,
        .first_frame = first_frame,
        .end_frame = first_frame + n_frames,
        .data = out,
        .stride = stride,
        .data_first_frame = first_frame,
    };
    return run_jobs(&task, n_threads < 1 ? 1 : n_threads);
}

void st_mel_scale(float *values, size_t n, float max_log) {
    /* openai-whisper: maximum(log_spec, log_spec.max() - 8.0), then (log_spec + 4.0) / 4.0 */
    const float floor = max_log - 8.0f;
    for (size_t i = 0; i < n; i++)
        values[i] = (fmaxf(values[i], floor) + 4.0f) / 4.0f;
}

steno_status st_mel_compute(const st_mel_filters *filters, const float *samples, size_t n_samples,
                            size_t n_padding_samples, int n_threads, st_mel *out, st_error *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!filters || !out || (!samples && n_samples > 0)) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: filters, output and samples must not be NULL");
    }
    if (n_threads < 1) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: %d threads asked for; at least 1 is needed",
                            n_threads);
    }
    if (n_padding_samples > SIZE_MAX - n_samples) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: %zu samples plus %zu of padding overflow", n_samples,
                            n_padding_samples);
    }
    const size_t n_total = n_samples + n_padding_samples;
    if (n_total <= ST_MEL_N_FFT / 2) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT,
                            "mel: %zu samples with padding; the centred STFT's reflect padding needs more than %d",
                            n_total, ST_MEL_N_FFT / 2);
    }
    const size_t n_frames = st_mel_frame_count(n_samples, n_padding_samples);
    const size_t n_mels = (size_t)filters->n_mels;
    if (n_frames > INT32_MAX || n_frames > SIZE_MAX / sizeof(float) / n_mels) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "mel: %zu frames are more than steno handles", n_frames);
    }
    float *data = malloc(n_mels * n_frames * sizeof *data);
    if (!data) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "mel: out of memory for %zu × %zu mel values", n_mels, n_frames);
    }
    float max_log = st_mel_log_frames(filters, samples, 0, n_samples, n_samples, n_total, 0, n_frames, data, n_frames,
                                      n_threads);
    st_mel_scale(data, n_mels * n_frames, max_log);
    out->data = data;
    out->n_mels = (int)n_mels;
    out->n_frames = (int)n_frames;
    return STENO_OK;
}

void st_mel_free(st_mel *mel) {
    if (!mel) return;
    free(mel->data);
    memset(mel, 0, sizeof *mel);
}
