// Audio-thread halves of the live client: microphone capture and the playback jitter buffer.
// Both stamp what they see with the AudioContext frame clock so input and output can be
// compared sample-exactly (the latency readout and the mouth-to-ear test rely on it).

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunk = options.processorOptions.chunkSamples;
    this.buffer = new Float32Array(this.chunk);
    this.filled = 0;
    this.startFrame = currentFrame;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    const quantum = channel ? channel.length : 128;
    for (let i = 0; i < quantum; i++) {
      if (this.filled === 0) this.startFrame = currentFrame + i;
      this.buffer[this.filled++] = channel ? channel[i] : 0; // no track data yet: silence keeps the clock
      if (this.filled === this.chunk) {
        let sum = 0;
        for (let k = 0; k < this.chunk; k++) sum += this.buffer[k] * this.buffer[k];
        const samples = this.buffer;
        this.port.postMessage({ samples, frame: this.startFrame, rms: Math.sqrt(sum / this.chunk) }, [samples.buffer]);
        this.buffer = new Float32Array(this.chunk);
        this.filled = 0;
      }
    }
    return true;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.ring = new Float32Array(o.capacitySamples);
    this.read = 0;
    this.fill = 0;
    this.prefill = o.prefillSamples;
    this.maxFill = o.prefillSamples + o.maxExtraSamples;
    this.margin = o.marginSamples; // the least fill worth keeping against network and compute jitter
    this.minFill = Infinity;
    this.sinceTrim = 0;
    this.skip = 0;
    this.primed = false;
    this.started = false;
    this.underruns = 0;
    this.dropped = 0;
    this.recording = false;
    this.rec = [];
    this.recFrame = 0;
    this.sumSq = 0;
    this.count = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg.type === 'audio') this.push(msg.samples);
    else if (msg.type === 'record') { this.recording = msg.on; this.rec = []; }
  }

  push(samples) {
    const cap = this.ring.length;
    for (let i = 0; i < samples.length; i++) {
      if (this.fill === cap) { this.read = (this.read + 1) % cap; this.fill--; this.dropped++; }
      this.ring[(this.read + this.fill) % cap] = samples[i];
      this.fill++;
    }
    if (this.fill > this.maxFill) { // fell behind (e.g. a burst after a stall): drop the oldest to keep latency bounded
      const drop = this.fill - this.prefill;
      this.read = (this.read + drop) % cap;
      this.fill -= drop;
      this.dropped += drop;
    }
  }

  // Latency control: the least fill seen over half a second is slack nobody needed; skip it
  // (crossfaded over one render quantum) so a startup burst or a stall does not add delay for good.
  trim(quantum) {
    this.minFill = Math.min(this.minFill, this.fill);
    this.sinceTrim += quantum;
    if (this.sinceTrim < sampleRate / 2) return;
    const slack = this.minFill - this.margin;
    if (slack > quantum) this.skip = slack;
    this.minFill = Infinity;
    this.sinceTrim = 0;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.primed && this.fill >= this.prefill) { this.primed = true; this.started = true; }
    const cap = this.ring.length;
    if (this.primed && this.skip > 0 && this.fill >= this.skip + out.length) {
      for (let i = 0; i < out.length; i++) {
        const w = i / out.length;
        out[i] = (1 - w) * this.ring[(this.read + i) % cap] + w * this.ring[(this.read + this.skip + i) % cap];
      }
      this.read = (this.read + this.skip + out.length) % cap;
      this.fill -= this.skip + out.length;
      this.dropped += this.skip;
      this.skip = 0;
    } else if (this.primed) {
      const n = Math.min(out.length, this.fill);
      for (let i = 0; i < n; i++) out[i] = this.ring[(this.read + i) % this.ring.length];
      this.read = (this.read + n) % this.ring.length;
      this.fill -= n;
      if (n < out.length) { this.underruns++; this.primed = false; }
    }
    if (this.primed) this.trim(out.length);
    for (let i = 0; i < out.length; i++) { this.sumSq += out[i] * out[i]; }
    this.count += out.length;
    if (this.recording) {
      if (this.rec.length === 0) this.recFrame = currentFrame;
      this.rec.push(out.slice());
      if (this.rec.length >= 16) this.flushRecording();
    }
    if (this.count >= sampleRate / 4) {
      this.port.postMessage({ type: 'stats', fillSamples: this.fill, underruns: this.underruns,
                              dropped: this.dropped, rms: Math.sqrt(this.sumSq / this.count) });
      this.sumSq = 0; this.count = 0;
    }
    return true;
  }

  flushRecording() {
    const total = this.rec.reduce((n, b) => n + b.length, 0);
    const samples = new Float32Array(total);
    let at = 0;
    for (const b of this.rec) { samples.set(b, at); at += b.length; }
    this.port.postMessage({ type: 'rec', frame: this.recFrame, samples }, [samples.buffer]);
    this.rec = [];
  }
}

registerProcessor('capture-processor', CaptureProcessor);
registerProcessor('playback-processor', PlaybackProcessor);
