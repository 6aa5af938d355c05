// reference_vad.mjs — Silero VAD speech probabilities from onnxruntime-node running the ONNX
// file itself: the golden numbers tests/test_vad_golden.c compares steno's C network with.
//
//   STENO_NODE_DIR=<onnxruntime-node prefix> node reference_vad.mjs MODEL.onnx AUDIO.wav OUT_PREFIX
//
// AUDIO.wav: mono 16 kHz, 16-bit PCM or 32-bit float (read here, not by steno). Writes, as raw
// little-endian float32:
//   OUT_PREFIX.samples.f32  the samples as read
//   OUT_PREFIX.probs.f32    one probability per 512-sample frame
// Framing as faster-whisper's SileroVADModel feeds the model: the signal is zero-padded to
// whole frames (a full extra frame when it already is whole), each frame is preceded by the
// last 64 samples of the frame before (zeros for the first), and the state output of one call
// is the state input of the next, with sr = 16000.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [modelPath, wavPath, outPrefix] = process.argv.slice(2);
if (!modelPath || !wavPath || !outPrefix) {
  console.error('usage: node reference_vad.mjs MODEL.onnx AUDIO.wav OUT_PREFIX');
  process.exit(2);
}
const require = createRequire(path.join(process.env.STENO_NODE_DIR ?? '.', 'node_modules', 'x.js'));
const ort = require('onnxruntime-node');

// A RIFF/WAVE reader for the two encodings of the test clips.
function readWav(file) {
  const b = fs.readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not WAVE`);
  let fmt = null;
  for (let at = 12; at + 8 <= b.length;) {
    const id = b.toString('ascii', at, at + 4), size = b.readUInt32LE(at + 4), body = at + 8;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4),
              bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt || fmt.channels !== 1 || fmt.rate !== 16000) throw new Error(`${file}: want mono 16 kHz`);
      const n = Math.floor(Math.min(size, b.length - body) / (fmt.bits / 8));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        if (fmt.format === 1 && fmt.bits === 16) out[i] = b.readInt16LE(body + 2 * i) / 32768;
        else if (fmt.format === 3 && fmt.bits === 32) out[i] = b.readFloatLE(body + 4 * i);
        else throw new Error(`${file}: unsupported encoding ${fmt.format}/${fmt.bits}`);
      }
      return out;
    }
    at = body + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

const frame = 512, context = 64;
const samples = readWav(wavPath);
const nFrames = Math.floor(samples.length / frame) + 1;
const padded = new Float32Array(nFrames * frame);
padded.set(samples);

const session = await ort.InferenceSession.create(modelPath);
let state = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
const probs = new Float32Array(nFrames);
const input = new Float32Array(context + frame);
for (let f = 0; f < nFrames; f++) {
  input.fill(0, 0, context);
  if (f > 0) input.set(padded.subarray(f * frame - context, f * frame), 0);
  input.set(padded.subarray(f * frame, (f + 1) * frame), context);
  const result = await session.run({ input: new ort.Tensor('float32', input.slice(), [1, context + frame]), state, sr });
  probs[f] = result.output.data[0];
  state = result.stateN;
}
fs.writeFileSync(`${outPrefix}.samples.f32`, Buffer.from(samples.buffer));
fs.writeFileSync(`${outPrefix}.probs.f32`, Buffer.from(probs.buffer));
console.error(`reference_vad: ${path.basename(wavPath)}: ${nFrames} frames`);
