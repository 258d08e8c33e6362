// AudioWorklet processor: the microphone's Float32 samples (mixed to mono) as 16-bit PCM,
// posted to the page in chunks of `chunkMs` at the AudioContext's own sample rate.
// Int16Array is little-endian on every platform browsers run on, as pcm_s16le wants.

class PcmS16Processor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const chunkMs = options?.processorOptions?.chunkMs ?? 50;
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's rate.
    this.size = Math.max(128, Math.round((sampleRate * chunkMs) / 1000));
    this.buffer = new Int16Array(this.size);
    this.filled = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") this.flush();
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const frames = channels[0].length;
      for (let i = 0; i < frames; i += 1) {
        let sample = 0;
        for (let c = 0; c < channels.length; c += 1) sample += channels[c][i];
        sample = Math.max(-1, Math.min(1, sample / channels.length));
        this.buffer[this.filled] = Math.round(sample < 0 ? sample * 0x8000 : sample * 0x7fff);
        this.filled += 1;
        if (this.filled === this.size) this.flush();
      }
    }
    return true; // keep running while the microphone is connected
  }

  flush() {
    if (!this.filled) return;
    const chunk = this.buffer.slice(0, this.filled);
    this.filled = 0;
    this.port.postMessage(chunk.buffer, [chunk.buffer]);
  }
}

registerProcessor("pcm-s16", PcmS16Processor);
