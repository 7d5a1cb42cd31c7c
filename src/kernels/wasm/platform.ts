import type { WorkerInit } from "./worker.js";

/**
 * What the wasm backend needs from the JavaScript host it runs on: the bytes of a kernel build
 * and a way to start a kernel worker. The entry point picks one — platform-node.ts for Node
 * (kernels/index.ts), platform-browser.ts for Web Workers (src/browser/) — so nothing below it
 * imports a host's modules or guesses which host it is on.
 */
export interface KernelPlatform {
  /** The bytes of a kernel build shipped next to exports.js ("kernels.wasm", "kernels-relaxed.wasm"). */
  wasmBytes(file: string): Promise<BufferSource>;
  /** Starts a kernel worker on `init`; resolves once it has entered its job loop. */
  startWorker(init: WorkerInit): Promise<KernelWorker>;
  /** Threads the machine runs at once: the default thread count. */
  hardwareThreads(): number;
}

export interface KernelWorker {
  terminate(): void;
}
