// Beam search's bookkeeping for whisper.js: echoic.browser.beam's rules, mirrored rule for rule
// (the suite checks the two pick the same tokens). CTranslate2's Whisper beam search as
// faster-whisper calls it for the server's finals (beam 5, patience 1, length penalty 1):
// each alive hypothesis adds its log-probabilities (log_softmax of the logits, then suppressed
// tokens masked, the blank and end tokens too at the first step) to its sum; the 2 · beamSize
// best continuations are read best first (ties: lower hypothesis, then lower token id); one
// ending in <|endoftext|> is finished with score sum / length (the end token counted), others
// continue until beamSize are alive. The search stops when a step's best continuation is
// finished, when round(beamSize · patience) hypotheses are, or at the token limit (where each
// continuation read is finished as it stands). The best score wins, the first on a tie.

export const PATIENCE = 1;
const CANDIDATES_PER_BEAM = 2;

export function logSoftmax(logits, from, n) {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[from + i] > max) max = logits[from + i];
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    out[i] = logits[from + i] - max;
    sum += Math.exp(out[i]);
  }
  const log = Math.log(sum);
  for (let i = 0; i < n; i++) out[i] -= log;
  return out;
}

// The k best finite (row, token) scores, best first, ties to the lower flat index.
function topCandidates(rows, k) {
  const best = []; // {score, row, token}, sorted
  rows.forEach((scores, row) => {
    for (let token = 0; token < scores.length; token++) {
      const score = scores[token];
      if (score === -Infinity) continue;
      if (best.length === k && score <= best[k - 1].score) continue;
      let at = best.length;
      while (at > 0 && best[at - 1].score < score) at--;
      best.splice(at, 0, { score, row, token });
      if (best.length > k) best.pop();
    }
  });
  return best;
}

// One step over `alive` ([{tokens, logprob, probs}]); `logits` is [alive.length, vocab] flat.
// Answers {alive, parents, finished, done}; `parents[j]` is the row alive[j] continues.
export function beamStep(alive, logits, { step, limit, beamSize, config, suppressed, suppressedFirst, finished }) {
  const vocab = logits.length / alive.length;
  const logProbs = alive.map((_, row) => logSoftmax(logits, row * vocab, vocab));
  const totals = logProbs.map((lp, row) => {
    const total = new Float64Array(vocab);
    for (let id = 0; id < vocab; id++) {
      const masked = suppressed.has(id) || (step === 0 && suppressedFirst.has(id));
      total[id] = masked ? -Infinity : lp[id] + alive[row].logprob;
    }
    return total;
  });
  const last = step + 1 >= limit;
  const done = [...finished];
  const kept = [];
  const parents = [];
  let topFinished = false;
  const candidates = topCandidates(totals, CANDIDATES_PER_BEAM * beamSize);
  for (let rank = 0; rank < candidates.length; rank++) {
    const { score: total, row, token } = candidates[rank];
    const parent = alive[row];
    const prob = Math.exp(logProbs[row][token]);
    if (token === config.eot || last) {
      const ended = token === config.eot;
      const hypothesis = {
        tokens: ended ? parent.tokens : [...parent.tokens, token],
        logprob: total,
        probs: ended ? parent.probs : [...parent.probs, prob],
      };
      done.push({ hypothesis, score: total / (parent.tokens.length + 1) });
      topFinished = topFinished || rank === 0;
      continue;
    }
    kept.push({ tokens: [...parent.tokens, token], logprob: total, probs: [...parent.probs, prob] });
    parents.push(row);
    if (kept.length === beamSize) break;
  }
  const enough = done.length >= Math.round(beamSize * PATIENCE);
  return { alive: kept, parents, finished: done, done: last || topFinished || enough || kept.length === 0 };
}

export function bestHypothesis(finished) {
  let winner = finished[0];
  for (const candidate of finished.slice(1)) if (candidate.score > winner.score) winner = candidate;
  return winner.hypothesis;
}

// The cache [2L, B, T, d] with its rows on axis 1 taken in `parents`' order.
export function gatherRows(data, dims, parents) {
  const [slots, batch, length, width] = dims;
  const block = length * width;
  const out = new Float32Array(slots * parents.length * block);
  for (let s = 0; s < slots; s++) {
    parents.forEach((parent, j) => {
      const from = (s * batch + parent) * block;
      out.set(data.subarray(from, from + block), (s * parents.length + j) * block);
    });
  }
  return out;
}
