// Decode throughput of the serving engine by batch size, in process (no HTTP):
//   node dist/bench/engine-batch.js [--model DIR] [--dtype q8] [--threads N] [--batch 1,16]
//        [--prompt-len 16] [--gen 64] [--temperature 0.8] [--rounds 2] [--simd auto|relaxed|baseline] [--profile]
// For each round and each batch size B (alternating, so drift and neighbours hit all alike), B
// sequences of random prompt ids are added to one LLMEngine and its steps are driven directly
// until all have generated `gen` tokens (ignore_eos). Only the steps whose chunks are all single
// tokens count: decode tok/s = B × steps / their time. Each step's time is split into the
// kernels (the profiled backend's calls), the rest of the forward pass, and sampling/streaming
// (the engine's postprocess, measured as step time minus run time). Prints the best round per B
// (on a shared machine other processes only ever add time) and each B's ratio to the first.
// --simd as the CLI's: relaxed SIMD by default, as `serve` runs.
import { parseArgs } from "node:util";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { PagedKVCache } from "../src/engine/paged-cache.js";
import { Rng } from "../src/engine/rng.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { DTYPES, choiceFlag, intFlag, modelSource, numberFlag, simdFlag, threadsFlag } from "../src/cli/options.js";
import { loadOnBackend } from "../src/engine/load-model.js";
import { profileBackend, type KernelProfiler } from "../src/kernels/profile.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    dtype: { type: "string" },
    threads: { type: "string" },
    batch: { type: "string" },
    "prompt-len": { type: "string" },
    gen: { type: "string" },
    temperature: { type: "string" },
    rounds: { type: "string" },
    simd: { type: "string" },
    profile: { type: "boolean" },
  },
});
const batches = (values.batch ?? "1,16").split(",").map(Number);
const promptLen = intFlag(values, "prompt-len", 1) ?? 16;
const gen = intFlag(values, "gen", 2) ?? 64;
const rounds = intFlag(values, "rounds", 1) ?? 2;
const temperature = numberFlag(values, "temperature") ?? 0.8;
const dtype = choiceFlag(values, "dtype", DTYPES) ?? "q8";
const maxBatch = Math.max(...batches);

let profiler: KernelProfiler | null = null;
const { model, tokenizer, eosTokenIds, backend } = await loadOnBackend(
  modelSource(values),
  { dtype, threads: threadsFlag(values), simd: simdFlag(values), quiet: true },
  (spec) => ({ bytes: maxBatch * PagedKVCache.bytesPerBlock(spec.shape, 16, "f32") * Math.ceil((promptLen + gen) / 16), what: "the bench's pool", flag: "--batch" }),
  (b) => (values.profile ? (profiler = profileBackend(b)).backend : b),
);
const engine = new LLMEngine({ model, tokenizer, eosTokenIds }, backend, { maxBatch, contextLength: promptLen + gen, prefixCaching: false });
const params = resolveSamplingParams({ maxTokens: gen, temperature, ignoreEos: true });
const rng = new Rng(1);
const V = engine.shape.vocabSize;

interface Round {
  tokPerS: number;
  stepMs: number;
  kernelMs: number;
  runMs: number;
  kernels: Map<string, number>; // ms per step by kernel
}

function round(B: number): Round {
  for (let i = 0; i < B; i++) {
    const promptIds = Array.from({ length: promptLen }, () => rng.nextUint32() % V);
    engine.add({ promptIds, params, seed: i });
  }
  let steps = 0;
  let stepMs = 0;
  let runMs = 0;
  let kernelMs = 0;
  const kernels = new Map<string, number>();
  while (engine.numActive > 0) {
    if (!engine.schedule()) break;
    const decodeOnly = engine.runner.batch.numTokens === engine.scheduler.numChunks;
    profiler?.reset();
    const t0 = performance.now();
    engine.runner.run();
    const t1 = performance.now();
    engine.postprocess();
    const t2 = performance.now();
    if (!decodeOnly) continue;
    steps++;
    stepMs += t2 - t0;
    runMs += t1 - t0;
    for (const p of profiler?.report() ?? []) {
      kernelMs += p.ms;
      kernels.set(p.kernel, (kernels.get(p.kernel) ?? 0) + p.ms);
    }
  }
  for (const [k, ms] of kernels) kernels.set(k, ms / steps);
  return { tokPerS: (B * steps) / (stepMs / 1000), stepMs: stepMs / steps, runMs: runMs / steps, kernelMs: kernelMs / steps, kernels };
}

round(1); // warm-up: JIT, first-touch of the pool
const best = new Map<number, Round>();
for (let r = 0; r < rounds; r++) {
  for (const B of batches) {
    const res = round(B);
    const prev = best.get(B);
    if (prev === undefined || res.tokPerS > prev.tokPerS) best.set(B, res);
  }
}
const base = best.get(batches[0])?.tokPerS ?? NaN;
process.stdout.write(`${backend.name}, ${dtype}, ${backend.threads} thread(s), prompt ${promptLen}, ${gen} generated, temperature ${temperature}, best of ${rounds} rounds\n`);
process.stdout.write("| batch | decode tok/s | × batch " + batches[0] + " | step ms | forward ms | kernels ms | sample+stream ms |\n|---:|---:|---:|---:|---:|---:|---:|\n");
for (const B of batches) {
  const r = best.get(B);
  if (r === undefined) continue;
  const kernels = values.profile ? r.kernelMs.toFixed(2) : "-";
  process.stdout.write(`| ${B} | ${r.tokPerS.toFixed(1)} | ${(r.tokPerS / base).toFixed(2)} | ${r.stepMs.toFixed(2)} | ${r.runMs.toFixed(2)} | ${kernels} | ${(r.stepMs - r.runMs).toFixed(2)} |\n`);
}
if (values.profile) {
  process.stdout.write("\nkernel ms per decode step:\n");
  for (const B of batches) {
    const r = best.get(B);
    if (r !== undefined) process.stdout.write(`  batch ${B}: ${[...r.kernels].map(([k, ms]) => `${k} ${ms.toFixed(2)}`).join(", ")}\n`);
  }
}
engine.close();
