import type { Backend } from "./backend.js";

type KernelName = "matmul" | "layerNorm" | "rmsNorm" | "rope" | "siluMul" | "gelu" | "addInPlace" | "attention";
const KERNELS: readonly KernelName[] = ["matmul", "layerNorm", "rmsNorm", "rope", "siluMul", "gelu", "addInPlace", "attention"];

export interface KernelProfile {
  readonly kernel: string;
  readonly calls: number;
  readonly ms: number;
}

/**
 * Wraps a backend so every kernel call is timed, for `--profile`: it answers "where does a
 * step's time go" before anyone guesses. Kernel calls are synchronous (threads included), so
 * wall time around each call is the kernel's time. The wrapper costs two clock reads per call.
 */
export interface KernelProfiler {
  readonly backend: Backend;
  report(): KernelProfile[];
  reset(): void;
}

export function profileBackend(inner: Backend): KernelProfiler {
  const calls = new Map<string, number>();
  const ms = new Map<string, number>();
  const timed = <A extends unknown[]>(name: string, fn: (...args: A) => void) => (...args: A): void => {
    const t0 = performance.now();
    fn(...args);
    ms.set(name, (ms.get(name) ?? 0) + performance.now() - t0);
    calls.set(name, (calls.get(name) ?? 0) + 1);
  };
  const backend: Backend = {
    name: `${inner.name} (profiled)`,
    threads: inner.threads,
    allocF32: (n) => inner.allocF32(n),
    allocI8: (n) => inner.allocI8(n),
    allocU16: (n) => inner.allocU16(n),
    writeMatrixRows: (m, firstRow, src, count) => inner.writeMatrixRows(m, firstRow, src, count),
    writeMatrixColumns: (m, firstCol, src, count) => inner.writeMatrixColumns(m, firstCol, src, count),
    matmul: timed("matmul", (out, x, w, bias, n) => inner.matmul(out, x, w, bias, n)),
    layerNorm: timed("layerNorm", (out, x, weight, bias, n, d, eps) => inner.layerNorm(out, x, weight, bias, n, d, eps)),
    rmsNorm: timed("rmsNorm", (out, x, weight, n, d, eps) => inner.rmsNorm(out, x, weight, n, d, eps)),
    rope: timed("rope", (x, n, nHeads, headDim, positions, cos, sin) => inner.rope(x, n, nHeads, headDim, positions, cos, sin)),
    siluMul: timed("siluMul", (out, gateUp, n, d) => inner.siluMul(out, gateUp, n, d)),
    gelu: timed("gelu", (x, length) => inner.gelu(x, length)),
    addInPlace: timed("addInPlace", (x, y, length) => inner.addInPlace(x, y, length)),
    attention: timed("attention", (out, q, row, kv, pos, t, nHead, nKVHead, headDim, scratch) => inner.attention(out, q, row, kv, pos, t, nHead, nKVHead, headDim, scratch)),
    attentionDecode: timed("attention", (out, q, row, kvs, positions, count, nHead, nKVHead, headDim) => inner.attentionDecode(out, q, row, kvs, positions, count, nHead, nKVHead, headDim)),
    close: () => inner.close(),
  };
  return {
    backend,
    // Only the kernels the model calls: GPT-2 has no rmsNorm, rope or siluMul, Llama no layerNorm or gelu.
    report: () => KERNELS.filter((k) => calls.has(k)).map((k) => ({ kernel: k, calls: calls.get(k) ?? 0, ms: ms.get(k) ?? 0 })),
    reset: () => {
      calls.clear();
      ms.clear();
    },
  };
}
