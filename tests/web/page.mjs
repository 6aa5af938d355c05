// page.mjs — drives steno's web page in Debian's chromium (playwright-core) against a running
// `steno serve`, as a person would: a bad file gives the server's error message; jfk.wav with
// base.en reaches 100 % and shows the transcript; segments and words seek the player; the srt
// download matches the job's result; three speakers, diarized, show who speaks; the Russian
// interface; a narrow screen; cancelling a long job midway. CTest runs it through tests/server/with_server.sh, which starts the server.
//
//   STENO_URL=http://127.0.0.1:PORT [STENO_WEB_API_KEY=KEY] node tests/web/page.mjs AUDIO.wav OUT_DIR
//
// OUT_DIR receives the screenshots (web-page.png, -ru, -narrow) and the srt downloaded. When the
// server wants an API key, STENO_WEB_API_KEY holds it: the page must then say so and take it.
// playwright-core comes from tests/web/node_modules (scripts/install-node-tests tests/web).
// Exits 1 with a message naming the failed check.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [audioPath, outDir] = process.argv.slice(2);
if (!outDir || !process.env.STENO_URL) {
  console.error('usage: STENO_URL=http://127.0.0.1:PORT node tests/web/page.mjs AUDIO.wav OUT_DIR');
  process.exit(2);
}
const base = new URL('/', process.env.STENO_URL).href;
const CHROMIUM = '/usr/bin/chromium';
const KEY = process.env.STENO_WEB_API_KEY || '';
const PHRASE = 'ask not what your country can do for you';
// Three speakers, for the diarization check (../shared/data, as the other tests find it).
const DIARIZE_AUDIO = process.env.STENO_SHARED_DATA
  ? path.join(process.env.STENO_SHARED_DATA, 'diarization/falcon/test.wav') : '';
const JOB_TIMEOUT = 10 * 60 * 1000; // the sanitizer build on a busy machine is slow

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// What the test is doing, named in the failure message, with a screenshot of the page then.
let doing = 'starting chromium';
function section(what) {
  doing = what;
}

const started = Date.now();
function log(message) {
  console.log(`page.mjs [${((Date.now() - started) / 1000).toFixed(1)} s]: ${message}`);
}

// The API, called directly, to compare the page with.
async function api(pathname, options = {}) {
  const headers = KEY ? { Authorization: `Bearer ${KEY}` } : {};
  const response = await fetch(new URL(pathname, base), { ...options, headers });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// The message the server gives for a file: the 4xx answer to POST /v1/jobs, or the error of
// the job if it fails later.
async function serverMessageFor(name, bytes) {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  form.append('model', 'base.en');
  const posted = await api('v1/jobs', { method: 'POST', body: form });
  if (posted.status >= 400) return posted.body.error.message;
  for (let i = 0; i < 600; i++) {
    const job = await api(`v1/jobs/${posted.body.id}`);
    if (job.body.status === 'failed') return job.body.error.message ?? job.body.error;
    check(job.body.status !== 'completed', `${name} was transcribed instead of refused`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the job for ${name} did not end`);
}

// srt exactly as openai-whisper writes it for segments without word-level cues.
function expectedSrt(segments) {
  const stamp = (seconds) => {
    let ms = Math.round(seconds * 1000);
    const h = Math.floor(ms / 3600000);
    ms -= h * 3600000;
    const m = Math.floor(ms / 60000);
    ms -= m * 60000;
    const s = Math.floor(ms / 1000);
    ms -= s * 1000;
    return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')},${String(ms).padStart(3, '0')}`;
  };
  return segments.map((s, i) => `${i + 1}\n${stamp(s.start)} --> ${stamp(s.end)}\n${s.text.trim().replaceAll('-->', '->')}\n\n`).join('');
}

// jfk.wav's speech, each copy followed by silence up to 30 s (one Whisper window each, so that
// no window holds the same sentence twice and decodes slowly through the temperature fallback):
// a file long enough to cancel while it runs.
function longWav(wav, times) {
  let at = 12;
  while (at + 8 <= wav.length && wav.toString('latin1', at, at + 4) !== 'data') at += 8 + wav.readUInt32LE(at + 4);
  check(at + 8 <= wav.length, `${audioPath} has no data chunk`);
  const header = Buffer.from(wav.subarray(0, at + 8));
  const samples = wav.subarray(at + 8, at + 8 + wav.readUInt32LE(at + 4));
  const unit = Buffer.alloc(30 * 16000 * 2); // jfk.wav is 16 kHz 16-bit mono
  check(samples.length <= unit.length && wav.readUInt16LE(22) === 1 && wav.readUInt32LE(24) === 16000 && wav.readUInt16LE(34) === 16,
    `${audioPath} is 16 kHz 16-bit mono and under 30 s`);
  samples.copy(unit);
  const data = Buffer.concat(Array(times).fill(unit));
  header.writeUInt32LE(data.length, at + 4);
  header.writeUInt32LE(header.length - 8 + data.length, 4);
  return Buffer.concat([header, data]);
}

async function main() {
  check(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/install-deps installs Debian's chromium)`);
  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(path.join(outDir, 'web-page-failure.png'), { force: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-web-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    locale: 'en-US',
    acceptDownloads: true,
    viewport: { width: 1100, height: 900 },
  });
  const pageErrors = [];
  const page = context.pages()[0] || (await context.newPage());
  try {
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.setDefaultTimeout(60000);

    section('loading the page');
    await page.goto(base);
    check((await page.getAttribute('html', 'lang')) === 'en', 'an en-US browser gets the English page');
    const model = page.getByLabel('Model', { exact: true });
    if (KEY) {
      // The server wants a key: the page says so, opens the key field and loads the models once given it.
      await page.locator('#error').waitFor({ state: 'visible' });
      const said = await page.locator('#error').textContent();
      check(said.includes('needs an API key'), `a missing key is explained (${said})`);
      await page.getByLabel('API key (kept in this browser)').fill(KEY);
      await page.getByLabel('API key (kept in this browser)').press('Tab');
      await page.locator('#error').waitFor({ state: 'hidden' });
      log(`without a key the page said: ${said}`);
    }
    await page.waitForFunction(() => [...document.querySelectorAll('#model option')].some((o) => o.value === 'base.en'));
    await model.selectOption('base.en');
    check(await page.getByLabel('Language', { exact: true }).isDisabled(), 'base.en fixes the language');
    log('the page loaded and lists base.en');

    // A file that is not audio: the page shows the server's own message.
    section('submitting a file that is not audio');
    const junk = Buffer.from('this is a text file, not audio\n'.repeat(40));
    const expectedMessage = await serverMessageFor('notes.txt', junk);
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: junk });
    await page.getByRole('button', { name: 'Transcribe' }).click();
    await page.locator('#error').waitFor({ state: 'visible' });
    const shown = await page.locator('#error').textContent();
    // The message may name the job (its id differs between the two jobs).
    const sameJob = (text) => text.replace(/job_[0-9a-f]+/g, 'job_…');
    check(sameJob(shown).includes(sameJob(expectedMessage)), `the error shown (${shown}) carries the server's message (${expectedMessage})`);
    log(`a text file is refused with: ${shown}`);

    // jfk.wav, dropped on the page: progress to 100 % and the transcript.
    section('transcribing jfk.wav');
    const dropped = await page.evaluateHandle(([name, base64]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name, { type: 'audio/wav' }));
      return transfer;
    }, [path.basename(audioPath), fs.readFileSync(audioPath).toString('base64')]);
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dropped });
    const chosen = await page.locator('#file-name').textContent();
    check(chosen.startsWith(`${path.basename(audioPath)} (`), `the dropped file is shown (${chosen})`);
    await page.evaluate(() => {
      window.stenoPercents = [];
      new MutationObserver(() => window.stenoPercents.push(document.getElementById('percent').textContent)).observe(
        document.getElementById('percent'), { childList: true, characterData: true, subtree: true });
    });
    const posted = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Transcribe' }).click();
    const job = await (await posted).json();
    check(typeof job.id === 'string' && job.id, 'POST /v1/jobs answered a job id');
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Done', null, { timeout: JOB_TIMEOUT });
    check(await page.locator('#error').isHidden(), 'no error is shown after the job');
    check((await page.locator('#progress').evaluate((p) => p.value)) === 100, 'the progress bar is full');
    check((await page.locator('#percent').textContent()) === '100%', 'the progress reads 100%');
    log(`progress shown: ${(await page.evaluate(() => window.stenoPercents)).join(' ')}`);
    const transcript = await page.locator('#transcript').textContent();
    check(transcript.includes(PHRASE), `the transcript (${transcript}) contains "${PHRASE}"`);
    log(`transcript: ${transcript}`);

    const finished = await api(`v1/jobs/${job.id}`);
    check(finished.body.status === 'completed' || finished.body.status === 'succeeded', `job ${job.id} is complete`);
    const result = finished.body.result;
    check(Array.isArray(result.segments) && result.segments.length > 0, 'the result has segments');
    check((await page.locator('#transcript .segment').count()) === result.segments.length, 'one entry per segment');

    // Seeking: the first segment's time (mouse, then keyboard), then a word inside the text.
    section('seeking the player from the transcript');
    await page.waitForFunction(() => document.getElementById('player').readyState >= 1);
    const seekFirst = async (how) => {
      await page.evaluate(() => {
        const player = document.getElementById('player');
        player.pause();
        player.currentTime = 9.5;
      });
      await page.waitForFunction(() => document.getElementById('player').currentTime > 9);
      await how(page.locator('#transcript .seek').first());
      await page.waitForFunction((start) => Math.abs(document.getElementById('player').currentTime - start) < 1.0,
        result.segments[0].start);
    };
    await seekFirst((button) => button.click());
    await seekFirst(async (button) => {
      await button.focus();
      await page.keyboard.press('Enter');
    });
    const word = page.locator('#transcript .word', { hasText: 'country' }).first();
    const wordStart = Number(await word.getAttribute('data-start'));
    const words = result.words || result.segments.flatMap((s) => s.words || []);
    check(words.some((w) => w.start === wordStart && /country/.test(w.word)), `"country" seeks to its own start (${wordStart} s)`);
    check(wordStart > 1, 'the word chosen starts well after 0 s');
    await word.click();
    await page.waitForFunction((start) => {
      const t = document.getElementById('player').currentTime;
      return t >= start - 0.01 && t < start + 1.0;
    }, wordStart);
    await page.evaluate(() => document.getElementById('player').pause());
    const at = await page.evaluate(() => document.getElementById('player').currentTime);
    const current = result.segments.findIndex((s) => at >= s.start && at < s.end);
    await page.waitForFunction((i) => document.querySelector('#transcript .segment.current')?.dataset.index === String(i), current);
    log(`a click on "country" moved the player to ${at.toFixed(3)} s (word start ${wordStart} s); segment ${current} is highlighted`);

    // The srt download.
    section('downloading srt and json');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'SRT' }).click()]);
    check(download.suggestedFilename() === 'jfk.srt', `the download is named jfk.srt (${download.suggestedFilename()})`);
    const srt = fs.readFileSync(await download.path(), 'utf8');
    fs.writeFileSync(path.join(outDir, 'jfk.srt'), srt);
    check(srt === expectedSrt(result.segments), `the srt equals the job's segments rendered as srt:\n${srt}`);
    check(srt.includes(PHRASE) && srt.startsWith('1\n00:00:'), 'the srt carries the speech');
    log(`srt download:\n${srt.trimEnd()}`);
    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'JSON' }).click()]);
    assert.deepEqual(JSON.parse(fs.readFileSync(await jsonDownload.path(), 'utf8')), result, 'the json download is the result');
    await page.screenshot({ path: path.join(outDir, 'web-page.png'), fullPage: true });

    // Speakers: a recording of three people with "Identify speakers" ticked shows who speaks in
    // each segment (the server needs Silero VAD in its model folders; scripts/fetch-models puts
    // it in $STENO_TEST_MODELS/silero).
    if (DIARIZE_AUDIO && fs.existsSync(path.join(process.env.STENO_TEST_MODELS || '', 'silero/silero_vad_v5.onnx'))) {
      section('transcribing three speakers with diarization');
      await page.getByLabel('Identify speakers').check();
      await page.setInputFiles('#file', DIARIZE_AUDIO);
      const postedDiarized = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Transcribe' }).click();
      const diarizedJob = await (await postedDiarized).json();
      await page.waitForFunction(() => document.getElementById('status').textContent === 'Done', null, { timeout: JOB_TIMEOUT });
      const stored = (await api(`v1/jobs/${diarizedJob.id}`)).body.result;
      const labels = new Set(stored.segments.map((s) => s.speaker));
      check(labels.size >= 2 && [...labels].every((l) => /^SPEAKER_\d\d$/.test(l)), `the job's segments carry speakers (${[...labels]})`);
      const shownSpeakers = await page.locator('#transcript .segment .speaker').allTextContents();
      check(shownSpeakers.length === stored.segments.length, `every segment shows its speaker (${shownSpeakers.length} of ${stored.segments.length})`);
      check(new Set(shownSpeakers).size === labels.size && shownSpeakers.every((w) => /^Speaker \d+$/.test(w)),
        `the page shows as many speakers as the result has (${[...new Set(shownSpeakers)]})`);
      await page.screenshot({ path: path.join(outDir, 'web-page-speakers.png'), fullPage: true });
      log(`diarized ${path.basename(DIARIZE_AUDIO)}: ${[...new Set(shownSpeakers)].join(', ')} over ${shownSpeakers.length} segments`);
      await page.getByLabel('Identify speakers').uncheck();
    } else {
      log('no diarization check: STENO_SHARED_DATA or Silero VAD is missing');
    }

    // The Russian interface, kept after a reload.
    section('switching to Russian');
    await page.getByLabel('Interface language').selectOption('ru');
    check((await page.getAttribute('html', 'lang')) === 'ru', 'html lang is ru');
    check(await page.getByLabel('Модель', { exact: true }).isVisible(), 'the model field is labelled «Модель»');
    check((await page.locator('#status').textContent()) === 'Готово', 'the status reads «Готово»');
    check((await page.getByRole('button', { name: 'Распознать' }).count()) === 1, 'the submit button reads «Распознать»');
    await page.screenshot({ path: path.join(outDir, 'web-page-ru.png'), fullPage: true });
    log('the Russian interface shows «Модель», «Готово», «Распознать»');

    // A narrow screen: nothing wider than the viewport.
    section('narrowing the screen');
    await page.setViewportSize({ width: 360, height: 780 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 360, `at 360 px the page is ${width} px wide`);
    await page.screenshot({ path: path.join(outDir, 'web-page-narrow.png'), fullPage: true });
    log('at 360 px nothing overflows');
    await page.setViewportSize({ width: 1100, height: 900 });

    // Cancelling a long job.
    section('cancelling a long job');
    await page.reload();
    check((await page.getAttribute('html', 'lang')) === 'ru', 'the Russian interface is remembered');
    if (KEY) check((await page.inputValue('#api-key')) === KEY, 'the API key is remembered');
    await page.waitForFunction(() => [...document.querySelectorAll('#model option')].some((o) => o.value === 'base.en'));
    await page.getByLabel('Модель', { exact: true }).selectOption('base.en');
    await page.setInputFiles('#file', { name: 'long.wav', mimeType: 'audio/wav', buffer: longWav(fs.readFileSync(audioPath), 5) });
    const postedLong = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Распознать' }).click();
    const longJob = await (await postedLong).json();
    // The bar moves while the job runs (each 30-second window is a fifth of the 150 s).
    await page.waitForFunction(() => {
      const percent = parseInt(document.getElementById('percent').textContent, 10);
      return percent > 0 && percent < 100;
    }, null, { timeout: JOB_TIMEOUT });
    const midway = await page.locator('#percent').textContent();
    check((await page.locator('#status').textContent()) === 'Идёт распознавание', 'the status reads «Идёт распознавание»');
    await page.getByRole('button', { name: 'Отменить' }).click();
    await page.waitForFunction(() => document.getElementById('status').textContent === 'Отменено', null, { timeout: JOB_TIMEOUT });
    const cancelled = await api(`v1/jobs/${longJob.id}`);
    check(cancelled.status === 404 || /cancel/.test(cancelled.body.status), `job ${longJob.id} is cancelled (${JSON.stringify(cancelled.body)})`);
    check(await page.getByRole('button', { name: 'Распознать' }).isEnabled(), 'the form can be used again');
    log(`cancelling job ${longJob.id} at ${midway} shows «Отменено»`);

    check(pageErrors.length === 0, `no script errors in the page: ${pageErrors.join('; ')}`);
  } catch (err) {
    err.message = `while ${doing}: ${err.message}`;
    await page.screenshot({ path: path.join(outDir, 'web-page-failure.png'), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(
  () => log(`all checks passed; screenshots in ${outDir}`),
  (err) => {
    console.error(`page.mjs: ${err.message}\n(the page as it was: ${path.join(outDir, 'web-page-failure.png')})`);
    process.exit(1);
  },
);
