// reference_onnx.mjs — runs Xenova's int8 ONNX export of a Whisper model with onnxruntime-node:
// the golden source that the multilingual weights steno loads (scripts/onnx_to_whisper.py
// dequantized them into a ggml file) are checked against, independently of both the converter
// and steno. The graphs quantize activations on the fly (DynamicQuantizeLinear) as well, so
// their numbers approximate the float network rather than equal it.
//
//   node reference_onnx.mjs MODEL_DIR REF_DIR
//
// MODEL_DIR: encoder_model_quantized.onnx, decoder_model_merged_quantized.onnx, config.json.
// REF_DIR holds the inputs scripts/reference_whisper.py wrote: whisper-mel.f32 ([n_mels][3000])
// and whisper-tokens.i32; this adds, as raw little-endian float32:
//   onnx-encoder.f32  [1500][d]        the encoder's last_hidden_state
//   onnx-logits.f32   [L][n_vocab]     logits after each prefix of the tokens (one uncached pass)
// onnxruntime-node is found through STENO_NODE_DIR (its npm install prefix).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [modelDir, refDir] = process.argv.slice(2);
if (!modelDir || !refDir) {
  console.error('usage: node reference_onnx.mjs MODEL_DIR REF_DIR');
  process.exit(2);
}
const require = createRequire(path.join(process.env.STENO_NODE_DIR ?? '.', 'node_modules', 'x.js'));
const ort = require('onnxruntime-node');

const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
const nMels = config.num_mel_bins;
const nFrames = 2 * config.max_source_positions;
const nHead = config.decoder_attention_heads;
const dHead = config.d_model / nHead;

function readArray(name, Type) {
  const bytes = fs.readFileSync(path.join(refDir, name));
  return new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function writeArray(name, array) {
  const file = path.join(refDir, name);
  fs.writeFileSync(file + '.tmp', Buffer.from(array.buffer, array.byteOffset, array.byteLength));
  fs.renameSync(file + '.tmp', file);
}

const mel = readArray('whisper-mel.f32', Float32Array);
const tokens = readArray('whisper-tokens.i32', Int32Array);
if (mel.length !== nMels * nFrames) throw new Error(`whisper-mel.f32 has ${mel.length} values, expected ${nMels * nFrames}`);

const options = { intraOpNumThreads: 2, interOpNumThreads: 1 };
const encoder = await ort.InferenceSession.create(path.join(modelDir, 'encoder_model_quantized.onnx'), options);
const { last_hidden_state: audio } = await encoder.run({
  input_features: new ort.Tensor('float32', mel, [1, nMels, nFrames]),
});

// The merged decoder without a cache: use_cache_branch false, and every past key/value empty.
const decoder = await ort.InferenceSession.create(path.join(modelDir, 'decoder_model_merged_quantized.onnx'), options);
const feeds = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
  encoder_hidden_states: audio,
  use_cache_branch: new ort.Tensor('bool', [false], [1]),
};
for (const name of decoder.inputNames) {
  if (name.startsWith('past_key_values.')) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, nHead, 0, dHead]);
}
const { logits } = await decoder.run(feeds, ['logits']);
const nVocab = logits.dims[2];
if (logits.dims[1] !== tokens.length || nVocab !== config.vocab_size) {
  throw new Error(`logits have shape ${logits.dims}, expected [1, ${tokens.length}, ${config.vocab_size}]`);
}

writeArray('onnx-encoder.f32', audio.data);
writeArray('onnx-logits.f32', logits.data);
const argmax = [];
for (let i = 0; i < tokens.length; i++) {
  const row = logits.data.subarray(i * nVocab, (i + 1) * nVocab);
  let best = 0;
  for (let v = 1; v < nVocab; v++) if (row[v] > row[best]) best = v;
  argmax.push(best);
}
console.log(`reference_onnx: ${path.basename(modelDir)} tokens ${Array.from(tokens)} argmax ${argmax}`);
