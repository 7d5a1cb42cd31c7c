import type { WeightArray } from "./backend.js";
import type { BackendKind } from "./index.js";
import { readSum } from "./reference.js";
import { startWasmBackend, type WasmBackendOptions } from "./wasm/backend.js";
import { nodePlatform } from "./wasm/platform-node.js";

/**
 * What `bench` measures a machine's decode ceiling with: how fast `threads` threads read the bytes
 * a decode step reads (weights and KV cache), split as a matmul splits its rows, with no
 * arithmetic behind them. Kept out of Backend: no forward pass reads memory for its own sake. It
 * owns its memory (and threads), holding copies of the buffers it times.
 */
export interface ReadProbe {
  readonly threads: number;
  /** `data`'s bytes copied into the probe's memory (before timing). */
  copy(data: WeightArray): Int8Array;
  /** `bytes` bytes of the probe's memory, every page written (untouched pages would read as one). */
  filled(bytes: number): Int8Array;
  /**
   * Reads every byte of `data` (made by copy or filled) once. The answer, the wrapping sum of
   * the bytes as little-endian 32-bit words (a last partial word zero-padded) as an unsigned
   * integer, only keeps the reads from being skipped.
   */
  readSum(data: Int8Array): number;
  close(): void;
}

interface Reader {
  allocI8(length: number): Int8Array;
  readSum(data: WeightArray): number;
  close(): void;
}

/** A probe reading as `kind` backends read: wasm on `threads` threads, or the reference's one. */
export async function createReadProbe(kind: BackendKind, threads: number, simd?: WasmBackendOptions["simd"]): Promise<ReadProbe> {
  const reader: Reader = kind === "wasm" ? await startWasmBackend(nodePlatform, { threads, simd }) : { allocI8: (n) => new Int8Array(n), readSum, close: () => {} };
  return {
    threads: kind === "wasm" ? threads : 1,
    copy: (data) => {
      const out = reader.allocI8(data.byteLength);
      out.set(new Int8Array(data.buffer, data.byteOffset, data.byteLength));
      return out;
    },
    filled: (bytes) => reader.allocI8(bytes).fill(1),
    readSum: (data) => reader.readSum(data),
    close: () => reader.close(),
  };
}
