import path from "node:path";
import { stat } from "node:fs/promises";
import { UserError } from "../errors.js";
import { exists, isObject, readJsonObject, readText, type Json, type JsonObject } from "./files.js";
import { tokenStringToBytes } from "./bytes.js";
import { Worker } from "node:worker_threads";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { parseAddedToken, specialToken, type AddedToken } from "./pipeline/added-tokens.js";
import type { SpecialWrap } from "./pipeline/post-processor.js";
import { BpeTokenizer } from "./tokenizer.js";
import { checkIdBound, parseMergesTxt, parseTokenizerJson, vocabArray, type FileTables } from "./tokenizer-json.js";
import type { Tokenizer } from "./types.js";

/**
 * Loads a BPE tokenizer from a HF model folder: tokenizer.json if present (what current
 * transformers writes; GPT-2, Llama 2/3, Qwen2/3), otherwise GPT-2's older vocab.json + merges.txt pair. tokenizer_config.json,
 * when present, supplies the bos/eos tokens and the chat template.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  return new BpeTokenizer(await readTokenizerInWorker({ kind: "folder", path: dir }));
}

/** The tokenizer stored in a GGUF file's metadata (tokenizer.ggml.*), read on a worker thread too. */
export async function loadGGUFTokenizer(file: string): Promise<Tokenizer> {
  return new BpeTokenizer(await readTokenizerInWorker({ kind: "gguf", path: file }));
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
function readTokenizerInWorker(source: TokenizerSource): Promise<CompiledTokenizer> {
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
export type WorkerReply = { readonly ok: true; readonly tables: CompiledTokenizer } | { readonly ok: false; readonly message: string; readonly userError: boolean };

/** Reads a model folder's tokenizer files into compiled tables (loadTokenizer runs this in a worker). */
export async function readTokenizerFolder(dir: string): Promise<CompiledTokenizer> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) throw new UserError(`model folder not found: ${dir}`);

  const file = (name: string): string => path.join(dir, name);
  let tables: FileTables;
  if (await exists(file("tokenizer.json"))) {
    tables = parseTokenizerJson(await readJsonObject(file("tokenizer.json")), file("tokenizer.json"));
  } else if (await exists(file("vocab.json"))) {
    const vocab = await readJsonObject(file("vocab.json"));
    const tokenCount = Object.keys(vocab).length;
    // The older pair is GPT-2's format: its pipeline is GPT-2's, compileTokenizer's default.
    tables = {
      vocab: vocabArray(vocab, file("vocab.json"), tokenCount),
      merges: parseMergesTxt(await readText(file("merges.txt")), file("merges.txt")),
      addedTokens: [],
      tokenCount,
    };
  } else {
    throw new UserError(`no tokenizer in ${dir}: expected tokenizer.json, or vocab.json and merges.txt`);
  }

  const configFile = file("tokenizer_config.json");
  const config = (await exists(configFile)) ? await readJsonObject(configFile) : null;
  const jinjaFile = file("chat_template.jinja");
  // chat_template.jinja, written by current transformers, wins over tokenizer_config.json as it does there.
  const chatTemplate = (await exists(jinjaFile)) ? await readText(jinjaFile) : templateFromConfig(config);

  // Without a config, fall back to what HF's GPT2Tokenizer assumes: <|endoftext|> is both.
  const bos = config === null ? "<|endoftext|>" : tokenContent(config["bos_token"]);
  const eos = config === null ? "<|endoftext|>" : tokenContent(config["eos_token"]);
  const resolve = (token: string | null, what: string): number | null => {
    if (token === null) return null;
    const id = tables.addedTokens.find((t) => t.content === token)?.id ?? tables.vocab.indexOf(token);
    if (id >= 0) return id;
    if (config === null) return null;
    throw new UserError(`${configFile}: ${what} "${token}" is not in the vocabulary`);
  };
  const bosTokenId = resolve(bos, "bos_token");
  const eosTokenId = resolve(eos, "eos_token");

  // The config's named tokens are special even when only the vocabulary lists them (vocab.json
  // has no "special" flag), so "<|endoftext|>" typed in a prompt still becomes one id.
  const addedTokens = [...tables.addedTokens, ...addedTokensFromConfig(config, configFile, tables.tokenCount)];
  for (const id of [bosTokenId, eosTokenId]) {
    if (id === null || addedTokens.some((t) => t.id === id)) continue;
    addedTokens.push(specialToken(id, new TextDecoder().decode(tokenStringToBytes(tables.vocab[id]))));
  }
  const wrap = wrapFromConfig(config, configFile, bosTokenId, eosTokenId) ?? tables.wrap;
  return compileTokenizer({ ...tables, addedTokens, bosTokenId, eosTokenId, chatTemplate, wrap });
}

/**
 * tokenizer_config.json's add_bos_token / add_eos_token, when either is given, decide the special
 * tokens around a text, as transformers' Llama-style tokenizers rebuild their post-processor
 * from them (an unset one counts as false). Null when the config leaves it to tokenizer.json.
 */
function wrapFromConfig(config: JsonObject | null, file: string, bos: number | null, eos: number | null): SpecialWrap | null {
  const addBos = config?.["add_bos_token"];
  const addEos = config?.["add_eos_token"];
  if (typeof addBos !== "boolean" && typeof addEos !== "boolean") return null;
  if (addBos === true && bos === null) throw new UserError(`${file}: add_bos_token is true but there is no bos_token`);
  if (addEos === true && eos === null) throw new UserError(`${file}: add_eos_token is true but there is no eos_token`);
  return { prefix: addBos === true && bos !== null ? [bos] : [], suffix: addEos === true && eos !== null ? [eos] : [] };
}

/** tokenizer_config.json's added_tokens_decoder: { "50256": { "content": "<|endoftext|>", "special": true, ... } }. */
function addedTokensFromConfig(config: JsonObject | null, file: string, tokenCount: number): AddedToken[] {
  const decoder = config?.["added_tokens_decoder"];
  if (!isObject(decoder)) return [];
  const bound = tokenCount + Object.keys(decoder).length;
  return Object.entries(decoder).map(([id, t]) => {
    if (isObject(t) && typeof t["content"] === "string" && /^\d+$/.test(id)) {
      checkIdBound(t["content"], Number(id), bound, file);
      return parseAddedToken({ ...t, id: Number(id) }, file);
    }
    throw new UserError(`invalid ${file}: bad added_tokens_decoder entry ${JSON.stringify(id)}`);
  });
}

/** A config token is a plain string, or an AddedToken object { "content": ... }, or null. */
function tokenContent(value: Json | undefined): string | null {
  if (typeof value === "string") return value;
  if (isObject(value) && typeof value["content"] === "string") return value["content"];
  return null;
}

/** chat_template is a string, or a list of named templates of which "default" is the one. */
function templateFromConfig(config: JsonObject | null): string | null {
  const value = config?.["chat_template"];
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) return null;
  const named = value.filter(isObject);
  const chosen = named.find((t) => t["name"] === "default") ?? named[0];
  const template = chosen?.["template"];
  return typeof template === "string" ? template : null;
}
