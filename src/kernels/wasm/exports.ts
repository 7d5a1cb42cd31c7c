import type { KernelPlatform } from "./platform.js";

/** Every kernel takes byte offsets and sizes (i32) — see assembly/kernels.ts. */
type Kernel = (...args: number[]) => void;

export interface KernelExports {
  readonly matmulF32: Kernel; // (out, x, w, bias, n, rows, cols, r0, r1, scratch)
  readonly matmulF16: Kernel; // (out, x, w, bias, n, rows, cols, r0, r1, scratch, xScaled)
  readonly scaleForF16: IntKernel; // (xs, x, len) -> 1 if xs = x · 2^102 is exact, else 0
  readonly scaleForHalves: IntKernel; // (xs, x, len) -> 1 if xs = x · 2^112 is exact, else 0
  readonly matmulQ8: Kernel; // (out, xq, xs, xst, wq, ws, bias, n, rows, cols, r0, r1, scratch)
  readonly matmulQ8DotAdd: Kernel; // matmulQ8's arguments and bits, the relaxed dot products summed in i32
  readonly quadRowsQ8: Kernel; // (out, xq, xst, wq, ws, rows, cols, scratch): matmulQ8 of four x rows, for dot-probe.ts
  readonly quadRowsQ8DotAdd: Kernel; // the same, summed in i32
  readonly matmulQ8ScratchBytes: IntKernel; // (cols) -> bytes of scratch matmulQ8 needs per thread
  readonly interleaveScalesQ8: Kernel; // (xst, xs, n, blocks)
  readonly matmulQ8F32: Kernel; // (out, x, wq, ws, bias, n, rows, cols, r0, r1)
  readonly quantizeQ8: Kernel; // (xq, xs, x, blocks)
  readonly matmulQ4: Kernel; // (out, xq, xs, xsum, xt, wq, ws, bias, n, rows, cols, r0, r1, scratch)
  readonly matmulQ4DotAdd: Kernel; // matmulQ4's arguments and bits, the relaxed dot products summed in i32
  readonly q4ScratchBytes: IntKernel; // (cols) -> bytes of scratch matmulQ4 needs per thread (n > 1)
  readonly interleaveQ4X: Kernel; // (xt, xs, xsum, n, blocks)
  readonly q4kScratchBytes: IntKernel; // (cols) -> bytes of scratch matmulQ4K needs per thread (n > 1)
  readonly matmulQ4K: Kernel; // (out, xq, xs, xm, wq, sm, dm, bias, n, rows, cols, r0, r1, scratch)
  readonly matmulQ4KDotAdd: Kernel; // matmulQ4K's arguments and bits, one x row's relaxed dot products summed in i32
  readonly quantizeQ4KX: Kernel; // (xq, xs, xm, x, supers): x as Q8_K, a scale per 256, xm each 32's Σ q (i16)
  readonly matmulQ5: Kernel; // (out, xq, xs, xsum, xt, wq, wh, ws, bias, n, rows, cols, r0, r1, scratch): x from quantizeQ4X
  readonly matmulQ5DotAdd: Kernel; // matmulQ5's arguments and bits, the relaxed dot products summed in i32
  readonly interleaveQ5X: Kernel; // (xt, xs, xsum, n, blocks)
  readonly q5ScratchBytes: IntKernel; // (cols) -> bytes of scratch matmulQ5 needs per thread (n > 1)
  readonly q6kScratchBytes: IntKernel; // (cols) -> bytes of scratch matmulQ6K needs per thread (n > 1)
  readonly matmulQ6K: Kernel; // (out, xq, xs, xm, wq, sm, dm, bias, n, rows, cols, r0, r1, scratch)
  readonly quantizeQ6KX: Kernel; // (xq, xs, xm, x, supers, rows): x as Q8_K, a scale per 256, xm each 16's Σ q (i16); rows: 512 bytes of scratch
  readonly quantizeQ4X: Kernel; // (xq, xs, xsum, x, blocks)
  readonly quantizeRowsQ8: Kernel; // (q, scales, src, blocks)
  readonly quantizeColumnsQ8: Kernel; // (q, scales, src, rows, cols, firstCol)
  readonly halvesOfRows: IntKernel; // (dst, src, count) → index of a weight too large, or -1
  readonly halvesOfColumns: IntKernel; // (dst, src, rows, cols, firstCol, count) → the same
  readonly transposeColumnsF32: Kernel; // (dst, src, rows, cols, firstCol, count)
  readonly layerNorm: Kernel; // (out, x, weight, bias, d, eps, i0, i1)
  readonly rmsNorm: Kernel; // (out, x, weight, d, eps, i0, i1)
  readonly rope: Kernel; // (x, nHeads, headDim, positions, cos, sin, i0, i1)
  readonly siluMul: Kernel; // (out, gateUp, d, i0, i1)
  readonly gelu: Kernel; // (x, i0, i1)
  readonly addInPlace: Kernel; // (x, y, i0, i1)
  readonly attention: Kernel; // (out, q, k, v, table, blockSize, pos, t, nHead, nKVHead, headDim, scratch, work, h0, h1, kvMode)
  readonly attnCombine: Kernel; // (out, partials, stats, chunks, nHead, headDim)
  readonly attnBatchChunks: Kernel; // (desc, count, i0, i1, nHead, nKVHead, headDim, kvMode)
  readonly readSum: Kernel; // (out, data, i0, i1): out = wrapping sum of the words of bytes [i0, i1)
  /** Positions per chunk of attention's sums (CHUNK in assembly/attention.ts). */
  readonly attnChunkPositions: number;
}

/** A kernel that answers with an i32. */
type IntKernel = (...args: number[]) => number;

function kernel(exports: WebAssembly.Exports, name: string): IntKernel {
  const f = exports[name];
  if (typeof f !== "function") throw new Error(`kernels.wasm: missing export ${name}`);
  return f as IntKernel;
}

function constant(exports: WebAssembly.Exports, name: string): number {
  const f = exports[name];
  if (typeof f !== "function") throw new Error(`kernels.wasm: missing export ${name}`);
  const value: unknown = f();
  if (typeof value !== "number") throw new Error(`kernels.wasm: ${name}() is not a number`);
  return value;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  return {
    matmulF32: kernel(exports, "matmulF32"),
    matmulF16: kernel(exports, "matmulF16"),
    scaleForF16: kernel(exports, "scaleForF16"),
    scaleForHalves: kernel(exports, "scaleForHalves"),
    matmulQ8: kernel(exports, "matmulQ8"),
    matmulQ8DotAdd: kernel(exports, "matmulQ8DotAdd"),
    quadRowsQ8: kernel(exports, "quadRowsQ8"),
    quadRowsQ8DotAdd: kernel(exports, "quadRowsQ8DotAdd"),
    interleaveScalesQ8: kernel(exports, "interleaveScalesQ8"),
    matmulQ8ScratchBytes: kernel(exports, "matmulQ8ScratchBytes"),
    matmulQ8F32: kernel(exports, "matmulQ8F32"),
    quantizeQ8: kernel(exports, "quantizeQ8"),
    matmulQ4: kernel(exports, "matmulQ4"),
    matmulQ4DotAdd: kernel(exports, "matmulQ4DotAdd"),
    q4ScratchBytes: kernel(exports, "q4ScratchBytes"),
    interleaveQ4X: kernel(exports, "interleaveQ4X"),
    q4kScratchBytes: kernel(exports, "q4kScratchBytes"),
    matmulQ4K: kernel(exports, "matmulQ4K"),
    matmulQ4KDotAdd: kernel(exports, "matmulQ4KDotAdd"),
    quantizeQ4KX: kernel(exports, "quantizeQ4KX"),
    matmulQ5: kernel(exports, "matmulQ5"),
    matmulQ5DotAdd: kernel(exports, "matmulQ5DotAdd"),
    q5ScratchBytes: kernel(exports, "q5ScratchBytes"),
    interleaveQ5X: kernel(exports, "interleaveQ5X"),
    q6kScratchBytes: kernel(exports, "q6kScratchBytes"),
    matmulQ6K: kernel(exports, "matmulQ6K"),
    quantizeQ6KX: kernel(exports, "quantizeQ6KX"),
    quantizeQ4X: kernel(exports, "quantizeQ4X"),
    quantizeRowsQ8: kernel(exports, "quantizeRowsQ8"),
    quantizeColumnsQ8: kernel(exports, "quantizeColumnsQ8"),
    halvesOfRows: kernel(exports, "halvesOfRows"),
    halvesOfColumns: kernel(exports, "halvesOfColumns"),
    transposeColumnsF32: kernel(exports, "transposeColumnsF32"),
    layerNorm: kernel(exports, "layerNorm"),
    rmsNorm: kernel(exports, "rmsNorm"),
    rope: kernel(exports, "rope"),
    siluMul: kernel(exports, "siluMul"),
    gelu: kernel(exports, "gelu"),
    addInPlace: kernel(exports, "addInPlace"),
    attention: kernel(exports, "attention"),
    attnCombine: kernel(exports, "attnCombine"),
    attnBatchChunks: kernel(exports, "attnBatchChunks"),
    readSum: kernel(exports, "readSum"),
    attnChunkPositions: constant(exports, "attnChunkPositions"),
  };
}

export type SimdLevel = "relaxed" | "baseline";

const compiled = new Map<SimdLevel, Promise<WebAssembly.Module>>();

/**
 * "auto" is the relaxed-SIMD build where the engine validates it (Node ≥ 22, Chromium, Node 20
 * after enableRelaxedSimd()), else the baseline build. Relaxed results can differ between CPUs
 * (relaxed_madd fuses or not), so "baseline" is there for the same bits everywhere; "relaxed"
 * insists, and fails where the engine lacks it.
 */
export async function pickSimdLevel(platform: KernelPlatform, wanted: "auto" | SimdLevel): Promise<SimdLevel> {
  if (wanted === "baseline") return "baseline";
  if (WebAssembly.validate(await platform.wasmBytes("./kernels-relaxed.wasm"))) return "relaxed";
  if (wanted === "auto") return "baseline";
  throw new Error("this JavaScript engine does not support relaxed SIMD (Node ≥ 22, or Node 20 after enableRelaxedSimd())");
}

/** Each build is compiled once per process; every backend and worker instantiates it. */
export function compileKernels(platform: KernelPlatform, level: SimdLevel): Promise<WebAssembly.Module> {
  let m = compiled.get(level);
  if (m === undefined) {
    m = platform.wasmBytes(level === "relaxed" ? "./kernels-relaxed.wasm" : "./kernels.wasm").then((bytes) => WebAssembly.compile(bytes));
    m.catch(() => compiled.delete(level));
    compiled.set(level, m);
  }
  return m;
}
