import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expNonPositive } from "../src/engine/exp.js";
import { Rng } from "../src/engine/rng.js";
import { Sampler } from "../src/engine/sampler.js";
import { resolveSamplingParams, type SamplingParams } from "../src/engine/sampling-params.js";
import { nucleus, nucleusBin, NucleusScratch, selectTop } from "../src/engine/select.js";

/** Candidates best first (ties: lower id first), as the sampler's filters define the order. */
function ranked(scores: ArrayLike<number>, ids: readonly number[]): number[] {
  return [...ids].sort((a, b) => scores[b] - scores[a] || a - b);
}

/** HF's filters, written the plain way: every probability, sorted, cut; then renormalised. */
function referenceProbs(logits: Float32Array, p: SamplingParams): Float64Array {
  const V = logits.length;
  const max = Math.max(...logits);
  const w = Array.from(logits, (l) => Math.exp((l - max) / p.temperature));
  let kept = ranked(w, Array.from({ length: V }, (_, i) => i));
  if (p.topK > 0) kept = kept.slice(0, p.topK);
  if (p.topP < 1) {
    const total = kept.reduce((a, id) => a + w[id], 0);
    let cumulative = 0;
    const cut = kept.findIndex((id) => (cumulative += w[id]) >= p.topP * total);
    kept = kept.slice(0, cut + 1);
  }
  if (p.minP > 0) kept = kept.filter((id) => w[id] >= p.minP);
  const total = kept.reduce((a, id) => a + w[id], 0);
  const probs = new Float64Array(V);
  for (const id of kept) probs[id] = w[id] / total;
  return probs;
}

function randomLogits(V: number, seed: number, spread: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: V }, () => (rng.nextFloat() - 0.5) * spread);
}

describe("expNonPositive", () => {
  it("is within 2 ulp of Math.exp on [-708, 0], 1 at 0, 0 below the normal range", () => {
    const rng = new Rng(3);
    let worst = 0;
    for (let i = 0; i < 200_000; i++) {
      const x = -rng.nextFloat() * (i % 2 === 0 ? 708 : 2);
      const exact = Math.exp(x);
      worst = Math.max(worst, Math.abs(expNonPositive(x) - exact) / exact);
    }
    assert.ok(worst <= 2 * 2 ** -52, `relative error ${worst}`);
    assert.equal(expNonPositive(0), 1);
    assert.equal(expNonPositive(-0), 1);
    assert.equal(expNonPositive(-Infinity), 0);
    assert.equal(expNonPositive(-709), 0);
    assert.ok(Number.isNaN(expNonPositive(NaN)));
  });
});

describe("top-k and top-p selection", () => {
  it("selectTop moves the k best of a range to its front", () => {
    const rng = new Rng(5);
    const scores = Float64Array.from({ length: 300 }, () => Math.floor(rng.nextFloat() * 40)); // many ties
    for (const [lo, hi, k] of [[0, 300, 1], [0, 300, 37], [10, 200, 190], [50, 51, 1], [20, 120, 100]]) {
      const ids = Int32Array.from({ length: 300 }, (_, i) => i);
      selectTop(ids, lo, hi, k, scores);
      const expected = ranked(scores, Array.from({ length: hi - lo }, (_, i) => lo + i)).slice(0, k);
      assert.deepEqual([...ids.subarray(lo, lo + k)].sort((a, b) => a - b), expected.sort((a, b) => a - b), `[${lo}, ${hi}) k ${k}`);
    }
  });

  it("nucleus keeps the smallest most likely set reaching p, whatever the distribution", () => {
    const V = 3000;
    const cases: [string, (i: number) => number][] = [
      ["flat", (i) => -((i * 7919) % 1000) / 400],
      ["peaked", (i) => (i === 17 ? 0 : -8 - (i % 50) / 10)],
      ["steps of ties", (i) => -Math.floor((i % 97) / 10) * 0.3],
      ["all equal", () => 0],
      ["long tail", (i) => -i / 20],
    ];
    for (const [name, xOf] of cases) {
      const x = Float64Array.from({ length: V }, (_, i) => xOf(i));
      const top = Math.max(...x);
      const scores = x.map((v) => expNonPositive(v - top));
      const scratch = new NucleusScratch(V);
      for (let i = 0; i < V; i++) scratch.bins[i] = nucleusBin(x[i] - top);
      for (const p of [0.05, 0.5, 0.9, 0.999]) {
        const ids = Int32Array.from({ length: V }, (_, i) => i);
        const n = nucleus(ids, V, p, scores, scratch);
        const order = ranked(scores, Array.from({ length: V }, (_, i) => i));
        const total = scores.reduce((a, s) => a + s, 0);
        let cumulative = 0;
        const want = order.findIndex((id) => (cumulative += scores[id]) >= p * total) + 1;
        assert.equal(n, want, `${name}, p ${p}`);
        assert.deepEqual([...ids.subarray(0, n)].sort((a, b) => a - b), order.slice(0, want).sort((a, b) => a - b), `${name}, p ${p}`);
      }
    }
  });
});

describe("Sampler", () => {
  const V = 40;
  const DRAWS = 20_000;
  const settings: Partial<SamplingParams>[] = [
    { temperature: 1 },
    { temperature: 0.6 },
    { temperature: 1, topK: 5 },
    { temperature: 1.5, topP: 0.7 },
    { temperature: 1, topK: 12, topP: 0.8 },
    { temperature: 0.9, minP: 0.2 },
    { temperature: 1, topK: 20, topP: 0.95, minP: 0.05 },
  ];
  for (const given of settings) {
    it(`draws from the filtered softmax: ${JSON.stringify(given)}`, () => {
      const params = resolveSamplingParams(given);
      const logits = randomLogits(V, 11, 6);
      const want = referenceProbs(logits, params);
      const sampler = new Sampler(params, V, 1234);
      const counts = new Float64Array(V);
      for (let i = 0; i < DRAWS; i++) counts[sampler.sample(logits)]++;
      for (let id = 0; id < V; id++) {
        const freq = counts[id] / DRAWS;
        if (want[id] === 0) assert.equal(counts[id], 0, `token ${id} is filtered out but was drawn`);
        // 4.5 binomial standard deviations at the worst p (0.5): a fixed seed makes this fixed, not flaky.
        assert.ok(Math.abs(freq - want[id]) < 0.016, `token ${id}: frequency ${freq}, probability ${want[id]}`);
      }
    });
  }

  it("temperature 0 is argmax, lowest id on ties; penalties move it", () => {
    const logits = Float32Array.from([1, 3, 2, 3]);
    assert.equal(new Sampler(resolveSamplingParams({ temperature: 0 }), 4, 1).sample(logits), 1);
    const penalized = new Sampler(resolveSamplingParams({ temperature: 0, repetitionPenalty: 2 }), 4, 1);
    penalized.observePrompt([1, 3]);
    assert.equal(penalized.sample(logits), 2);
  });

  it("a seed gives the same draws", () => {
    const logits = randomLogits(1000, 2, 4);
    for (const given of settings) {
      const params = resolveSamplingParams(given);
      const a = new Sampler(params, 1000, 9);
      const b = new Sampler(params, 1000, 9);
      for (let i = 0; i < 50; i++) assert.equal(a.sample(logits), b.sample(logits), JSON.stringify(given));
    }
  });
});
