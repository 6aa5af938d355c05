#!/usr/bin/python3
"""Writes PyTorch checkpoints of Whisper base.en with torch.save, for steno's pt reader tests.

The weights come from the official whisper.cpp ggml-base.en.bin through reference_ggml.py's
independent numpy reader (not steno's C code), and are saved by Debian's torch exactly as
openai-whisper and transformers save theirs:

  base.en.pt           openai's checkpoint {"dims": {...}, "model_state_dict": OrderedDict}, every
                       tensor f16 like the official files (the ggml f32 tensors are f16 values
                       widened, so nothing is lost; checked), top-level folder "base.en"
  base.en-variant.pt   the same checkpoint saved through a file object (folder "archive") with
                       pickle protocol 4, 1-D weights as nn.Parameter, and the attention
                       projections of each block slices of one fused storage (non-zero offsets)
  hf-base.en-pt/pytorch_model.bin + config.json
                       transformers' legacy state dict under HF names, proj_out.weight tied to
                       the token embedding (one storage pickled twice)
  tiny.pt              a 1-layer, 8-wide random model (small: for truncation tests)
  evil.pt              a pickle whose root calls os.system (never to be executed by a reader)

Usage: reference_pt.py GGML_BASE_EN OUT_DIR  (writes each file atomically, skips existing ones)
       reference_pt.py fuzz-seeds DIR        (the seed corpus of fuzz/fuzz_pt: tiny.pt, os_system.pt,
                                              a protocol-4 archive and its bare data.pkl)
"""
import collections
import io
import json
import os
import sys
import tempfile
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_ggml import dequantize, read_model  # noqa: E402

DIM_NAMES = ["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
             "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels"]


def openai_state(ggml_path):
    _, hparams, _, _, tensors = read_model(ggml_path)
    dims = {name: int(hparams[i]) for i, name in enumerate(DIM_NAMES)}
    state = collections.OrderedDict()
    for name, kind, shape, raw in tensors:
        values = dequantize(kind, raw)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            raise SystemExit(f"{name}: not representable in f16")
        if name.endswith(".bias") and len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]  # whisper.cpp stores conv biases as [n_state, 1]
        state[name] = torch.from_numpy(half.reshape(shape).copy())
    return dims, state


def save_atomic(out, write):
    """write(tmp_path) inside a fresh folder next to out, then rename into place."""
    folder = tempfile.mkdtemp(dir=os.path.dirname(out), prefix=".tmp-")
    tmp = os.path.join(folder, os.path.basename(out))  # torch names the zip folder after this
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        os.rmdir(folder)


def write_openai(dims, state, out):
    state = collections.OrderedDict(state)
    state._metadata = collections.OrderedDict([("", {"version": 1})])  # as Module.state_dict() sets it
    save_atomic(out, lambda tmp: torch.save({"dims": dims, "model_state_dict": state}, tmp))


def write_variant(dims, state, out):
    variant = collections.OrderedDict()
    fused = {}
    for name, tensor in state.items():
        prefix, _, part = name.rpartition(".attn.")
        if part in ("query.weight", "key.weight", "value.weight"):
            if prefix not in fused:
                parts = [state[f"{prefix}.attn.{p}.weight"] for p in ("query", "key", "value")]
                fused[prefix] = torch.cat(parts)  # one storage; each projection a row slice of it
            rows = tensor.shape[0]
            index = ("query.weight", "key.weight", "value.weight").index(part)
            variant[name] = fused[prefix][index * rows:(index + 1) * rows]
        elif tensor.dim() == 1:
            variant[name] = torch.nn.Parameter(tensor, requires_grad=False)
        else:
            variant[name] = tensor

    def write(tmp):
        buffer = io.BytesIO()  # no file name: torch calls the folder "archive"
        torch.save({"dims": dims, "model_state_dict": variant}, buffer, pickle_protocol=4)
        with open(tmp, "wb") as f:
            f.write(buffer.getvalue())
    save_atomic(out, write)


LAYER_NAMES = [("attn.query", "self_attn.q_proj"), ("attn.key", "self_attn.k_proj"),
               ("attn.value", "self_attn.v_proj"), ("attn.out", "self_attn.out_proj"),
               ("attn_ln", "self_attn_layer_norm"), ("cross_attn.query", "encoder_attn.q_proj"),
               ("cross_attn.key", "encoder_attn.k_proj"), ("cross_attn.value", "encoder_attn.v_proj"),
               ("cross_attn.out", "encoder_attn.out_proj"), ("cross_attn_ln", "encoder_attn_layer_norm"),
               ("mlp.0", "fc1"), ("mlp.2", "fc2"), ("mlp_ln", "final_layer_norm")]
TOP_NAMES = {"encoder.positional_embedding": "encoder.embed_positions.weight",
             "encoder.ln_post.weight": "encoder.layer_norm.weight",
             "encoder.ln_post.bias": "encoder.layer_norm.bias",
             "decoder.token_embedding.weight": "decoder.embed_tokens.weight",
             "decoder.positional_embedding": "decoder.embed_positions.weight",
             "decoder.ln.weight": "decoder.layer_norm.weight", "decoder.ln.bias": "decoder.layer_norm.bias"}


def hf_name(name):
    """openai name → transformers' WhisperForConditionalGeneration name."""
    if name in TOP_NAMES:
        return "model." + TOP_NAMES[name]
    side, blocks, index, rest = (name.split(".", 3) + ["", "", ""])[:4]
    if blocks == "blocks":
        module, _, kind = rest.rpartition(".")
        for openai, hf in LAYER_NAMES:
            if module == openai:
                return f"model.{side}.layers.{index}.{hf}.{kind}"
        raise SystemExit(f"no HF name for {name}")
    return "model." + name  # conv1, conv2


def write_hf(dims, state, folder):
    os.makedirs(folder, exist_ok=True)
    hf = collections.OrderedDict((hf_name(name), tensor) for name, tensor in state.items())
    hf["proj_out.weight"] = hf["model.decoder.embed_tokens.weight"]  # tied: the same tensor
    config = {"model_type": "whisper", "d_model": dims["n_audio_state"],
              "encoder_attention_heads": dims["n_audio_head"], "decoder_attention_heads": dims["n_text_head"],
              "encoder_layers": dims["n_audio_layer"], "decoder_layers": dims["n_text_layer"],
              "num_mel_bins": dims["n_mels"], "vocab_size": dims["n_vocab"]}
    with open(os.path.join(folder, "config.json.tmp"), "w") as f:
        json.dump(config, f)
    os.replace(os.path.join(folder, "config.json.tmp"), os.path.join(folder, "config.json"))
    save_atomic(os.path.join(folder, "pytorch_model.bin"), lambda tmp: torch.save(hf, tmp))


def write_tiny(out):
    dims = {"n_mels": 8, "n_audio_ctx": 8, "n_audio_state": 8, "n_audio_head": 2, "n_audio_layer": 1,
            "n_vocab": 6, "n_text_ctx": 4, "n_text_state": 8, "n_text_head": 2, "n_text_layer": 1}
    d = 8
    shapes = {"encoder.conv1.weight": (d, 8, 3), "encoder.conv1.bias": (d,), "encoder.conv2.weight": (d, d, 3),
              "encoder.conv2.bias": (d,), "encoder.positional_embedding": (8, d)}
    block = {"attn.query.weight": (d, d), "attn.query.bias": (d,), "attn.key.weight": (d, d),
             "attn.value.weight": (d, d), "attn.value.bias": (d,), "attn.out.weight": (d, d), "attn.out.bias": (d,),
             "attn_ln.weight": (d,), "attn_ln.bias": (d,), "mlp.0.weight": (4 * d, d), "mlp.0.bias": (4 * d,),
             "mlp.2.weight": (d, 4 * d), "mlp.2.bias": (d,), "mlp_ln.weight": (d,), "mlp_ln.bias": (d,)}
    for part, shape in block.items():
        shapes["encoder.blocks.0." + part] = shape
    shapes.update({"encoder.ln_post.weight": (d,), "encoder.ln_post.bias": (d,),
                   "decoder.token_embedding.weight": (6, d), "decoder.positional_embedding": (4, d)})
    for part, shape in block.items():
        shapes["decoder.blocks.0." + part] = shape
        if part.startswith("attn"):
            shapes["decoder.blocks.0.cross_" + part] = shape
    shapes.update({"decoder.ln.weight": (d,), "decoder.ln.bias": (d,)})
    generator = torch.Generator().manual_seed(1)
    state = collections.OrderedDict(
        (name, torch.randn(shape, generator=generator).to(torch.float16)) for name, shape in shapes.items())
    save_atomic(out, lambda tmp: torch.save({"dims": dims, "model_state_dict": state}, tmp))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/steno-pt-executed-os-system",))


def write_seeds(out):
    os.makedirs(out, exist_ok=True)
    write_tiny(os.path.join(out, "tiny.pt"))
    save_atomic(os.path.join(out, "os_system.pt"), lambda tmp: torch.save(Evil(), tmp))
    state = collections.OrderedDict(w=torch.ones(2, 3, dtype=torch.float16), p=torch.nn.Parameter(torch.zeros(4)))
    buffer = io.BytesIO()
    torch.save({"dims": {"n_mels": 80}, "model_state_dict": state}, buffer, pickle_protocol=4)
    with open(os.path.join(out, "proto4_small.pt"), "wb") as f:
        f.write(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive, \
            open(os.path.join(out, "proto4_data.pkl"), "wb") as f:
        f.write(archive.read("archive/data.pkl"))


def main():
    if sys.argv[1] == "fuzz-seeds":
        write_seeds(sys.argv[2])
        return
    ggml_path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    targets = {
        "base.en.pt": lambda p: write_openai(*openai_state(ggml_path), p),
        "base.en-variant.pt": lambda p: write_variant(*openai_state(ggml_path), p),
        "hf-base.en-pt": lambda p: write_hf(*openai_state(ggml_path), p),
        "tiny.pt": write_tiny,
        "evil.pt": lambda p: save_atomic(p, lambda tmp: torch.save(Evil(), tmp)),
    }
    for name, write in targets.items():
        path = os.path.join(out, name)
        if name.startswith("hf-"):
            if not os.path.exists(os.path.join(path, "pytorch_model.bin")):
                write(path)
        elif not os.path.exists(path):
            write(path)


if __name__ == "__main__":
    main()
