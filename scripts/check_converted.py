#!/usr/bin/python3
"""Checks steno's converted .pt and Hugging Face folders with independent readers.

Run by tests/test_convert.c after it has converted the official ggml base.en with
`st_model_convert`. Nothing here uses steno's code: the weights are compared with what
scripts/reference_ggml.py's numpy reader gets from the official file.

  check_converted.py pt STENO.pt GGML_BASE_EN REFERENCE.pt
      torch.load (Debian's torch) reads steno's checkpoint; dims, names, order, dtypes and
      every tensor equal the reference checkpoint written by torch.save (scripts/reference_pt.py)
      and the ggml source.
  check_converted.py hf STENO_HF_DIR GGML_BASE_EN REFERENCE_CT2_DIR
      model.safetensors parsed from the published layout (u64 header length, JSON header,
      8-byte padding, contiguous data offsets); every tensor, under transformers' name, equals
      the ggml tensor; config.json and generation_config.json carry the dimensions and ids;
      vocab.json holds the same tokens as the CTranslate2 converter's vocabulary.json.
Exits non-zero with a message on the first difference.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_ggml  # noqa: E402
from reference_pt import hf_name  # noqa: E402

DIM_NAMES = ["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
             "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels"]


def fail(message):
    sys.exit("check_converted: " + message)


def ggml_tensors(path):
    _, hparams, _, vocab, records = reference_ggml.read_model(path)
    dims = {name: int(hparams[i]) for i, name in enumerate(DIM_NAMES)}
    tensors = {}
    for name, kind, shape, raw in records:
        if name.endswith(".bias") and len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]
        tensors[name] = reference_ggml.dequantize(kind, raw).reshape(shape)
    return dims, tensors, vocab


def check_pt(steno_pt, ggml_path, reference_pt):
    import torch
    ours = torch.load(steno_pt, map_location="cpu")
    reference = torch.load(reference_pt, map_location="cpu")
    if set(ours) != {"dims", "model_state_dict"}:
        fail("top-level keys %s" % sorted(ours))
    if ours["dims"] != reference["dims"]:
        fail("dims %s != %s" % (ours["dims"], reference["dims"]))
    a, b = ours["model_state_dict"], reference["model_state_dict"]
    if list(a) != list(b):
        fail("state dict names or order differ")
    _, source, _ = ggml_tensors(ggml_path)
    for name in b:
        if a[name].dtype != torch.float16 or a[name].shape != b[name].shape:
            fail("%s: %s %s, expected float16 %s" % (name, a[name].dtype, tuple(a[name].shape), tuple(b[name].shape)))
        if not torch.equal(a[name], b[name]):
            fail("%s differs from the torch.save reference" % name)
        if not np.array_equal(a[name].float().numpy(), source[name]):
            fail("%s differs from the ggml source" % name)
    print("pt: %d tensors equal the reference and the source" % len(b))


def check_hf(folder, ggml_path, ct2_dir):
    dims, source, _ = ggml_tensors(ggml_path)
    data = open(os.path.join(folder, "model.safetensors"), "rb").read()
    n, = struct.unpack_from("<Q", data, 0)
    if n % 8 != 0:
        fail("header length %d is not a multiple of 8" % n)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if header.pop("__metadata__", None) != {"format": "pt"}:
        fail("__metadata__ is not {'format': 'pt'}")
    expected = {hf_name(name): name for name in source}
    if set(header) != set(expected):
        fail("names differ: %s" % sorted(set(header) ^ set(expected))[:5])
    body = data[8 + n:]
    end = 0
    for hf in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        info = header[hf]
        begin, stop = info["data_offsets"]
        if begin != end:
            fail("%s starts at %d, expected %d (gap or overlap)" % (hf, begin, end))
        end = stop
        dtype = {"F32": "<f4", "F16": "<f2"}[info["dtype"]]
        values = np.frombuffer(body[begin:stop], dtype=dtype).reshape(info["shape"]).astype(np.float32)
        if not np.array_equal(values, source[expected[hf]]):
            fail("%s differs from the ggml tensor %s" % (hf, expected[hf]))
    if end != len(body):
        fail("%d bytes after the last tensor" % (len(body) - end))
    config = json.load(open(os.path.join(folder, "config.json")))
    wanted = {"d_model": dims["n_audio_state"], "encoder_layers": dims["n_audio_layer"],
              "decoder_layers": dims["n_text_layer"], "encoder_attention_heads": dims["n_audio_head"],
              "decoder_attention_heads": dims["n_text_head"], "num_mel_bins": dims["n_mels"],
              "vocab_size": dims["n_vocab"], "max_source_positions": dims["n_audio_ctx"],
              "max_target_positions": dims["n_text_ctx"], "model_type": "whisper"}
    for key, value in wanted.items():
        if config.get(key) != value:
            fail("config.json %s = %r, expected %r" % (key, config.get(key), value))
    ct2_config = json.load(open(os.path.join(ct2_dir, "config.json")))
    generation = json.load(open(os.path.join(folder, "generation_config.json")))
    if generation["alignment_heads"] != ct2_config["alignment_heads"]:
        fail("alignment heads %s != %s" % (generation["alignment_heads"], ct2_config["alignment_heads"]))
    if generation["eos_token_id"] != 50256 or generation["decoder_start_token_id"] != 50257:
        fail("generation_config.json token ids")
    vocab = json.load(open(os.path.join(folder, "vocab.json")))
    tokens = json.load(open(os.path.join(ct2_dir, "vocabulary.json")))
    eot = tokens.index("<|endoftext|>")
    if vocab != {token: i for i, token in enumerate(tokens[:eot + 1])}:
        fail("vocab.json differs from the CTranslate2 converter's vocabulary")
    print("hf: %d tensors equal the source; configs and %d-token vocabulary agree" % (len(header), len(vocab)))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "pt":
        check_pt(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "hf":
        check_hf(*sys.argv[2:])
    else:
        sys.exit(__doc__)
