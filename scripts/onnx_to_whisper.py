#!/usr/bin/python3
"""Multilingual Whisper weights for steno's tests, from Xenova's int8 ONNX exports.

The only official multilingual weights reachable here are openai whisper-tiny and whisper-base
as transformers.js ships them: an encoder and a merged decoder (ONNX opset 11) whose weights
were quantized by onnxruntime's dynamic quantizer. This script reads both graphs with
Debian's python3-onnx, dequantizes every weight initializer to float32, renames it from the
Hugging Face module path to openai-whisper's canonical name and writes a whisper.cpp ggml file
(the layout of whisper.cpp's convert-pt-to-ggml.py, as scripts/reference_ggml.py reads it).

  onnx_to_whisper.py MODEL_DIR MEL_SOURCE.bin OUT.bin

MODEL_DIR holds encoder_model_quantized.onnx, decoder_model_merged_quantized.onnx,
config.json and vocab.json (scripts/fetch-models tiny|base). MEL_SOURCE is any official ggml
file: its 80-band mel filter bank (librosa's Slaney bank, the same for every Whisper model with
80 mels) is copied as is. The output is written to OUT.bin.tmp<pid> and renamed into place.

How the exports store weights (learnt from the graphs, and checked here node by node):
  * Linear layers: MatMulInteger(activation_u8, W_quantized, activation_zp, W_zero_point),
    then Cast and a Mul by (activation scale x W_scale) from a node "<path>/MatMul_quant_scales_mul".
    W is [in, out] (y = x @ W), the transpose of PyTorch's Linear weight [out, in]. The node's
    name "/<module path>/MatMul_quant" names the module. Biases stay float, under their names.
  * conv1 / conv2: ConvInteger with the weight in PyTorch order [out, in, kernel].
  * The token embedding: uint8, dequantized by DequantizeLinear after the Gather; the output
    projection (tied to the embedding, as in openai-whisper) reuses the same initializer.
  * The merged decoder is one If node (use_cache_branch) whose two branches share the
    initializers (suffix "_merged_0"); both branches are walked and must agree.
Dequantization follows the ONNX operators: x = (q - zero_point) * scale, with per-tensor scales
(a scalar) or per-axis ones (one per output column of W, or per output channel of a conv).
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

GGML_MAGIC = 0x67676D6C
N_TEXT_TOKENS = 50257  # the multilingual vocabulary's text tokens; <|endoftext|> is 50257

# Hugging Face module names (after "model.decoder." / the encoder's bare names) to openai-whisper's.
BLOCK_PARTS = {
    "self_attn.q_proj": "attn.query", "self_attn.k_proj": "attn.key", "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out", "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query", "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value", "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0", "fc2": "mlp.2", "final_layer_norm": "mlp_ln",
}
TOP_PARTS = {
    "encoder": {"conv1": "conv1", "conv2": "conv2", "embed_positions": "positional_embedding",
                "layer_norm": "ln_post"},
    "decoder": {"embed_tokens": "token_embedding", "embed_positions": "positional_embedding",
                "layer_norm": "ln"},
}


def fail(message):
    raise SystemExit("onnx_to_whisper: " + message)


def canonical(side, module, leaf):
    """openai-whisper's name of parameter `leaf` ("weight"/"bias") of HF module `module`."""
    if module.startswith("model.decoder."):
        module = module[len("model.decoder."):]
    if module.startswith("layers."):
        _, index, part = module.split(".", 2)
        if part not in BLOCK_PARTS:
            fail("unknown %s block module %r" % (side, module))
        name = "%s.blocks.%s.%s" % (side, index, BLOCK_PARTS[part])
    elif module in TOP_PARTS[side]:
        name = "%s.%s" % (side, TOP_PARTS[side][module])
    else:
        fail("unknown %s module %r" % (side, module))
    # positional embeddings are bare parameters in openai-whisper, not modules
    return name if name.endswith("positional_embedding") else name + "." + leaf


def all_nodes(graph):
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(attribute.g)


def dequantize(q, scale, zero_point, axis):
    """ONNX's (q - zero_point) * scale; per-axis parameters broadcast along `axis`."""
    q = q.astype(np.float32)
    scale = scale.astype(np.float32)
    zero_point = zero_point.astype(np.float32)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = scale.size
        if q.shape[axis] != scale.size or zero_point.size not in (1, scale.size):
            fail("per-axis parameters of %d values for a weight of shape %s" % (scale.size, q.shape))
        scale = scale.reshape(shape)
        zero_point = zero_point.reshape(shape if zero_point.size > 1 else [1] * q.ndim)
    elif scale.size != 1 or zero_point.size != 1:
        fail("unsupported quantization parameters of shapes %s / %s" % (scale.shape, zero_point.shape))
    return (q - zero_point) * scale


class Graph:
    """One ONNX file's weights, dequantized, under openai-whisper's names."""

    def __init__(self, path, side):
        self.path = path
        self.side = side
        model = onnx.load(path)
        self.init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.nodes = list(all_nodes(model.graph))
        self.by_name = {}
        for node in self.nodes:
            self.by_name.setdefault(node.name, []).append(node)
        self.weights = {}
        self.used = set()

    def put(self, name, array, sources):
        if name in self.weights:
            # the decoder's two branches quantize the same module from the same initializers
            if not np.array_equal(self.weights[name], array):
                fail("%s: two different initializers for %s" % (self.path, name))
            return
        self.weights[name] = array
        self.used.update(sources)

    def scale_of(self, path, op):
        """The weight scale input of the quantizer's "<path>/<op>_quant_scales_mul" node."""
        muls = self.by_name.get("/%s/%s_quant_scales_mul" % (path, op))
        if not muls:
            fail("%s: no scales node for /%s/%s" % (self.path, path, op))
        scales = {m.input[1] for m in muls}
        if len(scales) != 1 or next(iter(scales)) not in self.init:
            fail("%s: /%s/%s has weight scales %s" % (self.path, path, op, sorted(scales)))
        return next(iter(scales))

    def collect(self):
        for node in self.nodes:
            if node.op_type in ("MatMulInteger", "ConvInteger"):
                op = "MatMul" if node.op_type == "MatMulInteger" else "Conv"
                suffix = "/%s_quant" % op
                if not node.name.startswith("/") or not node.name.endswith(suffix):
                    fail("%s: unexpected %s node name %r" % (self.path, node.op_type, node.name))
                path = node.name[1:-len(suffix)]
                module = path.replace("/", ".")
                q_name, zp_name = node.input[1], node.input[3]
                scale_name = self.scale_of(path, op)
                for n in (q_name, zp_name):
                    if n not in self.init:
                        fail("%s: %s input %r is not an initializer" % (self.path, node.name, n))
                if op == "MatMul":
                    w = dequantize(self.init[q_name], self.init[scale_name], self.init[zp_name], axis=1).T
                else:
                    w = dequantize(self.init[q_name], self.init[scale_name], self.init[zp_name], axis=0)
                self.put(canonical(self.side, module, "weight"), np.ascontiguousarray(w),
                         (q_name, zp_name, scale_name))
            elif node.op_type == "Gather" and node.input[0] in self.init and node.input[0].endswith("_quantized"):
                # the token embedding: Gather of uint8 rows, then DequantizeLinear of the rows
                q_name = node.input[0]
                # (each branch of the merged decoder has its own copy of this pair of nodes)
                params = {tuple(n.input[1:3]) for n in self.nodes
                          if n.op_type == "DequantizeLinear" and n.input[0] == node.output[0]}
                if len(params) != 1 or not node.name.endswith("/Gather"):
                    fail("%s: cannot follow the quantized Gather %r" % (self.path, node.name))
                scale_name, zp_name = next(iter(params))
                module = node.name[1:-len("/Gather")].replace("/", ".")
                w = dequantize(self.init[q_name], self.init[scale_name], self.init[zp_name], axis=0)
                self.put(canonical(self.side, module, "weight"), w, (q_name, zp_name, scale_name))
        for name, array in self.init.items():
            if name in self.used or array.dtype != np.float32 or array.ndim == 0:
                continue
            if name.endswith("_reshape_shape") or "/" in name:
                continue  # graph constants, not parameters
            hf = name[:-len("_merged_0")] if name.endswith("_merged_0") else name
            module, leaf = hf.rsplit(".", 1)
            if leaf not in ("weight", "bias"):
                fail("%s: unexpected float initializer %r" % (self.path, name))
            self.put(canonical(self.side, module, leaf), array.astype(np.float32), (name,))
        left = sorted(n for n, a in self.init.items() if n not in self.used and a.dtype == np.uint8 and a.ndim > 0)
        if left:
            fail("%s: quantized initializers not mapped to a module: %s" % (self.path, left[:5]))
        return self.weights


def byte_decoder():
    """GPT-2's byte-to-unicode table, inverted: the printable character each byte became."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def text_tokens(vocab_path):
    vocab = json.load(open(vocab_path, encoding="utf-8"))
    by_id = {i: token for token, i in vocab.items()}
    decode = byte_decoder()
    out = []
    for i in range(N_TEXT_TOKENS):
        if i not in by_id:
            fail("%s: no token with id %d" % (vocab_path, i))
        out.append(bytes(decode[c] for c in by_id[i]))
    if by_id.get(N_TEXT_TOKENS) != "<|endoftext|>":
        fail("%s: id %d is %r, expected <|endoftext|>" % (vocab_path, N_TEXT_TOKENS, by_id.get(N_TEXT_TOKENS)))
    return out


def mel_filters(path):
    data = open(path, "rb").read()
    if struct.unpack_from("<I", data, 0)[0] != GGML_MAGIC:
        fail(path + ": not a ggml file")
    n_mel, n_fft = struct.unpack_from("<2i", data, 48)
    if (n_mel, n_fft) != (80, 201):
        fail("%s: mel filters are %dx%d, expected 80x201" % (path, n_mel, n_fft))
    return data[48:56 + 4 * n_mel * n_fft]


def expected_shapes(c):
    d, m, v = c["d_model"], c["num_mel_bins"], c["vocab_size"]
    shapes = {
        "encoder.conv1.weight": (d, m, 3), "encoder.conv1.bias": (d,),
        "encoder.conv2.weight": (d, d, 3), "encoder.conv2.bias": (d,),
        "encoder.positional_embedding": (c["max_source_positions"], d),
        "encoder.ln_post.weight": (d,), "encoder.ln_post.bias": (d,),
        "decoder.token_embedding.weight": (v, d),
        "decoder.positional_embedding": (c["max_target_positions"], d),
        "decoder.ln.weight": (d,), "decoder.ln.bias": (d,),
    }
    for side, n_layers, ffn in (("encoder", c["encoder_layers"], c["encoder_ffn_dim"]),
                                ("decoder", c["decoder_layers"], c["decoder_ffn_dim"])):
        for i in range(n_layers):
            b = "%s.blocks.%d." % (side, i)
            attns = ("attn", "cross_attn") if side == "decoder" else ("attn",)
            for a in attns:
                for p in ("query", "key", "value", "out"):
                    shapes[b + a + "." + p + ".weight"] = (d, d)
                for p in ("query", "value", "out"):
                    shapes[b + a + "." + p + ".bias"] = (d,)
                shapes[b + a + "_ln.weight"] = shapes[b + a + "_ln.bias"] = (d,)
            shapes[b + "mlp.0.weight"], shapes[b + "mlp.0.bias"] = (ffn, d), (ffn,)
            shapes[b + "mlp.2.weight"], shapes[b + "mlp.2.bias"] = (d, ffn), (d,)
            shapes[b + "mlp_ln.weight"] = shapes[b + "mlp_ln.bias"] = (d,)
    return shapes


def write_ggml(out, config, filters, vocab, weights):
    c = config
    hparams = (c["vocab_size"], c["max_source_positions"], c["d_model"], c["encoder_attention_heads"],
               c["encoder_layers"], c["max_target_positions"], c["d_model"], c["decoder_attention_heads"],
               c["decoder_layers"], c["num_mel_bins"], 1)
    tmp = "%s.tmp%d" % (out, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I11i", GGML_MAGIC, *hparams))
        f.write(filters)
        f.write(struct.pack("<i", len(vocab)))
        for token in vocab:
            f.write(struct.pack("<I", len(token)) + token)
        for name in sorted(weights):
            w = weights[name]
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                w = w.reshape(-1, 1)  # whisper.cpp stores the conv biases as [n_state, 1]
            # convert-pt-to-ggml.py: f16 for matrices and conv kernels, f32 for the rest
            f16 = w.ndim >= 2 and "positional_embedding" not in name and not name.endswith("conv1.bias") \
                and not name.endswith("conv2.bias")
            data = w.astype("<f2" if f16 else "<f4")
            ne = list(reversed(w.shape))
            name_bytes = name.encode()
            f.write(struct.pack("<3i", len(ne), len(name_bytes), 1 if f16 else 0))
            f.write(struct.pack("<%di" % len(ne), *ne))
            f.write(name_bytes)
            f.write(data.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, mel_source, out = sys.argv[1:]
    config = json.load(open(os.path.join(model_dir, "config.json")))
    weights = Graph(os.path.join(model_dir, "encoder_model_quantized.onnx"), "encoder").collect()
    decoder = Graph(os.path.join(model_dir, "decoder_model_merged_quantized.onnx"), "decoder").collect()
    weights.update(decoder)
    shapes = expected_shapes(config)
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    if missing or extra:
        fail("tensors missing %s, unexpected %s" % (missing[:5], extra[:5]))
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            fail("%s has shape %s, expected %s" % (name, weights[name].shape, shape))
    write_ggml(out, config, mel_filters(mel_source), text_tokens(os.path.join(model_dir, "vocab.json")), weights)
    print("onnx_to_whisper: wrote %s (%d tensors)" % (out, len(weights)))


if __name__ == "__main__":
    main()
