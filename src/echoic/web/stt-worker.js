// The transcription worker: onnxruntime-web and the model (stt/whisper.js) off the UI
// thread. One job at a time (the page's coordinator queues them); every failure is answered
// with a message, never left to hang, so the page can fall back to the server at once.
//
//   → {type: "load", runtimeUrl, wasmBinary, backend, numThreads, config, tokens, encoder, decoder}
//   ← {type: "loaded", backend, ms}  |  {type: "load_failed", message}
//   → {type: "transcribe", id, samples, words, beamSize}
//   ← {type: "result", id, text, words, encodeMs, decodeMs}  |  {type: "failed", id, message}

import { createWhisper } from "./stt/whisper.js";

let whisper = null;

self.onmessage = async (event) => {
  const message = event.data;
  if (message.type === "load") await load(message);
  else if (message.type === "transcribe") await transcribe(message);
};

async function load({ runtimeUrl, wasmBinary, backend, numThreads, config, tokens, encoder, decoder }) {
  const started = performance.now();
  try {
    const ort = await import(runtimeUrl);
    ort.env.wasm.wasmBinary = new Uint8Array(wasmBinary); // from the page's verified cache
    ort.env.wasm.numThreads = numThreads;
    ort.env.wasm.proxy = false; // this worker is the proxy already
    ort.env.logLevel = "error";
    const executionProviders = backend === "webgpu" ? ["webgpu", "wasm"] : ["wasm"];
    whisper = await createWhisper(ort, {
      config,
      tokens,
      encoder: new Uint8Array(encoder),
      decoder: new Uint8Array(decoder),
      executionProviders,
    });
    self.postMessage({ type: "loaded", backend, ms: performance.now() - started });
  } catch (err) {
    whisper = null;
    self.postMessage({ type: "load_failed", message: describe(err) });
  }
}

async function transcribe({ id, samples, words, beamSize }) {
  if (!whisper) {
    self.postMessage({ type: "failed", id, message: "the model is not loaded" });
    return;
  }
  try {
    const result = await whisper.transcribe(new Float32Array(samples), { wordTimestamps: words === true, beamSize: beamSize ?? 1 });
    self.postMessage({
      type: "result",
      id,
      text: result.text,
      words: result.words ?? null,
      encodeMs: result.encodeMs,
      decodeMs: result.decodeMs,
    });
  } catch (err) {
    self.postMessage({ type: "failed", id, message: describe(err) });
  }
}

function describe(err) {
  return err?.message || String(err);
}
