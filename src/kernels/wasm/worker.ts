// A kernel worker's job loop: instantiates the kernels on the shared memory, then loops forever
// on the control block, taking chunks of each published job. It never returns to its event loop
// until told to stop, so jobs never go through message passing. worker-node.ts and
// worker-browser.ts start it on their host.
import { instantiateKernels } from "./exports.js";
import { COMPLETED, controlInts, GEN, MAIN_WAITING, OP, Op, runClaimed } from "./jobs.js";
import { awaitGeneration } from "./spin.js";

export interface WorkerInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: number; // byte offset of the control block
  readonly thread: number; // this worker's index among the pool's threads (0 is the caller)
  readonly threads: number; // the pool's threads, the caller included
  readonly spinMicros: number;
}

export function isWorkerInit(d: unknown): d is WorkerInit {
  return typeof d === "object" && d !== null && "module" in d && "memory" in d && "control" in d && "thread" in d && "threads" in d && "spinMicros" in d;
}

/** Runs the job loop until the pool stops; `ready` is called once the kernels are instantiated. */
export function runKernelWorker(init: WorkerInit, ready: () => void): void {
  const { module, memory, control, thread, threads, spinMicros } = init;
  const kernels = instantiateKernels(module, memory);
  const ctrl = new Int32Array(memory.buffer, control, controlInts(threads));
  const ctrlF = new Float32Array(memory.buffer, control, controlInts(threads));
  let seen = Atomics.load(ctrl, GEN);
  ready();
  for (;;) {
    seen = awaitGeneration(ctrl, seen, spinMicros);
    if (ctrl[OP] === Op.Stop) return;
    const done = runClaimed(kernels, ctrl, ctrlF, thread, threads);
    if (done === 0) continue;
    Atomics.add(ctrl, COMPLETED, done);
    if (Atomics.load(ctrl, MAIN_WAITING) !== 0) Atomics.notify(ctrl, COMPLETED);
  }
}
