// The worker side of loadTokenizer and loadGGUFTokenizer (load.ts): reads the tokenizer, posts
// the compiled tables back.
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../errors.js";
import { readGGUF } from "../io/gguf-read.js";
import { compileGGUFTokenizer, tokenizerTablesFromGGUF } from "../tokenizer/gguf.js";
import { transferablesOf, type AnyCompiledTokenizer } from "./compiled.js";
import { readTokenizerFolder, type TokenizerSource, type WorkerReply } from "./load.js";

function isSource(d: unknown): d is TokenizerSource {
  return typeof d === "object" && d !== null && "kind" in d && "path" in d && (d.kind === "folder" || d.kind === "gguf") && typeof d.path === "string";
}

async function read(source: TokenizerSource): Promise<AnyCompiledTokenizer> {
  if (source.kind === "folder") return { kind: "bpe", tables: await readTokenizerFolder(source.path) };
  return compileGGUFTokenizer(tokenizerTablesFromGGUF(readGGUF(source.path)), source.path);
}

if (parentPort === null || !isSource(workerData)) throw new Error("load-worker.js runs only as the tokenizer loader's worker");
const port = parentPort;
let reply: WorkerReply;
try {
  reply = { ok: true, tables: await read(workerData) };
} catch (e) {
  reply = { ok: false, message: e instanceof Error ? e.message : String(e), userError: e instanceof UserError };
}
const t = reply.ok ? reply.tables : null;
port.postMessage(reply, t === null ? [] : transferablesOf(t));
