// A kernel worker on node:worker_threads (started by platform-node.ts).
import { parentPort, workerData } from "node:worker_threads";
import { isWorkerInit, runKernelWorker } from "./worker.js";

const port = parentPort;
if (port === null || !isWorkerInit(workerData)) throw new Error("kernel worker started without its init data");
runKernelWorker(workerData, () => port.postMessage("ready"));
