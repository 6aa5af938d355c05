#!/usr/bin/python3
"""PyTorch reference of pyannote 3.1's two nets and the steps between them, written from the
published architectures (pyannote.audio's PyanNet with asteroid's ParamSincFB, WeSpeaker's
ResNet34 with statistics pooling, Kaldi's fbank), independently of steno's C code.

Usage: reference_pyannote.py OUT_DIR WAV   (WAV's reference RTTM beside it, same stem: the
                                           stand-in segmentation head is fitted to it)

Writes into OUT_DIR:
  hub/                        a Hugging Face cache holding pyannote/segmentation-3.0,
                              pyannote/wespeaker-voxceleb-resnet34-LM (stand-in weights of the real
                              architecture and file layout, pyannote_checkpoints.py) and
                              pyannote/speaker-diarization-3.1's config.yaml
  seg_logits_<s>.f32          PyanNet's log-softmax output [589][7] on the 10 s of WAV from s seconds
  seg_multilabel_<s>.f32      its powerset decoding [589][3] (0/1 per speaker)
  fbank_<s>.f32               Kaldi fbank [998][80] of the same 10 s (before mean normalisation)
  embedding_<s>.f32           WeSpeaker's embedding [256] of the 10 s, no weights
  embedding_masked_<s>.f32    [3][256]: one embedding per local speaker, statistics pooled with
                              weights 1 where only that speaker is active (pyannote 3.1's
                              exclude-overlap masks), from seg_multilabel_<s>
  hostile/                    damaged checkpoints: a missing tensor, wrong shapes, a bare state dict;
                              the segmentation checkpoint without its sinc buffers
All arrays are little-endian float32, row-major.
"""
import os
import shutil
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_hub_tree import COMMIT, hf_repo  # noqa: E402
from pyannote_checkpoints import (embedding_checkpoint, rttm_turns, segmentation_checkpoint,  # noqa: E402
                                  write_pipeline_repo)

SAMPLE_RATE = 16000
CHUNK = 10 * SAMPLE_RATE
STARTS = (0, 15)  # seconds: the chunks the golden arrays cover


# ---- PyanNet -------------------------------------------------------------------------------

def sinc_filters(state, min_low_hz=50.0, min_band_hz=50.0):
    """ParamSincFB's 80 filters from its 40 learned (lower edge, width) pairs: band-pass
    filters ideal in frequency (difference of two sincs), Hamming-windowed, normalised by their
    width; the first 40 even (cosine) filters, then 40 odd (sine) ones, the Hilbert pair of each.
    Computed on the 125 taps before the centre (the checkpoint's buffers n_, their angular
    times 2π t for t < 0, and window_, the Hamming window's first half) and mirrored, as the
    filters are (anti)symmetric."""
    prefix = "sincnet.conv1d.0.filterbank."
    n, window = state[prefix + "n_"], state[prefix + "window_"]
    low = min_low_hz + state[prefix + "low_hz_"].abs()
    high = torch.clamp(low + min_band_hz + state[prefix + "band_hz_"].abs(), min_low_hz, SAMPLE_RATE / 2)
    band = (high - low)[:, 0]
    phase_low, phase_high = low @ n, high @ n
    even_left = (torch.sin(phase_high) - torch.sin(phase_low)) / (n / 2) * window
    even = torch.cat([even_left, 2 * band.view(-1, 1), even_left.flip(1)], dim=1)
    odd_left = (torch.cos(phase_low) - torch.cos(phase_high)) / (n / 2) * window
    odd = torch.cat([odd_left, torch.zeros(len(band), 1), -odd_left.flip(1)], dim=1)
    filters = torch.cat([even, odd], dim=0) / (2 * torch.cat([band, band])[:, None])
    return filters.view(80, 1, -1)


def instance_norm(x, state, prefix):
    return F.instance_norm(x, weight=state[prefix + "weight"], bias=state[prefix + "bias"], eps=1e-5)


def pyannet(state, waveform):
    """waveform [batch][1][samples] -> log-probabilities of the 7 powerset classes
    [batch][frames][7]. A batch runs the LSTM's time steps once for all its chunks."""
    x = instance_norm(waveform, state, "sincnet.wav_norm1d.")
    x = F.conv1d(x, sinc_filters(state), stride=10).abs()
    x = F.leaky_relu(instance_norm(F.max_pool1d(x, 3, 3), state, "sincnet.norm1d.0."))
    for i in (1, 2):
        x = F.conv1d(x, state[f"sincnet.conv1d.{i}.weight"], state[f"sincnet.conv1d.{i}.bias"])
        x = F.leaky_relu(instance_norm(F.max_pool1d(x, 3, 3), state, f"sincnet.norm1d.{i}."))
    x = x.transpose(1, 2)  # [batch][frames][60]
    for layer in range(4):
        outputs = []
        for direction, suffix in ((0, ""), (1, "_reverse")):
            p = {k: state[f"lstm.{k}_l{layer}{suffix}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            outputs.append(lstm_direction(x, p, reverse=direction == 1))
        x = torch.cat(outputs, dim=2)
    for i in (0, 1):
        x = F.leaky_relu(F.linear(x, state[f"linear.{i}.weight"], state[f"linear.{i}.bias"]))
    return F.log_softmax(F.linear(x, state["classifier.weight"], state["classifier.bias"]), dim=-1)


def lstm_direction(x, p, reverse):
    """One direction of one LSTM layer over x [batch][time][in]: gates i, f, g, o in PyTorch's
    order."""
    hidden = p["weight_hh"].shape[1]
    h, c = torch.zeros(x.shape[0], hidden), torch.zeros(x.shape[0], hidden)
    projected = x @ p["weight_ih"].T + p["bias_ih"] + p["bias_hh"]
    out = torch.zeros(x.shape[0], x.shape[1], hidden)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in steps:
        gates = projected[:, t] + h @ p["weight_hh"].T
        i, f, g, o = gates.split(hidden, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out[:, t] = h
    return out


# the 7 powerset classes over 3 speakers, at most 2 at once: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}
POWERSET = [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]


def powerset_to_multilabel(log_probabilities):
    """The most likely class of each frame, as 0/1 per speaker [frames][3]."""
    mapping = torch.zeros(len(POWERSET), 3)
    for k, speakers in enumerate(POWERSET):
        mapping[k, list(speakers)] = 1
    return mapping[log_probabilities.argmax(dim=-1)]


# ---- Kaldi fbank -----------------------------------------------------------------------------

def kaldi_fbank(samples, num_mel_bins=80, frame_length=400, frame_shift=160, n_fft=512, preemphasis=0.97,
                low_freq=20.0):
    """Kaldi's compute-fbank-feats with pyannote's WeSpeaker settings (dither 0, Hamming window,
    no energy), in float64 from its definition: frames of 25 ms every 10 ms with no padding
    (snip_edges), each frame's mean removed, pre-emphasis x[i] - 0.97 x[i-1] (x[-1] := x[0]),
    the window, zero padding to 512, the power spectrum, triangular filters evenly spaced on
    Kaldi's mel scale 1127 ln(1 + f/700) from 20 Hz to Nyquist, and the natural log floored at
    float32's epsilon. samples are on the int16 scale."""
    x = np.asarray(samples, dtype=np.float64)
    n_frames = 1 + (len(x) - frame_length) // frame_shift
    index = np.arange(frame_length)[None, :] + frame_shift * np.arange(n_frames)[:, None]
    frames = x[index]
    frames = frames - frames.mean(axis=1, keepdims=True)
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - preemphasis * previous
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(frame_length) / (frame_length - 1))
    spectrum = np.abs(np.fft.rfft(frames * window, n=n_fft)) ** 2  # [frames][257]
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
    nyquist = SAMPLE_RATE / 2
    mel_low, mel_high = mel(low_freq), mel(nyquist)
    delta = (mel_high - mel_low) / (num_mel_bins + 1)
    bin_mel = mel(np.arange(n_fft // 2) * SAMPLE_RATE / n_fft)  # Kaldi leaves out the Nyquist bin
    banks = np.zeros((num_mel_bins, n_fft // 2 + 1))
    for m in range(num_mel_bins):
        left, centre, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
        up = (bin_mel - left) / (centre - left)
        down = (right - bin_mel) / (right - centre)
        banks[m, : n_fft // 2] = np.maximum(0.0, np.minimum(up, down))
    energies = spectrum @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


# ---- WeSpeaker ResNet34 ----------------------------------------------------------------------

def batch_norm(x, state, prefix):
    return F.batch_norm(x, state[prefix + "running_mean"], state[prefix + "running_var"], state[prefix + "weight"],
                        state[prefix + "bias"], training=False, eps=1e-5)


def resnet34_frames(state, features):
    """features [frames][80] (mean-normalised fbank) -> [256][10][frames / 8]."""
    x = features.T[None, None]  # [1][1][80][frames]
    x = F.relu(batch_norm(F.conv2d(x, state["resnet.conv1.weight"], padding=1), state, "resnet.bn1."))
    for layer, (blocks, stride) in enumerate(((3, 1), (4, 2), (6, 2), (3, 2)), start=1):
        for b in range(blocks):
            p = f"resnet.layer{layer}.{b}."
            s = stride if b == 0 else 1
            out = F.relu(batch_norm(F.conv2d(x, state[p + "conv1.weight"], stride=s, padding=1), state, p + "bn1."))
            out = batch_norm(F.conv2d(out, state[p + "conv2.weight"], padding=1), state, p + "bn2.")
            if p + "shortcut.0.weight" in state:
                x = batch_norm(F.conv2d(x, state[p + "shortcut.0.weight"], stride=s), state, p + "shortcut.1.")
            x = F.relu(out + x)
    return x[0]


def statistics_pooling(frames, weights=None):
    """Mean and unbiased standard deviation over time of [256][10][T] flattened channel-major
    to [2560][T]; with weights [w frames], pyannote's weighted form, the weights first resampled
    to T by linear interpolation (align_corners=False)."""
    x = frames.reshape(-1, frames.shape[-1])
    if weights is None:
        return torch.cat([x.mean(dim=1), x.std(dim=1, unbiased=True)])
    w = F.interpolate(weights[None, None], size=x.shape[1], mode="linear", align_corners=False)[0, 0]
    v1 = w.sum()
    mean = (x * w).sum(dim=1) / v1
    var = ((x - mean[:, None]) ** 2 * w).sum(dim=1) / (v1 - (w * w).sum() / v1)
    return torch.cat([mean, var.sqrt()])


def embedding(state, fbank, weights=None):
    features = fbank - fbank.mean(dim=0, keepdim=True)
    stats = statistics_pooling(resnet34_frames(state, features), weights)
    return F.linear(stats, state["resnet.seg_1.weight"], state["resnet.seg_1.bias"])


def exclude_overlap_masks(multilabel):
    """Per local speaker, 1 where that speaker alone is active: [3][frames]."""
    alone = (multilabel.sum(dim=1, keepdim=True) < 2).float()
    return (multilabel * alone).T


# ---- fixture ---------------------------------------------------------------------------------

def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def save(out, name, array):
    np.ascontiguousarray(np.asarray(array, dtype="<f4")).tofile(os.path.join(out, name))


def write_hub(out, fit):
    """The three repositories in a hub folder, as huggingface_hub lays them out; the
    segmentation head fitted to `fit` (samples, RTTM turns)."""
    hub = os.path.join(out, "hub")
    staging = os.path.join(out, "staging")
    os.makedirs(staging, exist_ok=True)
    paths = {}
    for repo, checkpoint in (("pyannote/segmentation-3.0", segmentation_checkpoint(fit)),
                             ("pyannote/wespeaker-voxceleb-resnet34-LM", embedding_checkpoint())):
        staged = os.path.join(staging, repo.split("/")[1] + ".bin")
        torch.save(checkpoint, staged)
        _, snapshot = hf_repo(hub, repo, {"pytorch_model.bin": staged}, {})
        paths[repo] = os.path.join(snapshot, "pytorch_model.bin")
    write_pipeline_repo(hub, COMMIT)
    shutil.rmtree(staging)  # the blobs are hard links (or copies) of these
    return paths


def write_hostile(out, segmentation_path):
    """Damaged checkpoints steno must refuse with a message naming the problem, and the fitted
    segmentation checkpoint without ParamSincFB's two buffers (n_, window_), which steno rebuilds."""
    folder = os.path.join(out, "hostile")
    os.makedirs(folder, exist_ok=True)
    checkpoint = torch.load(segmentation_path, map_location="cpu")
    for buffer in ("n_", "window_"):
        del checkpoint["state_dict"]["sincnet.conv1d.0.filterbank." + buffer]
    torch.save(checkpoint, os.path.join(folder, "no_sinc_buffers.bin"))
    checkpoint = segmentation_checkpoint()
    del checkpoint["state_dict"]["lstm.weight_hh_l2_reverse"]
    torch.save(checkpoint, os.path.join(folder, "missing_tensor.bin"))
    checkpoint = segmentation_checkpoint()
    checkpoint["state_dict"]["classifier.weight"] = torch.zeros(6, 128)
    torch.save(checkpoint, os.path.join(folder, "wrong_shape.bin"))
    checkpoint = embedding_checkpoint()
    checkpoint["state_dict"]["resnet.layer3.2.bn1.running_var"] = torch.ones(64)
    torch.save(checkpoint, os.path.join(folder, "wrong_shape_embedding.bin"))
    checkpoint = segmentation_checkpoint()
    torch.save(checkpoint["state_dict"], os.path.join(folder, "bare_state_dict.bin"))


def main():
    out, wav = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic, and the machine is shared
    samples = read_wav(wav)
    rttm = os.path.splitext(wav)[0] + ".rttm"
    paths = write_hub(out, (samples, rttm_turns(rttm)))
    write_hostile(out, paths["pyannote/segmentation-3.0"])
    segmentation = torch.load(paths["pyannote/segmentation-3.0"], map_location="cpu")["state_dict"]
    wespeaker = torch.load(paths["pyannote/wespeaker-voxceleb-resnet34-LM"], map_location="cpu")["state_dict"]
    with torch.no_grad():
        for start in STARTS:
            chunk = samples[start * SAMPLE_RATE: start * SAMPLE_RATE + CHUNK]
            if len(chunk) < CHUNK:
                raise SystemExit(f"{wav}: shorter than {start + 10} s")
            logits = pyannet(segmentation, torch.from_numpy(chunk)[None, None])[0]
            multilabel = powerset_to_multilabel(logits)
            fbank = kaldi_fbank(chunk * 32768.0)
            fbank_t = torch.from_numpy(fbank).float()
            plain = embedding(wespeaker, fbank_t)
            masks = exclude_overlap_masks(multilabel)
            masked = torch.stack([embedding(wespeaker, fbank_t, masks[k]) if masks[k].sum() > 0
                                  else torch.full((256,), float("nan")) for k in range(3)])
            save(out, f"seg_logits_{start}.f32", logits)
            save(out, f"seg_multilabel_{start}.f32", multilabel)
            save(out, f"fbank_{start}.f32", fbank)
            save(out, f"embedding_{start}.f32", plain)
            save(out, f"embedding_masked_{start}.f32", masked)
            active = [int(masks[k].sum()) for k in range(3)]
            print(f"chunk at {start} s: logits {tuple(logits.shape)} range [{logits.min():.3f}, {logits.max():.3f}], "
                  f"classes used {sorted(set(logits.argmax(-1).tolist()))}, frames alone per speaker {active}, "
                  f"fbank range [{fbank.min():.2f}, {fbank.max():.2f}], |embedding| {plain.norm():.3f}")


if __name__ == "__main__":
    main()
