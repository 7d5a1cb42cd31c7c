import { stat } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { UserError } from "../errors.js";
import { diskFolder } from "../io/disk.js";
import type { CompiledTokenizer } from "./compile.js";
import { tokenizerOf, type AnyCompiledTokenizer } from "./compiled.js";
import { readTokenizerFiles } from "./read-folder.js";
import type { Tokenizer } from "./types.js";

/**
 * Loads a BPE tokenizer from a HF model folder: tokenizer.json if present (what current
 * transformers writes; GPT-2, Llama 2/3, Qwen2/3), otherwise GPT-2's older vocab.json + merges.txt pair. tokenizer_config.json,
 * when present, supplies the bos/eos tokens and the chat template.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  return tokenizerOf(await readTokenizerInWorker({ kind: "folder", path: dir }), dir);
}

/** The tokenizer stored in a GGUF file's metadata (tokenizer.ggml.*: byte-level BPE or SentencePiece-style), read on a worker thread too. */
export async function loadGGUFTokenizer(file: string): Promise<Tokenizer> {
  return tokenizerOf(await readTokenizerInWorker({ kind: "gguf", path: file }), file);
}

/** Where the worker reads a tokenizer from. */
export interface TokenizerSource {
  readonly kind: "folder" | "gguf";
  readonly path: string;
}

/**
 * Reads and compiles a tokenizer on a worker thread. Parsing a 50k-token vocabulary makes tens
 * of MB of short-lived strings and objects: on the main thread they would grow V8's young
 * generation to its maximum (32 MB) for the life of the process; a worker's heap goes back to
 * the OS when it exits, and only the compiled typed arrays come back (moved, not copied).
 */
function readTokenizerInWorker(source: TokenizerSource): Promise<AnyCompiledTokenizer> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./load-worker.js", import.meta.url), { workerData: source });
    let reply: WorkerReply | null = null;
    worker.once("message", (r: WorkerReply) => (reply = r));
    worker.once("error", reject);
    // Settled once the thread is gone, so its memory is released before the caller goes on.
    worker.once("exit", (code) => {
      if (reply === null) reject(new Error(`tokenizer loader thread exited with code ${code} before replying`));
      else if (reply.ok) resolve(reply.tables);
      else reject(reply.userError ? new UserError(reply.message) : new Error(reply.message));
    });
  });
}

/** What the worker posts back: the tables, or the error it threw (UserErrors stay UserErrors). */
export type WorkerReply = { readonly ok: true; readonly tables: AnyCompiledTokenizer } | { readonly ok: false; readonly message: string; readonly userError: boolean };

/** Reads a model folder's tokenizer files into compiled tables (loadTokenizer runs this in a worker). */
export async function readTokenizerFolder(dir: string): Promise<CompiledTokenizer> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) throw new UserError(`model folder not found: ${dir}`);
  return readTokenizerFiles(diskFolder(dir));
}
