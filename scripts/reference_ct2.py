#!/usr/bin/python3
"""Independent writer of CTranslate2 (faster-whisper) Whisper model directories (numpy only).

Written from CTranslate2's published format (python/ctranslate2/specs/model_spec.py
`_serialize`, `_alias_variables`, `_quantize`; specs/whisper_spec.py, transformer_spec.py,
common_spec.py; converters/transformers.py WhisperLoader), not from steno's C code. The weights
come from the official whisper.cpp base.en file through scripts/reference_ggml.py's reader.

  reference_ct2.py write GGML_MODEL QUANTIZATION OUT_DIR     (QUANTIZATION: float16 | int8)
  reference_ct2.py tiny QUANTIZATION OUT.bin
      a model.bin of a one-layer Whisper 8 wide with random weights: fuzzing seeds.

OUT_DIR receives model.bin (binary version 6, spec "WhisperSpec" revision 3), config.json,
vocabulary.json and preprocessor_config.json, written into a temporary folder that is renamed
into place at the end, so an interrupted run never leaves a half directory under the final name.

What follows the converter exactly: variable names ("/"-scoped, layers as layer_N, the
attention projections as linear_N), the fused self-attention Q|K|V with a zero-filled key bias,
cross-attention linear_1 = K|V, sorted variable order, duplicates aliased to the alphabetically
first copy (decoder/projection/weight -> decoder/embeddings/weight), the rank-0 configuration
variables, int8 as per-row symmetric scales 127/max|row| on the weights that have a *_scale
slot (linear layers and embeddings), float16 on everything else for "float16" and float32 for
"int8" (the converter loads the model in float32 unless asked for float16).

config.json: alignment_heads for base.en (openai's published list, as CTranslate2's converter
carries it), lang_ids, suppress_ids_begin [220, eot]. suppress_ids lists only the special
tokens HF's config suppresses: its text-token part needs a BPE encoder to reproduce, and steno
computes the non-speech tokens itself and ignores the field.
"""
import hashlib
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_ggml  # noqa: E402

DTYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}  # bfloat16 = 5
GELU = 3  # common_spec.Activation.GELU

# openai-whisper's LANGUAGES order (v2, 99 languages): the language tokens follow <|startoftranscript|>.
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la mi "
    "ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd "
    "gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su"
).split()
# (decoder layer, head) pairs for base.en, from openai-whisper's _ALIGNMENT_HEADS (v20230306).
BASE_EN_ALIGNMENT_HEADS = [[3, 3], [4, 7], [5, 1], [5, 5], [5, 7]]


def gpt2_unicode():
    """GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the rest map
    to U+0100 onwards in byte order."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


def vocabulary(ggml_vocab, n_vocab):
    """The token list the converter writes for an English-only model: the GPT-2 text tokens,
    the special tokens of HF's tokenizer in id order, then timestamps up to n_vocab."""
    table = gpt2_unicode()
    eot = 50256
    tokens = ["".join(table[b] for b in raw) for raw in ggml_vocab[:eot]]
    assert len(tokens) == eot
    tokens += ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += ["<|%s|>" % code for code in LANGUAGES]
    tokens += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
               "<|notimestamps|>"]
    tokens += ["<|%.2f|>" % (i * 0.02) for i in range(n_vocab - len(tokens))]
    assert len(tokens) == n_vocab and tokens[-1] == "<|30.00|>", (len(tokens), tokens[-1])
    return tokens


def ct2_variables(tensors, dims):
    """CTranslate2's WhisperSpec variables (float32 arrays, numpy scalars for the configuration)
    from canonical openai tensors."""
    t = tensors
    v = {}

    def linear(prefix, weight, bias):
        v[prefix + "/weight"] = weight
        if bias is not None:
            v[prefix + "/bias"] = bias
        v[prefix + "/keep_in_float32"] = np.int8(0)

    def norm(prefix, source):
        v[prefix + "/gamma"] = t[source + ".weight"]
        v[prefix + "/beta"] = t[source + ".bias"]

    def fused_qkv(prefix, source):
        q, k, val = (t["%s.%s.weight" % (source, p)] for p in ("query", "key", "value"))
        zero = np.zeros_like(t[source + ".query.bias"])
        linear(prefix, np.concatenate([q, k, val]),
               np.concatenate([t[source + ".query.bias"], zero, t[source + ".value.bias"]]))

    v["encoder/num_heads"] = np.int16(dims["n_audio_head"])
    for conv in ("conv1", "conv2"):
        v["encoder/%s/weight" % conv] = t["encoder.%s.weight" % conv]  # PyTorch [out, in, kernel]
        v["encoder/%s/bias" % conv] = t["encoder.%s.bias" % conv]
    v["encoder/position_encodings/encodings"] = t["encoder.positional_embedding"]
    norm("encoder/layer_norm", "encoder.ln_post")
    for side, n_layers in (("encoder", dims["n_audio_layer"]), ("decoder", dims["n_text_layer"])):
        for i in range(n_layers):
            ct2, src = "%s/layer_%d" % (side, i), "%s.blocks.%d" % (side, i)
            norm(ct2 + "/self_attention/layer_norm", src + ".attn_ln")
            fused_qkv(ct2 + "/self_attention/linear_0", src + ".attn")
            linear(ct2 + "/self_attention/linear_1", t[src + ".attn.out.weight"], t[src + ".attn.out.bias"])
            if side == "decoder":
                cross = src + ".cross_attn"
                norm(ct2 + "/attention/layer_norm", src + ".cross_attn_ln")
                linear(ct2 + "/attention/linear_0", t[cross + ".query.weight"], t[cross + ".query.bias"])
                zero = np.zeros_like(t[cross + ".value.bias"])
                linear(ct2 + "/attention/linear_1",
                       np.concatenate([t[cross + ".key.weight"], t[cross + ".value.weight"]]),
                       np.concatenate([zero, t[cross + ".value.bias"]]))
                linear(ct2 + "/attention/linear_2", t[cross + ".out.weight"], t[cross + ".out.bias"])
            norm(ct2 + "/ffn/layer_norm", src + ".mlp_ln")
            linear(ct2 + "/ffn/linear_0", t[src + ".mlp.0.weight"], t[src + ".mlp.0.bias"])
            linear(ct2 + "/ffn/linear_1", t[src + ".mlp.2.weight"], t[src + ".mlp.2.bias"])
    v["decoder/num_heads"] = np.int16(dims["n_text_head"])
    v["decoder/pre_norm"] = np.int8(1)
    v["decoder/activation"] = np.int8(GELU)
    v["decoder/alignment_layer"] = np.int16(-1)
    v["decoder/alignment_heads"] = np.int16(1)
    v["decoder/scale_embeddings"] = np.int8(0)
    v["decoder/alibi"] = np.int8(0)
    v["decoder/alibi_use_positive_positions"] = np.int8(0)
    v["decoder/scale_alibi"] = np.int8(0)
    v["decoder/start_from_zero_embedding"] = np.int8(0)
    v["decoder/embeddings/weight"] = t["decoder.token_embedding.weight"]
    v["decoder/position_encodings/encodings"] = t["decoder.positional_embedding"]
    norm("decoder/layer_norm", "decoder.ln")
    # proj_out is tied to the token embedding: the converter sets it, then aliases it away
    linear("decoder/projection", t["decoder.token_embedding.weight"].copy(), None)
    return v


def alias_duplicates(v):
    """Replaces each non-scalar variable equal to one earlier in sorted order by that name
    (element-wise equality, so -0.0 equals 0.0; hence the + 0.0 before hashing)."""
    first = {}
    aliases = {}
    for name in sorted(v):
        value = v[name]
        if np.ndim(value) == 0:
            continue
        key = (value.dtype.str, value.shape, hashlib.sha256((value + 0).tobytes()).hexdigest())
        if key in first and np.array_equal(v[first[key]], value):
            aliases[name] = first[key]
        else:
            first.setdefault(key, name)
    for name, target in aliases.items():
        v[name] = target
    return v


def quantizable(name):
    """Variables with a *_scale slot in the spec: LinearSpec.weight and EmbeddingsSpec.weight."""
    return name.endswith("/weight") and ("/linear_" in name or name.endswith("embeddings/weight")
                                         or name.endswith("projection/weight"))


def quantize(v, quantization):
    out = {}
    for name, value in v.items():
        if isinstance(value, str) or np.ndim(value) == 0:
            out[name] = value
        elif quantization == "int8" and quantizable(name):
            w = value.astype(np.float32)
            amax = np.amax(np.absolute(w), axis=1)
            amax[amax == 0] = 127.0
            scale = (np.float32(127.0) / amax).astype(np.float32)
            q = np.rint(w * scale[:, None]).astype(np.int8)
            out[name] = q
            out[name + "_scale"] = scale
        elif quantization == "float16":
            f16 = value.astype(np.float16)
            # the official weights are float16 at heart: the conversion must be exact
            assert np.array_equal(f16.astype(np.float32), value), name
            out[name] = f16
        else:
            out[name] = value.astype(np.float32)
    return out


def write_string(f, s):
    raw = s.encode("utf-8")
    f.write(struct.pack("<H", len(raw) + 1))
    f.write(raw + b"\0")


def write_model_bin(path, v):
    names = sorted(v)
    variables = [n for n in names if not isinstance(v[n], str)]
    aliases = [n for n in names if isinstance(v[n], str)]
    with open(path, "wb") as f:
        f.write(struct.pack("<I", 6))
        write_string(f, "WhisperSpec")
        f.write(struct.pack("<I", 3))
        f.write(struct.pack("<I", len(variables)))
        for name in variables:
            value = np.asarray(v[name])
            write_string(f, name)
            f.write(struct.pack("<B", value.ndim))
            for dim in value.shape:
                f.write(struct.pack("<I", dim))
            raw = value.astype(value.dtype.newbyteorder("<")).tobytes()
            f.write(struct.pack("<B", DTYPE_IDS[value.dtype.name]))
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
        f.write(struct.pack("<I", len(aliases)))
        for name in aliases:
            write_string(f, name)
            write_string(f, v[name])


def write(ggml_path, quantization, out_dir):
    _, hparams, _, ggml_vocab, records = reference_ggml.read_model(ggml_path)
    keys = ("n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer n_text_ctx n_text_state n_text_head "
            "n_text_layer n_mels").split()
    dims = dict(zip(keys, hparams))
    assert dims["n_vocab"] == 51864, "the vocabulary written here is the English-only one"
    tensors = {}
    for name, kind, shape, raw in records:
        values = reference_ggml.dequantize(kind, raw).reshape(shape)
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            values = values.reshape(-1)  # whisper.cpp stores them as [n_state, 1]
        tensors[name] = values
    v = quantize(alias_duplicates(ct2_variables(tensors, dims)), quantization)

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, ".%s.tmp%d" % (os.path.basename(out_dir), os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_model_bin(os.path.join(tmp, "model.bin"), v)
    eot = 50256
    sot = eot + 1
    n_lang = len(LANGUAGES)
    translate = sot + 1 + n_lang
    config = {
        "alignment_heads": BASE_EN_ALIGNMENT_HEADS,
        "lang_ids": list(range(sot + 1, sot + 1 + n_lang)),
        "suppress_ids": [sot, translate, translate + 1, translate + 2, translate + 3, translate + 4],
        "suppress_ids_begin": [220, eot],
    }
    with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(tmp, "vocabulary.json"), "w", encoding="utf-8") as f:
        json.dump(vocabulary(ggml_vocab, dims["n_vocab"]), f, indent=2)
    preprocessor = {"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor",
                    "feature_size": dims["n_mels"], "hop_length": 160, "n_fft": 400, "n_samples": 480000,
                    "nb_max_frames": 3000, "padding_side": "right", "padding_value": 0.0,
                    "processor_class": "WhisperProcessor", "return_attention_mask": False,
                    "sampling_rate": 16000}
    with open(os.path.join(tmp, "preprocessor_config.json"), "w", encoding="utf-8") as f:
        json.dump(preprocessor, f, indent=2)
    if os.path.isdir(out_dir):  # a concurrent run finished first
        shutil.rmtree(tmp)
    else:
        os.rename(tmp, out_dir)


def write_tiny(quantization, out):
    dims = dict(n_vocab=6, n_audio_ctx=4, n_audio_state=8, n_audio_head=2, n_audio_layer=1, n_text_ctx=4,
                n_text_state=8, n_text_head=2, n_text_layer=1, n_mels=4)
    rng = np.random.default_rng(1)
    s = 8
    shapes = {"encoder.conv1.weight": (s, 4, 3), "encoder.conv2.weight": (s, s, 3), "encoder.conv1.bias": (s,),
              "encoder.conv2.bias": (s,), "encoder.positional_embedding": (4, s), "encoder.ln_post.weight": (s,),
              "encoder.ln_post.bias": (s,), "decoder.token_embedding.weight": (6, s),
              "decoder.positional_embedding": (4, s), "decoder.ln.weight": (s,), "decoder.ln.bias": (s,)}
    for side in ("encoder", "decoder"):
        for attn in ("attn", "cross_attn") if side == "decoder" else ("attn",):
            p = "%s.blocks.0.%s" % (side, attn)
            shapes[p + "_ln.weight"] = shapes[p + "_ln.bias"] = (s,)
            for proj in ("query", "key", "value", "out"):
                shapes["%s.%s.weight" % (p, proj)] = (s, s)
                shapes["%s.%s.bias" % (p, proj)] = (s,)
        p = "%s.blocks.0." % side
        shapes[p + "mlp_ln.weight"] = shapes[p + "mlp_ln.bias"] = (s,)
        shapes[p + "mlp.0.weight"], shapes[p + "mlp.0.bias"] = (4 * s, s), (4 * s,)
        shapes[p + "mlp.2.weight"], shapes[p + "mlp.2.bias"] = (s, 4 * s), (s,)
    # values exactly representable in float16, as the official weights are
    tensors = {n: rng.standard_normal(shape).astype(np.float16).astype(np.float32) for n, shape in shapes.items()}
    v = quantize(alias_duplicates(ct2_variables(tensors, dims)), quantization)
    write_model_bin(out, v)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "write" and sys.argv[3] in ("float16", "int8"):
        write(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "tiny" and sys.argv[2] in ("float16", "int8"):
        write_tiny(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
