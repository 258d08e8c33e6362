// One coordinator for the page's heavy work (seed 000's GPU job queue, in the page): the
// transcription worker runs one job at a time, finals before drafts before anything else, and
// a draft that a newer draft or its utterance's final has made pointless is dropped unrun.
// No DOM and no timers: `run(job)` is whatever executes a job (the worker, or a test's fake).

const RANK = { final: 0, draft: 1, background: 2 };

export class Coordinator {
  /** `run(job) → Promise<result>`; jobs are {kind: "final"|"draft"|"background", key, …}. */
  constructor(run) {
    this.run = run;
    this.queue = []; // [{job, resolve, reject, order}]
    this.busy = false;
    this.order = 0;
    this.dropped = 0;
  }

  get pending() {
    return this.queue.length;
  }

  /** Queue `job`; resolves to its result, or to `null` when it was dropped as stale. A new
   *  draft replaces any queued draft with the same `key`; a final drops its key's drafts. */
  submit(job) {
    if (!(job.kind in RANK)) throw new Error(`unknown job kind ${job.kind}`);
    if (job.kind !== "background") this.drop((item) => item.job.kind === "draft" && item.job.key === job.key);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject, order: this.order++ });
      this.pump();
    });
  }

  /** Drop queued drafts of `key` (its utterance ended, or the stream did). */
  cancelDrafts(key = undefined) {
    this.drop((item) => item.job.kind === "draft" && (key === undefined || item.job.key === key));
  }

  drop(matches) {
    const kept = [];
    for (const item of this.queue) {
      if (matches(item)) {
        this.dropped += 1;
        item.resolve(null);
      } else kept.push(item);
    }
    this.queue = kept;
  }

  /** The next job: the best rank, then the oldest. */
  next() {
    let best = 0;
    for (let i = 1; i < this.queue.length; i += 1) {
      const a = this.queue[i];
      const b = this.queue[best];
      if (RANK[a.job.kind] < RANK[b.job.kind] || (RANK[a.job.kind] === RANK[b.job.kind] && a.order < b.order)) best = i;
    }
    return this.queue.splice(best, 1)[0];
  }

  async pump() {
    if (this.busy || !this.queue.length) return;
    this.busy = true;
    const item = this.next();
    try {
      item.resolve(await this.run(item.job));
    } catch (err) {
      item.reject(err);
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}
