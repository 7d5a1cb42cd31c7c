import { Rng } from "./rng.js";
import type { SamplingParams } from "./sampling-params.js";

/**
 * Picks the next token of one sequence from its logits. It owns the sequence's seeded RNG and
 * token counts (for penalties), and scratch buffers sized to the vocabulary, so sampling
 * allocates nothing per token. Filters run in HF's order: penalties, temperature, top-k,
 * top-p, min-p; then one draw from what is left.
 */
export class Sampler {
  private readonly rng: Rng;
  private readonly outputCounts: Int32Array; // (V,) occurrences in the generated text
  private readonly seen: Uint8Array; // (V,) 1 if in the prompt or the output
  private readonly scores: Float64Array; // (V,) adjusted logits, then probabilities
  private readonly candidates: Int32Array; // (V,) token ids still in the running

  constructor(readonly params: SamplingParams, readonly vocabSize: number, seed: number) {
    this.rng = new Rng(seed);
    this.outputCounts = new Int32Array(vocabSize);
    this.seen = new Uint8Array(vocabSize);
    this.scores = new Float64Array(vocabSize);
    this.candidates = new Int32Array(vocabSize);
  }

  /** Tokens the penalties should know about before the first sample. */
  observePrompt(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) this.seen[ids[i]] = 1;
  }

  /** Records a generated token. */
  observeOutput(id: number): void {
    this.seen[id] = 1;
    this.outputCounts[id]++;
  }

  /** Chooses a token from logits (V,). */
  sample(logits: Float32Array): number {
    const { params, scores, vocabSize: V } = this;
    const { repetitionPenalty: rep, presencePenalty: pres, frequencyPenalty: freq } = params;
    const penalized = rep !== 1 || pres !== 0 || freq !== 0;
    if (!penalized && params.temperature === 0) return argmax(logits, V);
    for (let i = 0; i < V; i++) {
      let s = logits[i];
      if (penalized && this.seen[i]) {
        if (rep !== 1) s = s > 0 ? s / rep : s * rep;
        const count = this.outputCounts[i];
        if (count > 0) s -= pres + freq * count;
      }
      scores[i] = s;
    }
    if (params.temperature === 0) return argmax(scores, V);

    let max = -Infinity;
    for (let i = 0; i < V; i++) if (scores[i] > max) max = scores[i];
    const invT = 1 / params.temperature;
    for (let i = 0; i < V; i++) scores[i] = Math.exp((scores[i] - max) * invT); // unnormalised probabilities

    const cand = this.candidates;
    for (let i = 0; i < V; i++) cand[i] = i;
    let n = V;
    if (params.topK > 0 && params.topK < n) {
      selectTop(cand, n, params.topK, scores);
      n = params.topK;
    }
    if (params.topP < 1) n = nucleus(cand, n, params.topP, scores);
    if (params.minP > 0) {
      // The most likely token has score 1 after subtracting the max, so the threshold is min_p.
      let kept = 0;
      for (let i = 0; i < n; i++) if (scores[cand[i]] >= params.minP) cand[kept++] = cand[i];
      n = kept;
    }
    let total = 0;
    for (let i = 0; i < n; i++) total += scores[cand[i]];
    let r = this.rng.nextFloat() * total;
    for (let i = 0; i < n; i++) {
      r -= scores[cand[i]];
      if (r < 0) return cand[i];
    }
    return cand[n - 1];
  }
}

/** The index of the largest value; the lowest index on ties, as torch.argmax. */
export function argmax(values: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Orders higher scores first, lower ids first on ties, so results never depend on sort stability. */
function before(a: number, b: number, scores: Float64Array): boolean {
  return scores[a] > scores[b] || (scores[a] === scores[b] && a < b);
}

/** Moves the k best of ids[0, n) into ids[0, k) (in no particular order): quickselect. */
function selectTop(ids: Int32Array, n: number, k: number, scores: Float64Array): void {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = ids[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (before(ids[i], pivot, scores)) i++;
      while (before(pivot, ids[j], scores)) j--;
      if (i <= j) {
        const t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else return;
  }
}

/**
 * Top-p: sorts the most likely candidates first and keeps the smallest prefix whose mass
 * reaches p. The nucleus is usually small, so it sorts a growing top slice, not all of them.
 */
function nucleus(ids: Int32Array, n: number, p: number, scores: Float64Array): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += scores[ids[i]];
  const target = p * total;
  for (let m = Math.min(64, n); ; m = Math.min(m * 4, n)) {
    if (m < n) selectTop(ids, n, m, scores);
    const top = ids.subarray(0, m).sort((a, b) => (before(a, b, scores) ? -1 : 1));
    let cumulative = 0;
    for (let i = 0; i < m; i++) {
      cumulative += scores[top[i]];
      if (cumulative >= target) return i + 1;
    }
    if (m === n) return n;
  }
}
