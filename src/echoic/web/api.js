// The echoic API as the page uses it: the API key, requests with OpenAI-shaped errors,
// uploads with progress, Server-Sent Events read with fetch (EventSource cannot send a key).

const KEY_STORAGE = "echoic.apiKey";

/** What the page knows about the server: whether it wants a key, and the key. */
export const server = {
  authRequired: false,
  key: readKey(),
};

/** A failed request. `status` 0: the server could not be reached at all. */
export class ApiError extends Error {
  constructor(status, code, message, param = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = param;
  }

  get unreachable() {
    return this.status === 0;
  }

  get keyRefused() {
    return this.status === 401;
  }
}

function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return ""; // storage disabled: the key lives as long as the page
  }
}

export function saveKey(key) {
  server.key = key;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: keep it in memory only
  }
}

function authHeaders() {
  return server.authRequired && server.key ? { Authorization: `Bearer ${server.key}` } : {};
}

export function unreachable(detail = "") {
  const why = detail ? ` (${detail})` : "";
  return new ApiError(0, "unreachable", `Cannot reach the echoic server at ${location.host}${why}. Is it running?`);
}

/** The ApiError a non-2xx response stands for, from its JSON body when it has one. */
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, or an empty body
  }
  const error = body && typeof body === "object" ? body.error ?? body : null;
  const message =
    (error && typeof error.message === "string" && error.message) ||
    (error && typeof error.detail === "string" && error.detail) ||
    `${response.status} ${response.statusText || "error"}`;
  return new ApiError(response.status, error?.code ?? `http_${response.status}`, message, error?.param ?? null);
}

/** `fetch` on the API with the key; resolves to a 2xx Response or throws ApiError. */
export async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body, signal, headers: { ...authHeaders(), ...headers } });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw unreachable();
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function json(path, options) {
  const response = await request(path, options);
  return response.json();
}

/**
 * Whether the server wants a key and whether ours works; the models it offers.
 * Asks `/v1/models` without a key first: a 401 there means keys are required.
 */
export async function connect() {
  let response;
  try {
    response = await fetch("/v1/models");
  } catch {
    throw unreachable();
  }
  if (response.status === 401) {
    server.authRequired = true;
    if (!server.key) throw new ApiError(401, "key_needed", "This server needs an API key.");
    return (await json("/v1/models")).data;
  }
  if (!response.ok) throw await errorOf(response);
  server.authRequired = false;
  return (await response.json()).data;
}

/** POST a form with upload progress (fetch has none); resolves to the JSON answer. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(unreachable());
    xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
    xhr.onload = () => {
      const response = new Response(xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
        headers: { "content-type": xhr.getResponseHeader("content-type") || "" },
      });
      if (response.ok) response.json().then(resolve, reject);
      else errorOf(response).then(reject, reject);
    };
    xhr.send(form);
  });
}

/**
 * Server-Sent Events from `path`: yields `{id, event, data}` (data parsed as JSON) until the
 * server ends the stream. Throws ApiError when it cannot be opened.
 */
export async function* events(path, { signal, lastEventId = null } = {}) {
  const headers = { Accept: "text/event-stream" };
  if (lastEventId !== null) headers["Last-Event-ID"] = String(lastEventId);
  const response = await request(path, { headers, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = { id: null, event: "message", data: [] };
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (err?.name === "AbortError") throw err;
        throw unreachable("the event stream broke off");
      }
      if (chunk.done) return;
      buffer += chunk.value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (message.data.length) {
            yield { id: message.id, event: message.event, data: parseData(message.data.join("\n")) };
          }
          message = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // a comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") message.data.push(value);
        else if (field === "event") message.event = value;
        else if (field === "id") message.id = value;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseData(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The WebSocket URL of an API path on this server. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}
