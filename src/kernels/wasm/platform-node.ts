import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { KernelPlatform } from "./platform.js";

/** Kernel builds read from disk, kernel workers on node:worker_threads. */
export const nodePlatform: KernelPlatform = {
  async wasmBytes(file) {
    try {
      return await readFile(new URL(file, import.meta.url));
    } catch (err) {
      throw new Error(`${file} not found next to ${import.meta.url}: run \`npm run build\``, { cause: err });
    }
  },
  async startWorker(init) {
    // The job loop allocates almost nothing: a small young generation keeps the thread light.
    const worker = new Worker(new URL("./worker-node.js", import.meta.url), { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
    // A worker blocked in its job loop must never keep the process alive.
    worker.unref();
    try {
      await once(worker, "message");
    } catch (err) {
      void worker.terminate();
      throw err;
    }
    return { terminate: () => void worker.terminate() };
  },
  hardwareThreads: () => availableParallelism(),
};
