import type { KernelExports } from "./exports.js";
import { COMPLETED, controlInts, FAILED, GEN, MAIN_WAITING, MAX_CHUNKS, OP, Op, publishRegions, SLEEPERS, runClaimed, runJob, takeLastError } from "./jobs.js";
import type { KernelPlatform, KernelWorker } from "./platform.js";
import { spinDeadline } from "./spin.js";

/**
 * Runs one job at a time on the calling thread plus `threads - 1` workers, all reading the job
 * from a control block in the shared memory. Publishing is a few stores and one atomic bump;
 * then every thread, the caller included, claims chunks until none are left, and the caller
 * spins until the chunks others took are done.
 */
export class ThreadPool {
  readonly args: Int32Array; // the control block; callers write ARG.. and call run()
  readonly argsF32: Float32Array; // the same words seen as f32 (for eps)
  private readonly workers: KernelWorker[] = [];
  private closed = false;

  private constructor(
    private readonly kernels: KernelExports,
    readonly threads: number,
    memory: WebAssembly.Memory,
    control: number,
    private readonly mainSpinMicros: number,
  ) {
    this.args = new Int32Array(memory.buffer, control, controlInts(threads));
    this.argsF32 = new Float32Array(memory.buffer, control, controlInts(threads));
  }

  static async start(
    platform: KernelPlatform,
    kernels: KernelExports,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    control: number,
    threads: number,
    spinMicros: number,
    mainSpinMicros: number,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(kernels, threads, memory, control, mainSpinMicros);
    const started: Promise<KernelWorker>[] = [];
    for (let i = 1; i < threads; i++) started.push(platform.startWorker({ module, memory, control, thread: i, threads, spinMicros }));
    const settled = await Promise.allSettled(started);
    for (const s of settled) if (s.status === "fulfilled") pool.workers.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) {
      pool.close();
      throw failed.reason;
    }
    return pool;
  }

  /** Runs the job written in args[ARG..] on the calling thread alone: for jobs too small to share. */
  runLocal(op: Op): void {
    if (this.closed) throw new Error("wasm backend is closed");
    this.args[OP] = op;
    runJob(this.kernels, this.args, this.argsF32, 0, 1, 0);
  }

  /** Runs the job written in args[ARG..], cut into `chunks` pieces, on every thread. */
  run(op: Op, chunks: number): void {
    if (this.threads === 1 || chunks <= 1) {
      this.runLocal(op);
      return;
    }
    if (this.closed) throw new Error("wasm backend is closed");
    const a = this.args;
    const n = Math.min(chunks, MAX_CHUNKS);
    a[OP] = op;
    a[COMPLETED] = 0;
    publishRegions(a, n, this.threads);
    Atomics.add(a, GEN, 1);
    if (Atomics.load(a, SLEEPERS) !== 0) Atomics.notify(a, GEN);
    const mine = runClaimed(this.kernels, a, this.argsF32, 0, this.threads);
    if (mine < n) this.awaitWorkers(n - mine);
    if (a[FAILED] !== 0) {
      a[FAILED] = 0;
      const cause = takeLastError();
      throw new Error(`wasm kernel (opcode ${op}) failed${cause === null ? " on a worker thread" : ""}`, { cause });
    }
  }

  private awaitWorkers(chunks: number): void {
    const a = this.args;
    for (let i = 1, deadline = Infinity; deadline !== 0; i++) {
      if (Atomics.load(a, COMPLETED) === chunks) return;
      deadline = spinDeadline(i, deadline, this.mainSpinMicros);
    }
    // A worker holding a chunk is not running (more threads than free cores): give up the core.
    Atomics.store(a, MAIN_WAITING, 1);
    for (let done = Atomics.load(a, COMPLETED); done !== chunks; done = Atomics.load(a, COMPLETED)) {
      Atomics.wait(a, COMPLETED, done, 10);
    }
    Atomics.store(a, MAIN_WAITING, 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.workers.length === 0) return;
    this.args[OP] = Op.Stop;
    Atomics.add(this.args, GEN, 1);
    Atomics.notify(this.args, GEN);
    for (const w of this.workers) w.terminate();
  }
}
