/*
 * fbank.c — Kaldi filter-bank features (see fbank.h).
 *
 * The 512-point real FFT is a radix-2 complex FFT of the frame; its twiddles and the
 * bit-reversal order are tabled at creation.
 */
#include "diarize/fbank.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_FFT 512
#define N_BINS (N_FFT / 2 + 1)
#define PREEMPHASIS 0.97
#define LOW_FREQUENCY 20.0

struct st_fbank {
    double window[ST_FBANK_FRAME_LENGTH];
    double cos_table[N_FFT / 2], sin_table[N_FFT / 2];
    int reversed[N_FFT];
    /* filter m covers FFT bins first[m] .. first[m] + count[m] - 1 with these weights */
    int first[ST_FBANK_N_MELS], count[ST_FBANK_N_MELS];
    double weights[ST_FBANK_N_MELS][N_BINS];
};

static double kaldi_mel(double hz) {
    return 1127.0 * log(1.0 + hz / 700.0);
}

st_fbank *st_fbank_create(st_error *err) {
    st_fbank *f = calloc(1, sizeof *f);
    if (!f) {
        st_error_set(err, STENO_ERR_NO_MEMORY, "fbank: out of memory");
        return NULL;
    }
    for (int n = 0; n < ST_FBANK_FRAME_LENGTH; n++)
        f->window[n] = 0.54 - 0.46 * cos(2 * M_PI * n / (ST_FBANK_FRAME_LENGTH - 1));
    for (int k = 0; k < N_FFT / 2; k++) {
        f->cos_table[k] = cos(2 * M_PI * k / N_FFT);
        f->sin_table[k] = -sin(2 * M_PI * k / N_FFT);
    }
    int bits = 0;
    while ((1 << bits) < N_FFT)
        bits++;
    for (int i = 0; i < N_FFT; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            r |= ((i >> b) & 1) << (bits - 1 - b);
        f->reversed[i] = r;
    }
    double low = kaldi_mel(LOW_FREQUENCY), high = kaldi_mel(ST_FBANK_SAMPLE_RATE / 2.0);
    double delta = (high - low) / (ST_FBANK_N_MELS + 1);
    for (int m = 0; m < ST_FBANK_N_MELS; m++) {
        double left = low + m * delta, centre = left + delta, right = centre + delta;
        f->first[m] = -1;
        for (int k = 0; k < N_FFT / 2; k++) { /* the Nyquist bin is left out */
            double mel = kaldi_mel((double)k * ST_FBANK_SAMPLE_RATE / N_FFT);
            double up = (mel - left) / (centre - left), down = (right - mel) / (right - centre);
            double w = up < down ? up : down;
            if (w <= 0) continue;
            if (f->first[m] < 0) f->first[m] = k;
            f->weights[m][k] = w;
            f->count[m] = k - f->first[m] + 1;
        }
        if (f->first[m] < 0) f->first[m] = 0;
    }
    return f;
}

void st_fbank_free(st_fbank *fbank) {
    free(fbank);
}

int st_fbank_n_frames(size_t n_samples) {
    if (n_samples < ST_FBANK_FRAME_LENGTH) return 0;
    return 1 + (int)((n_samples - ST_FBANK_FRAME_LENGTH) / ST_FBANK_FRAME_SHIFT);
}

/* In-place radix-2 FFT of re/im (already in bit-reversed order). */
static void fft(const st_fbank *f, double *re, double *im) {
    for (int size = 2; size <= N_FFT; size *= 2) {
        int half = size / 2, step = N_FFT / size;
        for (int start = 0; start < N_FFT; start += size) {
            for (int j = 0; j < half; j++) {
                double wr = f->cos_table[j * step], wi = f->sin_table[j * step];
                int a = start + j, b = a + half;
                double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
}

void st_fbank_compute(const st_fbank *f, const float *samples, size_t n_samples, float *out) {
    int n_frames = st_fbank_n_frames(n_samples);
    double frame[ST_FBANK_FRAME_LENGTH], re[N_FFT], im[N_FFT], power[N_BINS];
    for (int t = 0; t < n_frames; t++) {
        const float *x = samples + (size_t)t * ST_FBANK_FRAME_SHIFT;
        double mean = 0;
        for (int n = 0; n < ST_FBANK_FRAME_LENGTH; n++)
            mean += x[n];
        mean /= ST_FBANK_FRAME_LENGTH;
        for (int n = 0; n < ST_FBANK_FRAME_LENGTH; n++)
            frame[n] = x[n] - mean;
        for (int n = ST_FBANK_FRAME_LENGTH - 1; n > 0; n--)
            frame[n] -= PREEMPHASIS * frame[n - 1];
        frame[0] -= PREEMPHASIS * frame[0];
        memset(re, 0, sizeof re);
        memset(im, 0, sizeof im);
        for (int n = 0; n < ST_FBANK_FRAME_LENGTH; n++)
            re[f->reversed[n]] = frame[n] * f->window[n];
        fft(f, re, im);
        for (int k = 0; k < N_BINS; k++)
            power[k] = re[k] * re[k] + im[k] * im[k];
        for (int m = 0; m < ST_FBANK_N_MELS; m++) {
            double energy = 0;
            for (int k = f->first[m]; k < f->first[m] + f->count[m]; k++)
                energy += f->weights[m][k] * power[k];
            out[(size_t)t * ST_FBANK_N_MELS + m] = (float)log(energy > FLT_EPSILON ? energy : FLT_EPSILON);
        }
    }
}
