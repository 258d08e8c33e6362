// The in-browser model as the page uses it: the verified files handed to the transcription
// worker (stt-worker.js), one coordinator in front of it (finals before drafts), the 1 s
// self-test, and a crash reported once, so the page can hand the work to the server.

import { Coordinator } from "./coordinator.js";
import { loadFiles, prune } from "./model-cache.js";
import { SAMPLE_RATE } from "./pcm-ring.js";

const WORKER_URL = "/web/stt-worker.js";
/** Loading (compiling the runtime, creating the sessions) longer than this is a failure. */
const LOAD_TIMEOUT_MS = 120_000;
const MODEL_FILES = ["encoder.onnx", "decoder.onnx", "tokens.json", "config.json"];
// The runtime's ES module for each backend and the WebAssembly it loads (onnxruntime-web
// 1.22 and later build WebGPU with asyncify; older ones with JSEP).
const RUNTIMES = {
  webgpu: { module: "ort.webgpu.min.mjs", wasm: ["ort-wasm-simd-threaded.asyncify.wasm", "ort-wasm-simd-threaded.jsep.wasm"] },
  wasm: { module: "ort.wasm.min.mjs", wasm: ["ort-wasm-simd-threaded.wasm"] },
};

/** Something local transcription cannot get past; `stage`: load | self_test | crash. */
export class LocalSttError extends Error {
  constructor(stage, message) {
    super(message);
    this.name = "LocalSttError";
    this.stage = stage;
  }
}

export class SttEngine {
  constructor(worker, backend, models) {
    this.worker = worker;
    this.backend = backend;
    this.models = models; // {name: sha256} of the model files it runs
    this.jobs = new Map(); // id → {resolve, reject}
    this.nextId = 1;
    this.crashed = null;
    this.finalBeamSize = 1; // the pack's config.json final_beam_size, once loaded
    this.onCrash = () => {};
    this.coordinator = new Coordinator((job) => this.run(job));
    worker.onmessage = (event) => this.answer(event.data);
    worker.onerror = (event) => this.crash(event.message || "the transcription worker failed");
  }

  /** Files from the cache or the server (`onProgress(done, total)` bytes), then the worker. */
  static async load(config, backend, onProgress) {
    const files = config.runtime.files;
    const usable = (name) => files[RUNTIMES[name].module] && RUNTIMES[name].wasm.some((w) => files[w]);
    const chosen = backend === "webgpu" && usable("webgpu") ? "webgpu" : "wasm";
    const runtime = { module: RUNTIMES[chosen].module, wasm: RUNTIMES[chosen].wasm.find((w) => files[w]) };
    const wanted = {};
    for (const name of MODEL_FILES) {
      if (!config.files[name]) throw new LocalSttError("load", `the server's browser model has no ${name}`);
      wanted[name] = config.files[name];
    }
    const wasm = files[runtime.wasm];
    const module = files[runtime.module];
    if (!wasm || !module) throw new LocalSttError("load", `the server's browser runtime has no ${runtime.module}`);
    wanted[runtime.wasm] = wasm;
    let loaded;
    try {
      loaded = await loadFiles(wanted, onProgress);
    } catch (err) {
      throw new LocalSttError("load", `The model could not be loaded: ${err.message}`);
    }
    prune(Object.values(wanted).map((file) => file.sha256)).catch(() => {}); // an older model's
    const text = (name) => JSON.parse(new TextDecoder().decode(loaded.files[name]));
    const worker = new Worker(WORKER_URL, { type: "module", name: "echoic-stt" });
    const models = Object.fromEntries(MODEL_FILES.map((name) => [name, wanted[name].sha256]));
    const engine = new SttEngine(worker, chosen, models);
    engine.finalBeamSize = text("config.json").final_beam_size ?? 1; // a pack without it: greedy
    const { encoder, decoder } = { encoder: loaded.files["encoder.onnx"], decoder: loaded.files["decoder.onnx"] };
    const ready = new Promise((resolve, reject) => {
      engine.loading = { resolve, reject };
      setTimeout(() => reject(new LocalSttError("load", "The model took too long to start.")), LOAD_TIMEOUT_MS);
    });
    worker.postMessage(
      {
        type: "load",
        runtimeUrl: module.url,
        wasmBinary: loaded.files[runtime.wasm],
        backend: chosen,
        numThreads: globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1,
        config: text("config.json"),
        tokens: text("tokens.json"),
        encoder,
        decoder,
      },
      [encoder, decoder, loaded.files[runtime.wasm]],
    );
    try {
      await ready;
    } catch (err) {
      engine.close();
      throw err;
    }
    return engine;
  }

  /** Whether this engine runs the model `config` (the server's) offers: else load anew. */
  runs(config) {
    return Object.entries(this.models).every(([name, sha256]) => config.files[name]?.sha256 === sha256);
  }

  get label() {
    return `browser · ${this.backend === "webgpu" ? "WebGPU" : "WASM"}`;
  }

  /** Queue a transcription: `kind` final | draft | background, `key` its utterance. Resolves
   *  to {text, words, encodeMs, decodeMs, ms}, or null when a draft was dropped as stale. */
  transcribe(samples, { kind = "final", key = null } = {}) {
    if (this.crashed) return Promise.reject(new LocalSttError("crash", this.crashed));
    return this.coordinator.submit({ kind, key, samples });
  }

  /** Time one transcription of 1 s of voice-like sound (seconds): the page's gate. */
  async selfTest() {
    const started = performance.now();
    await this.transcribe(voiceLike(1), { kind: "background" });
    return (performance.now() - started) / 1000;
  }

  run(job) {
    if (this.crashed) return Promise.reject(new LocalSttError("crash", this.crashed));
    const id = this.nextId++;
    const started = performance.now();
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, started });
      // No token cap of our own: whisper.js bounds the decode by the audio's duration.
      // Word timings and the beam search (the pack's final_beam_size, as the server's finals)
      // for finals only: a draft is replaced anyway, and must come every ~500 ms.
      const words = job.kind === "final";
      const beamSize = words ? this.finalBeamSize : 1;
      this.worker.postMessage({ type: "transcribe", id, samples: job.samples.buffer, words, beamSize }, [job.samples.buffer]);
    });
  }

  answer(message) {
    if (message.type === "loaded") return this.loading?.resolve(message);
    if (message.type === "load_failed") return this.loading?.reject(new LocalSttError("load", `The model could not start: ${message.message}`));
    const job = this.jobs.get(message.id);
    if (!job) return undefined;
    this.jobs.delete(message.id);
    if (message.type === "failed") return job.reject(new LocalSttError("crash", message.message));
    const { text, words, encodeMs, decodeMs } = message;
    return job.resolve({ text: (text || "").trim(), words, encodeMs, decodeMs, ms: performance.now() - job.started });
  }

  /** The worker died: every waiting job fails now, and so does every later one. */
  crash(message) {
    if (this.crashed) return;
    this.crashed = message;
    this.loading?.reject(new LocalSttError("load", `The model could not start: ${message}`));
    for (const job of this.jobs.values()) job.reject(new LocalSttError("crash", message));
    this.jobs.clear();
    this.coordinator.cancelDrafts();
    this.worker.terminate();
    this.onCrash(message);
  }

  close() {
    this.crashed = this.crashed || "closed";
    this.worker.terminate();
  }
}

/** `seconds` of a vowel-like buzz (a 140 Hz voice with harmonics and vibrato): something the
 *  model really decodes, unlike silence, which it skips cheaply. */
export function voiceLike(seconds) {
  const out = new Float32Array(Math.round(seconds * SAMPLE_RATE));
  let phase = 0;
  for (let i = 0; i < out.length; i += 1) {
    const t = i / SAMPLE_RATE;
    phase += (2 * Math.PI * (140 + 8 * Math.sin(2 * Math.PI * 5 * t))) / SAMPLE_RATE;
    let sample = 0;
    for (let h = 1; h <= 8; h += 1) sample += Math.sin(h * phase) / h;
    out[i] = 0.1 * sample * Math.min(1, t * 20, (seconds - t) * 20);
  }
  return out;
}
