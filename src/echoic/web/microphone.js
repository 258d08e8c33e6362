// The microphone: getUserMedia into an AudioWorklet that hands out 16-bit PCM chunks.

const WORKLET_URL = "/web/pcm-worklet.js";
const CHUNK_MS = 50;

/** A microphone problem a person can act on; `message` says what to do. */
export class MicrophoneError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "MicrophoneError";
    this.code = code;
  }
}

export class Microphone {
  constructor() {
    this.context = null;
    this.stream = null;
    this.node = null;
  }

  get sampleRate() {
    return this.context ? this.context.sampleRate : 0;
  }

  /** Open the microphone; `onChunk(ArrayBuffer)` gets ~50 ms of pcm_s16le mono at a time.
   *  `sampleRate`: ask the browser to resample (16000 when the page transcribes itself: the
   *  browser's resampler is better than a hand-written one); default: the device's. */
  async start(onChunk, sampleRate = undefined) {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new MicrophoneError(
        "insecure",
        `The browser allows the microphone only on a secure page: open http://localhost:${location.port || 80}/ on the server's machine, or serve echoic over HTTPS.`,
      );
    }
    try {
      // No noise suppression or gain control: they reshape speech the model was not trained on.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      throw describe(err);
    }
    try {
      this.context = new AudioContext({ latencyHint: "interactive", sampleRate });
      await this.context.audioWorklet.addModule(WORKLET_URL);
      const source = this.context.createMediaStreamSource(this.stream);
      this.node = new AudioWorkletNode(this.context, "pcm-s16", { processorOptions: { chunkMs: CHUNK_MS } });
      this.node.port.onmessage = (event) => onChunk(event.data);
      source.connect(this.node);
      this.node.connect(this.context.destination); // silent: the processor writes no output
      if (this.context.state === "suspended") await this.context.resume();
    } catch (err) {
      await this.stop();
      throw new MicrophoneError("audio", `The browser could not process microphone audio: ${err?.message || err}`);
    }
    const [track] = this.stream.getAudioTracks();
    track?.addEventListener("ended", () => this.onended?.());
    return this.sampleRate;
  }

  async stop() {
    this.node?.port.postMessage("flush");
    this.node?.disconnect();
    this.stream?.getTracks().forEach((track) => track.stop());
    const context = this.context;
    this.context = this.stream = this.node = null;
    if (context && context.state !== "closed") await context.close().catch(() => {});
  }
}

function describe(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new MicrophoneError(
        "denied",
        "Microphone access was denied. Allow the microphone for this page in the browser's site settings, then press Start again.",
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return new MicrophoneError("missing", "No microphone was found. Connect one, then press Start again.");
    case "NotReadableError":
    case "AbortError":
      return new MicrophoneError("busy", "The microphone is in use by another application or could not be opened.");
    default:
      return new MicrophoneError("unknown", `The microphone could not be opened: ${err?.message || err}`);
  }
}
