#!/usr/bin/python3
"""Independent reader and quantizer of whisper.cpp ggml model files (numpy only).

Golden numbers for steno's C ggml loader come from here, written from the published layout
(whisper.cpp's convert-pt-to-ggml.py writer and ggml's block formats), not from steno's code.

  reference_ggml.py summary MODEL OUT.tsv
      one line per tensor: name, dtype, PyTorch-order shape, sum and sum of squares of its
      float32 values (quantized types dequantized here), plus the vocabulary.
  reference_ggml.py quantize MODEL TYPE OUT.bin
      writes a copy with every 2-D weight except the positional embeddings quantized to TYPE
      (q4_0 q4_1 q5_0 q5_1 q8_0), as whisper.cpp's quantize tool does; atomic (tmp + rename).
"""
import os
import struct
import sys

import numpy as np

TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0"}
TYPE_IDS = {v: k for k, v in TYPES.items()}
BLOCK_BYTES = {"q4_0": 18, "q4_1": 20, "q5_0": 22, "q5_1": 24, "q8_0": 34}
FTYPE = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9}


def read_model(path):
    data = open(path, "rb").read()
    magic, = struct.unpack_from("<I", data, 0)
    assert magic == 0x67676D6C, "not a ggml file"
    hparams = struct.unpack_from("<11i", data, 4)
    o = 48
    n_mel, n_fft = struct.unpack_from("<2i", data, o)
    o += 8
    filters = np.frombuffer(data, dtype="<f4", count=n_mel * n_fft, offset=o).reshape(n_mel, n_fft)
    o += 4 * n_mel * n_fft
    n_vocab, = struct.unpack_from("<i", data, o)
    o += 4
    vocab = []
    for _ in range(n_vocab):
        length, = struct.unpack_from("<I", data, o)
        vocab.append(data[o + 4:o + 4 + length])
        o += 4 + length
    header_end = o
    tensors = []
    while o < len(data):
        n_dims, name_len, ttype = struct.unpack_from("<3i", data, o)
        o += 12
        ne = struct.unpack_from("<%di" % n_dims, data, o)
        o += 4 * n_dims
        name = data[o:o + name_len].decode()
        o += name_len
        count = int(np.prod(ne))
        kind = TYPES[ttype]
        size = count * 4 if kind == "f32" else count * 2 if kind == "f16" else count // 32 * BLOCK_BYTES[kind]
        tensors.append((name, kind, tuple(reversed(ne)), data[o:o + size]))
        o += size
    return data[:header_end], hparams, filters, vocab, tensors


def half(raw):
    return np.frombuffer(raw, dtype="<f2").astype(np.float32)


def dequantize(kind, raw):
    if kind == "f32":
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if kind == "f16":
        return half(raw)
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES[kind])
    d = half(blocks[:, 0:2].tobytes())[:, None]
    if kind == "q8_0":
        return (blocks[:, 2:].view(np.int8).astype(np.float32) * d).ravel()
    has_min = kind in ("q4_1", "q5_1")
    m = half(blocks[:, 2:4].tobytes())[:, None] if has_min else 0.0
    start = 4 if has_min else 2
    if kind.startswith("q5"):
        qh = blocks[:, start:start + 4].copy().view("<u4")[:, 0]
        start += 4
        fifth = ((qh[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)
    else:
        fifth = np.zeros((blocks.shape[0], 32), dtype=np.int32)
    qs = blocks[:, start:start + 16].astype(np.int32)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1) | (fifth << 4)
    if has_min:
        return (q * d + m).astype(np.float32).ravel()
    offset = 16 if kind == "q5_0" else 8
    return ((q - offset) * d).astype(np.float32).ravel()


def quantize(kind, x):
    """ggml's reference block quantizers, from the block definitions."""
    b = x.astype(np.float32).reshape(-1, 32)
    if kind == "q8_0":
        amax = np.abs(b).max(axis=1)
        d = amax / 127.0
        inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0)
        q = np.round(b * inv[:, None]).astype(np.int8)
        return np.concatenate([d.astype("<f2")[:, None].view(np.uint8), q.view(np.uint8)], axis=1).tobytes()
    if kind in ("q4_0", "q5_0"):
        levels = 8 if kind == "q4_0" else 16
        idx = np.abs(b).argmax(axis=1)
        signed_max = b[np.arange(len(b)), idx]
        d = signed_max / -levels
        inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0)
        q = np.clip(np.floor(b * inv[:, None] + levels + 0.5), 0, 2 * levels - 1).astype(np.uint32)
        header = [d.astype("<f2")[:, None].view(np.uint8)]
    else:
        levels = 15 if kind == "q4_1" else 31
        lo, hi = b.min(axis=1), b.max(axis=1)
        d = (hi - lo) / levels
        inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0)
        q = np.clip(np.floor((b - lo[:, None]) * inv[:, None] + 0.5), 0, levels).astype(np.uint32)
        header = [d.astype("<f2")[:, None].view(np.uint8), lo.astype("<f2")[:, None].view(np.uint8)]
    low = (q & 0x0F).astype(np.uint8)
    packed = low[:, :16] | (low[:, 16:] << 4)
    if kind.startswith("q5"):
        qh = ((q >> 4) & 1) << np.arange(32, dtype=np.uint32)
        qh = qh.sum(axis=1, dtype=np.uint64).astype("<u4")
        header.append(qh[:, None].view(np.uint8))
    return np.concatenate(header + [packed], axis=1).tobytes()


def summary(model, out):
    _, hparams, filters, vocab, tensors = read_model(model)
    with open(out, "w") as f:
        f.write("hparams\t%s\n" % " ".join(map(str, hparams)))
        f.write("vocab\t%d\t%s\n" % (len(vocab), vocab[-1].hex() if vocab else ""))
        rows = [("mel_filters", "f32", filters.shape, filters.ravel())]
        rows += [(n, k, s, dequantize(k, raw)) for n, k, s, raw in tensors]
        for name, kind, shape, values in rows:
            v = values.astype(np.float64)
            f.write("%s\t%s\t%s\t%.9e\t%.9e\n" % (name, kind, ",".join(map(str, shape)), v.sum(), (v * v).sum()))


def write_quantized(model, kind, out):
    header, hparams, _, _, tensors = read_model(model)
    header = bytearray(header)
    struct.pack_into("<i", header, 4 + 40, 2 * 1000 + FTYPE[kind])  # ftype with quant version 2
    tmp = out + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(header)
        for name, k, shape, raw in tensors:
            values = dequantize(k, raw)
            quantizable = len(shape) == 2 and "positional_embedding" not in name and shape[-1] % 32 == 0
            if quantizable:
                k, raw = kind, quantize(kind, values)
            ne = list(reversed(shape))  # the file's own shape, conv biases' [n_state, 1] included
            name_bytes = name.encode()
            f.write(struct.pack("<3i", len(ne), len(name_bytes), TYPE_IDS[k]))
            f.write(struct.pack("<%di" % len(ne), *ne))
            f.write(name_bytes)
            f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "summary":
        summary(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "quantize":
        write_quantized(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
