// A live session: the microphone streamed to /v1/listen, the server's events drawn as they
// come, fallback and recovery toasts, and reconnection when the connection drops. With
// transcription in the browser (`local`, browser-stt.js) the server still hears the audio
// (VAD, endpoints) and the page hands in each utterance's text.

import { server, socketUrl } from "./api.js";
import { Microphone } from "./microphone.js";
import { drawControls, wireControls } from "./live-controls.js";
import { Utterances } from "./utterances.js";
import { $, REASONS, notice, setBadge, sourceLabel, tierName, toast } from "./ui.js";

const RETRY_MS = [500, 1000, 2000, 4000, 8000]; // then every 8 s until Stop
const KEEPALIVE_MS = 10_000; // the server ends a stream after 30 s without audio or keepalive
const STOP_TIMEOUT_MS = 20_000;
const UNAUTHORIZED = 4401;
const REFUSED = new Set([4400, 4429]); // the server will refuse again: retrying is pointless

export class Live {
  /** `settings()`: {model, mode, confirm_model, speakers, where}; `local`: a BrowserStt;
   *  `onKeyRefused(message)`; `onConnection(ok)`. */
  constructor({ settings, local, onKeyRefused, onConnection }) {
    this.settings = settings;
    this.local = local;
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
    wireControls(this);
    this.setState("idle");
  }

  // -- controls ---------------------------------------------------------------------------

  async start() {
    if (this.state !== "idle") return;
    this.setState("starting");
    notice(this.noticeBox, "");
    const { where, speakers } = this.settings();
    let plan;
    try {
      // Speaker labels come from the server's decode: such a stream transcribes there.
      plan = await this.local.plan(speakers && where !== "force_local" ? "force_server" : where);
      if (plan.local && speakers) throw new Error("Speaker labels need transcription on the server.");
    } catch (err) {
      this.setState("idle");
      notice(this.noticeBox, err.message);
      setBadge(this.badge, "error", "browser: unavailable");
      return;
    }
    const mic = new Microphone();
    mic.onended = () => {
      notice(this.noticeBox, "The microphone stopped (unplugged or taken by another application).");
      this.stop();
    };
    try {
      await mic.start((chunk) => this.send(chunk), plan.local ? 16_000 : undefined);
    } catch (err) {
      this.setState("idle");
      notice(this.noticeBox, err.message);
      return;
    }
    this.mic = mic;
    if (plan.local) this.local.begin(mic.sampleRate, this.localSink());
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
    if (this.local.stream) message.client_transcripts = true;
    return message;
  }

  send(chunk) {
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN && this.state !== "stopping" && !this.paused) {
      ws.send(chunk);
      this.local.audio(chunk); // the page's copy, on the server's sample clock
    }
  }

  /** What the browser's transcription draws and sends. */
  localSink() {
    return {
      draft: (id, text) => this.view.partial({ utterance_id: id, text, confidence: "draft", source: "client" }, this.local.label),
      send: (message, result) => {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
        this.view.measured(message.utterance_id, result);
      },
      onBroken: () => setBadge(this.badge, "local", this.serverLabel()),
    };
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
    this.local.end();
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
        this.local.started(event);
        return this.view.started(event);
      case "partial":
        return this.view.partial(event, this.label(event.source, event.utterance_id));
      case "speech_ended":
        this.local.ended(event);
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
    this.local.newSession();
    if (this.state !== "stopping") this.setState("live");
    this.onConnection(true);
    const primary = this.primary();
    if (this.local.stream && !this.local.stream.broken) setBadge(this.badge, "client", this.local.label);
    else setBadge(this.badge, primary.split(":")[0], this.serverLabel());
    const local = this.local.stream && !this.local.stream.broken;
    const models = local ? `${this.local.config.model} in the ${this.local.label.replace(" · ", " (")})` : event.models?.join(" → ") || "";
    const drafts = event.interim_results === true || local ? "" : " · no drafts"; // the page drafts itself
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
    if (source === "client" && this.local.involved) return this.local.label;
    const tier = this.tiers.get(utteranceId) || this.ready?.providers?.find((p) => p.startsWith(source)) || "";
    const label = sourceLabel(source, tier);
    // Beside the browser's own transcription, "local" would be ambiguous: it is the server.
    return this.local.involved && source === "local" ? label.replace(/^local/, "server") : label;
  }

  /** The badge of the server's first tier ("local · CPU"; "server · CPU" beside the browser). */
  serverLabel() {
    const primary = this.primary();
    return this.label(primary.split(":")[0], null);
  }

  onFinal(event) {
    const label = this.label(event.source, event.utterance_id);
    this.view.final(event, label);
    setBadge(this.badge, event.source, label);
    if (event.source === "client") return this.local.accepted();
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
    if (from === "client") return this.local.fallback(event); // it says so itself
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
    drawControls(this);
  }
}
