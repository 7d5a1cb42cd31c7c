// Kernel throughput on decode and prefill shapes: node dist/bench/kernels.js [--q8-rows | --q4-rows | --q6k]
// (--q8-rows: only the q8 matmul by number of x rows on GPT-2-124M's shapes; --q4-rows: only the
// q4 and q4k matmuls on prefill shapes; --q6k: only q6k beside q8, the storage Q6_K files had before q6k).
// Configurations run in alternation, round after round, and each reports its median round, so
// drift (turbo, other processes) hits all of them alike.
import type { Backend, Matrix } from "../src/kernels/backend.js";
import { createWasmBackend, enableRelaxedSimd } from "../src/kernels/index.js";
import { toWeightHalf } from "../src/kernels/f16.js";
import { f32ToF16 } from "../src/numeric/half.js";
import { quantizeQ4, quantizeQ8 } from "../src/kernels/quantize.js";
import { median } from "../src/numeric/median.js";
import { allocMatrix } from "../src/model/matrix.js";

const ROUNDS = Number(process.env.ROUNDS ?? 9);

interface Case {
  readonly label: string;
  readonly flops: number; // per run
  readonly bytes: number; // weight bytes read per run
  readonly run: () => void;
}

function fill(a: Float32Array, seed: number): void {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
}

/** `count` distinct (rows, cols) matrices, so a run streams weights from DRAM as decode does. */
function matrices(b: Backend, kind: Matrix["kind"], count: number, rows: number, cols: number): Matrix[] {
  const src = new Float32Array(rows * cols);
  const out: Matrix[] = [];
  let staged: Float32Array | null = null;
  for (let i = 0; i < count; i++) {
    fill(src, i + 1);
    if (kind === "q8") out.push(quantizeQ8(b, src, rows, cols));
    else if (kind === "q4") out.push(quantizeQ4(b, src, rows, cols));
    else if (kind === "q4k" || kind === "q5" || kind === "q6k") {
      // Quantized as ggml's Q4_K, Q5_0 or Q6_K from the backend's memory, staged once for all the matrices.
      staged ??= b.allocF32(rows * cols);
      staged.set(src);
      const m = allocMatrix(b, rows, cols, kind);
      b.writeMatrixRows(m, 0, staged, rows);
      out.push(m);
    }
    else if (kind === "f16") {
      const data = b.allocU16(rows * cols);
      for (let j = 0; j < data.length; j++) data[j] = toWeightHalf(src[j]);
      out.push({ kind: "f16", rows, cols, data });
    } else {
      const data = b.allocF32(rows * cols);
      data.set(src);
      out.push({ kind: "f32", rows, cols, data });
    }
  }
  return out;
}

function matmulCase(label: string, b: Backend, ws: Matrix[], n: number, reps = 1): Case {
  const { rows, cols } = ws[0];
  const x = b.allocF32(n * cols);
  fill(x, 99);
  const out = b.allocF32(n * rows);
  const bias = b.allocF32(rows);
  const bytesPerWeight = { f32: 4, f16: 2, q8: 1 + 4 / 32, q4: 0.5 + 4 / 32, q4k: 0.5 + 24 / 256, q5: 0.5 + 1 / 8 + 4 / 32, q6k: 0.75 + 20 / 256 }[ws[0].kind];
  const weightBytes = rows * cols * bytesPerWeight;
  return {
    label,
    flops: 2 * n * rows * cols * ws.length * reps,
    bytes: weightBytes * ws.length * reps,
    run: () => {
      for (let r = 0; r < reps; r++) for (const w of ws) b.matmul(out, x, w, bias, n);
    },
  };
}

/** A kernel call repeated `reps` times, timed per call. */
function callCase(label: string, reps: number, call: () => void): Case {
  return {
    label,
    flops: 0,
    bytes: 0,
    run: () => {
      for (let i = 0; i < reps; i++) call();
    },
  };
}

/**
 * Decode attention at position `pos` over distinct caches of 96 MB in all, more than the L3
 * holds, so each call streams its K and V from DRAM as in a real decode step, where the weight
 * reads in between evict them: GPT-2-124M's shape (12 heads) or SmolLM2-135M's (9 query heads
 * on 3 cached heads), with an f32 or f16 cache.
 */
function coldAttentionCase(b: Backend, pos: number, label: string, shape: "gpt2" | "smollm2" = "gpt2", kvDtype: "f32" | "f16" = "f32"): Case {
  const [nHead, nKVHead] = shape === "gpt2" ? [12, 12] : [9, 3];
  const headDim = 64, width = nHead * headDim, kvWidth = nKVHead * headDim;
  const bytes = kvDtype === "f32" ? 4 : 2;
  const count = Math.ceil((96 << 20) / (2 * (pos + 1) * kvWidth * bytes));
  const staged = new Float32Array((pos + 1) * kvWidth);
  const kvs = Array.from({ length: count }, (_, l) => {
    const cache = (seed: number): Float32Array | Uint16Array => {
      fill(staged, seed);
      if (kvDtype === "f32") {
        const x = b.allocF32(staged.length);
        x.set(staged);
        return x;
      }
      const x = b.allocU16(staged.length);
      for (let i = 0; i < x.length; i++) x[i] = f32ToF16(staged[i]);
      return x;
    };
    return { k: cache(10 + l), v: cache(30 + l), blockTable: Int32Array.of(0), blockSize: pos + 1 };
  });
  const q = b.allocF32(width), o = b.allocF32(width), scratch = b.allocF32(nHead * (pos + 1));
  fill(q, 50);
  return {
    label: `attention ${shape} ${kvDtype} pos ${pos}, ${count} caches, ${label}`,
    flops: 0,
    bytes: 0,
    run: () => {
      for (const kv of kvs) b.attention(o, q, 0, kv, pos, 1, nHead, nKVHead, headDim, scratch);
    },
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));
/** Lets the other backends' idle workers park (they spin 5 ms), so they do not compete. */
function settle(): void {
  Atomics.wait(pause, 0, 0, 6);
}

/** Each case's best round in seconds, printed as a line per case. */
function measure(cases: Case[]): number[] {
  for (const c of cases) for (let i = 0; i < 3; i++) c.run(); // V8 tiers up wasm lazily
  const times: number[][] = cases.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    cases.forEach((c, i) => {
      settle();
      // An idle vCPU wakes up slow (clocks, caches): one untimed run brings it back.
      c.run();
      const t0 = performance.now();
      c.run();
      times[i].push((performance.now() - t0) / 1000);
    });
  }
  // Other processes on the machine only ever slow a round down: the best round is the kernel's
  // speed, the median says how steady it was.
  return cases.map((c, i) => {
    const t = Math.min(...times[i]);
    const m = median(times[i]);
    const rate = c.flops > 0 ? `${(c.flops / t / 1e9).toFixed(1).padStart(6)} GFLOP/s ${(c.bytes / t / 1e9).toFixed(1).padStart(6)} GB/s  ` : "";
    console.log(`${c.label.padEnd(46)} ${rate}best ${(t * 1e3).toFixed(3).padStart(8)} ms  median ${(m * 1e3).toFixed(3).padStart(8)} ms`);
    return t;
  });
}

/** GPT-2-124M's matmuls (rows × cols of the weights): qkv, attention out, MLP up, MLP down, LM head. */
const GPT2_SHAPES: readonly (readonly [number, number])[] = [[2304, 768], [768, 768], [3072, 768], [768, 3072], [50257, 768]];
const Q8_ROWS = [1, 4, 16, 64, 128];

/**
 * The q8 matmul's GMAC/s by number of x rows (a decode batch's sequences) on each GPT-2 shape,
 * 1 and 2 threads, with enough distinct matrices per run (≥ 48 MB) that weights stream from DRAM
 * as in a decode step; then the table of GMAC/s.
 */
function q8Rows(backends: readonly (readonly [string, Backend])[]): void {
  console.log(`# q8 matmul (int8 x) by x rows, GPT-2-124M shapes, weights streamed from DRAM`);
  const cases: Case[] = [];
  for (const [label, b] of backends) {
    for (const [rows, cols] of GPT2_SHAPES) {
      const ws = matrices(b, "q8", Math.ceil((48 << 20) / (rows * cols * 1.125)), rows, cols);
      for (const n of Q8_ROWS) cases.push(matmulCase(`q8 ${n}×${cols}·${cols}×${rows}ᵀ ${label}`, b, ws, n));
    }
  }
  const best = measure(cases);
  console.log(`\nGMAC/s | ${Q8_ROWS.map((n) => `${n} rows`).join(" | ")}`);
  let i = 0;
  for (const [label] of backends) {
    for (const [rows, cols] of GPT2_SHAPES) {
      const cells = Q8_ROWS.map(() => {
        const gmac = cases[i].flops / 2 / best[i] / 1e9;
        i++;
        return gmac.toFixed(1);
      });
      console.log(`${cols}×${rows} ${label} | ${cells.join(" | ")}`);
    }
  }
}

/**
 * The q4 and q4k matmuls of a 128-token prefill on GPT-2-124M's and SmolLM2-135M's MLP shapes
 * (up and down), both builds, 1 thread: the batched paths alone.
 */
function q4Rows(backends: readonly (readonly [string, Backend])[]): void {
  console.log(`# q4 and q4k matmul, 128 x rows (prefill), 1 thread`);
  const cases: Case[] = [];
  for (const kind of ["q4", "q4k"] as const) {
    for (const [label, b] of backends) {
      for (const [rows, cols] of [[3072, 768], [768, 3072], [1536, 576], [576, 1536]] as const) {
        if (kind === "q4k" && cols % 256 !== 0) continue;
        cases.push(matmulCase(`${kind} 128×${cols}·${cols}×${rows}ᵀ ${label}`, b, matrices(b, kind, 1, rows, cols), 128));
      }
    }
  }
  measure(cases);
}

// 8192 floats: the smallest add the backend cuts in two chunks, ~1 µs of work.
const TINY = 8192;

/** Round-trip cost of one kernel call handed to the workers, with next to no work in it. */
function dispatchCost(b: Backend, label: string): void {
  const x = b.allocF32(TINY);
  const calls = 20000;
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) b.addInPlace(x, x, TINY);
    rounds.push(((performance.now() - t0) * 1000) / calls);
  }
  console.log(`${label.padEnd(46)} best ${Math.min(...rounds).toFixed(2)} µs per call, median ${median(rounds).toFixed(2)}`);
}

/** The same tiny job after the workers have parked: the futex wake-up spinning avoids. */
function wakeCost(b: Backend, label: string): void {
  const x = b.allocF32(TINY);
  const samples: number[] = [];
  for (let i = 0; i < 200; i++) {
    Atomics.wait(pause, 0, 0, 12); // longer than the workers spin
    const t0 = performance.now();
    b.addInPlace(x, x, TINY);
    samples.push((performance.now() - t0) * 1000);
  }
  console.log(`${label.padEnd(46)} median ${median(samples).toFixed(1)} µs, best ${Math.min(...samples).toFixed(1)} µs`);
}

/** q6k beside q8 on GPT-2-124M's attn_qkv shape: decode from DRAM, hot in cache, and prefill. */
function q6kCases(t1: Backend, r1: Backend, r2: Backend): void {
  console.log(`# q6k vs q8, 2304×768 (GPT-2's attn_qkv): matvec streamed from DRAM (64 matrices), hot (20 calls), 128-row matmul`);
  measure([
    matmulCase("q8 matvec relaxed, 1 thread", r1, matrices(r1, "q8", 64, 2304, 768), 1),
    matmulCase("q6k matvec relaxed, 1 thread", r1, matrices(r1, "q6k", 64, 2304, 768), 1),
    matmulCase("q8 matvec relaxed, 2 threads", r2, matrices(r2, "q8", 64, 2304, 768), 1),
    matmulCase("q6k matvec relaxed, 2 threads", r2, matrices(r2, "q6k", 64, 2304, 768), 1),
    matmulCase("q8 matvec baseline, 1 thread", t1, matrices(t1, "q8", 64, 2304, 768), 1),
    matmulCase("q6k matvec baseline, 1 thread", t1, matrices(t1, "q6k", 64, 2304, 768), 1),
  ]);
  measure([
    matmulCase("q8 matvec relaxed L2/L3, 1 thread", r1, matrices(r1, "q8", 1, 2304, 768), 1, 20),
    matmulCase("q6k matvec relaxed L2/L3, 1 thread", r1, matrices(r1, "q6k", 1, 2304, 768), 1, 20),
    matmulCase("q8 matvec baseline L2/L3, 1 thread", t1, matrices(t1, "q8", 1, 2304, 768), 1, 20),
    matmulCase("q6k matvec baseline L2/L3, 1 thread", t1, matrices(t1, "q6k", 1, 2304, 768), 1, 20),
  ]);
  measure([
    matmulCase("q8 matmul relaxed, 1 thread", r1, matrices(r1, "q8", 1, 2304, 768), 128),
    matmulCase("q6k matmul relaxed, 1 thread", r1, matrices(r1, "q6k", 1, 2304, 768), 128),
    matmulCase("q8 matmul baseline, 1 thread", t1, matrices(t1, "q8", 1, 2304, 768), 128),
    matmulCase("q6k matmul baseline, 1 thread", t1, matrices(t1, "q6k", 1, 2304, 768), 128),
  ]);
}

async function main(): Promise<void> {
  // The relaxed-SIMD build where the engine has it (after turning it on, on Node 20), as the CLI runs.
  const relaxed = enableRelaxedSimd();
  const t1 = await createWasmBackend({ threads: 1, simd: "baseline" });
  const t2 = await createWasmBackend({ threads: 2, simd: "baseline" });
  const r1 = relaxed ? await createWasmBackend({ threads: 1, simd: "relaxed" }) : t1;
  const r2 = relaxed ? await createWasmBackend({ threads: 2, simd: "relaxed" }) : t2;
  const f1 = await createWasmBackend({ threads: 1, q8Activations: "f32", simd: "baseline" });
  const f2 = await createWasmBackend({ threads: 2, q8Activations: "f32", simd: "baseline" });
  const forced = await createWasmBackend({ threads: 2, minParallelNanos: 0, simd: "baseline" });
  console.log(`# baseline SIMD unless marked relaxed${relaxed ? "" : " (relaxed SIMD unavailable: relaxed rows rerun baseline)"}`);
  if (process.argv.includes("--q4-rows")) {
    q4Rows([["baseline", t1], ["relaxed", r1]]);
    for (const b of new Set([t1, t2, r1, r2, f1, f2, forced])) b.close();
    return;
  }
  if (process.argv.includes("--q6k")) {
    q6kCases(t1, r1, r2);
    for (const b of new Set([t1, t2, r1, r2, f1, f2, forced])) b.close();
    return;
  }
  q8Rows([[`relaxed, 1 thread`, r1], [`relaxed, 2 threads`, r2]]);
  if (process.argv.includes("--q8-rows")) {
    for (const b of new Set([t1, t2, r1, r2, f1, f2, forced])) b.close();
    return;
  }

  console.log(`# matvec 1×768 · 768×3072ᵀ, weights streamed from DRAM (16 f32 / 32 f16 / 32 q8 / 48 q5 / 64 q4 or q4k matrices per run)`);
  measure([
    matmulCase("f32 matvec, 1 thread", t1, matrices(t1, "f32", 16, 3072, 768), 1),
    matmulCase("f32 matvec, 2 threads", t2, matrices(t2, "f32", 16, 3072, 768), 1),
    matmulCase("f16 matvec, 1 thread", t1, matrices(t1, "f16", 32, 3072, 768), 1),
    matmulCase("f16 matvec, 2 threads", t2, matrices(t2, "f16", 32, 3072, 768), 1),
    matmulCase("q8 matvec (int8 x), 1 thread", t1, matrices(t1, "q8", 32, 3072, 768), 1),
    matmulCase("q8 matvec (int8 x), 2 threads", t2, matrices(t2, "q8", 32, 3072, 768), 1),
    matmulCase("q8 matvec (int8 x) relaxed, 1 thread", r1, matrices(r1, "q8", 32, 3072, 768), 1),
    matmulCase("q8 matvec (int8 x) relaxed, 2 threads", r2, matrices(r2, "q8", 32, 3072, 768), 1),
    matmulCase("q8 matvec (f32 x), 1 thread", f1, matrices(f1, "q8", 32, 3072, 768), 1),
    matmulCase("q8 matvec (f32 x), 2 threads", f2, matrices(f2, "q8", 32, 3072, 768), 1),
    matmulCase("q4 matvec, 1 thread", t1, matrices(t1, "q4", 64, 3072, 768), 1),
    matmulCase("q4 matvec, 2 threads", t2, matrices(t2, "q4", 64, 3072, 768), 1),
    matmulCase("q4k matvec, 1 thread", t1, matrices(t1, "q4k", 64, 3072, 768), 1),
    matmulCase("q4k matvec relaxed, 1 thread", r1, matrices(r1, "q4k", 64, 3072, 768), 1),
    matmulCase("q6k matvec, 1 thread", t1, matrices(t1, "q6k", 48, 3072, 768), 1),
    matmulCase("q6k matvec relaxed, 1 thread", r1, matrices(r1, "q6k", 48, 3072, 768), 1),
    matmulCase("q4 matvec relaxed, 1 thread", r1, matrices(r1, "q4", 64, 3072, 768), 1),
    matmulCase("q5 matvec, 1 thread", t1, matrices(t1, "q5", 48, 3072, 768), 1),
    matmulCase("q5 matvec relaxed, 1 thread", r1, matrices(r1, "q5", 48, 3072, 768), 1),
  ]);

  console.log(`# a few decode rows (a batch of sequences), f32 weights streamed from DRAM, 1 thread`);
  {
    const ws = matrices(t1, "f32", 16, 3072, 768);
    measure([2, 3, 4, 8, 16].map((n) => matmulCase(`f32 ${n}×768 · 768×3072ᵀ`, t1, ws, n)));
  }

  console.log(`# decode attention, K/V streamed from DRAM (as in a decode step, between weight reads); SmolLM2 rows relaxed`);
  measure([190, 700].flatMap((pos) => [coldAttentionCase(t1, pos, "1 thread"), coldAttentionCase(t2, pos, "2 threads")]));
  measure([
    coldAttentionCase(r1, 191, "1 thread", "smollm2"),
    coldAttentionCase(r2, 191, "2 threads", "smollm2"),
    coldAttentionCase(r1, 191, "1 thread", "smollm2", "f16"),
    coldAttentionCase(r1, 700, "1 thread", "smollm2"),
  ]);

  console.log(`# matvec, one matrix hot in cache (compute bound)`);
  measure([
    matmulCase("f32 matvec L2/L3, 1 thread", t1, matrices(t1, "f32", 1, 3072, 768), 1, 20),
    matmulCase("f16 matvec L2/L3, 1 thread", t1, matrices(t1, "f16", 1, 3072, 768), 1, 20),
    matmulCase("q8 matvec (int8 x) L2/L3, 1 thread", t1, matrices(t1, "q8", 1, 3072, 768), 1, 20),
    matmulCase("q8 matvec (int8 x) relaxed L2/L3, 1 thread", r1, matrices(r1, "q8", 1, 3072, 768), 1, 20),
    matmulCase("q8 matvec (f32 x) L2/L3, 1 thread", f1, matrices(f1, "q8", 1, 3072, 768), 1, 20),
    matmulCase("q4 matvec L2/L3, 1 thread", t1, matrices(t1, "q4", 1, 3072, 768), 1, 20),
    matmulCase("q4k matvec L2/L3, 1 thread", t1, matrices(t1, "q4k", 1, 3072, 768), 1, 20),
    matmulCase("q4k matvec relaxed L2/L3, 1 thread", r1, matrices(r1, "q4k", 1, 3072, 768), 1, 20),
    matmulCase("q5 matvec L2/L3, 1 thread", t1, matrices(t1, "q5", 1, 3072, 768), 1, 20),
    matmulCase("q5 matvec relaxed L2/L3, 1 thread", r1, matrices(r1, "q5", 1, 3072, 768), 1, 20),
    matmulCase("q6k matvec L2/L3, 1 thread", t1, matrices(t1, "q6k", 1, 3072, 768), 1, 20),
    matmulCase("q6k matvec relaxed L2/L3, 1 thread", r1, matrices(r1, "q6k", 1, 3072, 768), 1, 20),
  ]);

  console.log(`# matmul 128×768 · 768×3072ᵀ (prefill)`);
  measure([
    matmulCase("f32 matmul, 1 thread", t1, matrices(t1, "f32", 1, 3072, 768), 128),
    matmulCase("f32 matmul, 2 threads", t2, matrices(t2, "f32", 1, 3072, 768), 128),
    matmulCase("f16 matmul, 1 thread", t1, matrices(t1, "f16", 1, 3072, 768), 128),
    matmulCase("f32 matmul 128×3072·3072×768ᵀ, 2 threads", t2, matrices(t2, "f32", 1, 768, 3072), 128),
    matmulCase("q8 matmul (int8 x), 1 thread", t1, matrices(t1, "q8", 1, 3072, 768), 128),
    matmulCase("q8 matmul (int8 x), 2 threads", t2, matrices(t2, "q8", 1, 3072, 768), 128),
    matmulCase("q8 matmul (int8 x) relaxed, 1 thread", r1, matrices(r1, "q8", 1, 3072, 768), 128),
    matmulCase("q8 matmul (int8 x) relaxed, 2 threads", r2, matrices(r2, "q8", 1, 3072, 768), 128),
    matmulCase("q8 matmul 16 rows (a decode batch) relaxed, 1 thread", r1, matrices(r1, "q8", 1, 3072, 768), 16),
    matmulCase("q8 matmul (f32 x), 2 threads", f2, matrices(f2, "q8", 1, 3072, 768), 128),
    matmulCase("q4 matmul, 1 thread", t1, matrices(t1, "q4", 1, 3072, 768), 128),
    matmulCase("q4 matmul, 2 threads", t2, matrices(t2, "q4", 1, 3072, 768), 128),
    matmulCase("q4k matmul, 1 thread", t1, matrices(t1, "q4k", 1, 3072, 768), 128),
    matmulCase("q4k matmul relaxed, 1 thread", r1, matrices(r1, "q4k", 1, 3072, 768), 128),
    matmulCase("q5 matmul, 1 thread", t1, matrices(t1, "q5", 1, 3072, 768), 128),
    matmulCase("q5 matmul relaxed, 1 thread", r1, matrices(r1, "q5", 1, 3072, 768), 128),
    matmulCase("q6k matmul, 1 thread", t1, matrices(t1, "q6k", 1, 3072, 768), 128),
    matmulCase("q6k matmul relaxed, 1 thread", r1, matrices(r1, "q6k", 1, 3072, 768), 128),
  ]);

  console.log(`# small kernels, 100 calls per run: 1 thread vs split over 2 threads`);
  const small: Case[] = [];
  for (const [label, b] of [["1 thread", t1], ["2 threads", forced]] as const) {
    const d = 768, hidden = 3072;
    for (const n of [1, 128]) {
      const x = b.allocF32(n * hidden), y = b.allocF32(n * hidden), o = b.allocF32(n * hidden);
      fill(x, 5);
      const lw = b.allocF32(d), lb = b.allocF32(d);
      small.push(callCase(`gelu ${n}×${hidden} ${label}`, 100, () => b.gelu(y, n * hidden)));
      small.push(callCase(`add ${n}×${d} ${label}`, 100, () => b.addInPlace(y, x, n * d)));
      small.push(callCase(`layerNorm ${n}×${d} ${label}`, 100, () => b.layerNorm(o, x, lw, lb, n, d, 1e-5)));
    }
    for (const [pos, t] of [[64, 1], [512, 1], [0, 128]]) {
      const nHead = 12, headDim = 64, width = nHead * headDim, maxPos = 1024;
      const k = b.allocF32(maxPos * width), v = b.allocF32(maxPos * width);
      fill(k, 6);
      fill(v, 7);
      const q = b.allocF32(t * width), o = b.allocF32(t * width), scratch = b.allocF32(nHead * (pos + t));
      fill(q, 8);
      const kv = { k, v, blockTable: Int32Array.of(0), blockSize: maxPos };
      small.push(callCase(`attention pos ${pos} t ${t} ${label}`, 100, () => b.attention(o, q, 0, kv, pos, t, nHead, nHead, headDim, scratch)));
    }
  }
  measure(small);

  console.log(`# synchronisation`);
  dispatchCost(forced, "add 8192 on 2 threads (~1 µs of work + hand-off)");
  dispatchCost(t1, "add 8192 on 1 thread");
  wakeCost(forced, "add 8192 on 2 threads, worker parked");

  for (const b of new Set([t1, t2, r1, r2, f1, f2, forced])) b.close();
}

await main();
