#!/usr/bin/python3
"""Reference word-level timestamps for one 30 s window, by openai-whisper's published algorithm.

Golden numbers for steno's C word timing (tests/test_words_golden.c). Written independently of
steno's C code from the description of openai-whisper's whisper/timing.py (find_alignment,
merge_punctuations, add_word_timestamps) and tokenizer.py (split_to_word_tokens), on top of the
PyTorch reference network in reference_whisper.py and the alignment heads decoded by
alignment_heads.py.

  reference_words.py MODEL WAV MODEL_NAME OUT_DIR

MODEL_NAME picks the alignment heads (e.g. base.en). The text is this network's own greedy
transcript of the window without timestamps. The window is treated as one segment from 0 to
the audio's end, with no speech before it. Writes into OUT_DIR:
  words-mel.f32     [n_mels][3000] the window's log-mel (the input both sides encode)
  words.json        {"num_frames", "tokens" (the text tokens), "sot_sequence",
                     "segment": {"start", "end"}, "words": [{"word", "start", "end",
                     "probability"}], "token_probabilities"}
"""
import json
import os
import string
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import alignment_heads  # noqa: E402
import reference_whisper as rw  # noqa: E402

MEDFILT_WIDTH = 7
TOKENS_PER_SECOND = 50
PREPEND = "\"'\u201c\u00bf([{-"
APPEND = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001"
SENTENCE_END_MARKS = ".\u3002!\uff01?\uff1f"


def median_filter(x, width):
    """Running median along the last axis with reflect padding (edge not repeated)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = torch.cat([x[..., 1:pad + 1].flip(-1), x, x[..., -pad - 1:-1].flip(-1)], dim=-1)
    windows = padded.unfold(-1, width, 1)
    return windows.sort(dim=-1).values[..., pad]


def dtw(x):
    """Minimum-cost monotonic path through x [N][M]; float32 accumulated costs; the step order
    diagonal (strictly smallest), then vertical (strictly smallest), else horizontal."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = np.float32(float(x[i - 1, j - 1]) + float(c))
            trace[i, j] = t
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = n, m
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        t = trace[i, j]
        if t == 0:
            i, j = i - 1, j - 1
        elif t == 1:
            i -= 1
        else:
            j -= 1
    path.reverse()
    return np.array([p[0] for p in path]), np.array([p[1] for p in path])


class Text:
    def __init__(self, vocab, eot):
        self.vocab = vocab
        self.eot = eot

    def decode(self, tokens):
        raw = b"".join(b"<|endoftext|>" if t == self.eot else self.vocab[t] for t in tokens)
        return raw.decode("utf-8", errors="replace")

    def split_on_unicode(self, tokens):
        full = self.decode(tokens)
        words, word_tokens, current, offset = [], [], [], 0
        for token in tokens:
            current.append(token)
            decoded = self.decode(current)
            bad = decoded.find("\ufffd")
            if bad < 0 or (offset + bad < len(full) and full[offset + bad] == "\ufffd"):
                words.append(decoded)
                word_tokens.append(current)
                current = []
                offset += len(decoded)
        return words, word_tokens

    def split_on_spaces(self, tokens):
        words, word_tokens = [], []
        for piece, piece_tokens in zip(*self.split_on_unicode(tokens)):
            starts_word = (piece_tokens[0] >= self.eot or piece.startswith(" ")
                           or piece.strip() in string.punctuation or not words)
            if starts_word:
                words.append(piece)
                word_tokens.append(piece_tokens)
            else:
                words[-1] += piece
                word_tokens[-1] += piece_tokens
        return words, word_tokens


def merge_punctuations(words):
    i, j = len(words) - 2, len(words) - 1
    while i >= 0:
        before, after = words[i], words[j]
        if before["word"].startswith(" ") and before["word"].strip() in PREPEND:
            after["word"] = before["word"] + after["word"]
            after["tokens"] = before["tokens"] + after["tokens"]
            before["word"], before["tokens"] = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(words):
        before, after = words[i], words[j]
        if not before["word"].endswith(" ") and after["word"] in APPEND:
            before["word"] = before["word"] + after["word"]
            before["tokens"] = before["tokens"] + after["tokens"]
            after["word"], after["tokens"] = "", []
        else:
            i = j
        j += 1


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    model_path, wav_path, model_name, out_dir = sys.argv[1:]
    torch.set_num_threads(2)
    hp, filters, vocab, tensors = rw.read_ggml(model_path)
    model = rw.Whisper(hp, tensors)
    audio = rw.read_wav(wav_path)
    num_frames = min(rw.N_FRAMES, len(audio) // rw.HOP)
    sot, no_timestamps = rw.special_tokens(hp["n_vocab"])
    eot = sot - 1
    if hp["n_vocab"] >= 51865:
        sys.exit("reference_words.py: only English-only models (sot sequence of one token) are supported")
    sot_sequence = [sot]
    heads = alignment_heads.pairs(model_name)
    text = Text(vocab, eot)

    with torch.no_grad():
        mel = rw.log_mel(audio, filters)
        features = model.encode(mel)["encoder"]
        prompt = sot_sequence + [no_timestamps]
        tokens = []
        while len(tokens) < 224:
            logits = model.decode(torch.tensor(prompt + tokens), features)[-1]
            logits[eot + 1:] = -np.inf  # text or end of text only
            token = int(logits.argmax())
            if token == eot:
                break
            tokens.append(token)

        # find_alignment
        sequence = prompt + tokens + [eot]
        logits = model.decode(torch.tensor(sequence), features)
        probs = logits[len(sot_sequence):, :eot].softmax(dim=-1)
        token_probs = probs[np.arange(len(tokens)), tokens].double().numpy()
        weights = torch.stack([model.cross_qk[layer][head] for layer, head in heads])
        weights = weights[:, :, :num_frames // 2].softmax(dim=-1)
        std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
        weights = median_filter((weights - mean) / std, MEDFILT_WIDTH)
        matrix = weights.mean(dim=0)[len(sot_sequence):-1]
        text_indices, time_indices = dtw(-matrix.double().numpy())

    words, word_tokens = text.split_on_spaces(tokens + [eot])
    boundaries = np.concatenate([[0], np.cumsum([len(t) for t in word_tokens[:-1]])])
    jumps = np.concatenate([[True], np.diff(text_indices) != 0])
    jump_times = time_indices[jumps] / TOKENS_PER_SECOND
    alignment = []
    for k in range(len(words) - 1):
        a, b = boundaries[k], boundaries[k + 1]
        alignment.append(dict(word=words[k], tokens=word_tokens[k], start=float(jump_times[a]),
                              end=float(jump_times[b]), probability=float(np.mean(token_probs[a:b]))))

    # add_word_timestamps for one segment covering the window
    durations = np.array([w["end"] - w["start"] for w in alignment])
    durations = durations[durations.nonzero()]
    median = min(0.7, float(np.median(durations))) if len(durations) else 0.0
    max_duration = median * 2
    if len(durations):
        for i in range(1, len(alignment)):
            w = alignment[i]
            if w["end"] - w["start"] > max_duration:
                if w["word"] in SENTENCE_END_MARKS:
                    w["end"] = w["start"] + max_duration
                elif alignment[i - 1]["word"] in SENTENCE_END_MARKS:
                    w["start"] = w["end"] - max_duration
    merge_punctuations(alignment)
    segment = {"start": 0.0, "end": num_frames * rw.HOP / rw.SAMPLE_RATE}
    last_speech = 0.0
    out_words = [dict(word=w["word"], start=round(w["start"], 2), end=round(w["end"], 2),
                      probability=w["probability"]) for w in alignment if w["word"]]
    if out_words:
        first, last = out_words[0], out_words[-1]
        second = out_words[1] if len(out_words) > 1 else None
        if first["end"] - last_speech > median * 4 and (
                first["end"] - first["start"] > max_duration
                or (second and second["end"] - first["start"] > max_duration * 2)):
            if second and second["end"] - second["start"] > max_duration:
                boundary = max(second["end"] / 2, second["end"] - max_duration)
                first["end"] = second["start"] = boundary
            first["start"] = max(0, first["end"] - max_duration)
        if segment["start"] < first["end"] and segment["start"] - 0.5 > first["start"]:
            first["start"] = max(0, min(first["end"] - median, segment["start"]))
        else:
            segment["start"] = first["start"]
        if segment["end"] > last["start"] and segment["end"] + 0.5 < last["end"]:
            last["end"] = max(last["start"] + median, segment["end"])
        else:
            segment["end"] = last["end"]

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "words-mel.f32")
    mel.numpy().astype("<f4").tofile(path + ".tmp")
    os.replace(path + ".tmp", path)
    result = {"num_frames": num_frames, "sot_sequence": sot_sequence, "tokens": tokens,
              "segment": segment, "words": out_words, "token_probabilities": token_probs.tolist()}
    path = os.path.join(out_dir, "words.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    os.replace(path + ".tmp", path)
    for w in out_words:
        print("reference_words: %-12r %6.2f %6.2f %.4f" % (w["word"], w["start"], w["end"], w["probability"]))


if __name__ == "__main__":
    main()
