// Decode speed over an f32 and an f16 KV cache at long contexts, side by side:
//   node dist/bench/kv-dtype.js [--model DIR] [--threads N] [--dtype f32|f16|q8] [--positions 512,1024] [--bursts 6] [--burst 8] [--kernel-only]
// First the attention kernel alone: one decode step's attentionDecode over every layer's cache
// (the model's shape, random values, P positions), f32 and f16 in alternating rounds, the best
// round each. Then whole decode steps: both models are loaded at once. For each context P, each is prefilled with the same random
// prompt to P − 1 − bursts·burst positions, then they decode greedily in alternating bursts of
// `burst` tokens (so drift, turbo and neighbours hit both alike) until both reach P. Prints each
// cache's best and median burst tok/s and the ratios. Best rounds, because on a shared machine
// the other processes only ever add time: the best is the run that was least interrupted.
import { parseArgs } from "node:util";
import { LLM } from "../src/engine/llm.js";
import { Rng } from "../src/engine/rng.js";
import { KV_DTYPES, type KVArray, type KVView } from "../src/kernels/backend.js";
import { createWasmBackend } from "../src/kernels/index.js";
import { openModel } from "../src/model/load.js";
import { f32ToF16 } from "../src/numeric/half.js";
import { DTYPES, choiceFlag, intFlag, modelSource, threadsFlag } from "../src/cli/options.js";
import { median } from "../src/numeric/median.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string" },
    dtype: { type: "string" },
    positions: { type: "string" },
    bursts: { type: "string" },
    burst: { type: "string" },
    "kernel-only": { type: "boolean" },
  },
});
const positions = (values.positions ?? "512,1024").split(",").map(Number);
const bursts = intFlag(values, "bursts", 1) ?? 6;
const burst = intFlag(values, "burst", 1) ?? 8;
const dtype = choiceFlag(values, "dtype", DTYPES) ?? "f32";
const threads = threadsFlag(values);
const source = modelSource(values);
const contextLength = Math.max(...positions);

const ROUNDS = 25;

{
  const { spec } = await openModel(source, { quiet: true });
  const { nLayer: L, nHead, nKVHead, headDim } = spec.shape;
  const backend = await createWasmBackend({ threads });
  const rng = new Rng(7);
  const width = nHead * headDim, kvWidth = nKVHead * headDim;
  const q = backend.allocF32(width), out = backend.allocF32(width);
  for (let i = 0; i < width; i++) q[i] = (rng.nextUint32() / 2 ** 32 - 0.5) * 4;
  const P = Math.max(...positions);
  // Distinct caches per layer, so a step streams them from memory as a model's decode does.
  const layers = KV_DTYPES.map((kvDtype) =>
    Array.from({ length: L }, (): KVView => {
      const alloc = (): KVArray => {
        const values = Float32Array.from({ length: P * kvWidth }, () => rng.nextUint32() / 2 ** 32 - 0.5);
        if (kvDtype === "f32") return values.slice();
        return Uint16Array.from(values, f32ToF16);
      };
      const k = alloc(), v = alloc();
      const kb = k instanceof Float32Array ? backend.allocF32(k.length) : backend.allocU16(k.length);
      const vb = v instanceof Float32Array ? backend.allocF32(v.length) : backend.allocU16(v.length);
      kb.set(k);
      vb.set(v);
      return { k: kb, v: vb, blockTable: Int32Array.of(0), blockSize: P };
    }),
  );
  for (const p of positions) {
    const at = Int32Array.of(p - 1);
    const ms: number[][] = KV_DTYPES.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let j = 0; j < layers.length; j++) {
        const i = (round + j) % layers.length;
        const t0 = performance.now();
        for (const kv of layers[i]) backend.attentionDecode(out, q, 0, [kv], at, 1, nHead, nKVHead, headDim);
        ms[i].push(performance.now() - t0);
      }
    }
    const [f32, f16] = ms.map((m) => Math.min(...m));
    process.stdout.write(`${backend.name}, attention of one decode step (${L} layers) at ${p} positions, best of ${ROUNDS}: f32 KV ${f32.toFixed(3)} ms, f16 KV ${f16.toFixed(3)} ms, f16/f32 time ${(f16 / f32).toFixed(3)}\n`);
  }
  backend.close();
}
if (values["kernel-only"]) process.exit(0);

const llms = await Promise.all(KV_DTYPES.map((kvDtype) => LLM.load(source, { threads, dtype, kvDtype, contextLength, quiet: true })));
try {
  const vocab = Math.min(llms[0].shape.vocabSize, llms[0].tokenizer.vocabSize);
  for (const P of positions) {
    const rng = new Rng(P);
    const prompt = Array.from({ length: P - 1 - bursts * burst }, () => rng.nextUint32() % vocab);
    const params = { temperature: 0, maxTokens: bursts * burst + 1, ignoreEos: true };
    const runs = llms.map((llm) => llm.start([prompt], params));
    const tokS: number[][] = KV_DTYPES.map(() => []);
    for (let b = 0; b < bursts; b++) {
      // Alternate which goes first, so neither always follows the other's workers parking.
      for (let j = 0; j < runs.length; j++) {
        const i = (b + j) % runs.length;
        const t0 = performance.now();
        for (let s = 0; s < burst; s++) runs[i].step();
        tokS[i].push((burst / (performance.now() - t0)) * 1000);
      }
    }
    const [f32, f16] = tokS.map((t) => Math.max(...t));
    const [f32m, f16m] = tokS.map(median);
    process.stdout.write(
      `${llms[0].backend.name}, ${dtype} weights, decode at ${P - bursts * burst}..${P} positions, best (median) of ${bursts} bursts: ` +
        `f32 KV ${f32.toFixed(2)} (${f32m.toFixed(2)}) tok/s, f16 KV ${f16.toFixed(2)} (${f16m.toFixed(2)}) tok/s, f16/f32 ${(f16 / f32).toFixed(3)} (${(f16m / f32m).toFixed(3)})\n`,
    );
  }
} finally {
  for (const llm of llms) llm.close();
}
