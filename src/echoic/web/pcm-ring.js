// The stream's recent audio at 16 kHz, addressed by the server's sample clock: sample n is
// the n-th 16 kHz sample the server received in this session, which is how `speech_started`
// and `speech_ended` place utterances (`audio_start_s`, `audio_end_s`). Pure: no DOM.

export const SAMPLE_RATE = 16_000;

export class PcmRing {
  /** `seconds`: how much audio is kept (the server keeps 40 s: its longest utterance, 30 s,
   *  plus pre-roll and slack). `inputRate`: the rate of the chunks appended. */
  constructor({ seconds = 40, inputRate = SAMPLE_RATE } = {}) {
    this.size = Math.round(seconds * SAMPLE_RATE);
    this.data = new Float32Array(this.size);
    this.end = 0; // samples written since the session started (the server's clock)
    this.step = inputRate / SAMPLE_RATE; // input samples per output sample
    this.phase = 0; // where the next output sample falls, in input samples from the chunk start
    this.last = 0; // the previous chunk's last input sample (for interpolation across chunks)
  }

  /** Append pcm_s16le samples (an Int16Array or its ArrayBuffer) as sent to the server. */
  append(chunk) {
    const pcm = chunk instanceof Int16Array ? chunk : new Int16Array(chunk);
    if (this.step === 1) {
      for (let i = 0; i < pcm.length; i += 1) this.put(pcm[i] / 32768);
      return;
    }
    // Another rate: linear interpolation onto the 16 kHz grid, like the server's resampler
    // closely enough for transcription (the offsets stay exact: the grid never drifts).
    let position = this.phase;
    while (position < pcm.length) {
      const index = Math.floor(position);
      const frac = position - index;
      const before = index === 0 ? this.last : pcm[index - 1];
      const at = pcm[index];
      this.put(((1 - frac) * before + frac * at) / 32768);
      position += this.step;
    }
    this.phase = position - pcm.length;
    if (pcm.length) this.last = pcm[pcm.length - 1];
  }

  put(sample) {
    this.data[this.end % this.size] = sample;
    this.end += 1;
  }

  /** The oldest sample still kept. */
  get start() {
    return Math.max(0, this.end - this.size);
  }

  /** Samples [from, to) as a new Float32Array, clipped to what is kept. */
  slice(from, to) {
    const a = Math.max(this.start, Math.floor(from));
    const b = Math.min(this.end, Math.ceil(to));
    const out = new Float32Array(Math.max(0, b - a));
    for (let i = 0; i < out.length; i += 1) out[i] = this.data[(a + i) % this.size];
    return out;
  }

  /** Seconds (the events' clock) to a sample index. */
  static at(seconds) {
    return Math.round(seconds * SAMPLE_RATE);
  }
}
