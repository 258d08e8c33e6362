// tiny.en in the browser: the decode loop (greedy, or a beam search) over echoic's two ONNX graphs.
//
// A pure ES module (no DOM, no fetch): the caller hands in onnxruntime-web and the bytes of the
// pack (served under /browser/, see echoic.browser), so it runs the same in a Web Worker and in
// Node. It mirrors echoic.browser.decode, the Python reference decoder, rule for rule; the
// suite checks the two agree token for token. The rules are echoic's live-window rules
// (engines/window.py) as far as greedy decoding goes: the audio (at most 30 s) is followed by
// config.pad_seconds of silence rounded up to whole encoder positions; the prompt is the start
// sequence plus <|notimestamps|>; suppressed tokens are masked at every step and the blank and
// end tokens at the first; at most token_margin + ceil(tokens_per_second * duration) tokens
// (and never more than max_tokens); the text is the tokens' bytes as UTF-8 with a trailing
// decoder loop cut off. With {beamSize: n > 1} the tokens come from beam.js's search (the
// page's finals; drafts stay greedy). With {wordTimestamps: true} the result also has `words`
// ([{word, start, end, probability}], seconds from the start of `samples`; see words.js).
// Whisper's no-speech rule empties the text of a window that is probably not speech (a cough,
// a door): p(no-speech token) after <|startoftranscript|> (fed alone first, so its logits are
// the graph's output) above config.no_speech_threshold and the tokens' mean log-probability
// (the end token's included, over their count plus one) below config.logprob_threshold.

import { alignWords } from "./words.js";
import { beamStep, bestHypothesis, gatherRows } from "./beam.js";

const MIN_LOOP_WORDS = 3; // as engines/window.py: "New York, New York" is speech

// faster-whisper's right-sized window: n // 160 + 1 frames, plus pad_seconds of frames, at
// most 30 s (an odd frame count stays odd; see echoic.browser.decode.padded_samples).
export function paddedSamples(nSamples, config) {
  const hop = config.hop_samples;
  const rate = config.sample_rate;
  const padFrames = Math.round((config.pad_seconds * rate) / hop);
  const frames = Math.floor(nSamples / hop) + 1 + padFrames;
  return Math.min(config.max_seconds * rate, frames * hop);
}

export function maxNewTokens(nSamples, config) {
  const duration = nSamples / config.sample_rate;
  const wanted = config.token_margin + Math.ceil(duration * config.tokens_per_second);
  return Math.min(config.max_tokens, wanted);
}

// `table[id]` is a string whose char codes are the token's UTF-8 bytes.
export function detokenize(table, tokens) {
  const bytes = [];
  for (const id of tokens) {
    const piece = table[id];
    for (let i = 0; i < piece.length; i++) bytes.push(piece.charCodeAt(i));
  }
  return new TextDecoder("utf-8").decode(new Uint8Array(bytes));
}

// The highest-scoring token that is not suppressed (the first one on a tie, like numpy).
export function nextToken(logits, step, suppressed, suppressedFirst) {
  let best = -1;
  let bestScore = -Infinity;
  for (let id = 0; id < logits.length; id++) {
    if (suppressed.has(id) || (step === 0 && suppressedFirst.has(id))) continue;
    if (best < 0 || logits[id] > bestScore) {
      best = id;
      bestScore = logits[id];
    }
  }
  return best;
}

function loopKey(word) {
  return word.toLowerCase().replace(/[^\p{L}\p{N}_']+/gu, "");
}

function same(word, earlier, last) {
  // The loop may be cut off mid-word by the token cap: "... In bein".
  return word === earlier || (last && word.length > 0 && earlier.startsWith(word));
}

// Cut a decoder loop off the end of `text` (engines/window.py trim_repetition).
export function trimRepetition(text) {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const keys = words.map(loopKey);
  const n = keys.length;
  for (let start = 0; start < n - MIN_LOOP_WORDS; start++) {
    const tail = keys.slice(start);
    for (let period = 1; period < tail.length - MIN_LOOP_WORDS + 1; period++) {
      let repeats = true;
      for (let i = period; i < tail.length && repeats; i++) {
        repeats = same(tail[i], tail[i - period], i === tail.length - 1);
      }
      if (repeats) return words.slice(0, start + period).join(" ");
    }
  }
  return text;
}

export async function createWhisper(ort, { config, tokens, encoder, decoder, executionProviders }) {
  const options = { executionProviders: executionProviders ?? ["wasm"] };
  const encoderSession = await ort.InferenceSession.create(encoder, options);
  const decoderSession = await ort.InferenceSession.create(decoder, options);
  const suppressed = new Set(config.suppress_tokens);
  const suppressedFirst = new Set(config.suppress_blank);
  const prompt = [...config.sot_sequence, config.no_timestamps];
  const cacheShape = (length, batch = 1) => [2 * config.n_layers, batch, length, config.d_model];
  const emptyCache = () => new ort.Tensor("float32", new Float32Array(0), cacheShape(0));
  const now = () => globalThis.performance.now();

  // The probability of `token` under the unsuppressed logits (a word's is its tokens' mean).
  function probability(logits, token) {
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
    return Math.exp(logits[token] - max) / sum;
  }

  // Without word timings the alignment weights are not fetched (no copy out of WebGPU).
  const alignable = decoderSession.outputNames.includes("alignment");
  // `tokenIds`: one hypothesis's new tokens, or (`batch` > 1) one new token per hypothesis.
  async function step(tokenIds, selfKv, crossKv, withAlignment, batch = 1) {
    const ids = BigInt64Array.from(tokenIds, (t) => BigInt(t));
    const feeds = {
      tokens: new ort.Tensor("int64", ids, [batch, ids.length / batch]),
      self_kv: selfKv,
      cross_kv: crossKv,
    };
    const fetches = ["logits", "new_self_kv", ...(withAlignment && alignable ? ["alignment"] : [])];
    return decoderSession.run(feeds, fetches);
  }

  // <|startoftranscript|> alone: the no-speech probability under its logits, and the cache
  // (and alignment rows) the rest of the prompt continues from.
  async function start(crossKv, withAlignment) {
    const result = await step(config.sot_sequence.slice(0, 1), emptyCache(), crossKv, withAlignment);
    const noSpeechProb = probability(result.logits.data, config.no_speech);
    return { noSpeechProb, selfKv: result.new_self_kv, rows: result.alignment ? [result.alignment] : [] };
  }

  // The result, its text emptied where the no-speech rule finds the window silent.
  function answer(out, logprob, first, timing) {
    const avgLogprob = logprob / (out.length + 1);
    const silent = first.noSpeechProb > config.no_speech_threshold && avgLogprob < config.logprob_threshold;
    const text = silent ? "" : trimRepetition(detokenize(tokens, out));
    return { text, tokens: out, ...timing, words: [], noSpeechProb: first.noSpeechProb, avgLogprob };
  }

  async function transcribe(samples, { maxTokens, wordTimestamps = false, beamSize = 1 } = {}) {
    const speech = samples.subarray(0, config.max_seconds * config.sample_rate);
    const audio = new Float32Array(paddedSamples(speech.length, config));
    audio.set(speech);
    const started = now();
    const encoded = await encoderSession.run({
      audio: new ort.Tensor("float32", audio, [1, audio.length]),
    });
    const crossKv = encoded.cross_kv;
    const encodedAt = now();
    let limit = maxNewTokens(speech.length, config);
    if (maxTokens !== undefined) limit = Math.min(limit, maxTokens);
    const first = await start(crossKv, wordTimestamps && beamSize === 1);
    const timing = (done) => ({ encodeMs: encodedAt - started, decodeMs: done - encodedAt });
    const wordCount = (text) => text.split(/\s+/).filter(Boolean).length;
    if (beamSize > 1) {
      const { out, probs, logprob } = await beam(crossKv, first, limit, beamSize);
      const result = answer(out, logprob, first, timing(now()));
      if (wordTimestamps && result.text) {
        // One call over the whole winning sequence gives every row, <|endoftext|>'s included.
        const all = [...prompt, ...out, config.eot];
        const rows = [(await step(all, emptyCache(), crossKv, true)).alignment];
        result.words = alignRows(rows, out, probs, speech.length).slice(0, wordCount(result.text));
      }
      return result;
    }
    let selfKv = first.selfKv;
    let stepTokens = prompt.slice(1);
    const out = [];
    const probs = [];
    let logprob = 0; // the chosen tokens' log-probabilities under the unmasked logits
    const rows = [...first.rows]; // the alignment heads' weights of each call, when words are wanted
    let unfed = [config.eot]; // whose rows are missing when the loop ends
    for (let n = 0; n < limit; n++) {
      const result = await step(stepTokens, selfKv, crossKv, wordTimestamps);
      selfKv = result.new_self_kv;
      if (wordTimestamps && result.alignment) rows.push(result.alignment);
      const logits = result.logits.data;
      const token = nextToken(logits, n, suppressed, suppressedFirst);
      const p = probability(logits, token);
      logprob += Math.log(Math.max(p, 1e-300));
      if (token === config.eot) {
        unfed = [config.eot];
        break;
      }
      out.push(token);
      if (wordTimestamps) probs.push(p);
      stepTokens = [token];
      unfed = [token, config.eot];
    }
    const result = answer(out, logprob, first, timing(now()));
    if (wordTimestamps && result.text && rows.length > 0) {
      // Whisper standardises the weights over every row, <|endoftext|>'s included.
      rows.push((await step(unfed, selfKv, crossKv, true)).alignment);
      result.words = alignRows(rows, out, probs, speech.length).slice(0, wordCount(result.text));
    }
    return result;
  }

  async function beam(crossKv, first, limit, beamSize) {
    let selfKv = first.selfKv;
    let stepTokens = prompt.slice(1);
    let alive = [{ tokens: [], logprob: 0, probs: [] }];
    let finished = [];
    for (let n = 0; n < limit; n++) {
      const result = await step(stepTokens, selfKv, crossKv, false, alive.length);
      const state = beamStep(alive, result.logits.data, {
        step: n,
        limit,
        beamSize,
        config,
        suppressed,
        suppressedFirst,
        finished,
      });
      alive = state.alive;
      finished = state.finished;
      if (state.done) break;
      const cache = result.new_self_kv;
      const dims = [...cache.dims];
      selfKv = new ort.Tensor("float32", gatherRows(cache.data, dims, state.parents), cacheShape(dims[2], alive.length));
      stepTokens = alive.map((h) => h.tokens[h.tokens.length - 1]);
    }
    if (finished.length === 0) return { out: [], probs: [], logprob: 0 };
    const winner = bestHypothesis(finished);
    return { out: winner.tokens, probs: winner.probs, logprob: winner.logprob };
  }

  // Joins the calls' [1, heads, n, positions] weights along n and aligns the words.
  function alignRows(rows, out, probs, nSamples) {
    const [, heads, , positions] = rows[0].dims;
    const total = rows.reduce((sum, r) => sum + r.dims[2], 0);
    const joined = new Float32Array(heads * total * positions);
    let at = 0;
    for (const r of rows) {
      const n = r.dims[2];
      for (let h = 0; h < heads; h++) {
        const block = r.data.subarray(h * n * positions, (h + 1) * n * positions);
        joined.set(block, (h * total + at) * positions);
      }
      at += n;
    }
    const frames = Math.min(Math.floor(nSamples / config.hop_samples) + 1, 3000);
    return alignWords(joined, [heads, total, positions], out, probs, frames, tokens, config.eot);
  }

  async function release() {
    await encoderSession.release();
    await decoderSession.release();
  }

  return { config, transcribe, release };
}
