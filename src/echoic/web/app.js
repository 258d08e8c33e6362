// The page: connects to the server (asking for an API key when it wants one), fills the model
// choices, switches between the Live and Files views, and owns the keyboard shortcuts.

import { ApiError, connect, saveKey, server } from "./api.js";
import { Files } from "./files.js";
import { BrowserStt } from "./browser-stt.js";
import { Live } from "./live.js";
import { $, el, notice, toast } from "./ui.js";

const SETTINGS_STORAGE = "echoic.settings";

const banner = $("#banner");
const status = $("#server-status");
const keyButton = $("#key-button");
const dialog = $("#key-dialog");
const keyInput = $("#key-input");
const keyReason = $("#key-reason");
const keyError = $("#key-error");
const choices = {
  model: $("#model"),
  mode: $("#mode"),
  confirm_model: $("#confirm-model"),
  speakers: $("#speakers"),
  where: $("#stt-where"),
};

function settings() {
  return {
    model: choices.model.value,
    mode: choices.mode.value,
    confirm_model: choices.confirm_model.value,
    speakers: choices.speakers.checked,
    where: choices.where.value,
  };
}

const sttProgress = $("#stt-progress");
const sttState = $("#stt-state");
const local = new BrowserStt({
  ui: {
    /** Bytes of the browser model loaded so far; `null` hides the bar. */
    progress(done, total = 0) {
      sttProgress.hidden = done === null;
      if (done === null) return;
      sttProgress.max = total || 1;
      sttProgress.value = done;
      sttState.textContent = `Loading the browser model: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
    },
    status(text, kind) {
      sttState.textContent = text;
      sttState.dataset.kind = kind;
    },
  },
  notify: toast,
});
const live = new Live({ settings, local, onKeyRefused: keyRefused, onConnection: connection });
const files = new Files({ settings, onKeyRefused: keyRefused });

function connection(ok) {
  status.dataset.state = ok ? "ok" : "down";
  status.textContent = ok ? "connected" : "unreachable";
}

/** Ask the server who we are to it; fill the page on success. */
async function boot() {
  status.dataset.state = "pending";
  status.textContent = "connecting…";
  try {
    showModels(await connect());
  } catch (err) {
    if (err instanceof ApiError && err.keyRefused) {
      keyButton.hidden = false;
      status.dataset.state = "down";
      status.textContent = "API key needed";
      const why = server.key ? `The server refused the stored API key: ${err.message}` : "This server needs an API key.";
      notice(banner, why, "warning", { label: "Enter key", run: () => askKey(why) });
      askKey(why);
    } else {
      connection(false);
      notice(banner, err.message, "error", { label: "Try again", run: boot });
    }
    return;
  }
  notice(banner, "");
  connection(true);
  keyButton.hidden = !server.authRequired;
  files.refresh();
}

function showModels(models) {
  const usable = models.filter((m) => m.installed && !m.alias_of);
  const saved = readSettings();
  const fallback = usable.find((m) => m.default)?.id || usable[0]?.id || "";
  const option = (m) => el("option", { value: m.id, text: m.english_only ? `${m.id} (English)` : m.id });
  choices.model.replaceChildren(...usable.map(option));
  choices.model.value = usable.some((m) => m.id === saved.model) ? saved.model : fallback;
  choices.confirm_model.replaceChildren(el("option", { value: "", text: "Same model, final settings" }), ...usable.map(option));
  choices.confirm_model.value = usable.some((m) => m.id === saved.confirm_model) ? saved.confirm_model : "";
  if (saved.mode) choices.mode.value = saved.mode;
  choices.speakers.checked = saved.speakers === true;
  if (["auto", "force_local", "force_server"].includes(saved.where)) choices.where.value = saved.where;
  updateMode();
}

function readSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_STORAGE) || "{}") || {};
  } catch {
    return {};
  }
}

function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_STORAGE, JSON.stringify(settings()));
  } catch {
    // storage disabled: the choices last as long as the page
  }
}

function updateMode() {
  $("#confirm-row").hidden = choices.mode.value !== "speculative";
}

for (const select of Object.values(choices)) {
  select.addEventListener("change", () => {
    updateMode();
    saveSettings();
  });
}

// -- the API key ---------------------------------------------------------------------------

function askKey(reason = "") {
  keyReason.textContent = reason || "The key is kept in this browser's storage.";
  keyError.hidden = true;
  keyInput.value = "";
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
}

function keyRefused(message) {
  keyButton.hidden = false;
  status.dataset.state = "down";
  status.textContent = "API key refused";
  notice(banner, `${message} Enter a valid key to go on.`, "error", { label: "Enter key", run: () => askKey(message) });
}

$("#key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    keyError.textContent = "Enter a key (ek_…), or ask the server's operator for one.";
    keyError.hidden = false;
    return;
  }
  saveKey(key);
  try {
    showModels(await connect());
  } catch (err) {
    saveKey("");
    keyError.textContent = err.keyRefused ? `The server refused this key: ${err.message}` : err.message;
    keyError.hidden = false;
    return;
  }
  dialog.close();
  notice(banner, "");
  connection(true);
  keyButton.hidden = !server.authRequired;
  toast("API key accepted.", "success");
  files.refresh();
});
$("#key-cancel").addEventListener("click", () => dialog.close());
$("#key-forget").addEventListener("click", () => {
  saveKey("");
  dialog.close();
  boot();
});
keyButton.addEventListener("click", () => askKey("Replace the API key kept in this browser."));

// -- views ---------------------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];

function select(tab, focus = false) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (focus) tab.focus();
  history.replaceState(null, "", `#${tab.dataset.view}`);
}

for (const tab of tabs) {
  tab.addEventListener("click", () => select(tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    event.preventDefault();
    select(tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length], true);
  });
}
select(tabs.find((tab) => `#${tab.dataset.view}` === location.hash) || tabs[0]);

// -- keyboard ------------------------------------------------------------------------------
// While listening: hold Space to talk (release ends the utterance), P pauses or resumes,
// F ends the utterance now, Esc stops. Never while typing in a field; shortcuts can be off.

function typing(target) {
  return target instanceof Element && Boolean(target.closest("input, select, textarea, audio, dialog, [contenteditable]"));
}

function shortcutsOn() {
  return $("#shortcuts").checked && !$("#panel-live").hidden && !dialog.open;
}

document.addEventListener("keydown", (event) => {
  if (!shortcutsOn() || typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === " ") {
    if (live.state !== "live") return;
    event.preventDefault();
    if (!event.repeat) live.holdStart();
  } else if (event.key === "p" || event.key === "P") {
    live.togglePause();
  } else if (event.key === "f" || event.key === "F") {
    live.finalize();
  } else if (event.key === "Escape") {
    live.stop();
  }
});
document.addEventListener("keyup", (event) => {
  if (event.key === " " && live.holding) {
    event.preventDefault();
    live.holdEnd();
  }
});

// Expected failures are shown where they happen; a bug still gets a message (and its console
// entry, which the browser tests fail on).
window.addEventListener("unhandledrejection", (event) => {
  toast(`Something went wrong: ${event.reason?.message || event.reason}`, "error");
});
window.addEventListener("error", (event) => {
  toast(`Something went wrong: ${event.message}`, "error");
});

boot();
