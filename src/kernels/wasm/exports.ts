import { readFile } from "node:fs/promises";

/** Every kernel takes byte offsets and sizes (i32) — see assembly/kernels.ts. */
type Kernel = (...args: number[]) => void;

export interface KernelExports {
  readonly matmulF32: Kernel; // (out, x, w, bias, n, rows, cols, r0, r1)
  readonly matmulQ8: Kernel; // (out, xq, xs, wq, ws, bias, n, rows, cols, r0, r1)
  readonly matmulQ8F32: Kernel; // (out, x, wq, ws, bias, n, rows, cols, r0, r1)
  readonly quantizeQ8: Kernel; // (xq, xs, x, blocks)
  readonly layerNorm: Kernel; // (out, x, weight, bias, d, eps, i0, i1)
  readonly gelu: Kernel; // (x, i0, i1)
  readonly addInPlace: Kernel; // (x, y, i0, i1)
  readonly attention: Kernel; // (out, q, k, v, table, blockSize, pos, t, nHead, headDim, scratch, h0, h1)
  readonly attnChunk: Kernel; // (q, k, v, table, blockSize, nHead, headDim, scores, stride, p0, p1, partial, stats)
  readonly attnCombine: Kernel; // (out, partials, stats, chunks, nHead, headDim)
}

function kernel(exports: WebAssembly.Exports, name: string): Kernel {
  const f = exports[name];
  if (typeof f !== "function") throw new Error(`kernels.wasm: missing export ${name}`);
  return f as Kernel;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const { exports } = new WebAssembly.Instance(module, { env: { memory } });
  return {
    matmulF32: kernel(exports, "matmulF32"),
    matmulQ8: kernel(exports, "matmulQ8"),
    matmulQ8F32: kernel(exports, "matmulQ8F32"),
    quantizeQ8: kernel(exports, "quantizeQ8"),
    layerNorm: kernel(exports, "layerNorm"),
    gelu: kernel(exports, "gelu"),
    addInPlace: kernel(exports, "addInPlace"),
    attention: kernel(exports, "attention"),
    attnChunk: kernel(exports, "attnChunk"),
    attnCombine: kernel(exports, "attnCombine"),
  };
}

export type SimdLevel = "relaxed" | "baseline";

const compiled = new Map<SimdLevel, Promise<WebAssembly.Module>>();

async function load(file: string) {
  try {
    return await readFile(new URL(file, import.meta.url));
  } catch (err) {
    throw new Error(`${file} not found next to ${import.meta.url}: run \`npm run build\``, { cause: err });
  }
}

/**
 * The best kernels this engine runs: the relaxed-SIMD build (fused multiply-add) where the engine
 * validates it — Node ≥ 22, or Node 20 with --experimental-wasm-relaxed-simd — else the baseline.
 */
export async function pickSimdLevel(wanted: "auto" | SimdLevel): Promise<SimdLevel> {
  if (wanted === "baseline") return "baseline";
  const ok = WebAssembly.validate(await load("./kernels-relaxed.wasm"));
  if (!ok && wanted === "relaxed") throw new Error("this JavaScript engine does not support relaxed SIMD");
  return ok ? "relaxed" : "baseline";
}

/** Each build is compiled once per process; every backend and worker instantiates it. */
export function compileKernels(level: SimdLevel): Promise<WebAssembly.Module> {
  let m = compiled.get(level);
  if (m === undefined) {
    m = load(level === "relaxed" ? "./kernels-relaxed.wasm" : "./kernels.wasm").then((bytes) => WebAssembly.compile(bytes));
    m.catch(() => compiled.delete(level));
    compiled.set(level, m);
  }
  return m;
}
