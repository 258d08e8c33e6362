// Word timings from the alignment heads' cross-attention: echoic.browser.words in JavaScript
// (Whisper's method: standardise over tokens, median filter over time, average the heads,
// dynamic time warping, words split at spaces, punctuation merged). Pure; used by whisper.js.

const POSITIONS_PER_S = 50; // encoder positions: two 10 ms log-Mel frames each
const MEDIAN_WIDTH = 7;
const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"; // Python's string.punctuation
const PREPEND_PUNCTUATIONS = "\"'“¿([{-";
const APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、";

function medianFilter(row, width) {
  const pad = Math.floor(width / 2);
  if (row.length <= pad) return row;
  const n = row.length;
  const at = (i) => row[i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i]; // reflect
  const out = new Float64Array(n);
  const window = new Float64Array(width);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < width; k++) window[k] = at(i - pad + k);
    window.sort();
    out[i] = window[pad];
  }
  return out;
}

export function dtw(cost) {
  const n = cost.length;
  const m = cost[0].length;
  const total = Array.from({ length: n + 1 }, () => new Float64Array(m + 1).fill(Infinity));
  const trace = Array.from({ length: n + 1 }, () => new Int8Array(m + 1).fill(-1));
  total[0][0] = 0;
  for (let j = 1; j <= m; j++) {
    for (let i = 1; i <= n; i++) {
      const c0 = total[i - 1][j - 1];
      const c1 = total[i - 1][j];
      const c2 = total[i][j - 1];
      let best, step;
      if (c0 < c1 && c0 < c2) [best, step] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [best, step] = [c1, 1];
      else [best, step] = [c2, 2];
      total[i][j] = cost[i - 1][j - 1] + best;
      trace[i][j] = step;
    }
  }
  for (let j = 0; j <= m; j++) trace[0][j] = 2;
  for (let i = 0; i <= n; i++) trace[i][0] = 1;
  let i = n;
  let j = m;
  const tokens = [];
  const times = [];
  while (i > 0 || j > 0) {
    tokens.push(i - 1);
    times.push(j - 1);
    const step = trace[i][j];
    if (step === 0) [i, j] = [i - 1, j - 1];
    else if (step === 1) i -= 1;
    else j -= 1;
  }
  return [tokens.reverse(), times.reverse()];
}

function bytesOf(table, tokens) {
  const bytes = [];
  for (const t of tokens) for (let i = 0; i < table[t].length; i++) bytes.push(table[t].charCodeAt(i));
  return new Uint8Array(bytes);
}

export function splitWords(table, tokens, eot) {
  const strict = new TextDecoder("utf-8", { fatal: true });
  const pieces = [];
  let pending = [];
  for (const token of tokens) {
    pending.push(token);
    let text;
    try {
      text = strict.decode(bytesOf(table, pending));
    } catch {
      continue;
    }
    pieces.push([text, pending]);
    pending = [];
  }
  const words = [];
  for (const [text, group] of pieces) {
    const starts = group[0] >= eot || text.startsWith(" ") || PUNCTUATION.includes(text.trim());
    if (starts || words.length === 0) words.push([text, [...group]]);
    else {
      const last = words[words.length - 1];
      words[words.length - 1] = [last[0] + text, [...last[1], ...group]];
    }
  }
  return words.map(([, group]) => group);
}

export function mergePunctuations(input) {
  const words = [...input];
  let i = words.length - 2;
  let j = words.length - 1;
  while (i >= 0) {
    if (words[i].startsWith(" ") && PREPEND_PUNCTUATIONS.includes(words[i].trim())) {
      words[j] = words[i] + words[j];
      words[i] = "";
    } else j = i;
    i -= 1;
  }
  i = 0;
  j = 1;
  while (j < words.length) {
    if (!words[i].endsWith(" ") && APPEND_PUNCTUATIONS.includes(words[j])) {
      words[i] = words[i] + words[j];
      words[j] = "";
    } else i = j;
    j += 1;
  }
  return words;
}

const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;

// `weights`: Float32Array [heads, rows, positions] for the whole sequence [...sot,
// notimestamps, ...textTokens, eot]; `probs`: each text token's probability when picked.
export function alignWords(weights, [heads, rows, positions], textTokens, probs, speechFrames, table, eot) {
  if (textTokens.length === 0) return [];
  const nPrompt = rows - textTokens.length - 2;
  const kept = Math.min(positions, Math.max(1, Math.floor(speechFrames / 2)));
  const z = []; // [heads][rows] Float64Array(kept)
  for (let h = 0; h < heads; h++) {
    const byRow = [];
    for (let r = 0; r < rows; r++) {
      const offset = (h * rows + r) * positions;
      const row = new Float64Array(kept);
      let sum = 0;
      for (let t = 0; t < kept; t++) sum += weights[offset + t];
      for (let t = 0; t < kept; t++) row[t] = weights[offset + t] / sum;
      byRow.push(row);
    }
    for (let t = 0; t < kept; t++) {
      let mean = 0;
      for (let r = 0; r < rows; r++) mean += byRow[r][t];
      mean /= rows;
      let variance = 0;
      for (let r = 0; r < rows; r++) variance += (byRow[r][t] - mean) ** 2;
      const std = Math.sqrt(variance / rows);
      for (let r = 0; r < rows; r++) byRow[r][t] = (byRow[r][t] - mean) / std;
    }
    z.push(byRow.map((row) => medianFilter(row, MEDIAN_WIDTH)));
  }
  const cost = [];
  for (let r = nPrompt; r < rows - 1; r++) {
    const row = new Float64Array(kept);
    for (let t = 0; t < kept; t++) {
      let sum = 0;
      for (let h = 0; h < heads; h++) sum += z[h][r][t];
      row[t] = -(sum / heads);
    }
    cost.push(row);
  }
  const [textIndices, timeIndices] = dtw(cost);
  const jumpTimes = [];
  for (let k = 0; k < textIndices.length; k++) {
    if (k === 0 || textIndices[k] !== textIndices[k - 1]) jumpTimes.push(timeIndices[k] / POSITIONS_PER_S);
  }
  const groups = splitWords(table, [...textTokens, eot], eot);
  const bounds = [0];
  for (const group of groups.slice(0, -1)) bounds.push(bounds[bounds.length - 1] + group.length);
  const utf8 = new TextDecoder("utf-8");
  const words = groups.slice(0, -1).map((group, k) => {
    const own = probs.slice(bounds[k], bounds[k + 1]);
    return {
      word: utf8.decode(bytesOf(table, group)),
      start: round(jumpTimes[bounds[k]], 3),
      end: round(jumpTimes[bounds[k + 1]], 3),
      probability: round(own.reduce((a, b) => a + b, 0) / own.length, 4),
    };
  });
  const texts = mergePunctuations(words.map((w) => w.word));
  return words
    .map((w, k) => ({ ...w, word: texts[k].trim() }))
    .filter((w) => w.word.length > 0);
}
