// What this browser offers for transcription (DESIGN.md §4b): a WebGPU adapter, otherwise
// WebAssembly with SIMD, with threads where the page is cross-origin isolated; and whether
// the device has memory to spare for a ~100 MB model and its activations.

// The smallest modules that use one feature each: WebAssembly.validate says whether the
// engine knows it, without compiling anything (so the page's CSP does not matter here).
// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
const SIMD = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
// (module (memory 1 1 shared) (func i32.const 0 i32.atomic.load drop))
const THREADS = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]);

/** Below this (GB, `navigator.deviceMemory`, which browsers round and cap at 8) the page does
 *  not load the model in auto mode: the tab would compete with everything else for memory. */
export const MIN_MEMORY_GB = 2;

/** {webgpu, adapter, simd, threads, isolated, cores, memoryGb, backend, ok, why}. */
export async function probe() {
  const found = {
    webgpu: false,
    adapter: "",
    simd: validate(SIMD),
    threads: false,
    isolated: globalThis.crossOriginIsolated === true,
    cores: navigator.hardwareConcurrency || 1,
    memoryGb: navigator.deviceMemory ?? null,
  };
  found.threads = found.isolated && typeof SharedArrayBuffer === "function" && validate(THREADS);
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (adapter) {
      found.webgpu = true;
      found.adapter = adapter.info?.description || adapter.info?.vendor || "WebGPU";
    }
  } catch {
    // no adapter: WebAssembly it is
  }
  return { ...found, ...decide(found) };
}

/** Which backend, or why none (pure: the tests feed it tables). */
export function decide({ webgpu, simd, memoryGb }) {
  if (typeof WebAssembly !== "object" && !webgpu) return { backend: null, ok: false, why: "this browser has no WebAssembly" };
  if (memoryGb !== null && memoryGb !== undefined && memoryGb < MIN_MEMORY_GB) {
    return { backend: webgpu ? "webgpu" : "wasm", ok: false, why: `this device reports ${memoryGb} GB of memory (at least ${MIN_MEMORY_GB} GB wanted)` };
  }
  if (webgpu) return { backend: "webgpu", ok: true, why: "" };
  if (!simd) return { backend: "wasm", ok: false, why: "this browser's WebAssembly has no SIMD" };
  return { backend: "wasm", ok: true, why: "" };
}

function validate(bytes) {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}
