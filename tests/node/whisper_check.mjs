// Runs src/echoic/web/stt/whisper.js in Node on onnxruntime-web's WebAssembly backend, as the
// page's worker would, and prints one JSON line per clip.
//
//   node tests/node/whisper_check.mjs RUNTIME_DIR MODEL_DIR BEAM_SIZE CLIP.f32 [CLIP.f32 ...]
//
// A clip is raw little-endian float32 samples at 16 kHz (what the page hands the worker). Each
// is transcribed plainly (its timings are reported) and then with word timings (same text),
// with BEAM_SIZE beams (1: greedy).

import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [runtimeDir, modelDir, beam, ...clips] = process.argv.slice(2);
const beamSize = Number(beam);
const here = new URL(".", import.meta.url);
const ort = await import(pathToFileURL(join(resolve(runtimeDir), "ort.wasm.min.mjs")).href);
ort.env.wasm.wasmPaths = pathToFileURL(resolve(runtimeDir)).href + "/";
ort.env.wasm.numThreads = 1; // the suite's machines have two shared cores
const { createWhisper } = await import(new URL("../../src/echoic/web/stt/whisper.js", here).href);

const json = async (name) => JSON.parse(await readFile(join(modelDir, name), "utf8"));
const bytes = async (name) => new Uint8Array(await readFile(join(modelDir, name)));
const whisper = await createWhisper(ort, {
  config: await json("config.json"),
  tokens: await json("tokens.json"),
  encoder: await bytes("encoder.onnx"),
  decoder: await bytes("decoder.onnx"),
  executionProviders: ["wasm"],
});
for (const clip of clips) {
  const raw = await readFile(clip);
  const samples = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const plain = await whisper.transcribe(samples, { beamSize });
  const result = await whisper.transcribe(samples, { beamSize, wordTimestamps: true });
  if (plain.text !== result.text) throw new Error(`words changed the text of ${clip}`);
  const timing = { encodeMs: plain.encodeMs, decodeMs: plain.decodeMs };
  console.log(JSON.stringify({ clip, seconds: samples.length / 16000, ...result, ...timing }));
}
await whisper.release();
