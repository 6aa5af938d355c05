// app.js — steno's web page: sends an audio file to the server as a job (POST /v1/jobs), follows
// its progress through server-sent events (GET /v1/jobs/{id}/events, read with fetch so that the
// API key can travel in a header; polling GET /v1/jobs/{id} when the stream is unavailable),
// shows the transcript beside a player of the same file and renders txt, srt, vtt and json in
// the browser. Plain script, no build step; every user-visible string is in STRINGS.
'use strict';

(() => {
  const STRINGS = {
    en: {
      tagline: 'Speech to text',
      interfaceLanguage: 'Interface language',
      dropTitle: 'Drop an audio or video file here',
      dropHint: 'or press to choose one',
      model: 'Model',
      modelsLoading: 'Loading…',
      language: 'Language',
      languageAuto: 'Detect automatically',
      englishOnly: 'English only',
      task: 'Task',
      taskTranscribe: 'Transcribe',
      taskTranslate: 'Translate to English',
      diarize: 'Identify speakers',
      numSpeakers: 'Number of speakers',
      speakersAuto: 'auto',
      vad: 'Skip silence (voice activity detection)',
      apiKey: 'API key',
      apiKeyLabel: 'API key (kept in this browser)',
      apiKeyHint: 'Needed only when the server was started with an API key.',
      submit: 'Transcribe',
      cancel: 'Cancel',
      progress: 'Progress',
      transcript: 'Transcript',
      download: 'Download',
      transcriptHint: 'Select a segment or a word to play from there.',
      noSegments: 'No speech was found.',
      speaker: 'Speaker {0}',
      playFrom: 'Play from {0}',
      statusUploading: 'Uploading the file… {0}%',
      statusQueued: 'Waiting in the queue',
      statusRunning: 'Transcribing',
      statusDone: 'Done',
      statusFailed: 'Failed',
      statusCancelling: 'Cancelling…',
      statusCancelled: 'Cancelled',
      statusReconnecting: 'The server is not answering; trying again…',
      errorNoFile: 'Choose an audio file first.',
      errorNoModel: 'The server has no model to offer.',
      errorNetwork: 'The server cannot be reached.',
      errorKey: 'The server needs an API key: enter it under “API key” and try again.',
      errorHttp: 'The server answered HTTP {0}.',
      errorJobFailed: 'The job failed: {0}',
      errorModels: 'The list of models could not be loaded: {0}',
      sizeUnits: 'B KB MB GB',
    },
    ru: {
      tagline: 'Распознавание речи',
      interfaceLanguage: 'Язык интерфейса',
      dropTitle: 'Перетащите сюда аудио- или видеофайл',
      dropHint: 'или нажмите, чтобы выбрать',
      model: 'Модель',
      modelsLoading: 'Загрузка…',
      language: 'Язык',
      languageAuto: 'Определить автоматически',
      englishOnly: 'Только английский',
      task: 'Задача',
      taskTranscribe: 'Распознать',
      taskTranslate: 'Перевести на английский',
      diarize: 'Разделить по говорящим',
      numSpeakers: 'Число говорящих',
      speakersAuto: 'авто',
      vad: 'Пропускать тишину (детектор речи)',
      apiKey: 'Ключ API',
      apiKeyLabel: 'Ключ API (хранится в этом браузере)',
      apiKeyHint: 'Нужен, только если сервер запущен с ключом API.',
      submit: 'Распознать',
      cancel: 'Отменить',
      progress: 'Ход работы',
      transcript: 'Расшифровка',
      download: 'Скачать',
      transcriptHint: 'Выберите фрагмент или слово, чтобы воспроизвести запись с этого места.',
      noSegments: 'Речь не найдена.',
      speaker: 'Говорящий {0}',
      playFrom: 'Воспроизвести с {0}',
      statusUploading: 'Файл загружается… {0}%',
      statusQueued: 'Задание в очереди',
      statusRunning: 'Идёт распознавание',
      statusDone: 'Готово',
      statusFailed: 'Ошибка',
      statusCancelling: 'Отмена…',
      statusCancelled: 'Отменено',
      statusReconnecting: 'Сервер не отвечает; пробую снова…',
      errorNoFile: 'Сначала выберите аудиофайл.',
      errorNoModel: 'На сервере нет ни одной модели.',
      errorNetwork: 'Сервер недоступен.',
      errorKey: 'Серверу нужен ключ API: введите его в разделе «Ключ API» и повторите.',
      errorHttp: 'Сервер ответил HTTP {0}.',
      errorJobFailed: 'Задание не выполнено: {0}',
      errorModels: 'Не удалось получить список моделей: {0}',
      sizeUnits: 'Б КБ МБ ГБ',
    },
  };

  // The languages Whisper knows, as its tokenizer names them; shown by name in the interface's
  // language through Intl.DisplayNames where the browser knows the code.
  const LANGUAGES = [
    'en', 'zh', 'de', 'es', 'ru', 'ko', 'fr', 'ja', 'pt', 'tr', 'pl', 'ca', 'nl', 'ar', 'sv', 'it', 'id',
    'hi', 'fi', 'vi', 'he', 'uk', 'el', 'ms', 'cs', 'ro', 'da', 'hu', 'ta', 'no', 'th', 'ur', 'hr', 'bg',
    'lt', 'la', 'mi', 'ml', 'cy', 'sk', 'te', 'fa', 'lv', 'bn', 'sr', 'az', 'sl', 'kn', 'et', 'mk', 'br',
    'eu', 'is', 'hy', 'ne', 'mn', 'bs', 'kk', 'sq', 'sw', 'gl', 'mr', 'pa', 'si', 'km', 'sn', 'yo', 'so',
    'af', 'oc', 'ka', 'be', 'tg', 'sd', 'gu', 'am', 'yi', 'lo', 'uz', 'fo', 'ht', 'ps', 'tk', 'nn', 'mt',
    'sa', 'lb', 'my', 'bo', 'tl', 'mg', 'as', 'tt', 'haw', 'ln', 'ha', 'ba', 'jw', 'su', 'yue',
  ];
  // Whisper's code for Javanese is not the ISO one Intl knows.
  const INTL_CODE = { jw: 'jv' };

  const DONE = new Set(['completed', 'succeeded', 'done', 'finished']);
  const FAILED = new Set(['failed', 'error']);
  const CANCELLED = new Set(['cancelled', 'canceled']);
  const RUNNING = new Set(['running', 'processing', 'in_progress']);
  const SPEAKER_COLOURS = 8; // style.css defines .speaker-0 … .speaker-7
  // How long a job is followed through a server that does not answer (restarting: it keeps its
  // jobs and takes them up again).
  const RECONNECT_MS = 5 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    uiLang: $('ui-lang'), form: $('job-form'), dropZone: $('drop-zone'), file: $('file'), fileName: $('file-name'),
    model: $('model'), language: $('language'), task: $('task'), diarize: $('diarize'),
    numSpeakers: $('num-speakers'), vad: $('vad'), keyBox: $('key-box'), apiKey: $('api-key'),
    submit: $('submit'), cancel: $('cancel'), error: $('error'), progressBox: $('progress-box'),
    status: $('status'), percent: $('percent'), progress: $('progress'), resultBox: $('result-box'),
    player: $('player'), transcript: $('transcript'),
  };

  const state = {
    lang: 'en',
    file: null,
    objectUrl: null,
    jobId: null,
    xhr: null, // the upload in flight
    stream: null, // AbortController of the job's event stream
    status: null, // {key, args}: the status line, kept as a key so that a language switch redraws it
    error: null, // {err, key, args}: an ApiError and/or a message of ours, redrawn likewise
    segments: [],
    result: null,
    jobName: '', // the name of the file the job transcribes
    resultJob: null, // {id, name}: the finished job the downloads come from
    speakerIndex: new Map(),
    current: -1,
  };

  // ---- strings ---------------------------------------------------------------------------

  function t(key, ...args) {
    const text = STRINGS[state.lang][key] ?? STRINGS.en[key] ?? key;
    return text.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)]));
  }

  function stored(name, value) {
    try {
      if (value === undefined) return localStorage.getItem(`steno.${name}`);
      if (value === null) localStorage.removeItem(`steno.${name}`);
      else localStorage.setItem(`steno.${name}`, value);
    } catch {
      // Storage may be switched off; the page works without remembering.
    }
    return null;
  }

  function applyLanguage(lang) {
    state.lang = STRINGS[lang] ? lang : 'en';
    document.documentElement.lang = state.lang;
    ui.uiLang.value = state.lang;
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll('[data-i18n-aria-label]')) {
      el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
    }
    fillLanguages();
    if (state.file) ui.fileName.textContent = `${state.file.name} (${formatSize(state.file.size)})`;
    if (ui.model.dataset.loading) fillModelPlaceholder();
    showStatus();
    showError();
    if (state.segments.length || state.result) renderTranscript();
  }

  // ---- form ------------------------------------------------------------------------------

  function fillLanguages() {
    const chosen = ui.language.value || stored('language') || '';
    let names = null;
    try {
      names = new Intl.DisplayNames([state.lang], { type: 'language' });
    } catch {
      names = null;
    }
    const label = (code) => {
      let name = null;
      try {
        name = names && names.of(INTL_CODE[code] || code);
      } catch {
        name = null;
      }
      return name && name !== code ? `${name.charAt(0).toLocaleUpperCase(state.lang)}${name.slice(1)}` : code;
    };
    const options = LANGUAGES.map((code) => ({ code, name: label(code) }));
    options.sort((a, b) => a.name.localeCompare(b.name, state.lang));
    ui.language.replaceChildren(new Option(t('languageAuto'), ''), ...options.map((o) => new Option(o.name, o.code)));
    ui.language.value = chosen;
    englishOnlyModel();
  }

  // English-only Whisper models (*.en) take no language: the choice is fixed and shown so.
  function englishOnlyModel() {
    const englishOnly = /\.en$/.test(ui.model.value);
    let fixed = ui.language.querySelector('option[data-english-only]');
    if (englishOnly) {
      if (!fixed) {
        fixed = new Option(t('englishOnly'), 'en');
        fixed.dataset.englishOnly = '1';
        ui.language.prepend(fixed);
      }
      fixed.textContent = t('englishOnly');
      ui.language.value = 'en';
      fixed.selected = true;
    } else if (fixed) {
      fixed.remove();
      ui.language.value = stored('language') || '';
    }
    ui.language.disabled = englishOnly;
  }

  function fillModelPlaceholder() {
    ui.model.dataset.loading = '1';
    ui.model.replaceChildren(new Option(t('modelsLoading'), ''));
  }

  async function loadModels() {
    fillModelPlaceholder();
    let list;
    try {
      list = await api('v1/models');
    } catch (err) {
      ui.model.replaceChildren();
      delete ui.model.dataset.loading;
      setError(err, 'errorModels');
      return;
    }
    delete ui.model.dataset.loading;
    const ids = (Array.isArray(list && list.data) ? list.data : []).map((m) => m && m.id).filter(Boolean);
    ui.model.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (!ids.length) {
      setError(null, 'errorNoModel');
      return;
    }
    const wanted = [stored('model'), 'base.en', 'base'].find((id) => id && ids.includes(id));
    ui.model.value = wanted || ids[0];
    englishOnlyModel();
    if (state.error && state.error.key === 'errorModels') setError(null);
  }

  function chooseFile(file) {
    if (!file) return;
    state.file = file;
    // The player keeps the previous file's URL until the next job starts.
    if (state.objectUrl && state.objectUrl !== ui.player.src) URL.revokeObjectURL(state.objectUrl);
    state.objectUrl = URL.createObjectURL(file);
    ui.fileName.textContent = `${file.name} (${formatSize(file.size)})`;
    ui.dropZone.classList.add('has-file');
    if (state.error && state.error.key === 'errorNoFile') setError(null);
  }

  function formatSize(bytes) {
    const units = t('sizeUnits').split(' ');
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return `${value.toLocaleString(state.lang, { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
  }

  function formData() {
    const form = new FormData();
    form.append('file', state.file, state.file.name);
    form.append('model', ui.model.value);
    if (ui.language.value && !ui.language.disabled) form.append('language', ui.language.value);
    if (ui.task.value === 'translate') form.append('task', 'translate');
    form.append('response_format', 'verbose_json');
    form.append('timestamp_granularities[]', 'segment');
    form.append('timestamp_granularities[]', 'word');
    if (ui.diarize.checked) {
      form.append('diarize', 'true');
      if (ui.numSpeakers.value) form.append('num_speakers', ui.numSpeakers.value);
    }
    if (ui.vad.checked) form.append('vad', 'true');
    return form;
  }

  // ---- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function authHeaders() {
    const key = ui.apiKey.value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // The message of an error answer: OpenAI's {"error": {"message": …}} shape, else the body
  // text, else the status.
  function errorOf(status, text) {
    let message = '';
    try {
      const body = JSON.parse(text);
      const e = body && body.error;
      message = (e && (typeof e === 'string' ? e : e.message)) || (body && body.message) || '';
    } catch {
      message = (text || '').trim().slice(0, 300);
    }
    if (status === 401) ui.keyBox.open = true;
    return new ApiError(message, status);
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch {
      throw new ApiError('', 0);
    }
    const text = await response.text();
    if (!response.ok) throw errorOf(response.status, text);
    return text ? JSON.parse(text) : null;
  }

  // POST /v1/jobs through XMLHttpRequest, whose upload progress fetch does not report.
  function uploadJob(form) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      state.xhr = xhr;
      xhr.open('POST', 'v1/jobs');
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) setStatus('statusUploading', [Math.floor((100 * e.loaded) / e.total)], e.loaded / e.total);
      };
      xhr.onload = () => {
        state.xhr = null;
        if (xhr.status < 200 || xhr.status >= 300) return reject(errorOf(xhr.status, xhr.responseText));
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.responseText.slice(0, 300), xhr.status));
        }
      };
      xhr.onerror = () => {
        state.xhr = null;
        reject(new ApiError('', 0));
      };
      xhr.onabort = () => {
        state.xhr = null;
        reject(new DOMException('upload cancelled', 'AbortError'));
      };
      xhr.send(form);
    });
  }

  // Reads a text/event-stream response and calls onEvent(name, data) for each event.
  async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let name = '';
    let data = [];
    const line = (text) => {
      if (text === '') {
        if (data.length) onEvent(name || 'message', data.join('\n'));
        name = '';
        data = [];
        return;
      }
      if (text.startsWith(':')) return;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.search(/[\r\n]/)) >= 0) {
        if (buffer[end] === '\r' && end === buffer.length - 1) break; // a \r\n may be split
        line(buffer.slice(0, end));
        buffer = buffer.slice(end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1));
      }
    }
    if (buffer) line(buffer);
    line('');
  }

  // ---- a job -----------------------------------------------------------------------------

  async function submit(event) {
    event.preventDefault();
    if (state.jobId || state.xhr) return;
    if (!state.file) {
      setError(null, 'errorNoFile');
      ui.file.focus();
      return;
    }
    if (!ui.model.value) {
      setError(null, 'errorNoModel');
      return;
    }
    stored('model', ui.model.value);
    setError(null);
    state.segments = [];
    state.result = null;
    state.resultJob = null;
    state.speakerIndex = new Map();
    state.jobName = state.file.name;
    if (ui.player.src && ui.player.src !== state.objectUrl) URL.revokeObjectURL(ui.player.src);
    ui.player.src = state.objectUrl;
    renderTranscript();
    ui.resultBox.hidden = true;
    running(true);
    setStatus('statusUploading', [0], 0);
    try {
      const job = await uploadJob(formData());
      if (!job || !job.id) throw new ApiError('the answer to POST /v1/jobs carries no job id', 0);
      state.jobId = job.id;
      await follow(job);
    } catch (err) {
      if (err.name === 'AbortError') setStatus('statusCancelled', [], null);
      else {
        setStatus('statusFailed', [], null);
        setError(err);
      }
    } finally {
      state.jobId = null;
      running(false);
    }
  }

  // Follows the job to its end: the event stream, then the job itself, polled until it says
  // it is over. Resolves when it is.
  async function follow(job) {
    update(job);
    if (isOver(job)) return finish(job);
    const path = `v1/jobs/${encodeURIComponent(job.id)}`;
    const stream = new AbortController();
    state.stream = stream;
    try {
      const response = await fetch(`${path}/events`, {
        headers: { ...authHeaders(), Accept: 'text/event-stream' },
        signal: stream.signal,
      });
      if (response.ok && response.body) {
        await readEvents(response, (name, data) => {
          let value;
          try {
            value = JSON.parse(data);
          } catch {
            return;
          }
          if (value && typeof value === 'object') {
            const snapshot = value.job && typeof value.job === 'object' ? value.job : value;
            if (!snapshot.status && ['completed', 'done', 'failed', 'cancelled'].includes(name)) snapshot.status = name;
            if (name === 'segment' && !snapshot.segment && 'start' in snapshot) update({ segment: snapshot });
            else update(snapshot);
          }
        });
      }
    } catch {
      // The stream broke, is unavailable, or cancel() closed it: the job itself says the rest.
    }
    state.stream = null;
    let unreachableSince = null;
    for (;;) {
      let current;
      try {
        current = await api(path);
        unreachableSince = null;
      } catch (err) {
        // A server that forgets a job once it is cancelled answers 404 afterwards.
        if (err.status === 404 && state.status && state.status.key === 'statusCancelling') {
          return finish({ status: 'cancelled' });
        }
        unreachableSince = err.status === 0 ? (unreachableSince ?? Date.now()) : null;
        if (unreachableSince === null || Date.now() - unreachableSince > RECONNECT_MS) throw err;
        setStatus('statusReconnecting', [], null);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        continue;
      }
      if (state.status && state.status.key === 'statusReconnecting') state.status = null;
      update(current);
      if (isOver(current)) return finish(current);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function isOver(job) {
    const s = String((job && job.status) || '').toLowerCase();
    return DONE.has(s) || FAILED.has(s) || CANCELLED.has(s);
  }

  // Applies what a job snapshot or an event says: status, progress, segments so far.
  function update(job) {
    if (!job || typeof job !== 'object') return;
    const s = String(job.status || '').toLowerCase();
    const progress = typeof job.progress === 'number' && isFinite(job.progress) ? job.progress : null;
    const queued = s === 'queued' || s === 'pending';
    if (!isOver(job) && (queued || RUNNING.has(s) || progress !== null)) {
      const cancelling = state.status && state.status.key === 'statusCancelling';
      const key = cancelling ? 'statusCancelling' : queued ? 'statusQueued' : 'statusRunning';
      setStatus(key, [], progress ?? (queued ? 0 : null));
    }
    let changed = false;
    if (Array.isArray(job.segments) && job.segments.length >= state.segments.length && !state.result) {
      state.segments = job.segments.slice();
      changed = true;
    }
    if (job.segment && typeof job.segment === 'object') {
      state.segments.push(job.segment);
      changed = true;
    }
    if (changed) {
      ui.resultBox.hidden = false;
      renderTranscript();
    }
  }

  function finish(job) {
    const s = String(job.status || '').toLowerCase();
    if (CANCELLED.has(s)) {
      setStatus('statusCancelled', [], null);
      return;
    }
    if (FAILED.has(s)) {
      const e = job.error;
      const message = (e && (typeof e === 'string' ? e : e.message)) || s;
      setStatus('statusFailed', [], null);
      setError(null, 'errorJobFailed', [message]);
      return;
    }
    const result = job.result && typeof job.result === 'object' ? job.result : { segments: job.segments || [] };
    state.result = result;
    state.resultJob = { id: job.id, name: state.jobName };
    state.segments = Array.isArray(result.segments) ? result.segments : job.segments || [];
    setStatus('statusDone', [], 1);
    ui.resultBox.hidden = false;
    renderTranscript();
  }

  async function cancel() {
    if (state.xhr) {
      state.xhr.abort();
      return;
    }
    const id = state.jobId;
    if (!id) return;
    setStatus('statusCancelling', [], null);
    ui.cancel.disabled = true;
    try {
      await api(`v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch (err) {
      // A job that ended meanwhile is not an error worth showing; anything else is.
      if (err.status !== 404 && err.status !== 409) setError(err);
    }
    // follow() goes on from the job itself, which says whether it was cancelled or had finished
    // meanwhile; a stream the server keeps open after the cancellation must not hold it up.
    if (state.stream) state.stream.abort();
  }

  function running(on) {
    ui.submit.disabled = on;
    ui.cancel.hidden = !on;
    ui.cancel.disabled = !on;
    ui.form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  // ---- status, progress, errors ----------------------------------------------------------

  // fraction: 0..1 shown on the bar; null keeps the bar as it is.
  function setStatus(key, args, fraction) {
    state.status = { key, args };
    ui.progressBox.hidden = false;
    if (fraction !== null && fraction !== undefined) {
      const percent = Math.max(0, Math.min(100, Math.round(fraction * 100)));
      ui.progress.value = percent;
      ui.percent.textContent = key === 'statusUploading' ? '' : `${percent}%`;
    }
    showStatus();
  }

  function showStatus() {
    if (state.status) ui.status.textContent = t(state.status.key, ...state.status.args);
  }

  // setError(err) shows an API or network error; setError(null, key, args) a message of ours;
  // setError(null) clears.
  function setError(err, key, args = []) {
    if (!err && !key) state.error = null;
    else if (err) state.error = { err, key, args };
    else state.error = { key, args };
    showError();
  }

  function showError() {
    const e = state.error;
    if (!e) {
      ui.error.hidden = true;
      ui.error.textContent = '';
      return;
    }
    let text;
    if (e.err) {
      const err = e.err;
      let detail;
      if (err.status === 0) detail = err.message || t('errorNetwork');
      else if (err.status === 401 && !err.message) detail = t('errorKey');
      else detail = err.message || t('errorHttp', err.status);
      if (err.status === 401 && err.message) detail = `${detail} — ${t('errorKey')}`;
      text = e.key ? t(e.key, detail) : detail;
    } else text = t(e.key, ...e.args);
    ui.error.textContent = text;
    ui.error.hidden = false;
  }

  // ---- the transcript --------------------------------------------------------------------

  function speakerOf(segment) {
    const label = segment && segment.speaker;
    if (label === undefined || label === null || label === '') return null;
    if (!state.speakerIndex.has(label)) state.speakerIndex.set(label, state.speakerIndex.size);
    return state.speakerIndex.get(label);
  }

  function clock(seconds, withTenths) {
    const s = Math.max(0, seconds || 0);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = withTenths ? (s % 60).toFixed(1).padStart(4, '0') : String(Math.floor(s % 60)).padStart(2, '0');
    return `${h ? `${h}:` : ''}${String(m).padStart(2, '0')}:${sec}`;
  }

  // The words of a segment: its own, else those of the result's top-level list (OpenAI's
  // verbose_json) that fall inside it.
  function wordsOf(segment) {
    if (Array.isArray(segment.words)) return segment.words;
    const all = state.result && Array.isArray(state.result.words) ? state.result.words : [];
    return all.filter((w) => w.start >= segment.start - 0.01 && w.end <= segment.end + 0.01);
  }

  // Writes the segment's text with each word as a clickable span, keeping the text's own
  // spacing and punctuation; plain text when the words do not line up with it.
  function appendText(parent, segment) {
    const text = String(segment.text || '').trim();
    const words = wordsOf(segment);
    const pieces = [];
    let at = 0;
    for (const w of words) {
      const word = String(w.word ?? w.text ?? '').trim();
      const found = word ? text.indexOf(word, at) : -1;
      if (found < 0) {
        pieces.length = 0;
        break;
      }
      pieces.push({ before: text.slice(at, found), word, start: w.start });
      at = found + word.length;
    }
    if (!pieces.length) {
      parent.textContent = text;
      return;
    }
    for (const p of pieces) {
      if (p.before) parent.append(p.before);
      const span = document.createElement('span');
      span.className = 'word';
      span.textContent = p.word;
      span.dataset.start = String(p.start);
      parent.append(span);
    }
    if (at < text.length) parent.append(text.slice(at));
  }

  function renderTranscript() {
    state.current = -1;
    const items = state.segments.map((segment, index) => {
      const li = document.createElement('li');
      li.className = 'segment';
      li.dataset.index = String(index);
      const speaker = speakerOf(segment);
      if (speaker !== null) li.classList.add(`speaker-${speaker % SPEAKER_COLOURS}`);
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'seek';
      button.dataset.start = String(segment.start || 0);
      button.setAttribute('aria-label', t('playFrom', clock(segment.start, true)));
      const time = document.createElement('span');
      time.className = 'time';
      time.textContent = `${clock(segment.start, true)} – ${clock(segment.end, true)}`;
      button.append(time);
      if (speaker !== null) {
        const who = document.createElement('span');
        who.className = 'speaker';
        who.textContent = t('speaker', speaker + 1);
        button.append(who);
      }
      const text = document.createElement('p');
      text.className = 'text';
      appendText(text, segment);
      li.append(button, text);
      return li;
    });
    if (!items.length && state.result) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = t('noSegments');
      items.push(li);
    }
    ui.transcript.replaceChildren(...items);
    highlight();
  }

  function seek(seconds) {
    if (!ui.player.src) return;
    ui.player.currentTime = seconds;
    ui.player.play().catch(() => {});
  }

  function highlight() {
    const now = ui.player.currentTime;
    const index = state.segments.findIndex((s) => now >= s.start && now < s.end);
    if (index === state.current) return;
    const old = ui.transcript.querySelector('.segment.current');
    if (old) {
      old.classList.remove('current');
      old.removeAttribute('aria-current');
    }
    state.current = index;
    if (index < 0) return;
    const li = ui.transcript.querySelector(`.segment[data-index="${index}"]`);
    if (!li) return;
    li.classList.add('current');
    li.setAttribute('aria-current', 'true');
    if (!ui.player.paused) li.scrollIntoView({ block: 'nearest' });
  }

  // ---- downloads -------------------------------------------------------------------------

  // The files are the server's own renderings of the job's result (GET
  // /v1/jobs/{id}/result?response_format=…), written by the same code as the API's answers.
  const FORMATS = { txt: 'text', srt: 'srt', vtt: 'vtt', json: 'verbose_json' };

  async function download(format) {
    if (!state.resultJob) return;
    const id = encodeURIComponent(state.resultJob.id);
    const name = String(state.resultJob.name || 'transcript').replace(/\.[^.]*$/, '');
    let blob;
    try {
      const response = await fetch(`v1/jobs/${id}/result?response_format=${FORMATS[format]}`, { headers: authHeaders() });
      if (!response.ok) throw errorOf(response.status, await response.text());
      blob = await response.blob();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError('', 0));
      return;
    }
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `${name}.${format}`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- wiring ----------------------------------------------------------------------------

  function start() {
    const saved = stored('uiLang');
    const browser = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
    ui.apiKey.value = stored('apiKey') || '';
    applyLanguage(saved || (browser.toLowerCase().startsWith('ru') ? 'ru' : 'en'));

    ui.uiLang.addEventListener('change', () => {
      stored('uiLang', ui.uiLang.value);
      applyLanguage(ui.uiLang.value);
    });
    ui.file.addEventListener('change', () => chooseFile(ui.file.files[0]));
    for (const name of ['dragenter', 'dragover']) {
      ui.dropZone.addEventListener(name, (e) => {
        e.preventDefault();
        ui.dropZone.classList.add('dragging');
      });
    }
    for (const name of ['dragleave', 'drop']) {
      ui.dropZone.addEventListener(name, () => ui.dropZone.classList.remove('dragging'));
    }
    ui.dropZone.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) chooseFile(file);
    });
    ui.model.addEventListener('change', englishOnlyModel);
    ui.language.addEventListener('change', () => {
      if (!ui.language.disabled) stored('language', ui.language.value || null);
    });
    ui.diarize.addEventListener('change', () => {
      ui.numSpeakers.disabled = !ui.diarize.checked;
    });
    ui.apiKey.addEventListener('change', () => {
      stored('apiKey', ui.apiKey.value.trim() || null);
      if (!ui.model.options.length || (state.error && state.error.err && state.error.err.status === 401)) {
        loadModels();
      }
    });
    ui.form.addEventListener('submit', submit);
    ui.cancel.addEventListener('click', cancel);
    ui.transcript.addEventListener('click', (e) => {
      const target = e.target.closest('.word, .seek');
      if (target) seek(Number(target.dataset.start));
    });
    for (const button of document.querySelectorAll('.downloads button')) {
      button.addEventListener('click', () => download(button.dataset.format));
    }
    ui.player.addEventListener('timeupdate', highlight);
    ui.player.addEventListener('seeked', highlight);
    loadModels();
  }

  start();
})();
