// Main-thread half of the live client: target upload, WebSocket transport, meters and latency readout.
// Capture and playback run in AudioWorklets (worklets.js); this file only moves buffers and numbers.

const $ = (id) => document.getElementById(id);
const MAX_IN_FLIGHT_MS = 120; // audio the server has not answered yet beyond its algorithmic latency
const state = { ctx: null, ws: null, stream: null, nodes: [], server: {}, client: {}, recording: null, targetId: null,
                sent: 0, received: 0, skipped: 0,
                pings: [] };

function setStatus(text, kind = 'info') {
  const el = $('status');
  el.textContent = text; // textContent: server messages are never parsed as HTML
  el.className = kind;
}

function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${location.pathname.replace(/\/live\/page\/?$/, '')}/live/ws`;
}

function apiUrl(path) {
  return `${location.pathname.replace(/\/live\/page\/?$/, '')}${path}`;
}

async function loadConfig() {
  const res = await fetch(apiUrl('/live/config'));
  const cfg = await res.json();
  const select = $('engine');
  for (const e of cfg.engines) {
    const opt = document.createElement('option');
    opt.value = e.name; opt.textContent = `${e.name} — ${e.description}`;
    select.appendChild(opt);
  }
  select.value = cfg.default_engine;
  for (const v of cfg.voices) {
    const opt = document.createElement('option');
    opt.value = v.name; opt.textContent = v.display_name; // textContent: names are user input
    $('voice').appendChild(opt);
  }
  state.config = cfg;
}

async function useVoice() {
  const name = $('voice').value;
  if (!name) return;
  setStatus(`Preparing the enrolled voice ${name}…`);
  const res = await fetch(apiUrl(`/live/voice?name=${encodeURIComponent(name)}&engine=${encodeURIComponent($('engine').value)}`),
                          { method: 'POST' });
  const body = await res.json();
  if (!res.ok) { setStatus(body.error || `Could not use the voice (${res.status}).`, 'error'); return; }
  state.targetId = body.target_id;
  setStatus(`Target ready (enrolled voice ${name}, ${targetNote(body)}). Press Start and speak.`, 'ok');
}

async function uploadReference() {
  const file = $('reference').files[0];
  if (!file) { setStatus('Choose a reference recording of the target voice (3–60 s of speech).', 'error'); return; }
  setStatus(`Preparing the target voice from ${file.name}…`);
  const res = await fetch(apiUrl(`/live/reference?engine=${encodeURIComponent($('engine').value)}`),
                          { method: 'POST', body: file });
  const body = await res.json();
  if (!res.ok) { setStatus(body.error || `Upload failed (${res.status}).`, 'error'); return; }
  state.targetId = body.target_id;
  setStatus(`Target ready (${body.duration_s} s reference, ${targetNote(body)}). Press Start and speak.`, 'ok');
}

// The engine that really runs, and any warning (a fallback is never silent).
function targetNote(body) {
  return [`engine ${body.engine}`, ...(body.warnings || [])].join('; ');
}

function engineRate() {
  const e = state.config.engines.find((x) => x.name === $('engine').value);
  return e ? e.sample_rate : 16000;
}

async function openCapture(stream) {
  // Capture straight at the converter's rate when the browser can (Chromium, Safari): the browser
  // resamples the microphone and the server does no resampling. Firefox refuses a microphone at another
  // rate than its context's (NotSupportedError), so it captures at the microphone's own rate (or the
  // output device's) and the server resamples (~2 ms more). ?capture=device on the page URL skips the
  // converter's rate.
  const micRate = stream.getAudioTracks()[0]?.getSettings().sampleRate;
  const rates = [new URLSearchParams(location.search).get('capture') === 'device' ? null : engineRate(),
                 micRate, undefined].filter((r, i, all) => r !== null && all.indexOf(r) === i);
  let lastError = null;
  for (const sampleRate of rates) {
    let ctx = null;
    try {
      ctx = new AudioContext(sampleRate ? { sampleRate, latencyHint: 'interactive' } : { latencyHint: 'interactive' });
      return { ctx, source: ctx.createMediaStreamSource(stream) };
    } catch (err) {
      lastError = err;
      if (ctx) await ctx.close();
    }
  }
  throw lastError;
}

// One session per Start: the button is off from the first click, before the slow awaits (upload, microphone,
// worklet), so a double click cannot open a second socket that Stop would never close.
async function start() {
  if (state.starting || state.ws) return;
  state.starting = true;
  $('start').disabled = true;
  try {
    await openSession();
  } finally {
    state.starting = false;
    if (!state.ws) $('start').disabled = false;
  }
}

async function openSession() {
  if (!state.targetId) await ($('voice').value ? useVoice() : uploadReference());
  if (!state.targetId) return;
  const chunkMs = Number($('chunk').value);
  state.stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const { ctx, source } = await openCapture(state.stream);
  state.ctx = ctx;
  await ctx.audioWorklet.addModule(apiUrl('/live/static/worklets.js'));
  const chunkSamples = Math.round(ctx.sampleRate * chunkMs / 1000);
  const capture = new AudioWorkletNode(ctx, 'capture-processor', { processorOptions: { chunkSamples } });
  const margin = Number($('margin').value);
  const playback = new AudioWorkletNode(ctx, 'playback-processor', { outputChannelCount: [1], processorOptions: {
    capacitySamples: ctx.sampleRate * 2, prefillSamples: Math.round(ctx.sampleRate * (chunkMs + margin) / 1000),
    marginSamples: Math.round(ctx.sampleRate * margin / 1000),
    maxExtraSamples: Math.round(ctx.sampleRate * 0.1) } });
  source.connect(capture);
  playback.connect(ctx.destination);
  state.nodes = [source, capture, playback];
  state.playback = playback;
  state.sent = 0; state.received = 0; state.skipped = 0;
  const ws = new WebSocket(wsUrl());
  ws.binaryType = 'arraybuffer';
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', sample_rate: ctx.sampleRate, target_id: state.targetId,
                                             chunk_ms: chunkMs, format: 'f32' }));
  ws.onmessage = (e) => onServerMessage(e.data);
  ws.onclose = (e) => { if (state.ws === ws) { stopAudio(); if (e.code !== 1000) setStatus(state.lastError || `Connection closed (${e.code}).`, 'error'); } };
  capture.port.onmessage = (e) => onCaptured(e.data);
  playback.port.onmessage = (e) => onPlayback(e.data);
  $('start').disabled = true; $('stop').disabled = false;
  setStatus('Connecting…');
}

function onCaptured(msg) {
  $('in-level').value = Math.min(1, msg.rms * 4);
  if (state.recording) state.recording.input.push({ frame: msg.frame, samples: msg.samples.slice() });
  if (!(state.ws && state.ws.readyState === WebSocket.OPEN && state.ready)) return;
  // Latency control on the sending side: when the server falls behind (a busy CPU), frames would queue
  // in the socket and the delay would grow for good. Skip microphone chunks until it has caught up.
  const rate = state.ctx.sampleRate;
  const inFlightMs = 1000 * (state.sent - state.received) / rate - (state.server.algorithmic_ms || 0);
  if (inFlightMs > MAX_IN_FLIGHT_MS) { state.skipped += msg.samples.length; return; }
  state.sent += msg.samples.length;
  state.ws.send(msg.samples.buffer);
}

function onPlayback(msg) {
  if (!state.ctx) return; // a message still in flight from a context that was just closed
  if (msg.type === 'rec') { if (state.recording) state.recording.output.push({ frame: msg.frame, samples: msg.samples }); return; }
  $('out-level').value = Math.min(1, msg.rms * 4);
  state.client = { bufferMs: 1000 * msg.fillSamples / state.ctx.sampleRate, underruns: msg.underruns, dropped: msg.dropped };
  if (state.ws && state.ready) {
    state.ws.send(JSON.stringify({ type: 'client_stats', underruns: msg.underruns }));
    state.ws.send(JSON.stringify({ type: 'ping', t: performance.now() }));
  }
  renderLatency();
}

function onServerMessage(data) {
  if (data instanceof ArrayBuffer) {
    state.received += data.byteLength / 4;
    state.playback.port.postMessage({ type: 'audio', samples: new Float32Array(data) });
    return;
  }
  const msg = JSON.parse(data);
  if (msg.type === 'ready') { state.ready = true; state.server = msg; setStatus('Live: speak into the microphone.', 'ok'); }
  else if (msg.type === 'stats') state.server = msg;
  else if (msg.type === 'pong') { state.pings.push(performance.now() - msg.t); state.pings = state.pings.slice(-10); }
  else if (msg.type === 'busy' || msg.type === 'error') { state.lastError = msg.message; setStatus(msg.message, msg.type === 'busy' ? 'busy' : 'error'); }
  renderLatency();
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; }

function latencyFigures() {
  const s = state.server, c = state.client, ctx = state.ctx;
  const outputMs = ctx ? 1000 * ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) : 0;
  const rtt = median(state.pings);
  const estimate = (s.algorithmic_ms || 0) + (s.compute_p50_ms || 0) + rtt + (c.bufferMs || 0) + outputMs;
  return { algorithmic_ms: s.algorithmic_ms, compute_p50_ms: s.compute_p50_ms, compute_p95_ms: s.compute_p95_ms,
           rtf: s.rtf, server_underruns: s.underruns, rtt_ms: rtt, jitter_buffer_ms: c.bufferMs,
           client_underruns: c.underruns, output_device_ms: outputMs, estimated_mouth_to_ear_ms: estimate,
           skipped_input_ms: ctx ? 1000 * state.skipped / ctx.sampleRate : 0,
           context_rate: ctx ? ctx.sampleRate : null };
}

function renderLatency() {
  const f = latencyFigures();
  const fmt = (v, d = 1) => (typeof v === 'number' && isFinite(v) ? v.toFixed(d) : '–');
  $('latency').textContent =
    `≈ ${fmt(f.estimated_mouth_to_ear_ms, 0)} ms mouth-to-ear (estimate) = algorithmic ${fmt(f.algorithmic_ms)} ` +
    `+ compute p50 ${fmt(f.compute_p50_ms)} (p95 ${fmt(f.compute_p95_ms)}) + network ${fmt(f.rtt_ms)} ` +
    `+ jitter buffer ${fmt(f.jitter_buffer_ms)} + output ${fmt(f.output_device_ms)} ms · RTF ${fmt(f.rtf, 2)} · ` +
    `underruns server ${f.server_underruns ?? '–'} / playback ${f.client_underruns ?? '–'} · ` +
    `input skipped to catch up ${fmt(f.skipped_input_ms, 0)} ms`;
}

function stopAudio() {
  state.ready = false;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  if (state.ctx) state.ctx.close();
  state.stream = null; state.ctx = null; state.nodes = [];
  $('start').disabled = false; $('stop').disabled = true;
}

function stop() {
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  stopAudio();
  setStatus('Stopped.');
}

// Test hooks: record what the page captured and what it played, on the AudioContext frame clock.
window.liveLab = {
  startRecording() { state.recording = { input: [], output: [] }; state.playback.port.postMessage({ type: 'record', on: true }); },
  stopRecording() {
    state.playback.port.postMessage({ type: 'record', on: false });
    const rec = state.recording; state.recording = null;
    const b64 = (f32) => { // base64 little-endian float32: far faster than JSON arrays for a test harness
      const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      return btoa(bin);
    };
    const blocks = (parts) => parts.map((p) => ({ frame: p.frame, b64: b64(p.samples) }));
    return { rate: state.ctx.sampleRate, input: blocks(rec.input), output: blocks(rec.output), figures: latencyFigures() };
  },
  figures: latencyFigures,
};

$('reference').addEventListener('change', () => { state.targetId = null; $('voice').value = ''; uploadReference(); });
$('voice').addEventListener('change', () => { state.targetId = null; useVoice(); });
$('engine').addEventListener('change', () => { state.targetId = null; if ($('voice').value) useVoice(); });
$('start').addEventListener('click', () => start().catch((err) => { setStatus(`Could not start: ${err.message}`, 'error'); stopAudio(); }));
$('stop').addEventListener('click', stop);
loadConfig().catch((err) => setStatus(`Could not load the live configuration: ${err.message}`, 'error'));
