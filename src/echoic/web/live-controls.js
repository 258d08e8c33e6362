// The live view's buttons: Start, Pause, Stop, hold-to-talk and the push-to-talk switch,
// wired to a Live session and drawn from its state.

/** Clicks, the pointer and the keyboard on the talk button, the push-to-talk switch. */
export function wireControls(live) {
  const { start, pause, stop, talk } = live.buttons;
  start.addEventListener("click", () => live.start());
  pause.addEventListener("click", () => live.togglePause());
  stop.addEventListener("click", () => live.stop());
  talk.addEventListener("pointerdown", (event) => {
    talk.setPointerCapture?.(event.pointerId);
    live.holdStart();
  });
  talk.addEventListener("pointerup", () => live.holdEnd());
  talk.addEventListener("pointercancel", () => live.holdEnd());
  talk.addEventListener("keydown", (event) => {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) {
      event.preventDefault();
      live.holdStart();
    }
  });
  talk.addEventListener("keyup", (event) => {
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      live.holdEnd();
    }
  });
  live.ptt.addEventListener("change", () => {
    if (live.state === "live") live.setPaused(live.ptt.checked);
  });
}

/** Enable, label and press the buttons for the session's state. */
export function drawControls(live) {
  const { start, pause, stop, talk } = live.buttons;
  const listening = live.state === "live";
  start.disabled = live.state !== "idle";
  start.textContent = live.state === "starting" ? "Starting…" : live.state === "idle" ? "Start" : "Listening";
  pause.disabled = !listening;
  pause.textContent = live.paused ? "Resume" : "Pause";
  pause.setAttribute("aria-pressed", String(live.paused));
  stop.disabled = live.state === "idle" || live.state === "starting" || live.state === "stopping";
  stop.textContent = live.state === "stopping" ? "Finishing…" : "Stop";
  talk.disabled = !listening;
}
