#!/usr/bin/python3
"""Independent writer of Hugging Face transformers Whisper folders and of a Hugging Face cache.

Written from the published formats (safetensors' format description: u64 little-endian header
length, a JSON header padded with spaces, tensors in row-major order after it; transformers'
Whisper names, config.json and generation_config.json; huggingface_hub's cache layout), not from
steno's C code. The weights come from the official whisper.cpp base.en file through
scripts/reference_ggml.py's numpy reader; the vocabulary from the ggml file's token bytes.

  reference_hf.py write GGML_BASE_EN CT2_FLOAT16_DIR OUT_DIR
      OUT_DIR/hf-whisper-base.en/          model.safetensors (every tensor F16, as ggml's f32
                                           tensors are f16 values widened), config.json,
                                           generation_config.json, vocab.json, added_tokens.json,
                                           preprocessor_config.json
      OUT_DIR/hf-whisper-base.en-sharded/  the same weights as F32 in two shards (encoder, then
                                           decoder with the tied proj_out.weight) and
                                           model.safetensors.index.json; tokenizer.json in place
                                           of vocab.json
      OUT_DIR/hf-cache/hub/                models--openai--whisper-base.en (the first folder) and
                                           models--Systran--faster-whisper-base.en (CT2_FLOAT16_DIR)
                                           in the cache layout: blobs/<sha256> for large files and
                                           <git blob sha1> for small ones, refs/main holding the
                                           commit, snapshots/<commit>/<file> -> ../../blobs/<hash>
      Each folder is written under a temporary name and renamed into place; existing ones are kept.
  reference_hf.py fuzz-seeds DIR
      the seed corpus of fuzz/fuzz_safetensors: a one-layer Whisper 8 wide with random weights
      (tiny.safetensors), an empty file of the format, and one tensor of several dtypes.
"""
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_ct2  # noqa: E402  (gpt2_unicode, LANGUAGES: published tables, no steno code)
import reference_ggml  # noqa: E402

# openai-whisper's base.en alignment heads, as Hugging Face's generation_config.json lists them.
BASE_EN_ALIGNMENT_HEADS = [[3, 3], [4, 7], [5, 1], [5, 5], [5, 7]]
DIM_NAMES = ["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
             "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels"]
DTYPE_NAMES = {np.dtype("<f2"): "F16", np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("?"): "BOOL",
               np.dtype("<i8"): "I64", np.dtype("u1"): "U8"}

# transformers' WhisperForConditionalGeneration names (convert_openai_to_hf.py's mapping reversed).
IN_LAYER = {"attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj", "attn.value": "self_attn.v_proj",
            "attn.out": "self_attn.out_proj", "attn_ln": "self_attn_layer_norm",
            "cross_attn.query": "encoder_attn.q_proj", "cross_attn.key": "encoder_attn.k_proj",
            "cross_attn.value": "encoder_attn.v_proj", "cross_attn.out": "encoder_attn.out_proj",
            "cross_attn_ln": "encoder_attn_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2", "mlp_ln": "final_layer_norm"}
TOP_LEVEL = {"encoder.positional_embedding": "encoder.embed_positions.weight",
             "encoder.ln_post.weight": "encoder.layer_norm.weight", "encoder.ln_post.bias": "encoder.layer_norm.bias",
             "decoder.token_embedding.weight": "decoder.embed_tokens.weight",
             "decoder.positional_embedding": "decoder.embed_positions.weight",
             "decoder.ln.weight": "decoder.layer_norm.weight", "decoder.ln.bias": "decoder.layer_norm.bias"}


def hf_name(name):
    if name in TOP_LEVEL:
        return "model." + TOP_LEVEL[name]
    parts = name.split(".")
    if parts[1] == "blocks":
        module, kind = ".".join(parts[3:-1]), parts[-1]
        return "model.%s.layers.%s.%s.%s" % (parts[0], parts[2], IN_LAYER[module], kind)
    return "model." + name  # conv1, conv2


def whisper_tensors(ggml_path):
    """(dims, vocabulary bytes, [(HF name, float16 array)]) in the ggml file's order."""
    _, hparams, _, vocab, tensors = reference_ggml.read_model(ggml_path)
    dims = {name: int(hparams[i]) for i, name in enumerate(DIM_NAMES)}
    out = []
    for name, kind, shape, raw in tensors:
        values = reference_ggml.dequantize(kind, raw)
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            raise SystemExit("%s: not representable in f16" % name)
        if name.endswith(".bias") and len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]  # whisper.cpp stores conv biases as [n_state, 1]
        out.append((hf_name(name), half.reshape(shape)))
    return dims, vocab, out


def write_safetensors(path, tensors, metadata=None):
    """tensors: [(name, numpy array)], written in order, back to back after the header."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, array in tensors:
        size = array.size * array.itemsize
        header[name] = {"dtype": DTYPE_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, array in tensors:
            f.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
    return offset


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def special_tokens(n_vocab):
    """The English-only model's added tokens from <|endoftext|> (50256) on, in id order."""
    tokens = ["<|endoftext|>", "<|startoftranscript|>"] + ["<|%s|>" % c for c in reference_ct2.LANGUAGES]
    tokens += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
               "<|notimestamps|>"]
    first = 50256
    tokens += ["<|%.2f|>" % (i * 0.02) for i in range(n_vocab - first - len(tokens))]
    assert tokens[-1] == "<|30.00|>"
    return {token: first + i for i, token in enumerate(tokens)}


def text_vocabulary(vocab):
    table = reference_ct2.gpt2_unicode()
    return {"".join(table[b] for b in raw): i for i, raw in enumerate(vocab[:50256])}


def configs(dims):
    config = {
        "_name_or_path": "openai/whisper-base.en", "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper", "activation_function": "gelu", "scale_embedding": False,
        "d_model": dims["n_audio_state"], "encoder_layers": dims["n_audio_layer"],
        "encoder_attention_heads": dims["n_audio_head"], "decoder_layers": dims["n_text_layer"],
        "decoder_attention_heads": dims["n_text_head"], "encoder_ffn_dim": 4 * dims["n_audio_state"],
        "decoder_ffn_dim": 4 * dims["n_text_state"], "num_mel_bins": dims["n_mels"],
        "max_source_positions": dims["n_audio_ctx"], "max_target_positions": dims["n_text_ctx"],
        "vocab_size": dims["n_vocab"], "bos_token_id": 50257, "eos_token_id": 50256, "pad_token_id": 50256,
        "decoder_start_token_id": 50257, "torch_dtype": "float32",
    }
    generation = {
        "alignment_heads": BASE_EN_ALIGNMENT_HEADS, "begin_suppress_tokens": [220, 50256],
        "bos_token_id": 50257, "decoder_start_token_id": 50257, "eos_token_id": 50256, "pad_token_id": 50256,
        "is_multilingual": False, "max_initial_timestamp_index": 50, "max_length": 448,
        "no_timestamps_token_id": 50362, "prev_sot_token_id": 50360, "return_timestamps": False,
    }
    preprocessor = {"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor",
                    "feature_size": dims["n_mels"], "hop_length": 160, "n_fft": 400, "n_samples": 480000,
                    "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
                    "processor_class": "WhisperProcessor", "return_attention_mask": False, "sampling_rate": 16000}
    return config, generation, preprocessor


def write_folders(ggml_path, out_dir):
    dims, vocab, tensors = whisper_tensors(ggml_path)
    config, generation, preprocessor = configs(dims)
    text = text_vocabulary(vocab)
    specials = special_tokens(dims["n_vocab"])

    def common(folder):
        write_json(os.path.join(folder, "config.json"), config)
        write_json(os.path.join(folder, "generation_config.json"), generation)
        write_json(os.path.join(folder, "preprocessor_config.json"), preprocessor)

    def single(folder):
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
        common(folder)
        write_json(os.path.join(folder, "vocab.json"), dict(text, **{"<|endoftext|>": 50256}))
        write_json(os.path.join(folder, "added_tokens.json"), {k: v for k, v in specials.items() if v > 50256})

    def sharded(folder):
        wide = [(name, array.astype(np.float32)) for name, array in tensors]
        encoder = [t for t in wide if t[0].startswith("model.encoder.")]
        decoder = [t for t in wide if not t[0].startswith("model.encoder.")]
        embedding = dict(decoder)["model.decoder.embed_tokens.weight"]
        decoder.append(("proj_out.weight", embedding))  # tied: the same values stored again
        shards = [("model-00001-of-00002.safetensors", encoder), ("model-00002-of-00002.safetensors", decoder)]
        total, weight_map = 0, {}
        for file, part in shards:
            total += write_safetensors(os.path.join(folder, file), part, {"format": "pt"})
            weight_map.update({name: file for name, _ in part})
        write_json(os.path.join(folder, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total}, "weight_map": weight_map})
        common(folder)
        added = [{"id": i, "content": t, "special": True} for t, i in specials.items()]
        write_json(os.path.join(folder, "tokenizer.json"),
                   {"version": "1.0", "added_tokens": added,
                    "model": {"type": "BPE", "vocab": dict(text, **{"<|endoftext|>": 50256}), "merges": []}})

    for name, write in (("hf-whisper-base.en", single), ("hf-whisper-base.en-sharded", sharded)):
        atomic_folder(os.path.join(out_dir, name), write)


def atomic_folder(final, write):
    if os.path.isdir(final):
        return
    tmp = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=".tmp-" + os.path.basename(final) + "-")
    try:
        write(tmp)
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def blob_name(path):
    """huggingface_hub names LFS blobs by their SHA-256 and small git files by git's blob SHA-1."""
    data = open(path, "rb").read()
    if len(data) >= 1 << 20:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def cache_repo(hub, repo_id, source_folder):
    repo = os.path.join(hub, "models--" + repo_id.replace("/", "--"))
    files = sorted(f for f in os.listdir(source_folder) if os.path.isfile(os.path.join(source_folder, f)))
    commit = hashlib.sha1(("".join(files) + repo_id).encode()).hexdigest()  # stands in for the git commit
    for sub in ("blobs", "refs", os.path.join("snapshots", commit)):
        os.makedirs(os.path.join(repo, sub))
    for file in files:
        source = os.path.join(source_folder, file)
        blob = os.path.join(repo, "blobs", blob_name(source))
        try:
            os.link(source, blob)  # the cache's blobs are plain files: a hard link saves the copy
        except OSError:
            shutil.copyfile(source, blob)
        os.symlink(os.path.join("..", "..", "blobs", os.path.basename(blob)),
                   os.path.join(repo, "snapshots", commit, file))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(commit)  # huggingface_hub writes the bare commit, no newline
    os.makedirs(os.path.join(repo, ".no_exist", commit))
    open(os.path.join(repo, ".no_exist", commit, "tokenizer_config.json"), "w").close()


def write_cache(out_dir, ct2_folder):
    def write(tmp):
        hub = os.path.join(tmp, "hub")
        os.makedirs(os.path.join(hub, ".locks"))
        cache_repo(hub, "openai/whisper-base.en", os.path.join(out_dir, "hf-whisper-base.en"))
        cache_repo(hub, "Systran/faster-whisper-base.en", ct2_folder)
    atomic_folder(os.path.join(out_dir, "hf-cache"), write)


def write_tiny(out):
    d, mels, actx, tctx, vocab = 8, 4, 4, 4, 6
    rng = np.random.default_rng(1)
    shapes = [("model.encoder.conv1.weight", (d, mels, 3)), ("model.encoder.conv1.bias", (d,)),
              ("model.encoder.conv2.weight", (d, d, 3)), ("model.encoder.conv2.bias", (d,)),
              ("model.encoder.embed_positions.weight", (actx, d))]
    for side in ("encoder", "decoder"):
        modules = ["self_attn"] + (["encoder_attn"] if side == "decoder" else [])
        p = "model.%s.layers.0." % side
        for m in modules:
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                shapes.append((p + m + "." + proj + ".weight", (d, d)))
                if proj != "k_proj":
                    shapes.append((p + m + "." + proj + ".bias", (d,)))
            shapes += [(p + m + "_layer_norm.weight", (d,)), (p + m + "_layer_norm.bias", (d,))]
        shapes += [(p + "fc1.weight", (4 * d, d)), (p + "fc1.bias", (4 * d,)), (p + "fc2.weight", (d, 4 * d)),
                   (p + "fc2.bias", (d,)), (p + "final_layer_norm.weight", (d,)), (p + "final_layer_norm.bias", (d,))]
        if side == "encoder":
            shapes += [("model.encoder.layer_norm.weight", (d,)), ("model.encoder.layer_norm.bias", (d,)),
                       ("model.decoder.embed_tokens.weight", (vocab, d)),
                       ("model.decoder.embed_positions.weight", (tctx, d))]
    shapes += [("model.decoder.layer_norm.weight", (d,)), ("model.decoder.layer_norm.bias", (d,))]
    tensors = [(n, rng.standard_normal(s).astype(np.float16 if len(s) > 1 else np.float32)) for n, s in shapes]
    write_safetensors(out, tensors, {"format": "pt"})


def write_seeds(folder):
    os.makedirs(folder, exist_ok=True)
    write_tiny(os.path.join(folder, "tiny.safetensors"))
    write_safetensors(os.path.join(folder, "empty.safetensors"), [])
    arrays = [("a", np.arange(4, dtype="<f2").reshape(2, 2)), ("b", np.ones(2, dtype="<f4")),
              ("c", np.zeros(1, dtype="<f8")), ("d", np.zeros((0, 3), dtype="?")), ("e", np.array(7, dtype="<i8")),
              ("f", np.arange(3, dtype="u1"))]
    write_safetensors(os.path.join(folder, "dtypes.safetensors"), arrays, {"format": "pt"})


def main():
    if sys.argv[1] == "fuzz-seeds":
        write_seeds(sys.argv[2])
        return
    if sys.argv[1] != "write" or len(sys.argv) != 5:
        raise SystemExit(__doc__)
    ggml_path, ct2_folder, out_dir = sys.argv[2:5]
    os.makedirs(out_dir, exist_ok=True)
    write_folders(ggml_path, out_dir)
    write_cache(out_dir, ct2_folder)


if __name__ == "__main__":
    main()
