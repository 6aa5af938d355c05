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
import dataclasses
import enum
import hashlib
import json
import os
import shutil
import struct
import sys
import types

import torch
from torch import nn

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def place(source, destination):
    """Hard-links source to destination (a copy across file systems)."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def sha256_cached(path, cache):
    st = os.stat(path)
    key = f"{path}:{st.st_size}:{st.st_mtime_ns}"
    if key not in cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        cache[key] = digest.hexdigest()
    return cache[key]


def hf_repo(root, repo, files, cache):
    """A Hugging Face cache repository: blobs/<sha256>, snapshots/COMMIT/<name> -> blob, refs/main."""
    folder = os.path.join(root, "hf", "hub", "models--" + repo.replace("/", "--"))
    snapshot = os.path.join(folder, "snapshots", COMMIT)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(COMMIT)
    for name, source in files.items():
        blob = os.path.join(folder, "blobs", sha256_cached(source, cache))
        if not os.path.exists(blob):
            place(source, blob)
        os.symlink(os.path.relpath(blob, snapshot), os.path.join(snapshot, name))
    return folder, snapshot


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


# ---- pyannote.audio checkpoints ----------------------------------------------------------------

def pyannote_classes():
    """Specifications, Problem and Resolution under pyannote.audio.core.task, so that pickle
    writes the same global references pyannote.audio's own checkpoints hold."""
    module = types.ModuleType("pyannote.audio.core.task")

    class Problem(enum.Enum):
        BINARY_CLASSIFICATION = 0
        MONO_LABEL_CLASSIFICATION = 1
        MULTI_LABEL_CLASSIFICATION = 2
        REPRESENTATION = 3
        REGRESSION = 4

    class Resolution(enum.Enum):
        FRAME = 1
        CHUNK = 2

    @dataclasses.dataclass
    class Specifications:
        problem: Problem
        resolution: Resolution
        duration: float
        min_duration: float = None
        warm_up: tuple = (0.0, 0.0)
        classes: list = None
        powerset_max_classes: int = None
        permutation_invariant: bool = False

    for cls in (Problem, Resolution, Specifications):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    for name in ("pyannote", "pyannote.audio", "pyannote.audio.core"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[module.__name__] = module
    return module


def add_module(state, prefix, module):
    for name, tensor in module.state_dict().items():
        state[prefix + name] = tensor


def pyannet_state():
    """segmentation-3.0's PyanNet: SincNet (80 sinc filters, two 60-channel convolutions), a
    4-layer bidirectional LSTM of 128, two linear layers of 128 and a 7-class powerset head."""
    torch.manual_seed(3)
    state = collections.OrderedDict()
    add_module(state, "sincnet.wav_norm1d.", nn.InstanceNorm1d(1, affine=True))
    state["sincnet.conv1d.0.filterbank.low_hz_"] = torch.rand(40, 1)
    state["sincnet.conv1d.0.filterbank.band_hz_"] = torch.rand(40, 1)
    add_module(state, "sincnet.conv1d.1.", nn.Conv1d(80, 60, 5))
    add_module(state, "sincnet.conv1d.2.", nn.Conv1d(60, 60, 5))
    for i, channels in enumerate((80, 60, 60)):
        add_module(state, f"sincnet.norm1d.{i}.", nn.InstanceNorm1d(channels, affine=True))
    add_module(state, "lstm.", nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True, dropout=0.5))
    add_module(state, "linear.0.", nn.Linear(256, 128))
    add_module(state, "linear.1.", nn.Linear(128, 128))
    add_module(state, "classifier.", nn.Linear(128, 7))
    return state


def wespeaker_state():
    """WeSpeaker's ResNet34 (32 base channels, blocks 3-4-6-3, 80 fbank bins, statistics
    pooling, one 256-wide embedding layer) under pyannote's "resnet." prefix."""
    torch.manual_seed(4)
    state = collections.OrderedDict()
    add_module(state, "resnet.conv1.", nn.Conv2d(1, 32, 3, padding=1, bias=False))
    add_module(state, "resnet.bn1.", nn.BatchNorm2d(32))
    channels = 32
    for layer, (blocks, width, stride) in enumerate(((3, 32, 1), (4, 64, 2), (6, 128, 2), (3, 256, 2)), start=1):
        for b in range(blocks):
            prefix = f"resnet.layer{layer}.{b}."
            add_module(state, prefix + "conv1.", nn.Conv2d(channels, width, 3, stride if b == 0 else 1, 1, bias=False))
            add_module(state, prefix + "bn1.", nn.BatchNorm2d(width))
            add_module(state, prefix + "conv2.", nn.Conv2d(width, width, 3, 1, 1, bias=False))
            add_module(state, prefix + "bn2.", nn.BatchNorm2d(width))
            if b == 0 and (stride != 1 or channels != width):
                add_module(state, prefix + "shortcut.0.", nn.Conv2d(channels, width, 1, stride, bias=False))
                add_module(state, prefix + "shortcut.1.", nn.BatchNorm2d(width))
            channels = width
    add_module(state, "resnet.seg_1.", nn.Linear(5120, 256))  # mean and std of 256 x 10 bins
    return state


def lightning_checkpoint(state, module, class_name, hyper_parameters, specifications):
    """The dict pytorch-lightning saves, with pyannote.audio's on_save_checkpoint entry."""
    return {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.1.0", "state_dict": state,
            "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [], "hparams_name": "kwargs",
            "hyper_parameters": hyper_parameters,
            "pyannote.audio": {"versions": {"torch": "2.1.1", "pyannote.audio": "3.1.0"},
                               "architecture": {"module": module, "class": class_name},
                               "specifications": specifications}}


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
    hf_repo(out, "Systran/faster-whisper-base.en",
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
    hf_repo(out, "openai/whisper-base.en", {"config.json": os.path.join(hf_pt, "config.json"),
                                            "pytorch_model.bin": os.path.join(hf_pt, "pytorch_model.bin"),
                                            "model.safetensors": safetensors}, cache)
    # the repository holds both: steno reads the safetensors file first, as transformers does
    whisper("hf/hub/models--openai--whisper-base.en", "safetensors", "base.en", "float16")
    whisper(f"hf/hub/models--openai--whisper-base.en/snapshots/{COMMIT}/model.safetensors", "safetensors", "base.en",
            "float16")

    task = pyannote_classes()
    specifications = task.Specifications(problem=task.Problem.MONO_LABEL_CLASSIFICATION,
                                         resolution=task.Resolution.FRAME, duration=10.0,
                                         classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
                                         permutation_invariant=True)
    checkpoint = lightning_checkpoint(pyannet_state(), "pyannote.audio.models.segmentation.PyanNet", "PyanNet",
                                      {"linear": {"hidden_size": 128, "num_layers": 2},
                                       "lstm": {"hidden_size": 128, "num_layers": 4, "bidirectional": True,
                                                "monolithic": True, "dropout": 0.5, "batch_first": True},
                                       "num_channels": 1, "sample_rate": 16000, "sincnet": {"stride": 10}},
                                      specifications)
    staging = os.path.join(out, ".staging")
    os.makedirs(staging)
    torch.save(checkpoint, os.path.join(staging, "segmentation.bin"))
    _, snapshot = hf_repo(out, "pyannote/segmentation-3.0",
                          {"pytorch_model.bin": os.path.join(staging, "segmentation.bin")}, {})
    manifest["hf/hub/models--pyannote--segmentation-3.0"] = {
        "format": "pt", "model": "pyannote/segmentation-3.0", "precision": "float32", "architecture": "PyanNet"}
    manifest[f"hf/hub/models--pyannote--segmentation-3.0/snapshots/{COMMIT}/pytorch_model.bin"] = \
        manifest["hf/hub/models--pyannote--segmentation-3.0"]

    embedding = task.Specifications(problem=task.Problem.REPRESENTATION, resolution=task.Resolution.CHUNK,
                                    duration=3.0)
    checkpoint = lightning_checkpoint(wespeaker_state(), "pyannote.audio.models.embedding.wespeaker",
                                      "WeSpeakerResNet34",
                                      {"sample_rate": 16000, "num_channels": 1, "num_mel_bins": 80,
                                       "frame_length": 25, "frame_shift": 10, "dither": 0.0,
                                       "window_type": "hamming", "use_energy": False}, embedding)
    torch.save(checkpoint, os.path.join(staging, "wespeaker.bin"))
    hf_repo(out, "pyannote/wespeaker-voxceleb-resnet34-LM",
            {"pytorch_model.bin": os.path.join(staging, "wespeaker.bin")}, {})
    manifest["hf/hub/models--pyannote--wespeaker-voxceleb-resnet34-LM"] = {
        "format": "pt", "model": "pyannote/wespeaker-voxceleb-resnet34-LM", "precision": "float32",
        "architecture": "WeSpeakerResNet34"}
    shutil.rmtree(staging)  # the blobs are hard links (or copies) of these

    folder = os.path.join(out, "hf", "hub", "models--pyannote--speaker-diarization-3.1")
    os.makedirs(os.path.join(folder, "refs"))
    os.makedirs(os.path.join(folder, "snapshots", COMMIT))
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(COMMIT)
    with open(os.path.join(folder, "snapshots", COMMIT, "config.yaml"), "w") as f:
        f.write("version: 3.1.0\npipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n  params:\n"
                "    embedding: pyannote/wespeaker-voxceleb-resnet34-LM\n"
                "    segmentation: pyannote/segmentation-3.0\n")
    manifest["hf/hub/models--pyannote--speaker-diarization-3.1"] = {
        "format": "unknown", "model": "pyannote/speaker-diarization-3.1"}

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
