#!/usr/bin/python3
"""Builds a model-store tree holding real models in every layout users have, and a manifest of
what each entry is.

Usage: make-store-fixtures.py OUT_DIR TEST_MODELS_DIR
       make-store-fixtures.py fuzz-seeds DIR   (fuzz/fuzz_identify's pyannote and safetensors
                                                seeds: the same layouts, a few tiny tensors)

The Whisper copies are the real files of the test-model cache (the official ggml-base.en.bin and
what scripts/reference_pt.py, reference_ct2.py and make-multilingual-models derived from it into
TEST_MODELS_DIR/derived), hard-linked (or copied) into place, so steno must say of each that it
uses it in place:
  steno/ggml-base.en.bin, steno/ggml-base.en-q5_0.bin, steno/ggml-tiny.bin   whisper.cpp files
  steno/faster-whisper-base.en      a CTranslate2 int8 folder under faster-whisper's repo name
  whisper/base.en.pt                openai-whisper's checkpoint
  whisper/medium.pt                 medium's dims with toy tensors: named by its dims, unusable
  hf/hub/models--Systran--faster-whisper-base.en    CTranslate2 float16, in the Hugging Face
                                    cache layout (blobs named by SHA-256, snapshot symlinks)
  hf/hub/models--openai--whisper-base.en    transformers' config.json, pytorch_model.bin and a
                                    model.safetensors written here from the same state dict
  hf/hub/models--pyannote--segmentation-3.0, …wespeaker-voxceleb-resnet34-LM   torch.save of
                                    pyannote.audio's Lightning checkpoints: the nets' real
                                    parameter names and shapes (random values), the
                                    "pyannote.audio" entry with architecture and a pickled
                                    Specifications object, as pyannote.audio 3.1 writes them
  hf/hub/models--pyannote--speaker-diarization-3.1  the pipeline's config.yaml
  other/model.gguf, other/notes.txt  not Whisper models
The manifest (manifest.json) says what an independent reader should report for each path.
Written with torch, hashlib and the formats' published layouts, never with steno's code. The
safetensors file and the blob checksums are cached in OUT_DIR.cache between runs.
Exits 77 (skipped) when the test-model cache lacks the files.
"""
import collections
import json
import os
import shutil
import struct
import sys

import torch

from hf_hub_tree import COMMIT, hf_repo, place
from pyannote_checkpoints import (embedding_checkpoint, lightning_checkpoint, pyannote_classes,
                                  segmentation_checkpoint, write_pipeline_repo)


def write_safetensors(state, path):
    """safetensors: u64 header length, JSON header (name -> dtype, shape, data_offsets), data."""
    names = {torch.float16: "F16", torch.float32: "F32", torch.bfloat16: "BF16"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(state):
        tensor = state[name].contiguous()
        data = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the writers pad the header to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def write_seeds(out):
    os.makedirs(out, exist_ok=True)
    task = pyannote_classes()
    torch.manual_seed(5)
    specifications = task.Specifications(problem=task.Problem.MONO_LABEL_CLASSIFICATION,
                                         resolution=task.Resolution.FRAME, duration=10.0,
                                         classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2)
    state = collections.OrderedDict([("lstm.weight_ih_l0", torch.rand(8, 2)), ("classifier.weight", torch.rand(7, 2)),
                                     ("classifier.bias", torch.rand(7))])
    torch.save(lightning_checkpoint(state, "pyannote.audio.models.segmentation.PyanNet", "PyanNet",
                                    {"sample_rate": 16000}, specifications), os.path.join(out, "pyannet.pt"))
    state = collections.OrderedDict([("resnet.conv1.weight", torch.rand(2, 1, 3, 3).half()),
                                     ("resnet.seg_1.weight", torch.rand(4, 6).half())])
    torch.save(lightning_checkpoint(state, "pyannote.audio.models.embedding.wespeaker", "WeSpeakerResNet34",
                                    {"num_mel_bins": 80}, None), os.path.join(out, "wespeaker.pt"))
    write_safetensors({"model.encoder.conv1.weight": torch.zeros(4, 2, 3, dtype=torch.float16),
                       "model.encoder.layers.0.fc1.weight": torch.zeros(2, 4, dtype=torch.float16),
                       "model.decoder.embed_tokens.weight": torch.zeros(3, 4, dtype=torch.float16),
                       "model.decoder.layers.0.fc1.weight": torch.zeros(2, 4, dtype=torch.float16)},
                      os.path.join(out, "whisper.safetensors"))
    with open(os.path.join(out, "header.gguf"), "wb") as f:
        f.write(b"GGUF" + struct.pack("<I", 3) + b"\0" * 16)


# ---- the tree ----------------------------------------------------------------------------------

def main():
    if sys.argv[1] == "fuzz-seeds":
        write_seeds(sys.argv[2])
        return
    out, models = sys.argv[1], sys.argv[2]
    derived = os.path.join(models, "derived")
    needed = [os.path.join(models, "ggml-base.en.bin")] + [os.path.join(derived, name) for name in (
        "ggml-base.en-q5_0.bin", "ggml-tiny.bin", "base.en.pt", "ct2-base.en-int8/model.bin",
        "ct2-base.en-float16/model.bin", "hf-base.en-pt/pytorch_model.bin")]
    missing = [path for path in needed if not os.path.exists(path)]
    if missing:
        print("SKIP: missing " + ", ".join(missing) + " (scripts/fetch-models and the reference fixtures)")
        sys.exit(77)
    cache_dir = out.rstrip("/") + ".cache"
    os.makedirs(cache_dir, exist_ok=True)
    cache_path = os.path.join(cache_dir, "sha256.json")
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    shutil.rmtree(out, ignore_errors=True)
    hub = os.path.join(out, "hf", "hub")
    manifest = {}

    def whisper(path, fmt, model, precision, usable=True):
        manifest[path] = {"format": fmt, "model": model, "precision": precision, "usable": usable}

    place(os.path.join(models, "ggml-base.en.bin"), os.path.join(out, "steno", "ggml-base.en.bin"))
    whisper("steno/ggml-base.en.bin", "ggml", "base.en", "float16")
    place(os.path.join(derived, "ggml-base.en-q5_0.bin"), os.path.join(out, "steno", "ggml-base.en-q5_0.bin"))
    whisper("steno/ggml-base.en-q5_0.bin", "ggml", "base.en", "q5_0")
    place(os.path.join(derived, "ggml-tiny.bin"), os.path.join(out, "steno", "ggml-tiny.bin"))
    whisper("steno/ggml-tiny.bin", "ggml", "tiny", "float16")
    # reference_ct2.py's int8 keeps the unquantized variables in float32: CTranslate2's "int8"
    for name in os.listdir(os.path.join(derived, "ct2-base.en-int8")):
        place(os.path.join(derived, "ct2-base.en-int8", name), os.path.join(out, "steno", "faster-whisper-base.en", name))
    whisper("steno/faster-whisper-base.en", "ct2", "base.en", "int8")

    place(os.path.join(derived, "base.en.pt"), os.path.join(out, "whisper", "base.en.pt"))
    whisper("whisper/base.en.pt", "pt", "base.en", "float16")
    dims = dict(n_mels=80, n_vocab=51865, n_audio_ctx=1500, n_audio_state=1024, n_audio_head=16, n_audio_layer=24,
                n_text_ctx=448, n_text_state=1024, n_text_head=16, n_text_layer=24)
    toy = {"encoder.conv1.weight": torch.zeros(4, 80, 3, dtype=torch.float16),
           "decoder.token_embedding.weight": torch.zeros(8, 4, dtype=torch.float16)}
    torch.save({"dims": dims, "model_state_dict": toy}, os.path.join(out, "whisper", "medium.pt"))
    whisper("whisper/medium.pt", "pt", "medium", "float16", usable=False)

    ct2 = os.path.join(derived, "ct2-base.en-float16")
    hf_repo(hub, "Systran/faster-whisper-base.en",
            {name: os.path.join(ct2, name) for name in sorted(os.listdir(ct2))}, cache)
    whisper("hf/hub/models--Systran--faster-whisper-base.en", "ct2", "base.en", "float16")
    whisper(f"hf/hub/models--Systran--faster-whisper-base.en/snapshots/{COMMIT}/model.bin", "ct2", "base.en",
            "float16")

    hf_pt = os.path.join(derived, "hf-base.en-pt")
    safetensors = os.path.join(cache_dir, "model.safetensors")
    if not os.path.exists(safetensors):
        state = torch.load(os.path.join(hf_pt, "pytorch_model.bin"), map_location="cpu", weights_only=True)
        state.pop("proj_out.weight", None)  # tied to the token embedding; transformers leaves it out
        write_safetensors(state, safetensors)
    hf_repo(hub, "openai/whisper-base.en", {"config.json": os.path.join(hf_pt, "config.json"),
                                            "pytorch_model.bin": os.path.join(hf_pt, "pytorch_model.bin"),
                                            "model.safetensors": safetensors}, cache)
    # the repository holds both: steno reads the safetensors file first, as transformers does
    whisper("hf/hub/models--openai--whisper-base.en", "safetensors", "base.en", "float16")
    whisper(f"hf/hub/models--openai--whisper-base.en/snapshots/{COMMIT}/model.safetensors", "safetensors", "base.en",
            "float16")

    staging = os.path.join(out, ".staging")
    os.makedirs(staging)
    torch.save(segmentation_checkpoint(), os.path.join(staging, "segmentation.bin"))
    hf_repo(hub, "pyannote/segmentation-3.0",
            {"pytorch_model.bin": os.path.join(staging, "segmentation.bin")}, {})
    manifest["hf/hub/models--pyannote--segmentation-3.0"] = {
        "format": "pt", "model": "pyannote/segmentation-3.0", "precision": "float32", "architecture": "PyanNet",
        "usable": True}
    manifest[f"hf/hub/models--pyannote--segmentation-3.0/snapshots/{COMMIT}/pytorch_model.bin"] = \
        manifest["hf/hub/models--pyannote--segmentation-3.0"]

    torch.save(embedding_checkpoint(), os.path.join(staging, "wespeaker.bin"))
    hf_repo(hub, "pyannote/wespeaker-voxceleb-resnet34-LM",
            {"pytorch_model.bin": os.path.join(staging, "wespeaker.bin")}, {})
    manifest["hf/hub/models--pyannote--wespeaker-voxceleb-resnet34-LM"] = {
        "format": "pt", "model": "pyannote/wespeaker-voxceleb-resnet34-LM", "precision": "float32",
        "architecture": "WeSpeakerResNet34", "usable": True}
    shutil.rmtree(staging)  # the blobs are hard links (or copies) of these

    write_pipeline_repo(hub, COMMIT)
    manifest["hf/hub/models--pyannote--speaker-diarization-3.1"] = {
        "format": "unknown", "model": "pyannote/speaker-diarization-3.1", "usable": True}

    os.makedirs(os.path.join(out, "other"), exist_ok=True)
    with open(os.path.join(out, "other", "model.gguf"), "wb") as f:
        f.write(b"GGUF" + struct.pack("<I", 3) + b"\0" * 16)
    manifest["other/model.gguf"] = {"format": "gguf", "model": None}
    with open(os.path.join(out, "other", "notes.txt"), "w") as f:
        f.write("where the models came from\n")
    manifest["other/notes.txt"] = {"format": "unknown", "model": None}

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    with open(cache_path, "w") as f:
        json.dump(cache, f)


if __name__ == "__main__":
    main()
