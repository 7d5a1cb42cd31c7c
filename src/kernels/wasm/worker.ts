// A kernel worker: instantiates the kernels on the shared memory, then loops forever on the
// control block, running its share of each published job. It never returns to its event loop
// until told to stop, so jobs never go through message passing.
import { parentPort, workerData } from "node:worker_threads";
import { instantiateKernels } from "./exports.js";
import { CONTROL_INTS, DONE, FAILED, MAIN_WAITING, OP, Op, runJob } from "./jobs.js";
import { awaitGeneration } from "./spin.js";

export interface WorkerInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: number; // byte offset of the control block
  readonly tid: number;
  readonly threads: number;
  readonly spinMicros: number;
}

function isWorkerInit(d: unknown): d is WorkerInit {
  return typeof d === "object" && d !== null && "module" in d && "memory" in d && "control" in d && "tid" in d;
}

function main(): void {
  if (parentPort === null || !isWorkerInit(workerData)) throw new Error("kernel worker started without its init data");
  const { module, memory, control, tid, threads, spinMicros } = workerData;
  const kernels = instantiateKernels(module, memory);
  const ctrl = new Int32Array(memory.buffer, control, CONTROL_INTS);
  const ctrlF = new Float32Array(memory.buffer, control, CONTROL_INTS);
  const workers = threads - 1;
  let seen = Atomics.load(ctrl, 0);
  parentPort.postMessage("ready");
  for (;;) {
    seen = awaitGeneration(ctrl, seen, spinMicros);
    if (ctrl[OP] === Op.Stop) return;
    try {
      runJob(kernels, ctrl, ctrlF, tid, threads);
    } catch {
      Atomics.store(ctrl, FAILED, 1);
    }
    if (Atomics.add(ctrl, DONE, 1) === workers - 1 && Atomics.load(ctrl, MAIN_WAITING) !== 0) Atomics.notify(ctrl, DONE);
  }
}

main();
