// Small pieces every view uses: building elements, toasts, notices, badges, times.

const TOAST_MS = 8000;
const TOASTS_KEPT = 4;

/** `el("p", {class: "x", text: "hi"}, child, …)`: an element; text is never parsed as HTML. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (!found) throw new Error(`page element ${selector} is missing`);
  return found;
}

/** A short message in the corner; `kind`: info | success | warning | error. */
export function toast(message, kind = "info") {
  const box = $("#toasts");
  const item = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : null }, el("span", { text: message }));
  const close = el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×" });
  close.addEventListener("click", () => item.remove());
  item.append(close);
  box.append(item);
  while (box.children.length > TOASTS_KEPT) box.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS);
  return item;
}

/** Show (or with an empty message, hide) an inline notice; `kind` styles it. */
export function notice(node, message, kind = "error", action = null) {
  node.replaceChildren();
  node.hidden = !message;
  node.dataset.kind = kind;
  if (!message) return;
  node.append(el("span", { text: message }));
  if (action) {
    node.append(" ", el("button", { type: "button", class: "link", text: action.label, onclick: action.run }));
  }
}

/** Say `text` to screen readers through the polite live region. */
export function announce(text) {
  const region = $("#announcer");
  region.append(el("p", { text }));
  while (region.children.length > 3) region.firstElementChild.remove();
}

/** "local · CPU", "local · GPU", "cloud", "client" for a source and the tier that served it. */
export function sourceLabel(source, tier = "") {
  if (source === "local") {
    const device = tier.split(":")[1] || "cpu";
    return `local · ${device === "cuda" ? "GPU" : device.toUpperCase()}`;
  }
  return source || "unknown";
}

export function setBadge(node, source, label) {
  node.dataset.source = source || "none";
  node.textContent = label;
}

/** 75.25 → "1:15.2"; 3725 → "1:02:05.0". */
export function clock(seconds) {
  const total = Math.max(0, seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = (total % 60).toFixed(1).padStart(4, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** 266 → "0.27 s"; 1830 → "1.8 s". */
export function millis(ms) {
  return ms < 1000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** A Blob saved as a file through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Why a tier was skipped, as the end of a sentence (`fallback` events' `reason`). */
export const REASONS = {
  error: "failed",
  timeout: "timed out",
  circuit_open: "keeps failing",
  overloaded: "is overloaded",
  unavailable: "is unavailable",
  rate_limited: "is rate limited",
  grace_expired: "did not answer in time",
};

/** "Local transcription (CPU)", "the cloud", … for a provider tier's name. */
export function tierName(tier, subject = true) {
  const [source, device] = tier.split(":");
  if (source === "local") return `${subject ? "Local" : "local"} transcription (${device === "cuda" ? "GPU" : (device || "cpu").toUpperCase()})`;
  if (source === "client") return subject ? "The page's own transcription" : "the page";
  if (source === "server") return "the server";
  return subject ? `The ${source}` : `the ${source}`;
}
