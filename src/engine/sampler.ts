import { expNonPositive } from "./exp.js";
import { Rng } from "./rng.js";
import { nucleus, nucleusBin, NucleusScratch, selectTop } from "./select.js";
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
  private readonly nucleusScratch: NucleusScratch | null; // top-p's, when p < 1

  constructor(readonly params: SamplingParams, readonly vocabSize: number, seed: number) {
    this.rng = new Rng(seed);
    this.outputCounts = new Int32Array(vocabSize);
    this.seen = new Uint8Array(vocabSize);
    this.scores = new Float64Array(vocabSize);
    this.candidates = new Int32Array(vocabSize);
    this.nucleusScratch = params.topP < 1 ? new NucleusScratch(vocabSize) : null;
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
    // Without penalties the adjusted logits are the logits: read them where they are rather than
    // through a copy (the vocabulary's scores are passed over three times per token).
    const adjusted: Float32Array | Float64Array = penalized ? scores : logits;
    let max = -Infinity;
    if (penalized) {
      for (let i = 0; i < V; i++) {
        let s = logits[i];
        if (this.seen[i]) {
          if (rep !== 1) s = s > 0 ? s / rep : s * rep;
          const count = this.outputCounts[i];
          if (count > 0) s -= pres + freq * count;
        }
        scores[i] = s;
        if (s > max) max = s;
      }
      if (params.temperature === 0) return argmax(scores, V);
    } else {
      for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
    }

    // Unnormalised probabilities, the most likely token's 1; their total if nothing is filtered.
    const invT = 1 / params.temperature;
    const bins = this.nucleusScratch?.bins;
    let total = 0;
    if (bins === undefined) {
      for (let i = 0; i < V; i++) {
        const e = expNonPositive((adjusted[i] - max) * invT);
        scores[i] = e;
        total += e;
      }
    } else {
      for (let i = 0; i < V; i++) {
        const x = (adjusted[i] - max) * invT;
        const e = expNonPositive(x);
        scores[i] = e;
        total += e;
        bins[i] = nucleusBin(x);
      }
    }
    const filtered = (params.topK > 0 && params.topK < V) || this.nucleusScratch !== null || params.minP > 0;
    if (!filtered) {
      let r = this.rng.nextFloat() * total;
      for (let i = 0; i < V; i++) {
        r -= scores[i];
        if (r < 0) return i;
      }
      return V - 1;
    }

    const cand = this.candidates;
    for (let i = 0; i < V; i++) cand[i] = i;
    let n = V;
    if (params.topK > 0 && params.topK < n) {
      selectTop(cand, 0, n, params.topK, scores);
      n = params.topK;
    }
    if (this.nucleusScratch !== null) n = nucleus(cand, n, params.topP, scores, this.nucleusScratch);
    if (params.minP > 0) {
      // The most likely token has score 1 after subtracting the max, so the threshold is min_p.
      let kept = 0;
      for (let i = 0; i < n; i++) if (scores[cand[i]] >= params.minP) cand[kept++] = cand[i];
      n = kept;
    }
    total = 0;
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
