import type { Arena } from "./arena.js";
import type { KernelExports } from "./exports.js";

/**
 * The relaxed build's q8 dot products can sum in i16 pairs widened per block (matmulQ8) or
 * straight into i32 lanes with i32x4.relaxed_dot_i8x16_i7x16_add_s (matmulQ8DotAdd; see
 * assembly/q8.ts): the same integers, so the same bits. Which is faster depends on how the engine
 * lowers the i32 one: one VNNI instruction (vpdpbusd: V8 13+ on CPUs with AVX-VNNI) or three, and
 * V8 11 (Node 20) gets it wrong before its optimizing tier. So the backend times both ways of the
 * kernel's x-quad loop (quadRowsQ8) on a matrix in L1, and takes the i32 way only where it gave the
 * i16 way's bits on every call and ran faster. Engines first run a baseline compiler's code and
 * swap in optimized code compiled on a background thread, so both ways run a few calls, the probe
 * waits for that compiler, and only then are they timed. The 4-bit kinds (matmulQ4DotAdd and
 * matmulQ5DotAdd at every x-row count, matmulQ4KDotAdd for one x row) sum the same two ways and
 * follow the answer: what decides it, the engine's lowering of the i32 dot, is the same for them.
 */
export type Int8Dot = "i16" | "i32";

/**
 * The probe's matrix (16 KB of weights, rows long enough that the loop, not each row's setup,
 * is timed), calls per timing, timings per way, and the wait.
 */
const ROWS = 16;
const COLS = 1024;
const CALLS = 16;
const ROUNDS = 15;
const WARM_UP_MS = 100;
/** Optimized code takes at most this share of the baseline tier's time on these loops. */
const OPTIMIZED = 0.6;
/**
 * The i32 way must take at most this share of the i16 way's time. On this loop VNNI's takes 0.8 to
 * 0.95 of it (the high end when a busy neighbour shares the core) and the three-instruction
 * lowering 1.3 to 1.4: the threshold sits between, clear of both.
 */
const FASTER = 0.97;
const Q8_BLOCK = 32;
const N = 4;

/** The engine's answer, found once per thread (each backend's kernels are the same build). */
let probed: Promise<Int8Dot> | null = null;

export function probeInt8Dot(kernels: KernelExports, arena: Arena): Promise<Int8Dot> {
  probed ??= probe(kernels, arena);
  return probed;
}

async function probe(kernels: KernelExports, arena: Arena): Promise<Int8Dot> {
  const blocks = (ROWS * COLS) / Q8_BLOCK;
  const w = arena.i8(ROWS * COLS), ws = arena.f32(blocks), x = arena.f32(N * COLS);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 73) % 255) - 127;
  for (let i = 0; i < blocks; i++) ws[i] = 1 / (i + 7);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i);
  const xq = arena.i16(N * COLS), xs = arena.f32((N * COLS) / Q8_BLOCK), xst = arena.f32((N * COLS) / Q8_BLOCK);
  kernels.quantizeQ8(xq.byteOffset, xs.byteOffset, x.byteOffset, (N * COLS) / Q8_BLOCK);
  kernels.interleaveScalesQ8(xst.byteOffset, xs.byteOffset, N, COLS / Q8_BLOCK);
  const scratch = arena.allocBytes(blocks * 16);
  const outs = [arena.i32(N * ROWS), arena.i32(N * ROWS)]; // raw bits, compared exactly
  const ways = [kernels.quadRowsQ8, kernels.quadRowsQ8DotAdd];
  const timed = (k: number, calls: number): number => {
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) ways[k](outs[k].byteOffset, xq.byteOffset, xst.byteOffset, w.byteOffset, ws.byteOffset, ROWS, COLS, scratch);
    return performance.now() - t0;
  };
  const same = (): boolean => outs[0].every((bits, i) => bits === outs[1][i]);
  // Each way until its time falls well below its time once compiled (the baseline tier's): the
  // optimized code is in. Or WARM_UP_MS, for engines with one tier.
  timed(0, 1); // the first calls compile, and run the baseline tier's code
  timed(1, 1);
  if (!same()) return "i16";
  for (let k = 0; k < 2; k++) {
    const first = Math.min(timed(k, CALLS), timed(k, CALLS));
    const start = performance.now();
    let t = first;
    while (t > OPTIMIZED * first && performance.now() - start < WARM_UP_MS) {
      t = timed(k, CALLS);
      // The engine compiles in the background: leave it the core now and then.
      if (performance.now() - start > 2) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  if (!same()) return "i16";
  const best = [Infinity, Infinity];
  for (let r = 0; r < ROUNDS; r++) {
    best[0] = Math.min(best[0], timed(0, CALLS));
    best[1] = Math.min(best[1], timed(1, CALLS));
    if (!same()) return "i16";
  }
  return best[1] < FASTER * best[0] ? "i32" : "i16";
}
