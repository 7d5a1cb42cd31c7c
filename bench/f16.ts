// Keep F16 weights as F16, or widen them to f32 at load? A matvec over F16 weights (widened in
// registers) against the engine's f32 one, 1 thread, alternating: node dist/bench/f16.js
// (npm run bench:f16 compiles assembly/bench/f16.ts first).
import { readFileSync } from "node:fs";
import { f16ToF32, f32ToF16 } from "../src/io/half.js";
import { repoRoot } from "../scripts/make-random-gpt2.js";

type Matvec = (out: number, x: number, w: number, cols: number, rows: number) => void;
interface Kernels {
  readonly matvecF32: Matvec;
  readonly matvecF16: Matvec;
}

const ROUNDS = 11;
const memory = new WebAssembly.Memory({ initial: 2, maximum: 40000 });
const wasm = readFileSync(`${repoRoot()}/dist/bench/f16.wasm`);
const { exports } = (await WebAssembly.instantiate(wasm, { env: { memory } })).instance;
const kernels = asKernels(exports);

function asKernels(e: WebAssembly.Exports): Kernels {
  const { matvecF32, matvecF16 } = e;
  if (typeof matvecF32 !== "function" || typeof matvecF16 !== "function") throw new Error("f16.wasm lacks its kernels");
  return { matvecF32: (...a) => matvecF32(...a), matvecF16: (...a) => matvecF16(...a) };
}

let top = 65536; // AssemblyScript's static data lives below
function alloc(bytes: number): number {
  const offset = top;
  top += (bytes + 63) & ~63;
  const missing = Math.ceil(top / 65536) - memory.buffer.byteLength / 65536;
  if (missing > 0) memory.grow(missing);
  return offset;
}

interface Weights {
  readonly f32: number[];
  readonly f16: number[];
}

/**
 * `count` distinct matrices in both layouts, holding the same (F16-representable) values; one
 * in `subnormalEvery` is an F16 subnormal (the default model's checkpoint has 0.17 %).
 */
function weights(rows: number, cols: number, count: number, subnormalEvery: number): Weights {
  const w: Weights = { f32: [], f16: [] };
  for (let i = 0; i < count; i++) {
    const p32 = alloc(rows * cols * 4), p16 = alloc(rows * cols * 2);
    const a32 = new Float32Array(memory.buffer, p32, rows * cols), a16 = new Uint16Array(memory.buffer, p16, rows * cols);
    for (let j = 0; j < a32.length; j++) {
      a16[j] = f32ToF16(Math.sin(j * 0.37 + i) * 0.05 * (j % subnormalEvery === 0 ? 1e-3 : 1));
      a32[j] = f16ToF32(a16[j]);
    }
    w.f32.push(p32);
    w.f16.push(p16);
  }
  return w;
}

const x = alloc(4096 * 4), out = alloc(4096 * 4);
new Float32Array(memory.buffer, x, 4096).forEach((_, i, a) => (a[i] = Math.cos(i) * 0.5));

function median(a: number[]): number {
  return [...a].sort((p, q) => p - q)[a.length >> 1];
}

const cases: [string, number, number, number, number][] = [
  // label, rows, cols, distinct matrices, repetitions
  ["GPT-2-124M MLP 3072×768, 16 matrices (from DRAM)", 3072, 768, 16, 1],
  ["default model 1024×256, 24 matrices (from L3)", 1024, 256, 24, 1],
  ["one 1024×256 matrix (from L2: compute bound)", 1024, 256, 1, 20],
];
for (const [label, rows, cols, count, reps] of cases.flatMap(([l, ...rest]) => [[`${l}, no subnormals`, ...rest], [`${l}, 0.17 % subnormals`, ...rest]] as const)) {
  const w = weights(rows, cols, count, label.endsWith("no subnormals") ? Infinity : 600);
  kernels.matvecF32(out, x, w.f32[0], cols, rows);
  const ref = Float32Array.from(new Float32Array(memory.buffer, out, rows));
  kernels.matvecF16(out, x, w.f16[0], cols, rows);
  const same = new Float32Array(memory.buffer, out, rows).every((v, i) => Object.is(v, ref[i]));
  const run = (f: Matvec, ws: number[]): number => {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) for (const p of ws) f(out, x, p, cols, rows);
    return (performance.now() - t0) / reps;
  };
  const t32: number[] = [], t16: number[] = [];
  for (let r = 0; r < ROUNDS + 3; r++) {
    const a = run(kernels.matvecF32, w.f32), b = run(kernels.matvecF16, w.f16);
    if (r >= 3) t32.push(a), t16.push(b); // the first rounds let V8 tier up
  }
  const gflops = (ms: number): string => ((2 * rows * cols * count) / ms / 1e6).toFixed(1);
  console.log(`${label}: f32 ${gflops(median(t32))} GFLOP/s, f16 ${gflops(median(t16))} GFLOP/s (f16/f32 ${(median(t32) / median(t16)).toFixed(2)}×), results ${same ? "bit-identical" : "DIFFER"}`);
}
