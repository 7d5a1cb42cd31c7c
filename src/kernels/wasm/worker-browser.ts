// A kernel worker as a module Web Worker (started by platform-browser.ts): its init data is the
// first message.
import { isWorkerInit, runKernelWorker } from "./worker.js";

self.onmessage = (e: MessageEvent<unknown>) => {
  self.onmessage = null;
  if (!isWorkerInit(e.data)) throw new Error("kernel worker started without its init data");
  runKernelWorker(e.data, () => self.postMessage("ready"));
};
