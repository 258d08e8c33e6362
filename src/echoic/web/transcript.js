// A stored transcript: its segments with timestamps (click one to play from there), the audio
// when this page uploaded it, and downloads in every format the server writes.

import { request, json } from "./api.js";
import { $, clock, el, saveBlob } from "./ui.js";

/** Download button → the server's response_format. */
const FORMATS = { txt: "text", srt: "srt", vtt: "vtt", json: "verbose_json" };

export class TranscriptView {
  constructor({ onError }) {
    this.box = $("#transcript");
    this.title = $("#tr-title");
    this.meta = $("#tr-meta");
    this.player = $("#player");
    this.noAudio = $("#tr-noaudio");
    this.segments = $("#segments");
    this.onError = onError;
    this.current = null;
    for (const button of this.box.querySelectorAll("[data-format]")) {
      button.addEventListener("click", () => this.download(button.dataset.format));
    }
    this.player.addEventListener("timeupdate", () => this.highlight());
  }

  hide() {
    this.box.hidden = true;
    this.current = null;
  }

  /** Load transcript `id` and show it; `audioUrl`: the audio, when this page has it. */
  async show(id, { name, audioUrl = null }) {
    const body = await json(`/v1/transcripts/${encodeURIComponent(id)}?response_format=verbose_json`);
    this.current = { id, name: name || id };
    this.title.textContent = name || id;
    const metadata = body.metadata || {};
    const facts = [
      `${clock(body.duration || 0)} long`,
      body.language ? `language ${body.language}` : null,
      metadata.provider ? `${metadata.provider}${metadata.model ? ` · ${metadata.model}` : ""}` : null,
      `${(body.segments || []).length} segments`,
    ];
    this.meta.textContent = facts.filter(Boolean).join(" · ");
    if (audioUrl) {
      this.player.src = audioUrl;
      this.player.hidden = false;
      this.noAudio.hidden = true;
    } else {
      this.player.pause();
      this.player.removeAttribute("src");
      this.player.load();
      this.player.hidden = true;
      this.noAudio.hidden = false;
    }
    this.segments.replaceChildren(
      ...(body.segments || []).map((segment) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "segment",
              dataset: { start: segment.start, end: segment.end },
              "aria-label": `${clock(segment.start)}: ${segment.text}`,
              onclick: () => this.seek(segment.start),
            },
            el("span", { class: "time", text: clock(segment.start) }),
            el("span", { class: "text", text: segment.text }),
          ),
        ),
      ),
    );
    this.box.hidden = false;
  }

  seek(start) {
    if (this.player.hidden) return;
    this.player.currentTime = start;
    // Playback may be refused (autoplay policy, no output device): the position still moved.
    this.player.play()?.catch(() => {});
  }

  highlight() {
    const now = this.player.currentTime;
    for (const button of this.segments.querySelectorAll("button.segment")) {
      const playing = now >= Number(button.dataset.start) && now < Number(button.dataset.end);
      button.classList.toggle("playing", playing);
    }
  }

  async download(format) {
    if (!this.current) return;
    try {
      const id = encodeURIComponent(this.current.id);
      const response = await request(`/v1/transcripts/${id}?response_format=${FORMATS[format]}`);
      saveBlob(await response.blob(), `${stem(this.current.name)}.${format}`);
    } catch (err) {
      this.onError(err);
    }
  }
}

function stem(name) {
  return name.replace(/\.[^.]*$/, "") || "transcript";
}
