#!/usr/bin/env node
// Transcribes audio files with whisper.cpp through the npm binding @fugood/whisper.node (the
// peer that steno's WER and speed are compared against) and writes "id<TAB>text" lines.
//
//   node bench/peer-whispercpp.mjs -m MODEL -o HYP.tsv [-t THREADS] [--beam-size N]
//        [--times TIMES.tsv] [--verbose] (--list EVAL.tsv | AUDIO...)
//
//   --list EVAL.tsv  lines "id<TAB>path[<TAB>anything]" (bench/eval-set's output);
//                    bare AUDIO arguments get their basename without extension as id.
//   -t THREADS       whisper.cpp threads (default 2).
//   --beam-size N    1 (default) decodes greedily, N > 1 with beam search of width N.
//   --times FILE     per-file timings "id<TAB>audio_s<TAB>decode_audio_s<TAB>transcribe_s".
// The binding is looked for in $STENO_PEERS/whisper.node (scripts/install-peers puts it there).
//
// Decoding settings, chosen to match openai-whisper's transcribe() defaults as far as the
// binding lets us (it starts from whisper_full_default_params(GREEDY)):
//   set here:  language "en", translate false, maxThreads THREADS, nProcessors 1,
//              temperature 0, temperatureInc 0.2 (fallback 0.2, 0.4 ... 1.0), bestOf 5 (the
//              sampled candidates at fallback temperatures), beamSize N when N > 1 (the
//              binding then selects WHISPER_SAMPLING_BEAM_SEARCH; patience stays -1, i.e. 1);
//              no prompt.
//   left at whisper.cpp's defaults, which agree with openai-whisper: no_timestamps false,
//              max_initial_ts 1.0, length_penalty -1 (plain sum of log-probabilities),
//              logprob_thold -1.0, no_speech_thold 0.6, suppress_blank true, n_max_text_ctx
//              16384 (each window is conditioned on the text before it within a file; no_context
//              only clears that history between files).
//   differences that cannot be changed through the binding: fallback triggers on
//              entropy_thold 2.4 (token entropy) where openai uses compression ratio 2.4;
//              suppress_nst is false where openai suppresses its non-speech token list.
// Audio: ffmpeg decodes every file to 16 kHz mono signed 16-bit PCM, the same command
// openai-whisper's load_audio runs, and the samples go in through transcribeData. (The
// binding's own file reader resamples with miniaudio, which would make 22.05 and 44.1 kHz
// sources differ from what steno and openai-whisper see.)
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, extname, join } from 'node:path';

function usage(msg) {
  if (msg) process.stderr.write(`peer-whispercpp: ${msg}\n`);
  process.stderr.write('usage: peer-whispercpp.mjs -m MODEL -o HYP.tsv [-t THREADS] [--beam-size N] ' +
    '[--times FILE] [--verbose] (--list EVAL.tsv | AUDIO...)\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { threads: 2, beamSize: 1, files: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '-m' || a === '--model') o.model = next();
    else if (a === '-o' || a === '--output') o.output = next();
    else if (a === '-t' || a === '--threads') o.threads = Number(next());
    else if (a === '--beam-size') o.beamSize = Number(next());
    else if (a === '--times') o.times = next();
    else if (a === '--list') o.list = next();
    else if (a === '--verbose') o.verbose = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else o.files.push(a);
  }
  if (!o.model) usage('no model (-m)');
  if (!o.output) usage('no output file (-o)');
  if (!Number.isInteger(o.threads) || o.threads < 1) usage('-t wants a positive integer');
  if (!Number.isInteger(o.beamSize) || o.beamSize < 1) usage('--beam-size wants a positive integer');
  if (!o.list && o.files.length === 0) usage('no audio (--list or files)');
  if (!existsSync(o.model)) usage(`model ${o.model} not found (scripts/fetch-models base.en)`);
  return o;
}

function readItems(o) {
  const items = [];
  if (o.list) {
    readFileSync(o.list, 'utf8').split('\n').forEach((line, n) => {
      if (line.trim() === '') return;
      const [id, path] = line.split('\t');
      if (!id || !path) usage(`${o.list}:${n + 1}: expected "id<TAB>path"`);
      items.push({ id, path });
    });
  }
  for (const path of o.files) items.push({ id: basename(path, extname(path)), path });
  return items;
}

function loadBinding() {
  const peers = process.env.STENO_PEERS ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'steno', 'peers');
  const root = join(peers, 'whisper.node');
  const pkgJson = join(root, 'node_modules', '@fugood', 'whisper.node', 'package.json');
  if (!existsSync(pkgJson)) {
    process.stderr.write(`peer-whispercpp: no @fugood/whisper.node in ${root}; run scripts/install-peers\n`);
    process.exit(3);
  }
  const req = createRequire(join(root, 'package.json'));
  return { whisper: req('@fugood/whisper.node'), version: JSON.parse(readFileSync(pkgJson, 'utf8')).version };
}

// 16 kHz mono s16le through ffmpeg, as openai-whisper's load_audio does; returns an
// ArrayBuffer holding exactly the samples (a Buffer may be a view into a larger pool).
function decodeAudio(path) {
  const pcm = execFileSync('ffmpeg', ['-nostdin', '-threads', '0', '-i', path, '-f', 's16le', '-ac', '1',
    '-acodec', 'pcm_s16le', '-ar', '16000', '-'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  return pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength);
}

function oneLine(text) {
  return text.replace(/[\t\r\n]+/g, ' ').replace(/ {2,}/g, ' ').trim();
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const items = readItems(o);
  const { whisper, version } = loadBinding();

  // whisper.cpp logs every model load and window at info level: keep warnings and errors.
  whisper.addNativeLogListener((level, text) => {
    if (o.verbose || level === 'error' || level === 'warn') process.stderr.write(`[whisper.cpp ${level}] ${text}`);
  });
  await whisper.toggleNativeLog(true);

  const options = {
    language: 'en', translate: false, maxThreads: o.threads, nProcessors: 1,
    temperature: 0, temperatureInc: 0.2, bestOf: 5,
  };
  if (o.beamSize > 1) options.beamSize = o.beamSize;
  const mode = o.beamSize > 1 ? `beam ${o.beamSize}` : 'greedy';
  process.stderr.write(`peer-whispercpp: @fugood/whisper.node ${version}, ${basename(o.model)}, ${mode}, ` +
    `${o.threads} threads, ${items.length} files\n`);

  const t0 = performance.now();
  const ctx = await whisper.initWhisper({ filePath: o.model, useGpu: false });
  process.stderr.write(`peer-whispercpp: model loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);

  const hyps = [];
  const times = [];
  const failed = [];
  for (const { id, path } of items) {
    try {
      const d0 = performance.now();
      const audio = decodeAudio(path);
      const d1 = performance.now();
      const result = await ctx.transcribeData(audio, options).promise;
      const d2 = performance.now();
      if (result.isAborted) throw new Error('transcription aborted');
      const text = oneLine(result.result);
      const audioS = audio.byteLength / 2 / 16000;
      const transcribeS = (d2 - d1) / 1000;
      hyps.push(`${id}\t${text}`);
      times.push(`${id}\t${audioS.toFixed(2)}\t${((d1 - d0) / 1000).toFixed(3)}\t${transcribeS.toFixed(3)}`);
      process.stderr.write(`peer-whispercpp: ${id}: ${transcribeS.toFixed(2)} s for ${audioS.toFixed(1)} s of audio\n`);
    } catch (err) {
      const why = err.stderr ? String(err.stderr).trim().split('\n').pop() : (err.message || String(err));
      failed.push(id);
      process.stderr.write(`peer-whispercpp: ${id}: FAILED: ${why}\n`);
    }
  }
  await ctx.release();
  // The log listener holds a thread-safe function that would keep Node's event loop alive.
  await whisper.toggleNativeLog(false);

  // Written whole at the end, under a temporary name first: a killed run leaves no short file.
  writeFileSync(`${o.output}.tmp`, hyps.map((l) => `${l}\n`).join(''));
  renameSync(`${o.output}.tmp`, o.output);
  if (o.times) writeFileSync(o.times, times.map((l) => `${l}\n`).join(''));
  const total = (performance.now() - t0) / 1000;
  process.stderr.write(`peer-whispercpp: ${hyps.length}/${items.length} files in ${total.toFixed(1)} s -> ${o.output}\n`);
  if (failed.length > 0) process.stderr.write(`peer-whispercpp: failed: ${failed.join(' ')}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`peer-whispercpp: ${err.stack || err}\n`);
  process.exit(1);
});
