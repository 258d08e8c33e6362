// The browser model's files: from Cache Storage when a verified copy is there, otherwise
// fetched from this server with progress and kept. Entries are keyed by SHA-256, so an
// upgraded model (new digests) is fetched anew and the old one is deleted; every file is
// checked against its digest before it is used or kept, so a damaged download never sticks.

const CACHE_NAME = "echoic-browser-stt";
const KEY_PREFIX = "/browser/sha256/"; // a cache key, never fetched

/** Raised when a file cannot be had: `file` names it (shown to the user). */
export class ModelLoadError extends Error {
  constructor(file, message) {
    super(`${file}: ${message}`);
    this.name = "ModelLoadError";
    this.file = file;
  }
}

/**
 * `files`: {name: {url, sha256, size}}; resolves to {name: ArrayBuffer} and how they came
 * ({downloaded, cached} byte counts). `onProgress(done, total)` in bytes, cache hits included.
 */
export async function loadFiles(files, onProgress = () => {}) {
  const cache = await openCache();
  const entries = Object.entries(files);
  const total = entries.reduce((sum, [, file]) => sum + file.size, 0);
  const done = new Map();
  // The first file that fails stops the others: their progress would hide the failure.
  const stop = new AbortController();
  const report = () => {
    if (!stop.signal.aborted) onProgress([...done.values()].reduce((a, b) => a + b, 0), total);
  };
  const out = {};
  const how = { downloaded: 0, cached: 0 };
  const one = async ([name, file]) => {
    const cached = await fromCache(cache, file);
    if (cached) {
      out[name] = cached;
      how.cached += file.size;
      done.set(name, file.size);
      report();
      return;
    }
    // Kept in Cache Storage: a second copy in the HTTP cache would only push out the runtime's
    // small scripts (the HTTP cache of a private window is a little memory).
    const mode = cache ? "no-store" : "default";
    const body = await download(name, file, { signal: stop.signal, cache: mode }, (bytes) => {
      done.set(name, bytes);
      report();
    });
    await verify(name, file, body);
    out[name] = body;
    how.downloaded += file.size;
    if (cache) {
      const response = new Response(body.slice(0), { headers: { "Content-Type": "application/octet-stream" } });
      await cache.put(KEY_PREFIX + file.sha256, response).catch(() => {}); // quota: fetch next time
    }
  };
  await Promise.all(
    entries.map((entry) =>
      one(entry).catch((err) => {
        stop.abort();
        throw err;
      }),
    ),
  );
  return { files: out, ...how };
}

/** Delete cached files that no current file has (an older model's). */
export async function prune(keepDigests) {
  const cache = await openCache();
  if (!cache) return 0;
  const keep = new Set([...keepDigests].map((digest) => KEY_PREFIX + digest));
  let removed = 0;
  for (const request of await cache.keys()) {
    if (!keep.has(new URL(request.url).pathname)) {
      await cache.delete(request);
      removed += 1;
    }
  }
  return removed;
}

async function openCache() {
  try {
    return (await globalThis.caches?.open(CACHE_NAME)) ?? null;
  } catch {
    return null; // no Cache Storage (private mode, insecure page): download every time
  }
}

async function fromCache(cache, file) {
  if (!cache) return null;
  const hit = await cache.match(KEY_PREFIX + file.sha256);
  if (!hit) return null;
  const body = await hit.arrayBuffer();
  if (body.byteLength === file.size && (await digest(body)) === file.sha256) return body;
  await cache.delete(KEY_PREFIX + file.sha256); // damaged: fetch it again
  return null;
}

async function download(name, file, options, onBytes) {
  let response;
  try {
    response = await fetch(file.url, options);
  } catch (err) {
    throw new ModelLoadError(name, `could not be downloaded (${err?.message || err})`);
  }
  if (!response.ok) throw new ModelLoadError(name, `the server answered ${response.status}`);
  if (!response.body) return response.arrayBuffer();
  const body = new Uint8Array(file.size);
  const reader = response.body.getReader();
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > body.length) throw new ModelLoadError(name, `is larger than the ${file.size} bytes announced`);
    body.set(value, received);
    received += value.length;
    onBytes(received);
  }
  if (received !== file.size) throw new ModelLoadError(name, `${received} of ${file.size} bytes arrived`);
  return body.buffer;
}

async function verify(name, file, body) {
  if ((await digest(body)) !== file.sha256) throw new ModelLoadError(name, "fails its SHA-256 check");
}

async function digest(body) {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return [...hash].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
