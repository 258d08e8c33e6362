// Files: drop or choose one → a job (POST /v1/jobs) → its progress from the job's event stream
// → the transcript. The list of past transcripts.

import { ApiError, events, json, upload } from "./api.js";
import { TranscriptView } from "./transcript.js";
import { $, el, notice, toast } from "./ui.js";

const FOLLOW_RETRIES = 5;

export class Files {
  /** `settings()`: {model}; `onKeyRefused(message)`. */
  constructor({ settings, onKeyRefused }) {
    this.settings = settings;
    this.onKeyRefused = onKeyRefused;
    this.input = $("#file-input");
    this.drop = $("#drop");
    this.noticeBox = $("#files-notice");
    this.job = $("#job");
    this.jobName = $("#job-name");
    this.jobState = $("#job-state");
    this.progress = $("#job-progress");
    this.history = $("#history");
    this.view = new TranscriptView({ onError: (err) => this.fail(err) });
    this.audio = new Map(); // transcript id → the file this page uploaded, as an object URL
    this.wire();
  }

  wire() {
    $("#choose-file").addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      const [file] = this.input.files;
      this.input.value = "";
      this.submit(file);
    });
    for (const name of ["dragenter", "dragover"]) {
      this.drop.addEventListener(name, (event) => {
        event.preventDefault();
        this.drop.classList.add("over");
      });
    }
    for (const name of ["dragleave", "drop"]) {
      this.drop.addEventListener(name, () => this.drop.classList.remove("over"));
    }
    this.drop.addEventListener("drop", (event) => {
      event.preventDefault();
      this.submit(event.dataTransfer?.files?.[0]);
    });
    $("#refresh").addEventListener("click", () => this.refresh());
  }

  async submit(file) {
    if (!file) return;
    notice(this.noticeBox, "");
    this.view.hide();
    this.jobName.textContent = file.name;
    this.setState("Uploading…", 0);
    this.job.hidden = false;
    const form = new FormData();
    form.append("file", file, file.name);
    const { model } = this.settings();
    if (model) form.append("model", model);
    let job;
    try {
      job = await upload("/v1/jobs", form, (done) => this.setState(`Uploading… ${Math.round(done * 100)} %`, done * 100));
    } catch (err) {
      this.job.hidden = true;
      this.fail(err, file.name);
      return;
    }
    this.setState("Queued", null);
    const transcriptId = await this.follow(job, file.name);
    if (!transcriptId) return;
    this.audio.set(transcriptId, URL.createObjectURL(file));
    await this.open(transcriptId, file.name);
    this.refresh();
  }

  /** Follow a job's events until it ends; its transcript id, or null when it did not finish. */
  async follow(job, name) {
    const total = job.progress?.audio_s ?? job.media?.duration_s ?? null;
    let last = null;
    for (let failures = 0; ; ) {
      try {
        for await (const message of events(`/v1/jobs/${encodeURIComponent(job.id)}/events`, { lastEventId: last })) {
          last = message.id ?? last;
          const outcome = this.onJobEvent(message.event, message.data || {}, name, total);
          if (outcome !== undefined) return outcome;
        }
        const now = await json(`/v1/jobs/${encodeURIComponent(job.id)}`); // the stream ended early
        if (now.status === "completed") return now.transcript_id;
        if (["failed", "cancelled"].includes(now.status)) {
          return this.onJobEvent(now.status, { error: now.error }, name, total) ?? null;
        }
      } catch (err) {
        failures += 1;
        if (!(err instanceof ApiError) || !err.unreachable || failures > FOLLOW_RETRIES) {
          this.job.hidden = true;
          this.fail(err, name);
          return null;
        }
        this.setState(`Connection lost — reconnecting (attempt ${failures})…`, null);
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (failures + 1)));
    }
  }

  /** Draw one job event; a transcript id (or null) once the job has ended. */
  onJobEvent(kind, data, name, total) {
    switch (kind) {
      case "queued":
        this.setState("Queued — waiting for a worker", null);
        return undefined;
      case "started":
        this.setState(data.attempt > 1 ? `Transcribing (attempt ${data.attempt})…` : "Transcribing…", null);
        return undefined;
      case "progress": {
        const done = typeof data.audio_done_s === "number" && total ? ` (${Math.round(data.audio_done_s)} s of ${Math.round(total)} s)` : "";
        this.setState(`Transcribing… ${Math.round(data.percent ?? 0)} %${done}`, data.percent ?? null);
        return undefined;
      }
      case "retrying":
      case "requeued":
        this.setState(`Retrying: ${errorText(data.error) || "the worker stopped"}`, null);
        return undefined;
      case "fallback":
        toast(`Local transcription ${data.reason || "failed"} — this file went to ${data.to || "the next provider"}.`, "warning");
        return undefined;
      case "completed":
        this.setState("Done", 100);
        return data.transcript_id;
      case "failed":
        this.job.hidden = true;
        notice(this.noticeBox, `Transcribing “${name}” failed: ${errorText(data.error) || "unknown error"}`);
        return null;
      case "cancelled":
        this.job.hidden = true;
        notice(this.noticeBox, `The job for “${name}” was cancelled.`, "warning");
        return null;
      default:
        return undefined;
    }
  }

  setState(text, percent) {
    this.jobState.textContent = text;
    if (percent === null || percent === undefined) this.progress.removeAttribute("value");
    else this.progress.value = Math.max(0, Math.min(100, percent));
    this.progress.setAttribute("aria-valuetext", text);
  }

  async open(id, name) {
    try {
      await this.view.show(id, { name, audioUrl: this.audio.get(id) });
    } catch (err) {
      this.fail(err);
    }
  }

  async refresh() {
    let transcripts;
    let jobs;
    try {
      [transcripts, jobs] = await Promise.all([
        json("/v1/transcripts?limit=50"),
        json("/v1/jobs?status=completed&limit=100"),
      ]);
    } catch (err) {
      this.history.replaceChildren(el("li", { class: "empty", text: `Could not load the list: ${err.message}` }));
      if (err instanceof ApiError && err.keyRefused) this.fail(err);
      return;
    }
    const names = new Map(jobs.data.map((job) => [job.id, job.media?.filename]));
    const items = transcripts.data.map((info) => {
      const name = names.get(info.job_id) || `transcript ${info.id}`;
      const when = new Date(info.updated_at * 1000).toLocaleString();
      return el(
        "li",
        {},
        el(
          "button",
          { type: "button", class: "history-item", onclick: () => this.open(info.id, name) },
          el("span", { class: "name", text: name }),
          el("span", { class: "when", text: when }),
        ),
      );
    });
    this.history.replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "No transcripts yet." })]));
  }

  fail(err, name = "") {
    if (err instanceof ApiError && err.keyRefused) {
      const message = `The server refused the API key: ${err.message}`;
      notice(this.noticeBox, message);
      this.onKeyRefused(message);
    } else if (err instanceof ApiError && !err.unreachable && name && err.status < 500) {
      notice(this.noticeBox, `The server rejected “${name}”: ${err.message}`);
    } else {
      notice(this.noticeBox, err?.message || String(err));
    }
  }
}

function errorText(error) {
  if (!error) return "";
  return typeof error === "string" ? error : error.message || error.code || JSON.stringify(error);
}
