import type { Backend, KVView, Matrix, Q4KMatrix, Q4Matrix, Q5Matrix, Q6KMatrix, WeightArray } from "../backend.js";
import { headGroup, Q4_BLOCK, Q4K_BLOCK, Q5_BLOCK, Q6K_BLOCK, Q8_BLOCK, q5HighBytesPerRow } from "../backend.js";
import { Q6K_Q_BYTES } from "../q6k.js";
import { tooLargeForF16 } from "../f16.js";
import { checkColumnRange, checkRowRange, writeMatrixColumns, writeMatrixRows } from "../write-matrix.js";
import { Arena } from "./arena.js";
import { BlockTables } from "./block-table.js";
import { compileKernels, instantiateKernels, pickSimdLevel, type KernelExports, type SimdLevel } from "./exports.js";
import { controlInts, Op } from "./jobs.js";
import { AddArgs, AttentionArgs, AttentionDecodeArgs, DECODE_DESC_INTS, DecodeDesc, GeluArgs, KVMode, LayerNormArgs, MatmulArgs, MatmulQ4Args, MatmulQ4KArgs, MatmulQ5Args, MatmulQ6KArgs, MatmulQ8Args, MatmulQ8F32Args, ReadSumArgs, RmsNormArgs, RopeArgs, SiluMulArgs } from "./job-args.js";
import { probeInt8Dot, type Int8Dot } from "./dot-probe.js";
import type { KernelPlatform } from "./platform.js";
import { ThreadPool } from "./pool.js";

export interface WasmBackendOptions {
  /** Threads the kernels run on, the calling thread included. Default: the platform's hardwareThreads(). */
  readonly threads?: number;
  /**
   * How q8 matmuls treat activations: "int8" quantizes each 32-block of x to int8 as well and
   * uses integer dot products (llama.cpp's Q8_0×Q8_0: faster, adds ≤ amax(x-block)/254 error per
   * element of x); "f32" widens the weights and keeps x exact.
   */
  readonly q8Activations?: "int8" | "f32";
  /**
   * "auto" (default) runs the relaxed-SIMD build where the engine supports it (Node ≥ 22,
   * Chromium, or Node 20 after enableRelaxedSimd()) and the baseline build elsewhere. Relaxed:
   * fused multiply-add and 16-lane int8 dot products (q8 activations rounded to 7 bits); whether
   * relaxed_madd fuses depends on the hardware, so outputs may differ between machines (never
   * between batch compositions or thread counts on one machine). "baseline" gives the same bits
   * on every CPU and engine; "relaxed" throws where the engine lacks it.
   */
  readonly simd?: "auto" | SimdLevel;
  /**
   * How the relaxed build's q8 dot products sum (dot-probe.ts): "auto" (default) times both ways
   * at start-up and takes the faster; "i16" or "i32" insists. The same bits either way.
   */
  readonly int8Dot?: "auto" | Int8Dot;
  /** How long idle workers spin before parking (µs). */
  readonly spinMicros?: number;
  /**
   * A call whose estimated single-thread time (ns) is below this runs on the calling thread
   * alone: handing a job to the workers and waiting for them costs about a microsecond.
   */
  readonly minParallelNanos?: number;
}

const DEFAULT_MIN_PARALLEL_NANOS = 4000;
// Single-thread cost per unit of work, measured with bench/kernels.ts (rounded up): per
// multiply-add for matmul and attention, per element for the rest.
const NS_PER_MAC_F32 = 0.1;
const NS_PER_MAC_F16 = 0.1;
const NS_PER_MAC_Q8 = 0.05;
const NS_PER_MAC_Q4 = 0.05;
const NS_PER_MAC_Q5 = 0.05;
const NS_PER_ATTENTION_MAC = 0.1;
const NS_PER_GELU = 1.5;
const NS_PER_NORM = 0.8;
// Llama's, timed alone on one thread at Llama shapes (4096-wide rows, 32 heads of 128), rounded up.
const NS_PER_RMS_NORM = 0.5;
const NS_PER_ROPE = 0.2;
const NS_PER_SILU = 1.5;
const NS_PER_ADD = 0.1;
const CHUNK_NANOS = 8000;
/**
 * A thread's matmul rows are one contiguous region, taken front to back (jobs.ts), so its weight
 * reads stay one stream; 2 chunks per thread still let a thread that is done early take the last
 * chunk of a late one. Many small chunks from one shared counter would interleave the threads'
 * rows and break each thread's stream, which decode (bound by reading weights) pays for.
 */
const MATMUL_CHUNKS_PER_THREAD = 2;
/**
 * A q8 matmul of four x rows or more (a decode batch, a prefill) is bound by arithmetic, not by
 * reading weights, so its threads' streams matter little and smaller chunks matter more: a thread
 * that wakes late or loses its core for a while leaves the others a short wait, not a quarter of
 * the matmul.
 */
const Q8_BATCH_CHUNKS_PER_THREAD = 8;
/** readSum reads as a matmul reads its weight rows: one region per thread, in two chunks. */
const READ_CHUNKS_PER_THREAD = MATMUL_CHUNKS_PER_THREAD;
const NS_PER_BYTE_READ = 0.04; // one thread's streaming read bandwidth
const DEFAULT_SPIN_MICROS = 5000;
/** What an f32 or f16 matmul block keeps per pair of x rows between column panels (assembly/matmul.ts). */
const MATMUL_STATE_BYTES = 512;
const MAIN_SPIN_MICROS = 300;

type View = Float32Array | Int8Array | Uint16Array | Int32Array;
type WorkBuffer = "partials" | "stats" | "work" | "scaledX" | "scaledQ" | "scores";
/** How a kernel and its arguments are named in errors, made once rather than per call. */
interface ArgNames {
  readonly kernel: string;
  readonly out: string;
  readonly q: string;
  readonly k: string;
  readonly v: string;
}
function argNames(kernel: string): ArgNames {
  return { kernel, out: `${kernel} out`, q: `${kernel} q`, k: `${kernel} kv.k`, v: `${kernel} kv.v` };
}
const ATTENTION_NAMES = argNames("attention");
const DECODE_NAMES = argNames("attentionDecode");

/** The job of each kind whose relaxed dot products sum either way (dot-probe.ts): the i16 or the i32 one. */
interface Int8DotOps {
  readonly q8: Op.MatmulQ8 | Op.MatmulQ8DotAdd;
  readonly q4: Op.MatmulQ4 | Op.MatmulQ4DotAdd;
  readonly q4k: Op.MatmulQ4K | Op.MatmulQ4KDotAdd;
  readonly q5: Op.MatmulQ5 | Op.MatmulQ5DotAdd;
}
const INT8_DOT_OPS: Record<Int8Dot, Int8DotOps> = {
  i16: { q8: Op.MatmulQ8, q4: Op.MatmulQ4, q4k: Op.MatmulQ4K, q5: Op.MatmulQ5 },
  i32: { q8: Op.MatmulQ8DotAdd, q4: Op.MatmulQ4DotAdd, q4k: Op.MatmulQ4KDotAdd, q5: Op.MatmulQ5DotAdd },
};

export class WasmBackend implements Backend {
  readonly name: string;
  readonly threads: number;
  private readonly dotOps: Int8DotOps; // the relaxed build's int8 dot (dot-probe.ts)
  private readonly a: Int32Array;
  private readonly af: Float32Array;
  private xq: Int16Array; // x quantized for q8 and q4 matmuls (int8 values, widened), grown on demand
  private xs: Float32Array;
  private xst: Float32Array; // the scales of each four x rows side by side (interleaveScalesQ8), with q4 and q5 their sums too (interleaveQ4X, interleaveQ5X)
  private xsum: Int32Array; // q4 and q5: each x block's Σ q; q4k: each 32's Σ q as i16 (quantizeQ4KX); q6k: each 16's (quantizeQ6KX)
  private readonly tables: BlockTables;
  private readonly work = new Map<WorkBuffer, Float32Array>(); // attention's, grown on demand
  private descs: Int32Array; // a batched decode attention's sequences, grown on demand
  private readonly oneKV = new Array<KVView>(1); // attention() of one new token, as a batch of one
  private readonly onePosition = new Int32Array(1);
  private ropePositions: Int32Array; // rope's positions, copied into the memory, grown on demand
  private scratch: Int8Array; // one slice per thread, for the f32 matmul blocks' running sums
  private scratchPerThread = 0;
  private readonly readSums: Int32Array; // readSum's chunk sums, one slot per chunk

  constructor(
    private readonly arena: Arena,
    private readonly kernels: KernelExports,
    private readonly pool: ThreadPool,
    private readonly intActivations: boolean,
    private readonly minParallelNanos: number,
    simd: SimdLevel,
    int8Dot: Int8Dot,
  ) {
    this.threads = pool.threads;
    const threads = `${pool.threads} thread${pool.threads === 1 ? "" : "s"}`;
    this.dotOps = INT8_DOT_OPS[int8Dot];
    // The q8 activation mode and the i32 dot are named only when they are not the default,
    // which f32 and f16 models never use.
    const dot = int8Dot === "i32" ? ", int8 dot to i32" : "";
    this.name = `wasm-simd(${simd}${dot}, ${threads}${intActivations ? "" : ", q8 with f32 activations"})`;
    this.a = pool.args;
    this.af = pool.argsF32;
    this.xq = arena.i16(4096);
    this.xs = arena.f32(4096 / Q8_BLOCK);
    this.xst = arena.f32((2 * 4096) / Q8_BLOCK);
    this.xsum = arena.i32(4096 / Q8_BLOCK);
    this.tables = new BlockTables(arena);
    this.descs = arena.i32(DECODE_DESC_INTS * 16);
    this.ropePositions = arena.i32(1024);
    this.scratch = this.growScratch(64 * MATMUL_STATE_BYTES);
    this.readSums = arena.i32(READ_CHUNKS_PER_THREAD * pool.threads);
  }

  allocF32(length: number): Float32Array {
    return this.arena.f32(length);
  }

  allocI8(length: number): Int8Array {
    return this.arena.i8(length);
  }

  allocU16(length: number): Uint16Array {
    return this.arena.u16(length);
  }

  /**
   * The byte offset of row `row` of a (·, width) view that must hold rows [row, row + count): a
   * negative row would point the kernels before the view, outside what ptr() checks.
   */
  private rowsPtr(view: Float32Array, row: number, count: number, width: number, kernel: string, what: string): number {
    if (!(Number.isInteger(row) && row >= 0)) throw new Error(`${kernel}: row ${row} is not a row index`);
    return this.ptr(view, (row + count) * width, what) + row * width * Float32Array.BYTES_PER_ELEMENT;
  }

  /** The byte offset a kernel gets for `view`, after checking it lives in this memory and is long enough. */
  private ptr(view: View, length: number, what: string): number {
    if (!this.arena.owns(view)) {
      throw new Error(`${what}: array is not in this wasm backend's memory; allocate it with backend.allocF32/allocI8`);
    }
    if (view.length < length) throw new Error(`${what}: length ${view.length} < ${length} needed`);
    return view.byteOffset;
  }

  /**
   * Runs the job in args on the calling thread alone if it is short, else in chunks over all
   * threads: up to `perThread` per thread, so a thread that starts late costs little, but none
   * shorter than CHUNK_NANOS, since every claim costs a kernel call and an atomic. The job's
   * estimated time is `units` (an integer count of its operations) times `nanosPerUnit`, multiplied
   * here: a fractional argument would be boxed in a new heap number at every call.
   */
  private dispatch(op: Op, units: number, nanosPerUnit: number, items: number, perChunk: number, perThread: number): void {
    const nanos = units * nanosPerUnit;
    if (nanos < this.minParallelNanos) {
      this.pool.runLocal(op);
      return;
    }
    const byWork = Math.ceil(nanos / CHUNK_NANOS);
    this.pool.run(op, Math.max(this.threads, Math.min(Math.ceil(items / perChunk), perThread * this.threads, byWork)));
  }

  // The conversions run in wasm (assembly/pack.ts), with the same results as write-matrix.ts.
  writeMatrixRows(m: Matrix, firstRow: number, src: Float32Array, count: number): void {
    const { rows, cols } = m;
    checkRowRange(m, firstRow, count);
    const from = this.ptr(src, count * cols, "writeMatrixRows src");
    if (m.kind === "q4") {
      // The reference quantizer, on views of this memory: q4 matrices come mostly from Q4_0 files as they are.
      this.ptr(m.q, (rows * cols) / 2, "writeMatrixRows m.q");
      this.ptr(m.scales, (rows * cols) / Q4_BLOCK, "writeMatrixRows m.scales");
      writeMatrixRows(m, firstRow, src, count);
    } else if (m.kind === "q4k") {
      // Likewise: q4k matrices come from Q4_K files as they are.
      this.q4kArgs(m);
      writeMatrixRows(m, firstRow, src, count);
    } else if (m.kind === "q5") {
      // Likewise: q5 matrices come mostly from Q5_0 files as they are.
      this.q5Args(m);
      writeMatrixRows(m, firstRow, src, count);
    } else if (m.kind === "q6k") {
      // Likewise: q6k matrices come from Q6_K files as they are.
      this.q6kArgs(m);
      writeMatrixRows(m, firstRow, src, count);
    } else if (m.kind === "f32") {
      m.data.set(src.subarray(0, count * cols), firstRow * cols);
    } else if (m.kind === "f16") {
      const bad = this.kernels.halvesOfRows(this.ptr(m.data, rows * cols, "writeMatrixRows m.data") + 2 * firstRow * cols, from, count * cols);
      if (bad >= 0) throw tooLargeForF16(src[bad]);
    } else {
      const first = (firstRow * cols) / Q8_BLOCK;
      const q = this.ptr(m.q, rows * cols, "writeMatrixRows m.q") + first * Q8_BLOCK;
      const scales = this.ptr(m.scales, (rows * cols) / Q8_BLOCK, "writeMatrixRows m.scales") + 4 * first;
      this.kernels.quantizeRowsQ8(q, scales, from, (count * cols) / Q8_BLOCK);
    }
  }

  writeMatrixColumns(m: Matrix, firstCol: number, src: Float32Array, count: number): void {
    const { rows, cols } = m;
    checkColumnRange(m, firstCol, count);
    const from = this.ptr(src, count * rows, "writeMatrixColumns src");
    if (m.kind === "q4k" || m.kind === "q6k") {
      return; // refused by checkColumnRange
    } else if (m.kind === "q5") {
      this.q5Args(m);
      writeMatrixColumns(m, firstCol, src, count);
    } else if (m.kind === "q4") {
      this.ptr(m.q, (rows * cols) / 2, "writeMatrixColumns m.q");
      this.ptr(m.scales, (rows * cols) / Q4_BLOCK, "writeMatrixColumns m.scales");
      writeMatrixColumns(m, firstCol, src, count);
    } else if (m.kind === "f32") {
      this.kernels.transposeColumnsF32(this.ptr(m.data, rows * cols, "writeMatrixColumns m.data"), from, rows, cols, firstCol, count);
    } else if (m.kind === "f16") {
      const bad = this.kernels.halvesOfColumns(this.ptr(m.data, rows * cols, "writeMatrixColumns m.data"), from, rows, cols, firstCol, count);
      if (bad >= 0) throw tooLargeForF16(src[bad]);
    } else {
      const q = this.ptr(m.q, rows * cols, "writeMatrixColumns m.q");
      const scales = this.ptr(m.scales, (rows * cols) / Q8_BLOCK, "writeMatrixColumns m.scales");
      this.kernels.quantizeColumnsQ8(q, scales, from, rows, cols, firstCol);
    }
  }

  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, n: number): void {
    const { rows, cols } = w;
    const a = this.a;
    const outPtr = this.ptr(out, n * rows, "matmul out");
    const xPtr = this.ptr(x, n * cols, "matmul x");
    const biasPtr = bias === null ? 0 : this.ptr(bias, rows, "matmul bias");
    const work = n * rows * cols;
    if (w.kind === "f32" || w.kind === "f16") {
      a[MatmulArgs.out] = outPtr;
      a[MatmulArgs.x] = xPtr;
      a[MatmulArgs.w] = this.ptr(w.data, rows * cols, "matmul w");
      a[MatmulArgs.bias] = biasPtr;
      a[MatmulArgs.n] = n;
      a[MatmulArgs.rows] = rows;
      a[MatmulArgs.cols] = cols;
      // f16 widens four weight rows at a time into the thread's scratch, ahead of the block state.
      const stateBytes = Math.ceil(n / 2) * MATMUL_STATE_BYTES + (w.kind === "f16" ? 16 * cols : 0);
      this.reserveScratch(stateBytes);
      a[MatmulArgs.scratch] = this.scratch.byteOffset;
      a[MatmulArgs.scratchPerThread] = this.scratchPerThread;
      if (w.kind === "f32") {
        this.dispatch(Op.MatmulF32, work, NS_PER_MAC_F32, rows, 4, MATMUL_CHUNKS_PER_THREAD);
        return;
      }
      // Decode reads the halves' bits as w · 2^-102 against x · 2^102 (assembly/f16.ts).
      const scaledX = n === 1 ? this.grow("scaledX", cols).byteOffset : 0;
      const xScaled = n === 1 ? this.kernels.scaleForF16(scaledX, xPtr, cols) : 0;
      if (xScaled === 1) a[MatmulArgs.x] = scaledX;
      a[MatmulArgs.xScaled] = xScaled;
      this.dispatch(Op.MatmulF16, work, NS_PER_MAC_F16, rows, 4, MATMUL_CHUNKS_PER_THREAD);
      return;
    }
    if (w.kind === "q4") {
      this.matmulQ4(outPtr, xPtr, w, biasPtr, n);
      return;
    }
    if (w.kind === "q4k") {
      this.matmulQ4K(outPtr, xPtr, w, biasPtr, n);
      return;
    }
    if (w.kind === "q5") {
      this.matmulQ5(outPtr, xPtr, w, biasPtr, n);
      return;
    }
    if (w.kind === "q6k") {
      this.matmulQ6K(outPtr, xPtr, w, biasPtr, n);
      return;
    }
    if (cols % Q8_BLOCK !== 0) throw new Error(`q8 matmul: cols ${cols} is not a multiple of ${Q8_BLOCK}`);
    const wq = this.ptr(w.q, rows * cols, "matmul w.q");
    const ws = this.ptr(w.scales, (rows * cols) / Q8_BLOCK, "matmul w.scales");
    if (!this.intActivations) {
      a[MatmulQ8F32Args.out] = outPtr;
      a[MatmulQ8F32Args.x] = xPtr;
      a[MatmulQ8F32Args.wq] = wq;
      a[MatmulQ8F32Args.ws] = ws;
      a[MatmulQ8F32Args.bias] = biasPtr;
      a[MatmulQ8F32Args.n] = n;
      a[MatmulQ8F32Args.rows] = rows;
      a[MatmulQ8F32Args.cols] = cols;
      this.dispatch(Op.MatmulQ8F32, work, NS_PER_MAC_F32, rows, 4, MATMUL_CHUNKS_PER_THREAD);
      return;
    }
    const len = n * cols;
    this.growX(len);
    this.kernels.quantizeQ8(this.xq.byteOffset, this.xs.byteOffset, xPtr, len / Q8_BLOCK);
    if (n >= 4) this.kernels.interleaveScalesQ8(this.xst.byteOffset, this.xs.byteOffset, n, cols / Q8_BLOCK);
    a[MatmulQ8Args.out] = outPtr;
    a[MatmulQ8Args.xq] = this.xq.byteOffset;
    a[MatmulQ8Args.xs] = this.xs.byteOffset;
    a[MatmulQ8Args.xst] = this.xst.byteOffset;
    const scratch = this.kernels.matmulQ8ScratchBytes(cols);
    this.reserveScratch(scratch);
    a[MatmulQ8Args.scratch] = this.scratch.byteOffset;
    a[MatmulQ8Args.scratchPerThread] = this.scratchPerThread;
    a[MatmulQ8Args.wq] = wq;
    a[MatmulQ8Args.ws] = ws;
    a[MatmulQ8Args.bias] = biasPtr;
    a[MatmulQ8Args.n] = n;
    a[MatmulQ8Args.rows] = rows;
    a[MatmulQ8Args.cols] = cols;
    this.dispatch(this.dotOps.q8, work, NS_PER_MAC_Q8, rows, 4, n >= 4 ? Q8_BATCH_CHUNKS_PER_THREAD : MATMUL_CHUNKS_PER_THREAD);
  }

  /** x quantized to int8 per block of 32 (stored as i16 at most), with its scales and sums. */
  private growX(len: number): void {
    if (this.xq.length >= len) return;
    // Grows geometrically so a longer prompt costs one allocation, not one per size.
    const cap = Math.max(len, 2 * this.xq.length);
    this.xq = this.arena.i16(cap);
    this.xs = this.arena.f32(cap / Q8_BLOCK);
    this.xst = this.arena.f32((2 * cap) / Q8_BLOCK);
    this.xsum = this.arena.i32(cap / Q8_BLOCK);
  }

  private matmulQ4(outPtr: number, xPtr: number, w: Q4Matrix, biasPtr: number, n: number): void {
    const { rows, cols } = w;
    if (cols % Q4_BLOCK !== 0) throw new Error(`q4 matmul: cols ${cols} is not a multiple of ${Q4_BLOCK}`);
    const a = this.a;
    const len = n * cols;
    this.growX(len);
    this.kernels.quantizeQ4X(this.xq.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, xPtr, len / Q4_BLOCK);
    if (n >= 4) this.kernels.interleaveQ4X(this.xst.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, n, cols / Q4_BLOCK);
    a[MatmulQ4Args.out] = outPtr;
    a[MatmulQ4Args.xq] = this.xq.byteOffset;
    a[MatmulQ4Args.xs] = this.xs.byteOffset;
    a[MatmulQ4Args.xsum] = this.xsum.byteOffset;
    a[MatmulQ4Args.xt] = this.xst.byteOffset;
    a[MatmulQ4Args.wq] = this.ptr(w.q, (rows * cols) / 2, "matmul w.q");
    a[MatmulQ4Args.ws] = this.ptr(w.scales, (rows * cols) / Q4_BLOCK, "matmul w.scales");
    a[MatmulQ4Args.bias] = biasPtr;
    a[MatmulQ4Args.n] = n;
    a[MatmulQ4Args.rows] = rows;
    a[MatmulQ4Args.cols] = cols;
    const scratch = this.kernels.q4ScratchBytes(cols);
    this.reserveScratch(scratch);
    a[MatmulQ4Args.scratch] = this.scratch.byteOffset;
    a[MatmulQ4Args.scratchPerThread] = this.scratchPerThread;
    this.dispatch(this.dotOps.q4, n * rows * cols, NS_PER_MAC_Q4, rows, 4, MATMUL_CHUNKS_PER_THREAD);
  }

  /** Checks that a q5 matrix's arrays live in this memory and are long enough; writes their offsets to the job's arguments. */
  private q5Args(w: Q5Matrix): void {
    const { rows, cols } = w;
    if (cols % Q5_BLOCK !== 0) throw new Error(`q5 matrix: cols ${cols} is not a multiple of ${Q5_BLOCK}`);
    this.a[MatmulQ5Args.wq] = this.ptr(w.q, (rows * cols) / 2, "q5 matrix w.q");
    this.a[MatmulQ5Args.wh] = this.ptr(w.qh, rows * q5HighBytesPerRow(cols), "q5 matrix w.qh");
    this.a[MatmulQ5Args.ws] = this.ptr(w.scales, (rows * cols) / Q5_BLOCK, "q5 matrix w.scales");
  }

  /** x quantized as for q4 (int8 per 32, each block's Σ q), then the q5 kernel. */
  private matmulQ5(outPtr: number, xPtr: number, w: Q5Matrix, biasPtr: number, n: number): void {
    const { rows, cols } = w;
    this.q5Args(w);
    const a = this.a;
    const len = n * cols;
    this.growX(len);
    this.kernels.quantizeQ4X(this.xq.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, xPtr, len / Q5_BLOCK);
    if (n >= 4) this.kernels.interleaveQ5X(this.xst.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, n, cols / Q5_BLOCK);
    a[MatmulQ5Args.xt] = this.xst.byteOffset;
    a[MatmulQ5Args.out] = outPtr;
    a[MatmulQ5Args.xq] = this.xq.byteOffset;
    a[MatmulQ5Args.xs] = this.xs.byteOffset;
    a[MatmulQ5Args.xsum] = this.xsum.byteOffset;
    a[MatmulQ5Args.bias] = biasPtr;
    a[MatmulQ5Args.n] = n;
    a[MatmulQ5Args.rows] = rows;
    a[MatmulQ5Args.cols] = cols;
    // A batch unpacks a tile of weight rows at a time into the thread's scratch.
    const scratch = this.kernels.q5ScratchBytes(cols);
    this.reserveScratch(scratch);
    a[MatmulQ5Args.scratch] = this.scratch.byteOffset;
    a[MatmulQ5Args.scratchPerThread] = this.scratchPerThread;
    // Four x rows or more are bound by arithmetic, as q8's: smaller chunks (see Q8_BATCH_CHUNKS_PER_THREAD).
    this.dispatch(this.dotOps.q5, n * rows * cols, NS_PER_MAC_Q5, rows, 4, n >= 4 ? Q8_BATCH_CHUNKS_PER_THREAD : MATMUL_CHUNKS_PER_THREAD);
  }

  /** Checks that a q4k matrix's arrays live in this memory and are long enough; writes their offsets to the job's arguments. */
  private q4kArgs(w: Q4KMatrix): void {
    const { rows, cols } = w;
    if (cols % Q4K_BLOCK !== 0) throw new Error(`q4k matrix: cols ${cols} is not a multiple of ${Q4K_BLOCK}`);
    const supers = (rows * cols) / Q4K_BLOCK;
    this.a[MatmulQ4KArgs.wq] = this.ptr(w.q, (rows * cols) / 2, "q4k matrix w.q");
    this.a[MatmulQ4KArgs.sm] = this.ptr(w.subScales, 16 * supers, "q4k matrix w.subScales");
    this.a[MatmulQ4KArgs.dm] = this.ptr(w.superScales, 2 * supers, "q4k matrix w.superScales");
  }

  /** x quantized as ggml's Q8_K (a scale per 256, each 32's Σ q for the mins), then the q4k kernel. */
  private matmulQ4K(outPtr: number, xPtr: number, w: Q4KMatrix, biasPtr: number, n: number): void {
    const { rows, cols } = w;
    this.q4kArgs(w);
    const a = this.a;
    const len = n * cols;
    this.growX(len);
    this.kernels.quantizeQ4KX(this.xq.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, xPtr, len / Q4K_BLOCK);
    a[MatmulQ4KArgs.out] = outPtr;
    a[MatmulQ4KArgs.xq] = this.xq.byteOffset;
    a[MatmulQ4KArgs.xs] = this.xs.byteOffset;
    a[MatmulQ4KArgs.xm] = this.xsum.byteOffset;
    a[MatmulQ4KArgs.bias] = biasPtr;
    a[MatmulQ4KArgs.n] = n;
    a[MatmulQ4KArgs.rows] = rows;
    a[MatmulQ4KArgs.cols] = cols;
    const scratch = this.kernels.q4kScratchBytes(cols);
    this.reserveScratch(scratch);
    a[MatmulQ4KArgs.scratch] = this.scratch.byteOffset;
    a[MatmulQ4KArgs.scratchPerThread] = this.scratchPerThread;
    this.dispatch(this.dotOps.q4k, n * rows * cols, NS_PER_MAC_Q4, rows, 4, MATMUL_CHUNKS_PER_THREAD);
  }

  /** Checks that a q6k matrix's arrays live in this memory and are long enough; writes their offsets to the job's arguments. */
  private q6kArgs(w: Q6KMatrix): void {
    const { rows, cols } = w;
    if (cols % Q6K_BLOCK !== 0) throw new Error(`q6k matrix: cols ${cols} is not a multiple of ${Q6K_BLOCK}`);
    const supers = (rows * cols) / Q6K_BLOCK;
    this.a[MatmulQ6KArgs.wq] = this.ptr(w.q, Q6K_Q_BYTES * supers, "q6k matrix w.q");
    this.a[MatmulQ6KArgs.sm] = this.ptr(w.subScales, 16 * supers, "q6k matrix w.subScales");
    this.a[MatmulQ6KArgs.dm] = this.ptr(w.superScales, supers, "q6k matrix w.superScales");
  }

  /** x quantized as ggml's Q8_K (a scale per 256, each 16's Σ q for the −32 offset), then the q6k kernel. */
  private matmulQ6K(outPtr: number, xPtr: number, w: Q6KMatrix, biasPtr: number, n: number): void {
    const { rows, cols } = w;
    this.q6kArgs(w);
    const a = this.a;
    const len = n * cols;
    this.growX(len);

    a[MatmulQ6KArgs.out] = outPtr;
    a[MatmulQ6KArgs.xq] = this.xq.byteOffset;
    a[MatmulQ6KArgs.xs] = this.xs.byteOffset;
    a[MatmulQ6KArgs.xm] = this.xsum.byteOffset;
    a[MatmulQ6KArgs.bias] = biasPtr;
    a[MatmulQ6KArgs.n] = n;
    a[MatmulQ6KArgs.rows] = rows;
    a[MatmulQ6KArgs.cols] = cols;
    const scratch = this.kernels.q6kScratchBytes(cols);
    this.reserveScratch(scratch);
    // The calling thread's scratch holds the quantizer's rows before it holds its unpacked weight rows.
    this.kernels.quantizeQ6KX(this.xq.byteOffset, this.xs.byteOffset, this.xsum.byteOffset, xPtr, len / Q6K_BLOCK, this.scratch.byteOffset);
    a[MatmulQ6KArgs.scratch] = this.scratch.byteOffset;
    a[MatmulQ6KArgs.scratchPerThread] = this.scratchPerThread;
    this.dispatch(Op.MatmulQ6K, n * rows * cols, NS_PER_MAC_Q4, rows, 4, MATMUL_CHUNKS_PER_THREAD);
  }

  /** At least `perThread` bytes of scratch per thread, doubling so that growth happens seldom. */
  private reserveScratch(perThread: number): void {
    if (this.scratchPerThread < perThread) this.scratch = this.growScratch(Math.max(perThread, 2 * this.scratchPerThread));
  }

  private growScratch(perThread: number): Int8Array {
    this.scratchPerThread = perThread;
    return this.arena.i8(perThread * this.threads);
  }

  layerNorm(out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array, n: number, d: number, eps: number): void {
    const a = this.a;
    a[LayerNormArgs.out] = this.ptr(out, n * d, "layerNorm out");
    a[LayerNormArgs.x] = this.ptr(x, n * d, "layerNorm x");
    a[LayerNormArgs.weight] = this.ptr(weight, d, "layerNorm weight");
    a[LayerNormArgs.bias] = this.ptr(bias, d, "layerNorm bias");
    a[LayerNormArgs.d] = d;
    this.af[LayerNormArgs.eps] = eps;
    a[LayerNormArgs.n] = n;
    this.dispatch(Op.LayerNorm, n * d, NS_PER_NORM, n, 1, 4);
  }

  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, d: number, eps: number): void {
    const a = this.a;
    a[RmsNormArgs.out] = this.ptr(out, n * d, "rmsNorm out");
    a[RmsNormArgs.x] = this.ptr(x, n * d, "rmsNorm x");
    a[RmsNormArgs.weight] = this.ptr(weight, d, "rmsNorm weight");
    a[RmsNormArgs.d] = d;
    this.af[RmsNormArgs.eps] = eps;
    a[RmsNormArgs.n] = n;
    this.dispatch(Op.RmsNorm, n * d, NS_PER_RMS_NORM, n, 1, 4);
  }

  rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, cos: Float32Array, sin: Float32Array): void {
    if (!(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0)) throw new Error(`rope: headDim ${headDim} is not a positive even number`);
    if (!(Number.isInteger(n) && n >= 0 && positions.length >= n)) throw new Error(`rope: ${n} tokens, ${positions.length} positions`);
    if (!(Number.isInteger(nHeads) && nHeads >= 0)) throw new Error(`rope: nHeads ${nHeads} is not a head count`);
    const half = headDim / 2;
    const a = this.a;
    a[RopeArgs.x] = this.ptr(x, n * nHeads * headDim, "rope x");
    a[RopeArgs.nHeads] = nHeads;
    a[RopeArgs.headDim] = headDim;
    // Both tables are read at every position's row: one past their end would read other buffers.
    const tablePositions = Math.floor(Math.min(cos.length, sin.length) / half);
    a[RopeArgs.cos] = this.ptr(cos, 0, "rope cos");
    a[RopeArgs.sin] = this.ptr(sin, 0, "rope sin");
    a[RopeArgs.n] = n;
    if (this.ropePositions.length < n) this.ropePositions = this.arena.i32(Math.max(n, 2 * this.ropePositions.length));
    const copy = this.ropePositions;
    for (let i = 0; i < n; i++) {
      const p = positions[i];
      if (!(p >= 0 && p < tablePositions)) throw new Error(`rope: position ${p} of token ${i} outside the tables' ${tablePositions} positions`);
      copy[i] = p;
    }
    a[RopeArgs.positions] = copy.byteOffset;
    this.dispatch(Op.Rope, n * nHeads * headDim, NS_PER_ROPE, n, 1, 4);
  }

  siluMul(out: Float32Array, gateUp: Float32Array, n: number, d: number): void {
    const a = this.a;
    const outPtr = this.ptr(out, n * d, "siluMul out");
    const gateUpPtr = this.ptr(gateUp, 2 * n * d, "siluMul gateUp");
    a[SiluMulArgs.out] = outPtr;
    a[SiluMulArgs.gateUp] = gateUpPtr;
    a[SiluMulArgs.d] = d;
    a[SiluMulArgs.n] = n;
    const bytes = n * d * Float32Array.BYTES_PER_ELEMENT;
    // Written over gateUp, rows must go in order (assembly/elementwise.ts): threads taking
    // later rows would overwrite rows not yet read.
    if (outPtr < gateUpPtr + 2 * bytes && gateUpPtr < outPtr + bytes) {
      if (outPtr !== gateUpPtr) throw new Error("siluMul: out overlaps gateUp other than at its start");
      this.pool.runLocal(Op.SiluMul);
      return;
    }
    this.dispatch(Op.SiluMul, n * d, NS_PER_SILU, n, 1, 4);
  }

  gelu(x: Float32Array, length: number): void {
    const a = this.a;
    a[GeluArgs.x] = this.ptr(x, length, "gelu x");
    a[GeluArgs.length] = length;
    this.dispatch(Op.Gelu, length, NS_PER_GELU, length, 1024, 4);
  }

  addInPlace(x: Float32Array, y: Float32Array, length: number): void {
    const a = this.a;
    a[AddArgs.x] = this.ptr(x, length, "addInPlace x");
    a[AddArgs.y] = this.ptr(y, length, "addInPlace y");
    a[AddArgs.length] = length;
    this.dispatch(Op.Add, length, NS_PER_ADD, length, 4096, 4);
  }

  attention(out: Float32Array, q: Float32Array, row: number, kv: KVView, pos: number, t: number, nHead: number, nKVHead: number, headDim: number, scratch: Float32Array): void {
    if (t === 1) {
      // One new token is a decode batch of one: the same job and the same bits.
      this.onePosition[0] = pos;
      this.oneKV[0] = kv;
      this.decodeBatch(ATTENTION_NAMES, out, q, row, this.oneKV, this.onePosition, 1, nHead, nKVHead, headDim);
      return;
    }
    headGroup(ATTENTION_NAMES.kernel, nHead, nKVHead);
    const { k, v, blockSize } = kv;
    const width = nHead * headDim;
    const kvWidth = nKVHead * headDim;
    const a = this.a;
    const names = ATTENTION_NAMES;
    const outPtr = this.rowsPtr(out, row, t, width, names.kernel, names.out);
    const qPtr = this.rowsPtr(q, row, t, width, names.kernel, names.q);
    const halves = this.kvHalves(kv, names);
    const kPtr = this.ptr(k, 0, names.k);
    const vPtr = this.ptr(v, k.length, names.v);
    const table = this.tables.stage(kv, Math.ceil((pos + t) / blockSize), blockSize * kvWidth);
    const scratchPtr = this.ptr(scratch, nHead * (pos + t), "attention scratch");
    const macs = t * (pos + t) * width;
    const mode = this.queryMode(halves, qPtr, t * width);
    const qRead = mode === KVMode.HalvesScaledQ ? this.grow("scaledQ", t * width).byteOffset : qPtr;
    a[AttentionArgs.out] = outPtr;
    a[AttentionArgs.q] = qRead;
    a[AttentionArgs.k] = kPtr;
    a[AttentionArgs.v] = vPtr;
    a[AttentionArgs.table] = table;
    a[AttentionArgs.blockSize] = blockSize;
    a[AttentionArgs.pos] = pos;
    a[AttentionArgs.t] = t;
    a[AttentionArgs.nHead] = nHead;
    a[AttentionArgs.nKVHead] = nKVHead;
    a[AttentionArgs.headDim] = headDim;
    a[AttentionArgs.scratch] = scratchPtr;
    a[AttentionArgs.kvMode] = mode;
    // Each head's P_c and its chunks' [m_c, l_c] (assembly/attention.ts).
    a[AttentionArgs.work] = this.grow("work", width + 2 * nHead * Math.ceil((pos + t) / this.kernels.attnChunkPositions)).byteOffset;
    // Few chunks of several heads each: a thread then reads longer runs of every cached row.
    this.dispatch(Op.Attention, macs, NS_PER_ATTENTION_MAC, nHead, 1, 2);
  }

  attentionDecode(out: Float32Array, q: Float32Array, row: number, kvs: readonly KVView[], positions: Int32Array, count: number, nHead: number, nKVHead: number, headDim: number): void {
    this.decodeBatch(DECODE_NAMES, out, q, row, kvs, positions, count, nHead, nKVHead, headDim);
  }

  /**
   * Decode attention of `count` sequences as one job: its items are all the sequences' position
   * chunks, numbered sequence after sequence, so threads share them whatever each sequence's
   * length (flash-decoding; see assembly/attention.ts); then the calling thread merges each
   * sequence's chunks in order. Neither the thread count nor the batch changes any bit. `names`
   * are the caller's, for errors.
   */
  private decodeBatch(names: ArgNames, out: Float32Array, q: Float32Array, row: number, kvs: readonly KVView[], positions: Int32Array, count: number, nHead: number, nKVHead: number, headDim: number): void {
    if (!(Number.isInteger(count) && count >= 0 && count <= kvs.length && count <= positions.length)) {
      throw new Error(`${names.kernel}: ${count} sequences, ${kvs.length} views, ${positions.length} positions`);
    }
    headGroup(names.kernel, nHead, nKVHead);
    const width = nHead * headDim;
    const kvWidth = nKVHead * headDim;
    const rowBytes = width * Float32Array.BYTES_PER_ELEMENT;
    const outPtr = this.rowsPtr(out, row, count, width, names.kernel, names.out);
    const qPtr = this.rowsPtr(q, row, count, width, names.kernel, names.q);
    if (count === 0) return;
    const chunkPositions = this.kernels.attnChunkPositions;
    // Sizes first, so that no buffer moves while the sequences are written down.
    let scores = 0, chunks = 0, tableEntries = 0, macs = 0;
    for (let i = 0; i < count; i++) {
      const visible = positions[i] + 1;
      if (!(Number.isInteger(visible) && visible >= 1)) throw new Error(`${names.kernel}: position ${positions[i]} of sequence ${i}`);
      scores += nHead * visible;
      chunks += Math.ceil(visible / chunkPositions);
      tableEntries += Math.ceil(visible / kvs[i].blockSize);
      macs += visible * width;
    }
    this.tables.reserve(tableEntries);
    if (this.descs.length < DECODE_DESC_INTS * count) this.descs = this.arena.i32(Math.max(DECODE_DESC_INTS * count, 2 * this.descs.length));
    const halves = this.kvHalves(kvs[0], names);
    const mode = this.queryMode(halves, qPtr, count * width);
    const qRead = mode === KVMode.HalvesScaledQ ? this.grow("scaledQ", count * width).byteOffset : qPtr;
    let scoresAt = this.grow("scores", scores).byteOffset;
    const stats = this.grow("stats", 2 * chunks * nHead).byteOffset;
    const partials = this.grow("partials", chunks * width).byteOffset;
    const d = this.descs, D = DecodeDesc;
    for (let i = 0, c = 0, entries = 0, at = 0; i < count; i++, at += DECODE_DESC_INTS) {
      const kv = kvs[i];
      const visible = positions[i] + 1;
      const n = Math.ceil(visible / chunkPositions);
      const used = Math.ceil(visible / kv.blockSize);
      if (this.kvHalves(kv, names) !== halves) throw new Error(`${names.kernel}: sequence ${i}'s cache is not stored as sequence 0's is`);
      d[at + D.out] = outPtr + i * rowBytes;
      d[at + D.q] = qRead + i * rowBytes;
      d[at + D.k] = this.ptr(kv.k, 0, names.k);
      d[at + D.v] = this.ptr(kv.v, kv.k.length, names.v);
      d[at + D.table] = this.tables.stage(kv, used, kv.blockSize * kvWidth, entries);
      d[at + D.blockSize] = kv.blockSize;
      d[at + D.scores] = scoresAt;
      d[at + D.visible] = visible;
      d[at + D.stats] = stats + 8 * c * nHead; // [m_c, l_c] per head and chunk
      d[at + D.partials] = partials + c * rowBytes; // P_c per chunk (chunk 0's goes to out)
      d[at + D.firstChunk] = c;
      d[at + D.chunks] = n;
      scoresAt += nHead * visible * Float32Array.BYTES_PER_ELEMENT;
      c += n;
      entries += used;
    }
    const a = this.a;
    a[AttentionDecodeArgs.descs] = d.byteOffset;
    a[AttentionDecodeArgs.count] = count;
    a[AttentionDecodeArgs.chunks] = chunks;
    a[AttentionDecodeArgs.nHead] = nHead;
    a[AttentionDecodeArgs.nKVHead] = nKVHead;
    a[AttentionDecodeArgs.headDim] = headDim;
    a[AttentionDecodeArgs.kvMode] = mode;
    this.dispatch(Op.AttentionDecodeBatch, macs, NS_PER_ATTENTION_MAC, chunks, 1, 4);
    for (let i = 0, at = 0; i < count; i++, at += DECODE_DESC_INTS) {
      this.kernels.attnCombine(d[at + D.out], d[at + D.partials], d[at + D.stats], d[at + D.chunks], nHead, headDim);
    }
  }

  /** Whether a cache holds halves (else f32); its keys and values must be stored alike. */
  private kvHalves(kv: KVView, names: ArgNames): boolean {
    const halves = kv.k instanceof Uint16Array;
    if (halves !== kv.v instanceof Uint16Array) throw new Error(`${names.kernel}: kv.k and kv.v are stored differently`);
    return halves;
  }

  /**
   * How attention reads the cache for the `length` query floats at qPtr. Over halves it reads
   * q · 2^112, written to the "scaledQ" buffer here, which lets it read the halves without
   * widening them (assembly/half.ts), unless some |q| is too large for that.
   */
  private queryMode(halves: boolean, qPtr: number, length: number): KVMode {
    if (!halves) return KVMode.F32;
    return this.kernels.scaleForHalves(this.grow("scaledQ", length).byteOffset, qPtr, length) === 1 ? KVMode.HalvesScaledQ : KVMode.Halves;
  }

  /**
   * Reads every byte of `data` once and does nothing else, split over the threads as a matmul
   * splits its rows: the decode ceiling's measuring stick (src/kernels/read-probe.ts), not a
   * Backend kernel. The answer, the wrapping sum of the bytes as little-endian 32-bit words (a
   * last partial word zero-padded) as an unsigned integer, only keeps the reads from being skipped.
   */
  readSum(data: WeightArray): number {
    const a = this.a;
    const sums = this.readSums;
    sums.fill(0); // a short call runs as one chunk and leaves the other slots alone
    a[ReadSumArgs.sums] = sums.byteOffset;
    a[ReadSumArgs.data] = this.ptr(data, data.length, "readSum data");
    a[ReadSumArgs.bytes] = data.byteLength;
    this.dispatch(Op.ReadSum, data.byteLength, NS_PER_BYTE_READ, data.byteLength, 64, READ_CHUNKS_PER_THREAD);
    let sum = 0;
    for (let i = 0; i < sums.length; i++) sum = (sum + sums[i]) | 0;
    return sum >>> 0;
  }

  /** The backend's own buffer `name`, at least `length` floats, grown geometrically. */
  private grow(name: WorkBuffer, length: number): Float32Array {
    let b = this.work.get(name);
    if (b === undefined || b.length < length) {
      b = this.arena.f32(Math.max(length, 2 * (b?.length ?? 0)));
      this.work.set(name, b);
    }
    return b;
  }

  close(): void {
    this.pool.close();
  }
}

/** A wasm backend on `platform`; entry points wrap this with theirs (kernels/index.ts: Node). */
export async function startWasmBackend(platform: KernelPlatform, options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? platform.hardwareThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm backend: threads must be a positive integer, got ${threads}`);
  const level = await pickSimdLevel(platform, options.simd ?? "auto");
  const module = await compileKernels(platform, level);
  const arena = new Arena(1 << 20);
  const control = arena.allocBytes(controlInts(threads) * 4 + 64);
  const controlAligned = (control + 63) & ~63; // the counters own whole cache lines
  const kernels = instantiateKernels(module, arena.memory);
  const wanted = options.int8Dot ?? "auto";
  // The baseline build has one way; "auto" probes before the workers start, on a quiet core.
  const int8Dot = level === "baseline" ? "i16" : wanted === "auto" ? await probeInt8Dot(kernels, arena) : wanted;
  const spin = options.spinMicros ?? DEFAULT_SPIN_MICROS;
  const pool = await ThreadPool.start(platform, kernels, module, arena.memory, controlAligned, threads, spin, MAIN_SPIN_MICROS);
  return new WasmBackend(arena, kernels, pool, (options.q8Activations ?? "int8") === "int8", options.minParallelNanos ?? DEFAULT_MIN_PARALLEL_NANOS, level, int8Dot);
}
