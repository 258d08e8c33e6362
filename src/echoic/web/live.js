// A live session: the microphone streamed to /v1/listen, the server's events drawn as they
// come, fallback and recovery toasts, and reconnection when the connection drops.

import { server, socketUrl } from "./api.js";
import { Microphone } from "./microphone.js";
import { Utterances } from "./utterances.js";
import { $, notice, setBadge, sourceLabel, toast } from "./ui.js";

const RETRY_MS = [500, 1000, 2000, 4000, 8000]; // then every 8 s until Stop
const KEEPALIVE_MS = 10_000; // the server ends a stream after 30 s without audio or keepalive
const STOP_TIMEOUT_MS = 20_000;
const UNAUTHORIZED = 4401;
const REFUSED = new Set([4400, 4429]); // the server will refuse again: retrying is pointless
const REASONS = {
  error: "failed",
  timeout: "timed out",
  circuit_open: "keeps failing",
  overloaded: "is overloaded",
  unavailable: "is unavailable",
  rate_limited: "is rate limited",
  grace_expired: "did not answer in time",
};

export class Live {
  /** `settings()`: {model, mode, confirm_model, speakers}; `onKeyRefused(message)`; `onConnection(ok)`. */
  constructor({ settings, onKeyRefused, onConnection }) {
    this.settings = settings;
    this.onKeyRefused = onKeyRefused;
    this.onConnection = onConnection;
    this.panel = $("#panel-live");
    this.view = new Utterances({ list: $("#utterances"), empty: $("#live-empty"), slow: $("#slow") });
    this.buttons = { start: $("#start"), pause: $("#pause"), stop: $("#stop"), talk: $("#talk") };
    this.noticeBox = $("#live-notice");
    this.badge = $("#session-badge");
    this.info = $("#live-info");
    this.ptt = $("#ptt");
    this.state = "idle"; // idle | starting | live | reconnecting | stopping
    this.paused = false;
    this.holding = false;
    this.mic = null;
    this.ws = null;
    this.ready = null;
    this.lastError = null;
    this.attempt = 0;
    this.timers = { retry: null, stop: null, keepalive: null };
    this.tiers = new Map(); // utterance_id → the tier a fallback sent it to
    this.degraded = false; // a fallback tier is answering instead of the first one
    this.wire();
    this.setState("idle");
  }

  wire() {
    const { start, pause, stop, talk } = this.buttons;
    start.addEventListener("click", () => this.start());
    pause.addEventListener("click", () => this.togglePause());
    stop.addEventListener("click", () => this.stop());
    talk.addEventListener("pointerdown", (event) => {
      talk.setPointerCapture?.(event.pointerId);
      this.holdStart();
    });
    talk.addEventListener("pointerup", () => this.holdEnd());
    talk.addEventListener("pointercancel", () => this.holdEnd());
    talk.addEventListener("keydown", (event) => {
      if ((event.key === " " || event.key === "Enter") && !event.repeat) {
        event.preventDefault();
        this.holdStart();
      }
    });
    talk.addEventListener("keyup", (event) => {
      if (event.key === " " || event.key === "Enter") {
        event.preventDefault();
        this.holdEnd();
      }
    });
    this.ptt.addEventListener("change", () => {
      if (this.state === "live") this.setPaused(this.ptt.checked);
    });
  }

  // -- controls ---------------------------------------------------------------------------

  async start() {
    if (this.state !== "idle") return;
    this.setState("starting");
    notice(this.noticeBox, "");
    const mic = new Microphone();
    mic.onended = () => {
      notice(this.noticeBox, "The microphone stopped (unplugged or taken by another application).");
      this.stop();
    };
    try {
      await mic.start((chunk) => this.send(chunk));
    } catch (err) {
      this.setState("idle");
      notice(this.noticeBox, err.message);
      return;
    }
    this.mic = mic;
    this.paused = this.ptt.checked; // push-to-talk: nothing is sent until the key is held
    this.attempt = 0;
    this.degraded = false;
    this.open();
  }

  async stop() {
    if (this.state === "idle" || this.state === "stopping") return;
    clearTimeout(this.timers.retry);
    const reconnecting = this.state === "reconnecting";
    this.setState("stopping");
    const mic = this.mic;
    this.mic = null;
    await mic?.stop();
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN && !reconnecting) {
      ws.send(JSON.stringify({ type: "stop" })); // the server sends the last finals, then end
      this.timers.stop = setTimeout(() => ws.close(1000), STOP_TIMEOUT_MS);
    } else if (!ws || ws.readyState !== WebSocket.CONNECTING) {
      this.ws = null;
      this.finish();
    } // still connecting: onopen sends start and stop at once
  }

  togglePause() {
    if (this.state === "live") this.setPaused(!this.paused);
  }

  setPaused(paused) {
    if (this.paused === paused) return;
    this.paused = paused;
    this.control(paused ? "pause" : "resume"); // pausing also ends the open utterance
    this.updateButtons();
  }

  /** End the open utterance now, without waiting for silence. */
  finalize() {
    if (this.state === "live") this.control("finalize");
  }

  holdStart() {
    if (this.state !== "live" || this.holding) return;
    this.holding = true;
    this.buttons.talk.setAttribute("aria-pressed", "true");
    this.setPaused(false);
  }

  holdEnd() {
    if (!this.holding) return;
    this.holding = false;
    this.buttons.talk.setAttribute("aria-pressed", "false");
    this.finalize();
    if (this.ptt.checked) this.setPaused(true);
  }

  // -- the connection ---------------------------------------------------------------------

  open() {
    const ws = new WebSocket(socketUrl("/v1/listen"));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.ready = null;
    this.lastError = null;
    ws.onopen = () => {
      if (server.authRequired) ws.send(JSON.stringify({ type: "auth", token: server.key }));
      ws.send(JSON.stringify(this.startMessage()));
      if (this.state === "stopping") ws.send(JSON.stringify({ type: "stop" }));
      else if (this.paused) ws.send(JSON.stringify({ type: "pause" }));
    };
    ws.onmessage = (message) => {
      if (ws !== this.ws || typeof message.data !== "string") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      this.onEvent(event);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.onClose(event);
    };
    clearInterval(this.timers.keepalive);
    this.timers.keepalive = setInterval(() => {
      if (this.paused) this.control("keepalive");
    }, KEEPALIVE_MS);
  }

  startMessage() {
    const { model, mode, confirm_model, speakers } = this.settings();
    const message = { type: "start", sample_rate: this.mic?.sampleRate || 48000, encoding: "pcm_s16le" };
    if (model) message.model = model;
    if (mode) message.mode = mode;
    if (mode === "speculative" && confirm_model) message.confirm_model = confirm_model;
    if (speakers) message.diarization = true;
    return message;
  }

  send(chunk) {
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN && this.state !== "stopping" && !this.paused) ws.send(chunk);
  }

  control(type) {
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type }));
  }

  onClose(event) {
    this.ws = null;
    clearInterval(this.timers.keepalive);
    if (this.state === "stopping" || this.state === "idle") {
      this.finish();
      return;
    }
    const error = this.lastError;
    if (event.code === UNAUTHORIZED) {
      this.halt();
      const message = `The server refused the API key: ${error?.message || "unauthorized"}`;
      notice(this.noticeBox, message);
      this.onKeyRefused(message);
      return;
    }
    if (REFUSED.has(event.code)) {
      this.halt();
      notice(this.noticeBox, error?.message || `The server refused the stream (close code ${event.code}).`);
      return;
    }
    this.view.abandon();
    this.retry();
  }

  retry() {
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting");
    this.onConnection(false);
    const seconds = Math.max(1, Math.round(delay / 1000));
    const message =
      this.attempt <= 3
        ? `Connection lost — reconnecting in ${seconds} s…`
        : `Server unreachable — still reconnecting (attempt ${this.attempt}, next in ${seconds} s). Press Stop to give up.`;
    notice(this.noticeBox, message, "warning");
    this.timers.retry = setTimeout(() => {
      if (this.state === "reconnecting") this.open();
    }, delay);
  }

  /** Give up: the server refused the stream. */
  halt() {
    const mic = this.mic;
    this.mic = null;
    mic?.stop();
    this.finish();
  }

  finish() {
    clearTimeout(this.timers.stop);
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.keepalive);
    this.view.abandon();
    this.holding = false;
    this.paused = false;
    this.setState("idle");
  }

  // -- events -----------------------------------------------------------------------------

  onEvent(event) {
    switch (event.type) {
      case "ready":
        return this.onReady(event);
      case "speech_started":
        return this.view.started(event);
      case "partial":
        return this.view.partial(event, this.label(event.source, event.utterance_id));
      case "speech_ended":
        return this.view.ended(event);
      case "final":
        return this.onFinal(event);
      case "fallback":
        return this.onFallback(event);
      case "warning":
        return this.onWarning(event);
      case "error":
        return this.onError(event);
      default:
        return undefined; // "end": the close follows
    }
  }

  onReady(event) {
    const reconnected = this.state === "reconnecting";
    this.ready = event;
    this.attempt = 0;
    this.tiers.clear();
    this.view.newSession();
    if (this.state !== "stopping") this.setState("live");
    this.onConnection(true);
    const primary = this.primary();
    setBadge(this.badge, primary.split(":")[0], sourceLabel(primary.split(":")[0], primary));
    const models = event.models?.join(" → ") || "";
    const drafts = event.interim_results === true ? "" : " · no drafts";
    this.info.textContent = `${event.mode} · ${models}${drafts}${event.diarization ? " · speakers" : ""}`;
    if (reconnected) {
      notice(this.noticeBox, "");
      toast("Reconnected — transcription continues.", "success");
    }
  }

  primary() {
    return this.ready?.providers?.[0] || "local:cpu";
  }

  /** The badge text for what `source` produced for an utterance. */
  label(source, utteranceId) {
    const tier = this.tiers.get(utteranceId) || this.ready?.providers?.find((p) => p.startsWith(source)) || "";
    return sourceLabel(source, tier);
  }

  onFinal(event) {
    const label = this.label(event.source, event.utterance_id);
    this.view.final(event, label);
    setBadge(this.badge, event.source, label);
    const tier = this.tiers.get(event.utterance_id) || this.primary();
    if (this.degraded && tier === this.primary()) {
      this.degraded = false;
      toast(`${tierName(tier)} is back.`, "success");
    }
  }

  onFallback(event) {
    const from = event.from || "";
    const to = event.to || "";
    this.tiers.set(event.utterance_id, to);
    if (!to || this.degraded) return; // no tier left: an error event follows
    this.degraded = true;
    const reason = REASONS[event.reason] || event.reason || "failed";
    toast(`${tierName(from)} ${reason} — switched to ${tierName(to, false)}.`, "warning");
  }

  onWarning(event) {
    if (event.code === "slow_transcription") this.view.serverSlow();
    else if (event.code === "backpressure" || event.code === "audio_dropped") {
      notice(this.noticeBox, "The server is falling behind: some audio was dropped.", "warning");
    }
  }

  onError(event) {
    if (event.utterance_id !== undefined && event.utterance_id !== null) {
      this.view.failed(event);
      return;
    }
    this.lastError = event;
    if (event.code !== "invalid_api_key" && event.code !== "idle_timeout") {
      notice(this.noticeBox, event.message);
    }
  }

  // -- presentation -----------------------------------------------------------------------

  setState(state) {
    this.state = state;
    this.panel.dataset.state = state;
    this.updateButtons();
  }

  updateButtons() {
    const { start, pause, stop, talk } = this.buttons;
    const live = this.state === "live";
    start.disabled = this.state !== "idle";
    start.textContent = this.state === "starting" ? "Starting…" : this.state === "idle" ? "Start" : "Listening";
    pause.disabled = !live;
    pause.textContent = this.paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(this.paused));
    stop.disabled = this.state === "idle" || this.state === "starting" || this.state === "stopping";
    stop.textContent = this.state === "stopping" ? "Finishing…" : "Stop";
    talk.disabled = !live;
  }
}

/** "Local transcription (CPU)", "the cloud", … for a provider tier's name. */
function tierName(tier, subject = true) {
  const [source, device] = tier.split(":");
  if (source === "local") return `${subject ? "Local" : "local"} transcription (${device === "cuda" ? "GPU" : (device || "cpu").toUpperCase()})`;
  if (source === "client") return subject ? "The page's own transcription" : "the page";
  if (source === "server") return "the server";
  return subject ? `The ${source}` : `the ${source}`;
}
