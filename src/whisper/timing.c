/*
 * timing.c — word-level timestamps: openai-whisper's timing.py (find_alignment,
 * merge_punctuations, add_word_timestamps) and the word splitting of its tokenizer.py; see
 * timing.h.
 */
#include "whisper/timing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"
#include "text/unicode.h"

enum {
    MEDIAN_FILTER_WIDTH = 7,
    TOKENS_PER_SECOND = 50, /* 16000 Hz / 160 samples per frame / 2 frames per audio position */
};

void st_word_timings_free(st_word_timing *words, int n_words) {
    if (!words) return;
    for (int i = 0; i < n_words; i++)
        free(words[i].word);
    free(words);
}

/* ---- median filter ---- */

void st_timing_median_filter(float *x, int n_rows, int n_cols, int width, float *scratch) {
    const int pad = width / 2;
    if (n_cols <= pad) return;
    float *padded = scratch, *window = scratch + n_cols + 2 * pad;
    for (int r = 0; r < n_rows; r++) {
        float *row = x + (size_t)r * n_cols;
        /* reflect: padded[pad - k] = row[k], padded[pad + n_cols - 1 + k] = row[n_cols - 1 - k] */
        memcpy(padded + pad, row, (size_t)n_cols * sizeof *row);
        for (int k = 1; k <= pad; k++) {
            padded[pad - k] = row[k];
            padded[pad + n_cols - 1 + k] = row[n_cols - 1 - k];
        }
        for (int c = 0; c < n_cols; c++) {
            /* insertion sort: the window is tiny (7) */
            for (int k = 0; k < width; k++) {
                float v = padded[c + k];
                int at = k;
                while (at > 0 && window[at - 1] > v) {
                    window[at] = window[at - 1];
                    at--;
                }
                window[at] = v;
            }
            row[c] = window[pad];
        }
    }
}

/* ---- dynamic time warping ---- */

steno_status st_timing_dtw(const double *x, int n, int m, int *text_indices, int *time_indices, int *length,
                           st_error *err) {
    if (n < 1 || m < 1) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "dtw: empty %d x %d matrix", n, m);
    const size_t stride = (size_t)m + 1, cells = ((size_t)n + 1) * stride;
    float *cost = malloc(cells * sizeof *cost);
    signed char *trace = malloc(cells);
    if (!cost || !trace) {
        free(cost);
        free(trace);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < cells; i++) {
        cost[i] = INFINITY;
        trace[i] = -1;
    }
    cost[0] = 0.0f;
    for (int j = 1; j <= m; j++) {
        for (int i = 1; i <= n; i++) {
            float c0 = cost[(i - 1) * stride + j - 1], c1 = cost[(i - 1) * stride + j], c2 = cost[i * stride + j - 1];
            float c;
            signed char t;
            if (c0 < c1 && c0 < c2)
                c = c0, t = 0;
            else if (c1 < c0 && c1 < c2)
                c = c1, t = 1;
            else
                c = c2, t = 2;
            /* the sum is taken in double and stored as float, as numpy does with a float32 array */
            cost[i * stride + j] = (float)(x[(size_t)(i - 1) * m + (j - 1)] + (double)c);
            trace[i * stride + j] = t;
        }
    }
    /* backtrace from the far corner; the first row can only go left, the first column only up */
    for (int j = 0; j <= m; j++)
        trace[j] = 2;
    for (int i = 0; i <= n; i++)
        trace[i * stride] = 1;
    int i = n, j = m, count = 0;
    while (i > 0 || j > 0) {
        text_indices[count] = i - 1;
        time_indices[count] = j - 1;
        count++;
        signed char t = trace[i * stride + j];
        if (t == 0)
            i--, j--;
        else if (t == 1)
            i--;
        else
            j--;
    }
    for (int a = 0, b = count - 1; a < b; a++, b--) {
        int ti = text_indices[a], tj = time_indices[a];
        text_indices[a] = text_indices[b], time_indices[a] = time_indices[b];
        text_indices[b] = ti, time_indices[b] = tj;
    }
    *length = count;
    free(cost);
    free(trace);
    return STENO_OK;
}

/* ---- splitting tokens into words ---- */

/* Decodes ids as openai's decode_with_timestamps does here (special tokens by name, an
 * incomplete character at the end as U+FFFD); malloc'd, NULL when memory runs out. */
static char *decode_tokens(const st_tokenizer *t, const int32_t *ids, int n, size_t *length) {
    unsigned flags = ST_DECODE_SPECIALS | ST_DECODE_TIMESTAMPS | ST_DECODE_REPLACE_INCOMPLETE;
    if (st_tokenizer_decode(t, ids, (size_t)n, flags, NULL, 0, length, NULL) != STENO_OK) return NULL;
    char *text = malloc(*length + 1);
    if (text && st_tokenizer_decode(t, ids, (size_t)n, flags, text, *length + 1, length, NULL) != STENO_OK) {
        free(text);
        text = NULL;
    }
    return text;
}

/* Code point index of the first U+FFFD in text, or -1. */
static long first_replacement(const char *text, size_t length) {
    long index = 0;
    for (size_t at = 0; at < length; index++) {
        uint32_t cp;
        at += st_utf8_decode(text + at, length - at, &cp);
        if (cp == ST_UNICODE_REPLACEMENT) return index;
    }
    return -1;
}

static steno_status push_word(st_word_timing **words, int *n_words, int *capacity, char *text, int n_tokens,
                              st_error *err) {
    if (*n_words == *capacity) {
        int grown = *capacity ? *capacity * 2 : 16;
        st_word_timing *more = realloc(*words, (size_t)grown * sizeof *more);
        if (!more) {
            free(text);
            return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        }
        *words = more;
        *capacity = grown;
    }
    (*words)[(*n_words)++] = (st_word_timing){.word = text, .n_tokens = n_tokens};
    return STENO_OK;
}

/* split_tokens_on_unicode: a piece ends after every token where the text decoded so far is
 * complete, i.e. has no U+FFFD that the whole sequence's text does not also have there. */
static steno_status split_on_unicode(const st_tokenizer *t, const int32_t *tokens, int n_tokens, st_word_timing **words,
                                     int *n_words, st_error *err) {
    *words = NULL;
    *n_words = 0;
    int capacity = 0;
    size_t full_length;
    char *full = decode_tokens(t, tokens, n_tokens, &full_length);
    uint32_t *full_cps = full ? malloc((full_length + 1) * sizeof *full_cps) : NULL;
    if (!full_cps) {
        free(full);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    size_t n_full = 0;
    for (size_t at = 0; at < full_length;)
        at += st_utf8_decode(full + at, full_length - at, &full_cps[n_full++]);
    free(full);

    steno_status status = STENO_OK;
    size_t unicode_offset = 0;
    int begin = 0;
    for (int i = 0; i < n_tokens && status == STENO_OK; i++) {
        size_t length;
        char *decoded = decode_tokens(t, tokens + begin, i + 1 - begin, &length);
        if (!decoded) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
            break;
        }
        long bad = first_replacement(decoded, length);
        size_t at_full = unicode_offset + (size_t)bad;
        if (bad < 0 || (at_full < n_full && full_cps[at_full] == ST_UNICODE_REPLACEMENT)) {
            unicode_offset += st_utf8_length(decoded, length);
            status = push_word(words, n_words, &capacity, decoded, i + 1 - begin, err);
            begin = i + 1;
        } else {
            free(decoded);
        }
    }
    free(full_cps);
    if (status != STENO_OK) {
        st_word_timings_free(*words, *n_words);
        *words = NULL;
        *n_words = 0;
    }
    return status;
}

/* Python's `needle in haystack` for str: a substring test ("" is in everything). */
static int contains(const char *haystack, const char *needle, size_t needle_length) {
    if (needle_length == 0) return 1;
    size_t n = strlen(haystack);
    for (size_t i = 0; i + needle_length <= n; i++) {
        if (!memcmp(haystack + i, needle, needle_length)) return 1;
    }
    return 0;
}

/* `text.strip() in set` */
static int stripped_in(const char *text, const char *set) {
    size_t begin, end;
    st_utf8_strip(text, strlen(text), &begin, &end);
    return contains(set, text + begin, end - begin);
}

/* Python's string.punctuation */
static const char ascii_punctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

steno_status st_timing_split_words(const st_tokenizer *t, const int32_t *tokens, int n_tokens, const char *language,
                                   st_word_timing **words, int *n_words, st_error *err) {
    static const char *const unspaced[] = {"zh", "ja", "th", "lo", "my", "yue"};
    for (size_t i = 0; language && i < sizeof unspaced / sizeof unspaced[0]; i++) {
        if (!strcmp(language, unspaced[i])) return split_on_unicode(t, tokens, n_tokens, words, n_words, err);
    }
    /* split_tokens_on_spaces: pieces join the word before them unless they are special,
     * start with a space or are punctuation */
    st_word_timing *pieces;
    int n_pieces;
    steno_status status = split_on_unicode(t, tokens, n_tokens, &pieces, &n_pieces, err);
    if (status != STENO_OK) return status;
    const int eot = st_tokenizer_eot(t);
    int n = 0, first_token = 0;
    for (int p = 0; p < n_pieces; p++) {
        st_word_timing *piece = &pieces[p];
        int special = tokens[first_token] >= eot;
        first_token += piece->n_tokens;
        if (special || piece->word[0] == ' ' || stripped_in(piece->word, ascii_punctuation) || n == 0) {
            pieces[n++] = *piece;
            continue;
        }
        st_word_timing *last = &pieces[n - 1];
        size_t a = strlen(last->word), b = strlen(piece->word);
        char *joined = realloc(last->word, a + b + 1);
        if (!joined) {
            for (int q = p; q < n_pieces; q++)
                free(pieces[q].word);
            st_word_timings_free(pieces, n);
            return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        }
        memcpy(joined + a, piece->word, b + 1);
        last->word = joined;
        last->n_tokens += piece->n_tokens;
        free(piece->word);
    }
    *words = pieces;
    *n_words = n;
    return STENO_OK;
}

/* ---- punctuation and duration rules ---- */

/* to->word = first + second (either may alias to->word); from->word = "" */
static steno_status move_word(st_word_timing *to, st_word_timing *from, int from_first, st_error *err) {
    const char *first = from_first ? from->word : to->word, *second = from_first ? to->word : from->word;
    size_t a = strlen(first), b = strlen(second);
    char *joined = malloc(a + b + 1), *emptied = malloc(1);
    if (!joined || !emptied) {
        free(joined);
        free(emptied);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(joined, first, a);
    memcpy(joined + a, second, b + 1);
    emptied[0] = '\0';
    free(to->word);
    free(from->word);
    to->word = joined;
    from->word = emptied;
    to->n_tokens += from->n_tokens;
    from->n_tokens = 0;
    return STENO_OK;
}

steno_status st_timing_merge_punctuations(st_word_timing *w, int n, const char *prepended, const char *appended,
                                          st_error *err) {
    /* right to left: " (" and the like move into the word after them */
    for (int i = n - 2, j = n - 1; i >= 0; i--) {
        if (w[i].word[0] == ' ' && stripped_in(w[i].word, prepended)) {
            steno_status status = move_word(&w[j], &w[i], 1, err);
            if (status != STENO_OK) return status;
        } else {
            j = i;
        }
    }
    /* left to right: "," "." and the like move into the word before them, unless it ends in a space */
    for (int i = 0, j = 1; j < n; j++) {
        size_t length = strlen(w[i].word);
        if (!(length > 0 && w[i].word[length - 1] == ' ') && contains(appended, w[j].word, strlen(w[j].word))) {
            steno_status status = move_word(&w[i], &w[j], 0, err);
            if (status != STENO_OK) return status;
        } else {
            i = j;
        }
    }
    return STENO_OK;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double st_timing_median_duration(const st_word_timing *words, int n_words) {
    double *durations = malloc((size_t)(n_words > 0 ? n_words : 1) * sizeof *durations);
    if (!durations) return 0.0; /* the clamps then do nothing; alignment itself is unaffected */
    int n = 0;
    for (int i = 0; i < n_words; i++) {
        double d = words[i].end - words[i].start;
        if (d != 0.0) durations[n++] = d;
    }
    double median = 0.0;
    if (n > 0) {
        qsort(durations, (size_t)n, sizeof *durations, compare_doubles);
        median = n % 2 ? durations[n / 2] : (durations[n / 2 - 1] + durations[n / 2]) / 2.0;
    }
    free(durations);
    return median < 0.7 ? median : 0.7;
}

static const char sentence_end_marks[] = ".\xe3\x80\x82!\xef\xbc\x81?\xef\xbc\x9f"; /* .。!！?？ */

void st_timing_clamp_sentence_words(st_word_timing *w, int n, double max_duration) {
    for (int i = 1; i < n; i++) {
        if (!(w[i].end - w[i].start > max_duration)) continue;
        if (contains(sentence_end_marks, w[i].word, strlen(w[i].word))) {
            w[i].end = w[i].start + max_duration;
        } else if (contains(sentence_end_marks, w[i - 1].word, strlen(w[i - 1].word))) {
            w[i].start = w[i].end - max_duration;
        }
    }
}

int st_timing_is_segment_anomaly(const st_segment *segment) {
    static const char punctuation[] = ST_PREPEND_PUNCTUATIONS ST_APPEND_PUNCTUATIONS;
    if (!segment || segment->n_words == 0) return 0;
    double score = 0.0;
    int n = 0;
    for (int i = 0; i < segment->n_words && n < 8; i++) {
        const st_word *w = &segment->words[i];
        if (contains(punctuation, w->text, strlen(w->text))) continue;
        n++;
        double duration = w->end - w->start;
        if (w->probability < 0.15) score += 1.0;
        if (duration < 0.133) score += (0.133 - duration) * 15;
        if (duration > 2.0) score += duration - 2.0;
    }
    return score >= 3 || score + 0.01 >= n;
}

double st_timing_round2(double x) {
    /* printf rounds the exact binary value to nearest, ties to even, as Python's round does */
    char text[64];
    snprintf(text, sizeof text, "%.2f", x);
    return strtod(text, NULL);
}

/* ---- the network pass ---- */

struct st_word_aligner {
    int *heads;
    int n_heads;
    float *scores; /* captured scores [n_heads][rows][n_audio_ctx] */
    size_t scores_capacity;
    float *logits; /* [rows][n_vocab] */
    size_t logits_capacity;
    float *weights; /* one head's [rows][n_frames] */
    float *matrix;  /* mean over heads [rows][n_frames] */
    size_t frame_capacity;
    float *filter_scratch;
    int32_t *tokens;
    int tokens_capacity;
};

steno_status st_word_aligner_create(const int *heads, int n_heads, st_word_aligner **out, st_error *err) {
    *out = NULL;
    if (n_heads < 1) return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "word alignment needs at least one head");
    st_word_aligner *a = calloc(1, sizeof *a);
    if (a) a->heads = malloc((size_t)n_heads * 2 * sizeof *a->heads);
    if (!a || !a->heads) {
        free(a);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(a->heads, heads, (size_t)n_heads * 2 * sizeof *heads);
    a->n_heads = n_heads;
    *out = a;
    return STENO_OK;
}

void st_word_aligner_free(st_word_aligner *a) {
    if (!a) return;
    free(a->heads);
    free(a->scores);
    free(a->logits);
    free(a->weights);
    free(a->matrix);
    free(a->filter_scratch);
    free(a->tokens);
    free(a);
}

/* Grows *buffer to hold count elements of size bytes; false when memory runs out. */
static int reserve(void **buffer, size_t *capacity, size_t count, size_t size) {
    if (count <= *capacity) return 1;
    void *grown = realloc(*buffer, count * size);
    if (!grown) return 0;
    *buffer = grown;
    *capacity = count;
    return 1;
}

/* The alignment matrix [n_rows][n_frames], mean over heads of each head's softmax over the
 * first n_frames audio positions, standardised per frame over the tokens and median-filtered
 * along time. */
static void alignment_matrix(st_word_aligner *a, int n_rows, int n_audio_ctx, int n_frames) {
    const size_t cells = (size_t)n_rows * n_frames;
    memset(a->matrix, 0, cells * sizeof *a->matrix);
    for (int h = 0; h < a->n_heads; h++) {
        const float *scores = a->scores + (size_t)h * n_rows * n_audio_ctx;
        float *w = a->weights;
        for (int r = 0; r < n_rows; r++) {
            const float *in = scores + (size_t)r * n_audio_ctx;
            float *row = w + (size_t)r * n_frames;
            float max = in[0];
            for (int f = 1; f < n_frames; f++)
                max = in[f] > max ? in[f] : max;
            double sum = 0.0;
            for (int f = 0; f < n_frames; f++)
                sum += row[f] = expf(in[f] - max);
            for (int f = 0; f < n_frames; f++)
                row[f] = (float)(row[f] / sum);
        }
        for (int f = 0; f < n_frames; f++) {
            double mean = 0.0, var = 0.0;
            for (int r = 0; r < n_rows; r++)
                mean += w[(size_t)r * n_frames + f];
            mean /= n_rows;
            for (int r = 0; r < n_rows; r++) {
                double d = w[(size_t)r * n_frames + f] - mean;
                var += d * d;
            }
            /* population std (unbiased=False); a constant column would divide 0 by 0 in
             * openai's code, here it becomes zeros so one odd frame cannot poison the path */
            double std = sqrt(var / n_rows);
            for (int r = 0; r < n_rows; r++) {
                float *v = &w[(size_t)r * n_frames + f];
                *v = std > 0.0 ? (float)((*v - mean) / std) : 0.0f;
            }
        }
        st_timing_median_filter(w, n_rows, n_frames, MEDIAN_FILTER_WIDTH, a->filter_scratch);
        for (size_t i = 0; i < cells; i++)
            a->matrix[i] += w[i];
    }
    for (size_t i = 0; i < cells; i++)
        a->matrix[i] /= (float)a->n_heads;
}

steno_status st_word_aligner_find(st_word_aligner *a, const st_whisper_model *model, st_whisper_state *state,
                                  const st_tokenizer *tokenizer, const int32_t *sot_sequence, int n_sot,
                                  const int32_t *text_tokens, int n_text, int num_frames, const char *language,
                                  st_word_timing **words, int *n_words, st_error *err) {
    *words = NULL;
    *n_words = 0;
    const st_whisper_dims *d = &model->dims;
    int n_frames = num_frames / 2;
    if (n_frames > d->n_audio_ctx) n_frames = d->n_audio_ctx;
    if (n_text == 0 || n_frames < 1) return STENO_OK;
    const int n_rows = n_sot + n_text + 2, eot = st_tokenizer_eot(tokenizer);
    if (n_rows > d->n_text_ctx) {
        return st_error_set(err, STENO_ERR_INVALID_ARGUMENT, "word timestamps: %d tokens exceed the %d-token context",
                            n_rows, d->n_text_ctx);
    }
    size_t scores_size = (size_t)a->n_heads * n_rows * d->n_audio_ctx, frames_size = (size_t)n_rows * n_frames;
    size_t tokens_capacity = (size_t)a->tokens_capacity;
    if (!reserve((void **)&a->scores, &a->scores_capacity, scores_size, sizeof(float)) ||
        !reserve((void **)&a->logits, &a->logits_capacity, (size_t)n_rows * d->n_vocab, sizeof(float)) ||
        !reserve((void **)&a->tokens, &tokens_capacity, (size_t)n_rows, sizeof(int32_t))) {
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    a->tokens_capacity = (int)tokens_capacity;
    if (frames_size > a->frame_capacity) {
        free(a->weights);
        free(a->matrix);
        free(a->filter_scratch);
        a->weights = malloc(frames_size * sizeof *a->weights);
        a->matrix = malloc(frames_size * sizeof *a->matrix);
        a->filter_scratch = malloc(((size_t)d->n_audio_ctx + 2 * MEDIAN_FILTER_WIDTH) * sizeof *a->filter_scratch);
        a->frame_capacity = a->weights && a->matrix && a->filter_scratch ? frames_size : 0;
        if (!a->frame_capacity) return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }

    int32_t *tokens = a->tokens;
    memcpy(tokens, sot_sequence, (size_t)n_sot * sizeof *tokens);
    tokens[n_sot] = st_tokenizer_no_timestamps(tokenizer);
    memcpy(tokens + n_sot + 1, text_tokens, (size_t)n_text * sizeof *tokens);
    tokens[n_rows - 1] = eot;

    st_whisper_capture capture = {.heads = a->heads, .n_heads = a->n_heads, .scores = a->scores, .max_rows = n_rows};
    st_whisper_capture *saved = state->capture;
    state->capture = &capture;
    steno_status status =
        st_whisper_decode_batch(model, state, 1, tokens, n_rows, 0, ST_WHISPER_LOGITS_ALL, a->logits, err);
    state->capture = saved;
    if (status != STENO_OK) return status;

    alignment_matrix(a, n_rows, d->n_audio_ctx, n_frames);

    /* DTW over the rows from <|notimestamps|> to the last text token, on the negated matrix */
    const int n_path_rows = n_text + 1;
    double *cost = malloc((size_t)n_path_rows * n_frames * sizeof *cost);
    int *path = malloc(2 * ((size_t)n_path_rows + n_frames) * sizeof *path);
    double *jump_times = malloc((size_t)n_path_rows * sizeof *jump_times);
    double *probabilities = malloc((size_t)n_text * sizeof *probabilities);
    st_word_timing *split = NULL;
    int n_split = 0;
    if (!cost || !path || !jump_times || !probabilities) {
        status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < (size_t)n_path_rows * n_frames; i++)
        cost[i] = -(double)a->matrix[(size_t)n_sot * n_frames + i];
    int *text_indices = path, *time_indices = path + n_path_rows + n_frames, length;
    if ((status = st_timing_dtw(cost, n_path_rows, n_frames, text_indices, time_indices, &length, err)) != STENO_OK)
        goto done;
    /* the frame where the path first reaches each row */
    for (int k = 0, row = 0; k < length; k++) {
        if (k == 0 || text_indices[k] != text_indices[k - 1])
            jump_times[row++] = time_indices[k] / (double)TOKENS_PER_SECOND;
    }

    /* probability of each text token given those before it, among text tokens only */
    for (int i = 0; i < n_text; i++) {
        const float *row = a->logits + (size_t)(n_sot + i) * d->n_vocab;
        float max = row[0];
        for (int v = 1; v < eot; v++)
            max = row[v] > max ? row[v] : max;
        double sum = st_nn_kernels_best()->exp_sum(row, eot, max); /* the in-order loop's bits */
        probabilities[i] = exp((double)row[text_tokens[i]] - max) / sum;
    }

    if ((status = st_timing_split_words(tokenizer, tokens + n_sot + 1, n_text + 1, language, &split, &n_split, err)) !=
        STENO_OK)
        goto done;
    if (n_split <= 1) goto done; /* only <|endoftext|> */
    int boundary = 0;
    for (int w = 0; w < n_split - 1; w++) {
        int next = boundary + split[w].n_tokens;
        split[w].start = jump_times[boundary];
        split[w].end = jump_times[next];
        double sum = 0.0;
        for (int i = boundary; i < next; i++)
            sum += probabilities[i];
        split[w].probability = sum / split[w].n_tokens;
        boundary = next;
    }
    free(split[n_split - 1].word); /* the end-of-text word has no time of its own */
    *words = split;
    *n_words = n_split - 1;
    split = NULL;

done:
    st_word_timings_free(split, n_split);
    free(cost);
    free(path);
    free(jump_times);
    free(probabilities);
    return status;
}

steno_status st_word_aligner_add(st_word_aligner *a, const st_whisper_model *model, st_whisper_state *state,
                                 const st_tokenizer *tokenizer, const st_word_window *window, st_segment *segments,
                                 int n_segments, double *last_speech_timestamp, st_error *err) {
    if (n_segments == 0) return STENO_OK;
    const int eot = st_tokenizer_eot(tokenizer);
    int n_text = 0;
    for (int s = 0; s < n_segments; s++)
        n_text += segments[s].n_tokens;
    int32_t *text = malloc((size_t)(n_text > 0 ? n_text : 1) * sizeof *text);
    int *segment_text = malloc((size_t)n_segments * sizeof *segment_text); /* text tokens per segment */
    if (!text || !segment_text) {
        free(text);
        free(segment_text);
        return st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
    }
    n_text = 0;
    for (int s = 0; s < n_segments; s++) {
        segment_text[s] = 0;
        for (int i = 0; i < segments[s].n_tokens; i++) {
            if (segments[s].tokens[i] < eot) text[n_text++] = segments[s].tokens[i], segment_text[s]++;
        }
    }
    st_word_timing *alignment = NULL;
    int n_alignment = 0;
    steno_status status =
        st_word_aligner_find(a, model, state, tokenizer, window->sot_sequence, window->n_sot, text, n_text,
                             window->num_frames, window->language, &alignment, &n_alignment, err);
    free(text);
    if (status != STENO_OK) {
        free(segment_text);
        return status;
    }
    const double median_duration = st_timing_median_duration(alignment, n_alignment);
    const double max_duration = median_duration * 2;
    /* hack kept from openai: long words at sentence boundaries are truncated */
    if (median_duration > 0.0) st_timing_clamp_sentence_words(alignment, n_alignment, max_duration);
    status = st_timing_merge_punctuations(alignment, n_alignment, window->prepend_punctuations,
                                          window->append_punctuations, err);

    int word_index = 0;
    for (int s = 0; s < n_segments && status == STENO_OK; s++) {
        st_segment *segment = &segments[s];
        for (int i = 0; i < segment->n_words; i++)
            free(segment->words[i].text);
        free(segment->words);
        segment->words = NULL;
        segment->n_words = 0;
        int first = word_index, saved_tokens = 0;
        while (word_index < n_alignment && saved_tokens < segment_text[s]) {
            saved_tokens += alignment[word_index].n_tokens;
            word_index++;
        }
        int n = 0;
        for (int i = first; i < word_index; i++)
            n += alignment[i].word[0] != '\0';
        if (n == 0) continue;
        st_word *words = calloc((size_t)n, sizeof *words);
        if (!words) {
            status = st_error_set(err, STENO_ERR_NO_MEMORY, "out of memory");
            break;
        }
        segment->words = words;
        for (int i = first; i < word_index; i++) {
            if (alignment[i].word[0] == '\0') continue;
            st_word *w = &words[segment->n_words++];
            w->text = alignment[i].word;
            alignment[i].word = NULL;
            w->start = st_timing_round2(window->time_offset + alignment[i].start);
            w->end = st_timing_round2(window->time_offset + alignment[i].end);
            w->probability = alignment[i].probability;
            w->n_tokens = alignment[i].n_tokens;
        }

        /* hack kept from openai: after a pause, the first (and second) word may not be longer
         * than twice the median word duration */
        st_word *w0 = &words[0], *w1 = n > 1 ? &words[1] : NULL, *last = &words[n - 1];
        if (w0->end - *last_speech_timestamp > median_duration * 4 &&
            (w0->end - w0->start > max_duration || (w1 && w1->end - w0->start > max_duration * 2))) {
            if (w1 && w1->end - w1->start > max_duration) {
                double boundary = fmax(w1->end / 2, w1->end - max_duration);
                w0->end = w1->start = boundary;
            }
            w0->start = fmax(0.0, w0->end - max_duration);
        }
        /* prefer the segment's own start if the first word is too long, else start with it */
        if (segment->start < w0->end && segment->start - 0.5 > w0->start) {
            w0->start = fmax(0.0, fmin(w0->end - median_duration, segment->start));
        } else {
            segment->start = w0->start;
        }
        /* likewise at the end */
        if (segment->end > last->start && segment->end + 0.5 < last->end) {
            last->end = fmax(last->start + median_duration, segment->end);
        } else {
            segment->end = last->end;
        }
        *last_speech_timestamp = segment->end;
    }
    /* words moved into segments were set to NULL; the rest are freed here */
    for (int i = 0; i < n_alignment; i++)
        free(alignment[i].word);
    free(alignment);
    free(segment_text);
    return status;
}
