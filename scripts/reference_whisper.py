#!/usr/bin/python3
"""Reference Whisper forward pass in PyTorch, straight from a ggml model file.

Golden numbers for steno's C encoder and decoder (tests/test_whisper_model.c). Everything here
is written from the published descriptions, independently of steno's C code: the ggml file is
parsed by its documented layout (whisper.cpp's convert-pt-to-ggml.py writer), the log-mel by
openai-whisper's audio.py recipe using the filters stored in the file, and the network by the
architecture in openai-whisper's model.py (float32 throughout).

  reference_whisper.py MODEL WAV OUT_DIR [N_GREEDY [PROMPT]]

PROMPT: comma-separated token ids to start from instead of <|startoftranscript|>
<|notimestamps|> (a multilingual model's SOT sequence names its language and task).

writes into OUT_DIR, each a raw little-endian array:
  whisper-mel.f32       [n_mels][3000]   the input log-mel of WAV's first 30 s
  whisper-stem.f32      [1500][d]        after conv1, GELU, conv2 (stride 2), GELU, + positions
  whisper-block0.f32    [1500][d]        after encoder block 0
  whisper-encoder.f32   [1500][d]        encoder output (after ln_post)
  whisper-tokens.i32    [L]              <|startoftranscript|> <|notimestamps|> (or PROMPT), then
                                          N_GREEDY tokens chosen greedily by this model
  whisper-logits.f32    [L][n_vocab]     row i: logits after tokens[0..i] (full causal pass)
  whisper-cross-qk.f32  [n_text_layer][n_text_head][L][1500]
                                          cross-attention scores (q·k, both scaled by
                                          d_head^-0.25) before softmax, of that pass
"""
import os
import struct
import sys
import wave

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = CHUNK_SAMPLES // HOP


def read_ggml(path):
    """Hyperparameters, mel filters, vocabulary and float32 tensors (PyTorch order)."""
    data = open(path, "rb").read()
    if struct.unpack_from("<I", data, 0)[0] != 0x67676D6C:
        raise ValueError(path + ": not a ggml file")
    names = ("n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer n_text_ctx "
             "n_text_state n_text_head n_text_layer n_mels ftype").split()
    hp = dict(zip(names, struct.unpack_from("<11i", data, 4)))
    offset = 4 + 11 * 4
    n_mel, n_fft_bins = struct.unpack_from("<2i", data, offset)
    offset += 8
    filters = np.frombuffer(data, "<f4", n_mel * n_fft_bins, offset).reshape(n_mel, n_fft_bins)
    offset += 4 * n_mel * n_fft_bins
    count, = struct.unpack_from("<i", data, offset)
    offset += 4
    vocab = []
    for _ in range(count):
        length, = struct.unpack_from("<I", data, offset)
        vocab.append(data[offset + 4:offset + 4 + length])
        offset += 4 + length
    tensors = {}
    while offset < len(data):
        n_dims, name_len, ttype = struct.unpack_from("<3i", data, offset)
        offset += 12
        ne = struct.unpack_from("<%di" % n_dims, data, offset)
        offset += 4 * n_dims
        name = data[offset:offset + name_len].decode()
        offset += name_len
        if ttype not in (0, 1):
            raise ValueError("%s: tensor %s has type %d; this reference reads f32/f16 only" % (path, name, ttype))
        dtype = "<f4" if ttype == 0 else "<f2"
        n = int(np.prod(ne))
        array = np.frombuffer(data, dtype, n, offset).astype(np.float32)
        offset += n * np.dtype(dtype).itemsize
        tensors[name] = torch.from_numpy(array.reshape(tuple(reversed(ne))).copy())
    return hp, torch.from_numpy(filters.copy()), vocab, tensors


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(path + ": expected 16-bit mono 16 kHz PCM")
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return torch.from_numpy(pcm.astype(np.float32) / 32768.0)


def log_mel(audio, filters):
    """openai-whisper's log_mel_spectrogram with 30 s of zero padding, first 3000 frames."""
    audio = F.pad(audio, (0, CHUNK_SAMPLES))
    stft = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = stft[..., :-1].abs() ** 2
    log_spec = torch.clamp(filters @ power, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0)[:, :N_FRAMES].contiguous()


class Whisper:
    def __init__(self, hp, tensors):
        self.hp = hp
        self.t = tensors
        self.cross_qk = []  # per decoder layer, [n_head][n_q][n_kv], of the last decode

    def norm(self, x, prefix):
        return F.layer_norm(x, (x.shape[-1],), self.t[prefix + ".weight"], self.t[prefix + ".bias"], 1e-5)

    def linear(self, x, prefix):
        return F.linear(x, self.t[prefix + ".weight"], self.t.get(prefix + ".bias"))

    def attention(self, x, source, prefix, n_head, causal, record=False):
        q = self.linear(x, prefix + ".query")
        k = self.linear(source, prefix + ".key")
        v = self.linear(source, prefix + ".value")
        n_q, d = q.shape
        n_kv = k.shape[0]
        d_head = d // n_head
        scale = d_head ** -0.25
        q = q.view(n_q, n_head, d_head).permute(1, 0, 2) * scale
        k = k.view(n_kv, n_head, d_head).permute(1, 2, 0) * scale
        v = v.view(n_kv, n_head, d_head).permute(1, 0, 2)
        qk = q @ k
        if record:
            self.cross_qk.append(qk)
        if causal:
            qk = qk + torch.full((n_q, n_kv), float("-inf")).triu(1)
        w = torch.softmax(qk, dim=-1)
        return self.linear((w @ v).permute(1, 0, 2).reshape(n_q, d), prefix + ".out")

    def block(self, x, prefix, n_head, audio=None):
        h = self.norm(x, prefix + ".attn_ln")
        x = x + self.attention(h, h, prefix + ".attn", n_head, causal=audio is not None)
        if audio is not None:
            x = x + self.attention(self.norm(x, prefix + ".cross_attn_ln"), audio, prefix + ".cross_attn", n_head, False,
                                   record=True)
        h = F.gelu(self.linear(self.norm(x, prefix + ".mlp_ln"), prefix + ".mlp.0"))
        return x + self.linear(h, prefix + ".mlp.2")

    def encode(self, mel):
        t = self.t
        x = F.gelu(F.conv1d(mel[None], t["encoder.conv1.weight"], t["encoder.conv1.bias"].reshape(-1), padding=1))
        x = F.gelu(F.conv1d(x, t["encoder.conv2.weight"], t["encoder.conv2.bias"].reshape(-1), stride=2, padding=1))
        x = x[0].T + t["encoder.positional_embedding"]
        stages = {"stem": x}
        for i in range(self.hp["n_audio_layer"]):
            x = self.block(x, "encoder.blocks.%d" % i, self.hp["n_audio_head"])
            if i == 0:
                stages["block0"] = x
        stages["encoder"] = self.norm(x, "encoder.ln_post")
        return stages

    def decode(self, tokens, audio):
        """Logits of every position of tokens (one causal pass, no cache)."""
        embedding = self.t["decoder.token_embedding.weight"]
        x = embedding[tokens] + self.t["decoder.positional_embedding"][:len(tokens)]
        self.cross_qk = []
        for i in range(self.hp["n_text_layer"]):
            x = self.block(x, "decoder.blocks.%d" % i, self.hp["n_text_head"], audio)
        return self.norm(x, "decoder.ln") @ embedding.T


def special_tokens(n_vocab):
    """<|startoftranscript|> and <|notimestamps|> by openai-whisper's tokenizer layout: the
    byte-level BPE tokens, <|endoftext|>, <|startoftranscript|>, one token per language,
    translate, transcribe, startoflm, startofprev, nospeech, notimestamps, then 1501
    timestamps. English-only models have one BPE token fewer (eot 50256, not 50257)."""
    multilingual = int(n_vocab >= 51865)
    n_languages = n_vocab - 51765 - multilingual
    sot = 50256 + multilingual + 1
    return sot, sot + n_languages + 6


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    model_path, wav_path, out_dir = sys.argv[1:4]
    n_greedy = int(sys.argv[4]) if len(sys.argv) >= 5 else 10
    torch.set_num_threads(2)
    hp, filters, vocab, tensors = read_ggml(model_path)
    model = Whisper(hp, tensors)
    os.makedirs(out_dir, exist_ok=True)

    def dump(name, array):
        path = os.path.join(out_dir, name)
        np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tofile(path + ".tmp")
        os.replace(path + ".tmp", path)

    with torch.no_grad():
        mel = log_mel(read_wav(wav_path), filters)
        stages = model.encode(mel)
        if len(sys.argv) == 6:
            tokens = [int(t) for t in sys.argv[5].split(",")]
        else:
            tokens = list(special_tokens(hp["n_vocab"]))
        n_prompt = len(tokens)
        for _ in range(n_greedy):
            tokens.append(int(model.decode(torch.tensor(tokens), stages["encoder"])[-1].argmax()))
        logits = model.decode(torch.tensor(tokens), stages["encoder"])

    dump("whisper-mel.f32", mel.numpy())
    for name in ("stem", "block0", "encoder"):
        dump("whisper-%s.f32" % name, stages[name].numpy())
    dump("whisper-tokens.i32", np.array(tokens, dtype=np.int32))
    dump("whisper-logits.f32", logits.numpy())
    dump("whisper-cross-qk.f32", torch.stack(model.cross_qk).numpy())
    text = b"".join(vocab[t] for t in tokens[n_prompt:] if t < len(vocab))
    print("reference_whisper: tokens %s = %r" % (tokens, text.decode("utf-8", "replace")))


if __name__ == "__main__":
    main()
