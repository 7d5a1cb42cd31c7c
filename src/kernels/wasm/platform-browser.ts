import type { KernelPlatform } from "./platform.js";

/**
 * Kernel builds fetched from next to this module, kernel workers as module Web Workers. The
 * module and the shared memory are posted to each worker, which the browser allows only on a
 * cross-origin isolated page; elsewhere the backend runs on one thread and starts none.
 */
export const browserPlatform: KernelPlatform = {
  async wasmBytes(file) {
    const url = new URL(file, import.meta.url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} (is dist/ built and served next to the page?)`);
    return response.arrayBuffer();
  },
  startWorker(init) {
    const worker = new Worker(new URL("./worker-browser.js", import.meta.url), { type: "module", name: `kernels ${init.thread}` });
    return new Promise((resolve, reject) => {
      worker.onmessage = () => resolve(worker);
      worker.onerror = (e) => {
        worker.terminate();
        reject(new Error(`kernel worker ${init.thread} failed to start: ${e.message}`));
      };
      worker.postMessage(init);
    });
  },
  hardwareThreads: () => navigator.hardwareConcurrency,
};
