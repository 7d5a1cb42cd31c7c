// The worker side of loadTokenizer (load.ts): reads the folder, posts the compiled tables back.
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../errors.js";
import { readTokenizerFolder, type WorkerReply } from "./load.js";

if (parentPort === null || typeof workerData !== "string") throw new Error("load-worker.js runs only as loadTokenizer's worker");
const port = parentPort;
let reply: WorkerReply;
try {
  reply = { ok: true, tables: await readTokenizerFolder(workerData) };
} catch (e) {
  reply = { ok: false, message: e instanceof Error ? e.message : String(e), userError: e instanceof UserError };
}
const t = reply.ok ? reply.tables : null;
port.postMessage(reply, t === null ? [] : [t.tokenBytes.buffer, t.tokenOffsets.buffer, t.merges.buffer, t.byteIds.buffer]);
