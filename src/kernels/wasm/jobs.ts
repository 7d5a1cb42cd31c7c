import type { KernelExports } from "./exports.js";

/**
 * The control block shared by the main thread and the workers (Int32 indices). The counters
 * the two sides write sit on separate 64-byte lines so they do not bounce together.
 */
export const GEN = 0; // bumped by the main thread to publish a job
export const DONE = 16; // workers that finished the current job
export const SLEEPERS = 32; // workers parked in Atomics.wait: the main thread notifies only then
export const MAIN_WAITING = 33; // the main thread parked on DONE: the last worker notifies only then
export const FAILED = 48; // set by a worker whose kernel threw
export const OP = 64; // the job: an opcode, then up to 15 i32 (or f32) arguments
export const ARG = 65;
export const CONTROL_INTS = 96;

export const enum Op {
  Stop = 0,
  MatmulF32 = 1,
  MatmulQ8 = 2,
  MatmulQ8F32 = 3,
  LayerNorm = 4,
  Gelu = 5,
  Add = 6,
  Attention = 7,
}

/** [start, end) of `total` items for thread `tid` of `threads`, in chunks that are multiples of `align`. */
function start(total: number, tid: number, threads: number, align: number): number {
  const chunk = Math.ceil(total / threads / align) * align;
  return Math.min(total, tid * chunk);
}

/** Runs thread `tid`'s share of the job described in the control block. */
export function runJob(k: KernelExports, a: Int32Array, f: Float32Array, tid: number, threads: number): void {
  switch (a[OP]) {
    case Op.MatmulF32: {
      const rows = a[ARG + 5];
      k.matmulF32(a[ARG], a[ARG + 1], a[ARG + 2], a[ARG + 3], a[ARG + 4], rows, a[ARG + 6],
        start(rows, tid, threads, 4), start(rows, tid + 1, threads, 4));
      return;
    }
    case Op.MatmulQ8: {
      const rows = a[ARG + 7];
      k.matmulQ8(a[ARG], a[ARG + 1], a[ARG + 2], a[ARG + 3], a[ARG + 4], a[ARG + 5], a[ARG + 6], rows, a[ARG + 8],
        start(rows, tid, threads, 4), start(rows, tid + 1, threads, 4));
      return;
    }
    case Op.MatmulQ8F32: {
      const rows = a[ARG + 6];
      k.matmulQ8F32(a[ARG], a[ARG + 1], a[ARG + 2], a[ARG + 3], a[ARG + 4], a[ARG + 5], rows, a[ARG + 7],
        start(rows, tid, threads, 4), start(rows, tid + 1, threads, 4));
      return;
    }
    case Op.LayerNorm: {
      const n = a[ARG + 6];
      k.layerNorm(a[ARG], a[ARG + 1], a[ARG + 2], a[ARG + 3], a[ARG + 4], f[ARG + 5],
        start(n, tid, threads, 1), start(n, tid + 1, threads, 1));
      return;
    }
    case Op.Gelu: {
      const len = a[ARG + 1];
      k.gelu(a[ARG], start(len, tid, threads, 16), start(len, tid + 1, threads, 16));
      return;
    }
    case Op.Add: {
      const len = a[ARG + 2];
      k.addInPlace(a[ARG], a[ARG + 1], start(len, tid, threads, 16), start(len, tid + 1, threads, 16));
      return;
    }
    case Op.Attention: {
      const nHead = a[ARG + 8];
      k.attention(a[ARG], a[ARG + 1], a[ARG + 2], a[ARG + 3], a[ARG + 4], a[ARG + 5], a[ARG + 6], a[ARG + 7],
        nHead, a[ARG + 9], a[ARG + 10], start(nHead, tid, threads, 1), start(nHead, tid + 1, threads, 1));
      return;
    }
    default:
      throw new Error(`unknown kernel opcode ${a[OP]}`);
  }
}
