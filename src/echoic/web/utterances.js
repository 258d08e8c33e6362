// The live transcript: one line per utterance, grey draft text while it is spoken, solid
// confirmed text once it is final, its source and latency; the "transcription slow" state.
// Each line keeps what the page measured (`data-first-draft-ms`: speech_started to the first
// draft; `data-final-ms`: speech_ended to the final), whichever side transcribed.

import { announce, el, millis, setBadge } from "./ui.js";

/** A final later than this after the speech ended puts the line in the slow state (seed 003). */
export const SLOW_AFTER_MS = 3000;

export class Utterances {
  constructor({ list, empty, slow }) {
    this.list = list;
    this.empty = empty;
    this.slow = slow;
    this.session = 0;
    this.lines = new Map(); // "session:utterance_id" → line state
  }

  /** A new stream (a start or a reconnection): its utterance ids start again at 1. */
  newSession() {
    this.session += 1;
  }

  clear() {
    for (const line of this.lines.values()) clearTimeout(line.timer);
    this.lines.clear();
    this.list.replaceChildren();
    this.empty.hidden = false;
    this.updateSlow();
  }

  line(id) {
    const key = `${this.session}:${id}`;
    let line = this.lines.get(key);
    if (!line) {
      const badge = el("span", { class: "badge", "data-source": "none", text: "…" });
      const speaker = el("span", { class: "speaker" });
      const confirmed = el("span", { class: "confirmed" });
      const draft = el("span", { class: "draft" });
      const text = el("p", { class: "text" }, speaker, confirmed, draft);
      const meta = el("span", { class: "latency" });
      const node = el("li", { class: "utterance", dataset: { key, state: "speaking" } }, badge, text, meta);
      const startedAt = performance.now();
      line = { key, node, badge, speaker, confirmed, draft, meta, startedAt, endedAt: null, timer: null, slow: false };
      this.lines.set(key, line);
      this.list.append(node);
      this.empty.hidden = true;
      node.scrollIntoView?.({ block: "nearest" });
    }
    return line;
  }

  started(event) {
    this.line(event.utterance_id);
  }

  partial(event, label) {
    const line = this.line(event.utterance_id);
    if (line.node.dataset.state === "final") return;
    const text = event.text || "";
    const solid = event.confidence === "confirmed" ? text : event.confirmed_text || "";
    if (solid && text.startsWith(solid)) {
      line.confirmed.textContent = solid;
      line.draft.textContent = text.slice(solid.length);
    } else {
      line.confirmed.textContent = event.confidence === "confirmed" ? text : "";
      line.draft.textContent = event.confidence === "confirmed" ? "" : text;
    }
    if (line.badge.dataset.source === "none") setBadge(line.badge, event.source, label);
    if (text && line.node.dataset.firstDraftMs === undefined) {
      line.node.dataset.firstDraftMs = String(Math.round(performance.now() - line.startedAt));
    }
  }

  ended(event) {
    const line = this.line(event.utterance_id);
    if (line.node.dataset.state === "final") return;
    line.node.dataset.state = "transcribing";
    line.endedAt = performance.now();
    line.meta.textContent = "transcribing…";
    clearTimeout(line.timer);
    line.timer = setTimeout(() => this.markSlow(line), SLOW_AFTER_MS);
  }

  /** The browser's own transcription of a line: how long it took there. */
  measured(id, { ms, encodeMs, decodeMs }) {
    const { dataset } = this.line(id).node;
    dataset.sttMs = String(Math.round(ms));
    dataset.encodeMs = String(Math.round(encodeMs));
    dataset.decodeMs = String(Math.round(decodeMs));
  }

  markSlow(line) {
    if (line.node.dataset.state === "final") return;
    line.slow = true;
    line.node.classList.add("slow");
    line.meta.textContent = "slow…";
    this.updateSlow();
  }

  /** The server's own slow warning: every line still waiting is slow now. */
  serverSlow() {
    for (const line of this.lines.values()) {
      if (line.node.dataset.state === "transcribing") this.markSlow(line);
    }
    this.updateSlow(true);
  }

  final(event, label) {
    const line = this.line(event.utterance_id);
    clearTimeout(line.timer);
    line.node.dataset.state = "final";
    line.node.classList.remove("slow");
    if (line.endedAt !== null) line.node.dataset.finalMs = String(Math.round(performance.now() - line.endedAt));
    line.confirmed.textContent = event.text;
    line.draft.textContent = "";
    line.speaker.textContent = event.speaker ? speakerName(event.speaker) : "";
    line.speaker.dataset.speaker = event.speaker || "";
    setBadge(line.badge, event.source, label);
    const latency = event.latency || {};
    if (typeof latency.total_ms === "number") {
      line.meta.textContent = millis(latency.total_ms) + (line.slow ? " (slow)" : "");
      line.meta.title =
        `speech end → text: ${latency.total_ms} ms (endpoint ${latency.endpoint_ms ?? "?"} ms, ` +
        `transcription ${latency.stt_ms ?? "?"} ms) · ${event.model || ""}`;
    } else {
      line.meta.textContent = "";
    }
    line.slow = false;
    if (event.text) announce(event.text);
    else line.node.dataset.state = "empty";
    this.updateSlow();
  }

  failed(event) {
    const line = this.line(event.utterance_id);
    clearTimeout(line.timer);
    line.node.dataset.state = "failed";
    line.node.classList.remove("slow");
    line.slow = false;
    line.draft.textContent = "";
    line.confirmed.textContent = "";
    line.meta.textContent = "";
    line.node.querySelector(".text").append(el("span", { class: "failure", text: `Not transcribed: ${event.message}` }));
    setBadge(line.badge, "error", "error");
    this.updateSlow();
  }

  /** Lines that never got their final (the connection dropped): say so instead of waiting. */
  abandon() {
    for (const line of this.lines.values()) {
      const state = line.node.dataset.state;
      if (state === "speaking" || state === "transcribing") {
        clearTimeout(line.timer);
        line.node.dataset.state = "lost";
        line.node.classList.remove("slow");
        line.slow = false;
        line.meta.textContent = "connection lost";
      }
    }
    this.updateSlow();
  }

  updateSlow(force = false) {
    const waiting = [...this.lines.values()].filter((line) => line.slow);
    this.slow.hidden = !(force || waiting.length);
    if (!this.slow.hidden) {
      this.slow.textContent = waiting.length
        ? `Transcription slow: ${waiting.length === 1 ? "a line is" : `${waiting.length} lines are`} taking longer than ${SLOW_AFTER_MS / 1000} s.`
        : "Transcription slow: the server is behind.";
    }
  }
}

/** "SPEAKER_00" → "Speaker 1": what a reader expects, numbered from one. */
export function speakerName(label) {
  const match = /^SPEAKER_(\d+)$/.exec(label);
  return match ? `Speaker ${Number(match[1]) + 1}` : label;
}
