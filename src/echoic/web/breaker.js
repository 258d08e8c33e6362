// The page's circuit breaker for transcription in the browser (DESIGN.md §4b): after
// `failures` local failures in a row the page stays on the server for `cooldownMs`, and it
// remembers that across reloads, so a machine that cannot keep up is not made to download,
// self-test and fail again on every visit. Pure: time comes in as `now`, storage is injected.

export const BREAKER_STORAGE = "echoic.browserStt.breaker";

export class Breaker {
  /** `storage`: {getItem, setItem} (localStorage, or a Map-backed fake in tests). */
  constructor({ storage, failures = 3, cooldownMs = 10 * 60_000, key = BREAKER_STORAGE }) {
    this.storage = storage;
    this.limit = failures;
    this.cooldownMs = cooldownMs;
    this.key = key;
    const saved = this.read();
    this.failures = Number.isInteger(saved.failures) ? saved.failures : 0;
    this.openUntil = typeof saved.openUntil === "number" ? saved.openUntil : 0;
  }

  /** "closed" (local allowed), "open" (server only until `openUntil`), or "half-open": the
   *  cool-down is over and the next local attempt decides. */
  state(now) {
    if (this.failures < this.limit) return "closed";
    return now < this.openUntil ? "open" : "half-open";
  }

  allows(now) {
    return this.state(now) !== "open";
  }

  /** A local failure; returns true when it opened the circuit. */
  failure(now) {
    this.failures += 1;
    const opened = this.failures >= this.limit;
    if (opened) this.openUntil = now + this.cooldownMs;
    this.save();
    return opened;
  }

  success() {
    if (this.failures === 0 && this.openUntil === 0) return;
    this.failures = 0;
    this.openUntil = 0;
    this.save();
  }

  read() {
    try {
      return JSON.parse(this.storage.getItem(this.key) || "{}") || {};
    } catch {
      return {}; // storage disabled or damaged: start closed
    }
  }

  save() {
    try {
      this.storage.setItem(this.key, JSON.stringify({ failures: this.failures, openUntil: this.openUntil }));
    } catch {
      // storage disabled: the breaker lasts as long as the page
    }
  }
}
