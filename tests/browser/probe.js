// Injected before page scripts (top frame only): records, on one AudioContext clock, what the page
// captures from the microphone (every getUserMedia stream) and what the <audio> element plays
// inside #live-compat-out (via captureStream, which taps without rerouting). Used to measure Gradio's
// streaming path.
(() => {
  if (window.top !== window) return;
  const OUTPUT = '#live-compat-out';
  const probe = { input: [], output: [], ctx: null, ready: null, tapped: new WeakSet() };
  window.__probe = probe;
  const recorderSource = `
    class Recorder extends AudioWorkletProcessor {
      constructor() { super(); this.batch = []; this.frame = 0; }
      process(inputs) {
        const ch = inputs[0] && inputs[0][0];
        if (!ch) return true;
        if (this.batch.length === 0) this.frame = currentFrame;
        this.batch.push(ch.slice());
        if (this.batch.length >= 32) {
          const n = this.batch.reduce((a, b) => a + b.length, 0), out = new Float32Array(n);
          let at = 0; for (const b of this.batch) { out.set(b, at); at += b.length; }
          this.port.postMessage({ frame: this.frame, samples: out }, [out.buffer]);
          this.batch = [];
        }
        return true;
      }
    }
    registerProcessor('probe-recorder', Recorder);`;

  function context() {
    if (!probe.ready) {
      probe.ctx = new AudioContext();
      const url = URL.createObjectURL(new Blob([recorderSource], { type: 'application/javascript' }));
      probe.ready = probe.ctx.audioWorklet.addModule(url).then(() => probe.ctx);
    }
    return probe.ready;
  }

  async function tap(stream, list) {
    const ctx = await context();
    const node = new AudioWorkletNode(ctx, 'probe-recorder');
    node.port.onmessage = (e) => list.push({ frame: e.data.frame, samples: e.data.samples });
    ctx.createMediaStreamSource(stream).connect(node);
    const mute = ctx.createGain(); mute.gain.value = 0; node.connect(mute).connect(ctx.destination); // keep it pulled
  }

  // Base64 of little-endian float32: JSON arrays of a million numbers take minutes to cross into Python.
  const b64 = (f32) => {
    const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  };
  probe.dump = () => ({ rate: probe.ctx && probe.ctx.sampleRate,
                        input: probe.input.map((p) => ({ frame: p.frame, b64: b64(p.samples) })),
                        output: probe.output.map((p) => ({ frame: p.frame, b64: b64(p.samples) })) });

  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    if (constraints && constraints.audio) tap(stream, probe.input);
    return stream;
  };
  document.addEventListener('play', (e) => {
    const el = e.target;
    // only the converted-voice player: Gradio's microphone widget has <audio> elements of its own
    if (el instanceof HTMLAudioElement && el.closest(OUTPUT) && !probe.tapped.has(el) && el.captureStream) {
      probe.tapped.add(el);
      const stream = el.captureStream();
      const attach = () => { if (stream.getAudioTracks().length) tap(stream, probe.output); else setTimeout(attach, 20); };
      attach();
    }
  }, true);
})();
