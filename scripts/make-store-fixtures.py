#!/usr/bin/python3
"""Builds a model-store tree of small stand-ins with real headers, and a manifest of what each is.

Usage: make-store-fixtures.py OUT_DIR [REAL_GGML]

The tree mimics a machine that holds one model in every layout users have:
  steno/ggml-base.en.bin            the real whisper.cpp file when REAL_GGML is given (symlink)
  whisper/medium.pt                 torch.save of openai-whisper's checkpoint dict (medium's dims,
                                    toy tensors in float16)
  hf/hub/models--Systran--faster-whisper-base/...  a CTranslate2 model.bin written to the
                                    published layout (binary version 6, WhisperSpec) with base's
                                    shapes; the big tensors' data is left out (nbytes 0)
  hf/hub/models--openai--whisper-tiny/...  model.safetensors (header + a few float16 tensors)
                                    and a transformers config.json
  hf/hub/models--pyannote--segmentation-3.0/...  torch.save of a Lightning-style checkpoint that
                                    names pyannote.audio and PyanNet, like the real one
  hf/hub/models--pyannote--speaker-diarization-3.1/...  the pipeline's config.yaml
  other/model.gguf                  a GGUF magic, which steno must refuse
The manifest (manifest.json) records, for each path, what an independent reader should report.
Written with torch and the formats' published layouts, never with steno's code.
"""
import json
import os
import shutil
import struct
import sys

import torch

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hf_snapshot(root, repo):
    folder = os.path.join(root, "hf", "hub", "models--" + repo.replace("/", "--"))
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(COMMIT)
    snapshot = os.path.join(folder, "snapshots", COMMIT)
    os.makedirs(snapshot, exist_ok=True)
    return folder, snapshot


def ct2_string(text):
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def ct2_variable(name, dims, dtype, data_bytes):
    out = ct2_string(name) + struct.pack("<B", len(dims)) + b"".join(struct.pack("<I", d) for d in dims)
    return out + struct.pack("<BI", dtype, len(data_bytes)) + data_bytes


def write_ct2(path, state, layers, mels, vocab):
    f16 = 4
    variables = [("encoder.conv1.weight", [state, mels, 3], f16, b""),
                 ("decoder.embeddings.weight", [vocab, state], f16, b""),
                 ("encoder.layer_norm.gamma", [state], f16, b"\0" * (2 * state))]
    for i in range(layers):
        variables.append((f"encoder.layer_{i}.ffn.linear_0.weight", [4 * state, state], f16, b""))
        variables.append((f"decoder.layer_{i}.ffn.linear_0.weight", [4 * state, state], f16, b""))
    variables.sort(key=lambda v: v[0])  # CTranslate2 writes variables in sorted order
    body = struct.pack("<I", 6) + ct2_string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    body += b"".join(ct2_variable(*v) for v in variables) + struct.pack("<I", 0)
    with open(path, "wb") as f:
        f.write(body)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out = sys.argv[1]
    real_ggml = sys.argv[2] if len(sys.argv) > 2 else ""
    shutil.rmtree(out, ignore_errors=True)
    manifest = {}
    os.makedirs(os.path.join(out, "steno"), exist_ok=True)
    if real_ggml and os.path.exists(real_ggml):
        link = os.path.join(out, "steno", "ggml-base.en.bin")
        if not os.path.lexists(link):
            os.symlink(real_ggml, link)
        manifest["steno/ggml-base.en.bin"] = {"format": "ggml", "model": "base.en", "precision": "float16",
                                              "usable": True}

    os.makedirs(os.path.join(out, "whisper"), exist_ok=True)
    dims = dict(n_mels=80, n_vocab=51865, n_audio_ctx=1500, n_audio_state=1024, n_audio_head=16, n_audio_layer=24,
                n_text_ctx=448, n_text_state=1024, n_text_head=16, n_text_layer=24)
    state = {"encoder.conv1.weight": torch.zeros(4, 80, 3, dtype=torch.float16),
             "decoder.token_embedding.weight": torch.zeros(8, 4, dtype=torch.float16)}
    torch.save({"dims": dims, "model_state_dict": state}, os.path.join(out, "whisper", "medium.pt"))
    manifest["whisper/medium.pt"] = {"format": "pt", "model": "medium", "precision": "float16"}

    folder, snapshot = hf_snapshot(out, "Systran/faster-whisper-base")
    write_ct2(os.path.join(snapshot, "model.bin"), 512, 6, 80, 51865)
    with open(os.path.join(snapshot, "config.json"), "w") as f:
        json.dump({"alignment_heads": [[3, 1]], "suppress_ids_begin": [220, 50257]}, f)
    manifest["hf/hub/models--Systran--faster-whisper-base"] = {"format": "ct2", "model": "base",
                                                               "precision": "float16"}
    manifest["hf/hub/models--Systran--faster-whisper-base/snapshots/%s/model.bin" % COMMIT] = {
        "format": "ct2", "model": "base", "precision": "float16"}

    folder, snapshot = hf_snapshot(out, "openai/whisper-tiny")
    write_safetensors(os.path.join(snapshot, "model.safetensors"), {
        "model.encoder.conv1.weight": torch.zeros(384, 80, 3, dtype=torch.float16),
        "model.encoder.layers.0.fc1.weight": torch.zeros(1536, 384, dtype=torch.float16),
        "model.encoder.layers.3.final_layer_norm.weight": torch.zeros(384, dtype=torch.float16),
        "model.decoder.layers.3.final_layer_norm.weight": torch.zeros(384, dtype=torch.float16)})
    with open(os.path.join(snapshot, "config.json"), "w") as f:
        json.dump({"model_type": "whisper", "d_model": 384, "encoder_layers": 4, "decoder_layers": 4,
                   "num_mel_bins": 80, "vocab_size": 51865, "torch_dtype": "float16"}, f)
    manifest["hf/hub/models--openai--whisper-tiny"] = {"format": "safetensors", "model": "tiny",
                                                       "precision": "F16"}

    folder, snapshot = hf_snapshot(out, "pyannote/segmentation-3.0")
    checkpoint = {"state_dict": {"sincnet.wav_norm1d.weight": torch.ones(1),
                                 "lstm.weight_ih_l0": torch.zeros(512, 60)},
                  "pyannote.audio": {"versions": {"torch": "2.0.0", "pyannote.audio": "3.0.0"},
                                     "architecture": {"module": "pyannote.audio.models.segmentation.PyanNet",
                                                      "class": "PyanNet"}}}
    torch.save(checkpoint, os.path.join(snapshot, "pytorch_model.bin"))
    manifest["hf/hub/models--pyannote--segmentation-3.0"] = {"format": "pt",
                                                             "model": "pyannote/segmentation-3.0",
                                                             "precision": "float32", "architecture": "PyanNet"}

    folder, snapshot = hf_snapshot(out, "pyannote/speaker-diarization-3.1")
    with open(os.path.join(snapshot, "config.yaml"), "w") as f:
        f.write("version: 3.1.0\npipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n  params:\n"
                "    embedding: pyannote/wespeaker-voxceleb-resnet34-LM\n"
                "    segmentation: pyannote/segmentation-3.0\n")
    manifest["hf/hub/models--pyannote--speaker-diarization-3.1"] = {
        "format": "unknown", "model": "pyannote/speaker-diarization-3.1"}

    os.makedirs(os.path.join(out, "other"), exist_ok=True)
    with open(os.path.join(out, "other", "model.gguf"), "wb") as f:
        f.write(b"GGUF" + struct.pack("<I", 3) + b"\0" * 16)
    manifest["other/model.gguf"] = {"format": "gguf", "model": None}

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
