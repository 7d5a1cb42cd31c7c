import type { KernelExports } from "./exports.js";
import { OP, AddArgs, AttentionArgs, AttentionDecodeArgs, GeluArgs, LayerNormArgs, MatmulArgs, MatmulQ4Args, MatmulQ4KArgs, MatmulQ5Args, MatmulQ6KArgs, MatmulQ8Args, MatmulQ8F32Args, ReadSumArgs, RmsNormArgs, RopeArgs, SiluMulArgs } from "./job-args.js";

/**
 * The control block shared by the main thread and the workers (Int32 indices). Words that
 * different threads write sit on separate 64-byte lines so they do not bounce together.
 */
export const GEN = 0; // bumped by the main thread to publish a job
export const CHUNKS = 16; // how many chunks the current job is cut into
export const COMPLETED = 32; // chunks finished by the workers (the main thread counts its own)
export const SLEEPERS = 48; // workers parked in Atomics.wait: the main thread notifies only then
export const MAIN_WAITING = 49; // the main thread parked on COMPLETED: workers notify only then
export const FAILED = 50; // set when a chunk threw
export { OP, ARG } from "./job-args.js"; // the job: an opcode, then its arguments
const CONTROL_INTS = 96;
/**
 * After the fixed words, one line per thread: (end << 16) | next of the chunks it owns. Each
 * thread takes its own chunks front to back, so its reads continue one memory stream from chunk
 * to chunk; done early, it takes other threads' last chunks.
 */
const REGIONS = CONTROL_INTS;
const REGION_STRIDE = 16;
/** Chunks per job are counted in 16 bits of the region words. */
export const MAX_CHUNKS = 0xffff;

/** Length of the control block, in i32, for a pool of `threads`. */
export function controlInts(threads: number): number {
  return REGIONS + REGION_STRIDE * threads;
}

/**
 * Publishes `chunks` chunks split into one contiguous region per thread (the caller then bumps
 * GEN, which is what lets other threads claim them).
 */
export function publishRegions(a: Int32Array, chunks: number, threads: number): void {
  a[CHUNKS] = chunks;
  for (let t = 0; t < threads; t++) {
    const first = Math.floor((t * chunks) / threads);
    const end = Math.floor(((t + 1) * chunks) / threads);
    Atomics.store(a, REGIONS + REGION_STRIDE * t, (end << 16) | first);
  }
}

/** The next chunk of region `r` from its front, or -1 if none is left. */
function claimFront(a: Int32Array, r: number): number {
  for (;;) {
    const word = Atomics.load(a, r);
    const next = word & 0xffff;
    if (next >= word >>> 16) return -1;
    if (Atomics.compareExchange(a, r, word, (word + 1) | 0) === word) return next;
  }
}

/** The last chunk of region `r`, taken from its back, or -1 if none is left. */
function claimBack(a: Int32Array, r: number): number {
  for (;;) {
    const word = Atomics.load(a, r);
    const end = word >>> 16;
    if ((word & 0xffff) >= end) return -1;
    if (Atomics.compareExchange(a, r, word, (word - 0x10000) | 0) === word) return end - 1;
  }
}

export const enum Op {
  Stop = 0,
  MatmulF32 = 1,
  MatmulQ8 = 2,
  MatmulQ8F32 = 3,
  LayerNorm = 4,
  Gelu = 5,
  Add = 6,
  Attention = 7,
  MatmulF16 = 9,
  AttentionDecodeBatch = 10,
  ReadSum = 11,
  RmsNorm = 12,
  Rope = 13,
  SiluMul = 14,
  MatmulQ4 = 15,
  MatmulQ4K = 16,
  MatmulQ8DotAdd = 17,
  MatmulQ5 = 18,
  MatmulQ6K = 19,
  MatmulQ4DotAdd = 20,
  MatmulQ4KDotAdd = 21,
  MatmulQ5DotAdd = 22,
}

/** Where chunk `c` of `chunks` starts among `total` items, chunks being multiples of `align`. */
function start(total: number, c: number, chunks: number, align: number): number {
  const size = Math.ceil(total / chunks / align) * align;
  return Math.min(total, c * size);
}

let lastError: unknown = null;

/** The error of the last chunk that threw on this thread, cleared (a worker's stays in the worker). */
export function takeLastError(): unknown {
  const err = lastError;
  lastError = null;
  return err;
}

/**
 * Takes chunks of the current job until none are left and runs them; returns how many. Chunks
 * are claimed, not assigned, so a thread that starts late (a parked worker waking up, a core
 * taken by another process) just takes fewer: nobody waits for a thread that is not running.
 * Arguments are read only after a successful claim, which is what makes them the claimed job's.
 */
export function runClaimed(k: KernelExports, a: Int32Array, f: Float32Array, thread: number, threads: number): number {
  let done = 0;
  for (let i = 0; i < threads; i++) {
    // Its own region first, from the front; then the others' from the back.
    const victim = (thread + i) % threads;
    const r = REGIONS + REGION_STRIDE * victim;
    const claim = i === 0 ? claimFront : claimBack;
    for (let c = claim(a, r); c >= 0; c = claim(a, r)) {
      try {
        runJob(k, a, f, c, a[CHUNKS], thread);
      } catch (err) {
        // Counted as done all the same, so the job still completes and the caller can throw.
        lastError = err;
        Atomics.store(a, FAILED, 1);
      }
      done++;
    }
  }
  return done;
}

/**
 * Runs chunk `c` of `chunks` of the job described in the control block on thread `thread`
 * (0 is the caller), which picks the thread's own slice of a job's scratch memory.
 */
export function runJob(k: KernelExports, a: Int32Array, f: Float32Array, c: number, chunks: number, thread: number): void {
  switch (a[OP]) {
    case Op.MatmulF32: {
      const m = MatmulArgs, rows = a[m.rows];
      k.matmulF32(a[m.out], a[m.x], a[m.w], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulF16: {
      const m = MatmulArgs, rows = a[m.rows];
      k.matmulF16(a[m.out], a[m.x], a[m.w], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread], a[m.xScaled]);
      return;
    }
    case Op.MatmulQ8:
    case Op.MatmulQ8DotAdd: {
      const m = MatmulQ8Args, rows = a[m.rows];
      (a[OP] === Op.MatmulQ8 ? k.matmulQ8 : k.matmulQ8DotAdd)(a[m.out], a[m.xq], a[m.xs], a[m.xst], a[m.wq], a[m.ws], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulQ4:
    case Op.MatmulQ4DotAdd: {
      const m = MatmulQ4Args, rows = a[m.rows];
      (a[OP] === Op.MatmulQ4 ? k.matmulQ4 : k.matmulQ4DotAdd)(a[m.out], a[m.xq], a[m.xs], a[m.xsum], a[m.xt], a[m.wq], a[m.ws], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulQ4K:
    case Op.MatmulQ4KDotAdd: {
      const m = MatmulQ4KArgs, rows = a[m.rows];
      (a[OP] === Op.MatmulQ4K ? k.matmulQ4K : k.matmulQ4KDotAdd)(a[m.out], a[m.xq], a[m.xs], a[m.xm], a[m.wq], a[m.sm], a[m.dm], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulQ5:
    case Op.MatmulQ5DotAdd: {
      const m = MatmulQ5Args, rows = a[m.rows];
      (a[OP] === Op.MatmulQ5 ? k.matmulQ5 : k.matmulQ5DotAdd)(a[m.out], a[m.xq], a[m.xs], a[m.xsum], a[m.xt], a[m.wq], a[m.wh], a[m.ws], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulQ6K: {
      const m = MatmulQ6KArgs, rows = a[m.rows];
      k.matmulQ6K(a[m.out], a[m.xq], a[m.xs], a[m.xm], a[m.wq], a[m.sm], a[m.dm], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4), a[m.scratch] + thread * a[m.scratchPerThread]);
      return;
    }
    case Op.MatmulQ8F32: {
      const m = MatmulQ8F32Args, rows = a[m.rows];
      k.matmulQ8F32(a[m.out], a[m.x], a[m.wq], a[m.ws], a[m.bias], a[m.n], rows, a[m.cols],
        start(rows, c, chunks, 4), start(rows, c + 1, chunks, 4));
      return;
    }
    case Op.LayerNorm: {
      const m = LayerNormArgs, n = a[m.n];
      k.layerNorm(a[m.out], a[m.x], a[m.weight], a[m.bias], a[m.d], f[m.eps], start(n, c, chunks, 1), start(n, c + 1, chunks, 1));
      return;
    }
    case Op.RmsNorm: {
      const m = RmsNormArgs, n = a[m.n];
      k.rmsNorm(a[m.out], a[m.x], a[m.weight], a[m.d], f[m.eps], start(n, c, chunks, 1), start(n, c + 1, chunks, 1));
      return;
    }
    case Op.Rope: {
      const m = RopeArgs, n = a[m.n];
      k.rope(a[m.x], a[m.nHeads], a[m.headDim], a[m.positions], a[m.cos], a[m.sin], start(n, c, chunks, 1), start(n, c + 1, chunks, 1));
      return;
    }
    case Op.SiluMul: {
      const m = SiluMulArgs, n = a[m.n];
      k.siluMul(a[m.out], a[m.gateUp], a[m.d], start(n, c, chunks, 1), start(n, c + 1, chunks, 1));
      return;
    }
    case Op.Gelu: {
      const m = GeluArgs, len = a[m.length];
      k.gelu(a[m.x], start(len, c, chunks, 16), start(len, c + 1, chunks, 16));
      return;
    }
    case Op.Add: {
      const m = AddArgs, len = a[m.length];
      k.addInPlace(a[m.x], a[m.y], start(len, c, chunks, 16), start(len, c + 1, chunks, 16));
      return;
    }
    case Op.Attention: {
      const m = AttentionArgs, nHead = a[m.nHead];
      k.attention(a[m.out], a[m.q], a[m.k], a[m.v], a[m.table], a[m.blockSize], a[m.pos], a[m.t],
        nHead, a[m.nKVHead], a[m.headDim], a[m.scratch], a[m.work], start(nHead, c, chunks, 1), start(nHead, c + 1, chunks, 1), a[m.kvMode]);
      return;
    }
    case Op.AttentionDecodeBatch: {
      // Job chunk `c` takes a range of all the sequences' position chunks (assembly/attention.ts).
      const m = AttentionDecodeArgs, total = a[m.chunks];
      k.attnBatchChunks(a[m.descs], a[m.count], start(total, c, chunks, 1), start(total, c + 1, chunks, 1), a[m.nHead], a[m.nKVHead], a[m.headDim], a[m.kvMode]);
      return;
    }
    case Op.ReadSum: {
      // Chunk c leaves its sum in slot c; the caller adds the slots.
      const m = ReadSumArgs, bytes = a[m.bytes];
      k.readSum(a[m.sums] + 4 * c, a[m.data], start(bytes, c, chunks, 64), start(bytes, c + 1, chunks, 64));
      return;
    }
    default:
      throw new Error(`unknown kernel opcode ${a[OP]}`);
  }
}
