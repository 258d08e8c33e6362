// Transcription in this browser (DESIGN.md §4b, issue 17): whether a stream transcribes here
// or on the server, and, when here, the stream's utterances cut from its own audio by the
// server's speech_started / speech_ended, drafts every ~500 ms while speaking, and each final
// sent back as a `transcript` message. Every failure sends the work to the server (whose grace
// timer also covers a final that never comes) and is counted by the breaker.

import { json } from "./api.js";
import { Breaker } from "./breaker.js";
import { PcmRing, SAMPLE_RATE } from "./pcm-ring.js";
import { probe } from "./probe.js";
import { LocalSttError, SttEngine } from "./stt-engine.js";

const DRAFT_EVERY_MS = 500;
const DRAFT_MIN_S = 0.5; // speech (pre-roll included) before the first draft
export const SOURCE = "browser-tiny.en";

export class BrowserStt {
  /** `ui`: {progress(done, total) , status(text, kind)}; `notify(message, kind)`: a toast. */
  constructor({ ui, notify, storage = globalThis.localStorage }) {
    this.ui = ui;
    this.notify = notify;
    this.breaker = new Breaker({ storage });
    this.engine = null;
    this.config = null;
    this.stream = null; // the current stream's state when it transcribes here
    this.involved = false; // this stream was meant to transcribe here (labels say "server")
    this.selfTestS = 0; // the loaded model's self-test, shown in the status
  }

  /**
   * Decide where the next stream transcribes: {local: true} or {local: false, why}. Loads the
   * model (once per page) and self-tests it. `where`: auto | force_local | force_server;
   * force_local throws a LocalSttError instead of answering "server".
   */
  async plan(where) {
    this.involved = false;
    if (where === "force_server") return { local: false, why: "" };
    const refuse = (why, stage = "load") => {
      if (where === "force_local") throw new LocalSttError(stage, `Transcription in this browser is not possible: ${why}`);
      this.ui.status(`On the server: ${why}`, "server");
      return { local: false, why };
    };
    try {
      this.config = await json("/v1/browser");
    } catch (err) {
      return refuse(`the server's browser configuration is unavailable (${err.message})`);
    }
    if (!this.config.enabled) return refuse(this.config.reason || "turned off on the server");
    const now = Date.now();
    if (where !== "force_local" && !this.breaker.allows(now)) {
      const until = new Date(this.breaker.openUntil).toLocaleTimeString();
      return refuse(`it failed ${this.breaker.failures} times in a row; trying again after ${until}`);
    }
    this.involved = true;
    try {
      await this.prepare();
    } catch (err) {
      this.failed(err, false);
      return refuse(err.message, err.stage);
    }
    const backend = this.engine.label.split(" · ")[1];
    this.ui.status(`In this browser (${backend}; 1 s of audio in ${this.selfTestS.toFixed(2)} s)`, "client");
    return { local: true, why: "" };
  }

  async prepare() {
    if (this.engine && !this.engine.crashed && this.engine.runs(this.config)) return; // loaded and tested
    this.engine?.close();
    this.engine = null;
    const found = await probe();
    if (!found.ok) throw new LocalSttError("load", found.why);
    this.ui.status("Loading the browser model…", "loading");
    const engine = await SttEngine.load(this.config, found.backend, (done, total) => this.ui.progress(done, total));
    this.ui.progress(null);
    this.ui.status("Testing the browser model…", "loading");
    let seconds;
    try {
      seconds = await engine.selfTest();
    } catch (err) {
      engine.close();
      throw err;
    }
    this.selfTestS = seconds;
    const bound = this.config.self_test_max_s;
    if (seconds > bound) {
      engine.close();
      throw new LocalSttError("self_test", `1 s of audio took ${seconds.toFixed(2)} s here (more than ${bound} s)`);
    }
    engine.onCrash = (message) => this.failed(new LocalSttError("crash", `the transcription worker failed (${message})`));
    this.engine = engine;
  }

  /** A local failure: counted and shown. A dead worker, or the breaker opening, leaves the
   *  rest of the stream to the server; a late final only leaves that utterance to it. */
  failed(err, duringStream = true) {
    const opened = this.breaker.failure(Date.now());
    this.ui.progress(null);
    const why = err?.message || String(err);
    const s = duringStream ? this.stream : null;
    if (s && !s.broken && (opened || err?.stage !== "late")) {
      s.broken = true;
      s.onBroken();
      this.engine?.coordinator.cancelDrafts();
    }
    const next = s && !s.broken ? "the server transcribes this line" : "the server transcribes instead";
    this.notify(`Transcription in this browser failed — ${next}. ${why}`, "warning");
    if (opened) this.notify(`Transcription in this browser failed ${this.breaker.failures} times in a row: the server transcribes for a while.`, "warning");
  }

  get label() {
    return this.engine?.label || "browser";
  }

  // -- a stream that transcribes here -----------------------------------------------------

  /** `sink`: {draft(id, text), send(message, result), onBroken()}; `result` has the times
   *  (`ms` in the worker's queue and run, `encodeMs`, `decodeMs`). `inputRate`: the microphone's. */
  begin(inputRate, sink) {
    this.stream = { inputRate, ring: new PcmRing({ inputRate }), open: new Map(), late: new Set(), broken: false, ...sink };
  }

  /** A new server session (a start or a reconnection): its sample clock starts at zero. */
  newSession() {
    const s = this.stream;
    if (!s) return;
    for (const utterance of s.open.values()) clearInterval(utterance.timer);
    s.open.clear();
    s.late.clear();
    s.ring = new PcmRing({ inputRate: s.inputRate });
    this.engine?.coordinator.cancelDrafts();
  }

  /** The audio exactly as sent to the server. */
  audio(chunk) {
    this.stream?.ring.append(chunk);
  }

  started(event) {
    const s = this.stream;
    if (!s || s.broken) return;
    const utterance = { id: event.utterance_id, start: PcmRing.at(event.audio_start_s), timer: null, drafting: false, rest: 0 };
    utterance.timer = setInterval(() => this.draft(utterance), DRAFT_EVERY_MS);
    s.open.set(utterance.id, utterance);
    this.draft(utterance); // the pre-roll and the speech the VAD waited for are there already
  }

  async draft(utterance) {
    const s = this.stream;
    if (!s || s.broken || utterance.drafting || !s.open.has(utterance.id)) return;
    if (performance.now() < utterance.rest) return;
    const samples = s.ring.slice(utterance.start, s.ring.end);
    if (samples.length < DRAFT_MIN_S * SAMPLE_RATE) return;
    utterance.drafting = true; // one at a time per utterance: a slow machine skips ticks
    const started = performance.now();
    try {
      const result = await this.engine.transcribe(samples, { kind: "draft", key: utterance.id });
      if (result && s === this.stream && s.open.has(utterance.id) && !s.broken) s.draft(utterance.id, result.text);
    } catch {
      // a failed draft is not worth a fallback: the final decides (and reports)
    } finally {
      utterance.drafting = false;
      // The worker runs one job at a time and a final cannot interrupt a draft: rest as long as
      // the draft took, so the worker is idle half the time at most and a final waits less.
      utterance.rest = performance.now() + (performance.now() - started);
    }
  }

  async ended(event) {
    const s = this.stream;
    const utterance = s?.open.get(event.utterance_id);
    if (!utterance) return;
    clearInterval(utterance.timer);
    s.open.delete(utterance.id);
    if (s.broken) return; // the server's grace timer transcribes it
    this.engine.coordinator.cancelDrafts(utterance.id);
    const samples = s.ring.slice(utterance.start, PcmRing.at(event.audio_end_s));
    let result;
    try {
      result = await this.engine.transcribe(samples, { kind: "final", key: utterance.id });
    } catch (err) {
      if (s === this.stream && !s.broken) this.failed(err);
      return;
    }
    if (s !== this.stream || s.late.has(utterance.id)) return; // the server took it over
    const message = { type: "transcript", utterance_id: utterance.id, text: result.text, source: SOURCE };
    if (Array.isArray(result.words) && result.words.length) {
      const offset = utterance.start / SAMPLE_RATE; // the words' times are the utterance's
      const at = (seconds) => Math.round((seconds + offset) * 1000) / 1000;
      const probability = (w) => Math.min(1, Math.max(0, w.probability ?? 1));
      message.words = result.words.map((w) => ({ word: w.word, start: at(w.start), end: at(w.end), probability: probability(w) }));
    }
    s.send(message, result);
  }

  /** The server's `fallback` for an utterance (its grace period ran out): a local failure. */
  fallback(event) {
    const s = this.stream;
    if (!s || event.from !== "client") return;
    s.late.add(event.utterance_id);
    if (!s.broken) this.failed(new LocalSttError("late", `utterance ${event.utterance_id} was not transcribed within ${this.config?.grace_ms ?? 2000} ms`));
  }

  /** A final the server accepted from this page: local transcription works. */
  accepted() {
    this.breaker.success();
  }

  end() {
    const s = this.stream;
    if (!s) return;
    for (const utterance of s.open.values()) clearInterval(utterance.timer);
    this.engine?.coordinator.cancelDrafts();
    this.stream = null;
  }
}
