import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { checkRegularFile } from "../io/regular-file.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { ggufPre, ggufPreTokenizer, SUPPORTED_GGUF_PRES } from "./gguf-pre.js";
import type { AddedToken } from "./pipeline/added-tokens.js";
import { TokenType, type GGUFEntry } from "../io/gguf.js";
import { metaString, metaStringArray, type GGUFFile } from "../io/gguf-read.js";

/**
 * A byte-level BPE tokenizer as GGUF stores it (tokenizer.ggml.*): tokens in byte-level form, one
 * type per token, merges as "a b" in rank order. The same tables come from a GGUF file (to load
 * it) or from a Hugging Face folder (to write one, always GPT-2's).
 */
export interface TokenizerTables {
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[];
  readonly merges: readonly string[];
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly unknownTokenId: number | null;
  readonly chatTemplate: string | null;
  /** tokenizer.ggml.pre (null: missing, which llama.cpp reads as "default"); tokenizerMetadata writes "gpt-2" when unset. */
  readonly pre?: string | null;
  /** tokenizer.ggml.add_bos_token / add_eos_token when the file has them. */
  readonly addBos?: boolean | null;
  readonly addEos?: boolean | null;
}

/**
 * Marks a file whose vocabulary is placeholders (see idsOnlyTokenizerMetadata); llama.cpp
 * ignores keys it does not know.
 */
export const IDS_ONLY_KEY = "nanogpt-infer.tokenizer";

/**
 * A vocabulary llama.cpp loads for a checkpoint that has none: `vocabSize` unique placeholder
 * tokens of type UNUSED, a gpt2 model with no merges. Its own "no_vocab" model would do, but
 * node-llama-cpp tokenizes while loading and aborts on it (llama.cpp 3.21.1's bundle).
 */
export function idsOnlyTokenizerMetadata(vocabSize: number, eosTokenId: number | null): [string, GGUFEntry][] {
  const entries: [string, GGUFEntry][] = [
    [IDS_ONLY_KEY, { type: "string", value: "ids-only" }],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: Array.from({ length: vocabSize }, (_, id) => `[PAD${id}]`) }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: new Array<number>(vocabSize).fill(TokenType.UNUSED) }],
    ["tokenizer.ggml.merges", { type: "string[]", value: [] }],
  ];
  if (eosTokenId !== null) entries.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: eosTokenId }]);
  return entries;
}

/** Why this engine cannot read a GGUF file's tokenizer as text (one phrase), or null when it can. */
export function unreadableGGUFTokenizer(g: GGUFFile): string | null {
  if (metaString(g, IDS_ONLY_KEY) === "ids-only") return "written with placeholder tokens, no vocabulary";
  const model = metaString(g, "tokenizer.ggml.model");
  if (model === null || model === "no_vocab" || model === "none") return "the file has no vocabulary";
  if (model !== "gpt2") return `tokenizer.ggml.model "${model}" is not supported yet`;
  const pre = metaString(g, "tokenizer.ggml.pre");
  if (ggufPre(pre) === null) return `tokenizer.ggml.pre "${pre}" is not supported yet`;
  return null;
}

export function tokenizerTablesFromGGUF(g: GGUFFile): TokenizerTables {
  const model = metaString(g, "tokenizer.ggml.model");
  if (model === null) throw new UserError(`${g.file}: no tokenizer (tokenizer.ggml.model is missing)`);
  if (model !== "gpt2") throw new UserError(`${g.file}: unsupported tokenizer.ggml.model "${model}" (supported: gpt2, byte-level BPE)`);
  const pre = metaString(g, "tokenizer.ggml.pre");
  if (ggufPre(pre) === null) throw new UserError(`${g.file}: unsupported tokenizer.ggml.pre "${pre}" (supported: ${SUPPORTED_GGUF_PRES.join(", ")})`);
  const tokens = metaStringArray(g, "tokenizer.ggml.tokens");
  const merges = g.metadata.has("tokenizer.ggml.merges") ? metaStringArray(g, "tokenizer.ggml.merges") : [];
  const rawTypes = g.metadata.get("tokenizer.ggml.token_type");
  let tokenTypes: number[];
  if (rawTypes === undefined) {
    tokenTypes = tokens.map(() => TokenType.NORMAL);
  } else if (Array.isArray(rawTypes) && rawTypes.length === tokens.length && rawTypes.every((t): t is number => typeof t === "number")) {
    tokenTypes = rawTypes;
  } else {
    throw new UserError(`${g.file}: tokenizer.ggml.token_type must be ${tokens.length} integers, one per token`);
  }
  const id = (key: string): number | null => {
    const v = g.metadata.get(key);
    if (v === undefined) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= tokens.length) throw new UserError(`${g.file}: ${key} ${String(v)} is not a token id in [0, ${tokens.length})`);
    return v;
  };
  const flag = (key: string): boolean | null => {
    const v = g.metadata.get(key);
    if (v === undefined) return null;
    if (typeof v !== "boolean") throw new UserError(`${g.file}: ${key} must be a bool`);
    return v;
  };
  return {
    pre,
    addBos: flag("tokenizer.ggml.add_bos_token"),
    addEos: flag("tokenizer.ggml.add_eos_token"),
    tokens,
    tokenTypes,
    merges,
    bosTokenId: id("tokenizer.ggml.bos_token_id"),
    eosTokenId: id("tokenizer.ggml.eos_token_id"),
    unknownTokenId: id("tokenizer.ggml.unknown_token_id"),
    chatTemplate: metaString(g, "tokenizer.chat_template"),
  };
}

/**
 * The engine's tokenizer tables, split and merged as llama.cpp does for tokenizer.ggml.pre:
 * control and user-defined tokens are cut out of text (control ones are special), and BOS/EOS
 * are added as tokenizer.ggml.add_bos_token/add_eos_token (or the pre-tokenizer's default) say.
 */
export function compileTokenizerFromTables(t: TokenizerTables, source: string): CompiledTokenizer {
  const pre = ggufPre(t.pre ?? null);
  if (pre === null) throw new UserError(`${source}: unsupported tokenizer.ggml.pre "${t.pre}" (supported: ${SUPPORTED_GGUF_PRES.join(", ")})`);
  const addedTokens: AddedToken[] = [];
  const vocab = t.tokens.map((token, id) => {
    const type = t.tokenTypes[id];
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      addedTokens.push({ id, content: token, special: type === TokenType.CONTROL, lstrip: false, rstrip: false, normalized: false, singleWord: false });
    }
    return type === TokenType.UNUSED ? "" : token;
  });
  const merges = t.merges.map((m, i): [string, string] => {
    const parts = m.split(" ");
    if (parts.length !== 2) throw new UserError(`${source}: merge #${i} ${JSON.stringify(m)} is not "a b"`);
    return [parts[0], parts[1]];
  });
  const addBos = (t.addBos ?? pre.addBos) && t.bosTokenId !== null;
  const addEos = (t.addEos ?? false) && t.eosTokenId !== null;
  return compileTokenizer({
    vocab,
    merges,
    addedTokens,
    bosTokenId: t.bosTokenId,
    eosTokenId: t.eosTokenId,
    chatTemplate: t.chatTemplate,
    preTokenizer: ggufPreTokenizer(pre, source),
    model: { ignoreMerges: pre.ignoreMerges },
    wrap: { prefix: addBos && t.bosTokenId !== null ? [t.bosTokenId] : [], suffix: addEos && t.eosTokenId !== null ? [t.eosTokenId] : [] },
  });
}

/** The tokenizer.ggml.* metadata llama.cpp reads for a byte-level BPE vocabulary (GPT-2's unless `pre` says otherwise). */
export function tokenizerMetadata(t: TokenizerTables): [string, GGUFEntry][] {
  const entries: [string, GGUFEntry][] = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: t.pre ?? "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: t.tokens }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: t.tokenTypes }],
    ["tokenizer.ggml.merges", { type: "string[]", value: t.merges }],
  ];
  if (t.bosTokenId !== null) entries.push(["tokenizer.ggml.bos_token_id", { type: "u32", value: t.bosTokenId }]);
  if (t.eosTokenId !== null) entries.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: t.eosTokenId }]);
  if (t.unknownTokenId !== null) entries.push(["tokenizer.ggml.unknown_token_id", { type: "u32", value: t.unknownTokenId }]);
  if (t.chatTemplate !== null) entries.push(["tokenizer.chat_template", { type: "string", value: t.chatTemplate }]);
  if (typeof t.addBos === "boolean") entries.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: t.addBos }]);
  if (typeof t.addEos === "boolean") entries.push(["tokenizer.ggml.add_eos_token", { type: "bool", value: t.addEos }]);
  return entries;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function readJson(file: string): JsonObject {
  checkRegularFile(file);
  let value: Json;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8")) as Json; // JSON.parse gives `any`; its output is Json by construction
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UserError(`${file}: expected a JSON object`);
  return value;
}

function tokenContent(v: Json | undefined): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && !Array.isArray(v) && typeof v["content"] === "string") return v["content"];
  return null;
}

/**
 * Reads a Hugging Face GPT-2 tokenizer (tokenizer.json, or vocab.json + merges.txt) into GGUF
 * tables the way llama.cpp's converter does: added tokens marked special become CONTROL, other
 * added tokens USER_DEFINED, and ids the vocabulary lacks up to `vocabSize` become "[PADn]" UNUSED.
 */
export function tokenizerTablesFromFolder(dir: string, vocabSize: number): TokenizerTables {
  const file = (name: string) => path.join(dir, name);
  let vocab: JsonObject;
  let mergeList: Json[];
  const added = new Map<number, { content: string; special: boolean }>();
  if (fs.existsSync(file("tokenizer.json"))) {
    const json = readJson(file("tokenizer.json"));
    const model = json["model"];
    if (typeof model !== "object" || model === null || Array.isArray(model) || typeof model["vocab"] !== "object" || model["vocab"] === null || Array.isArray(model["vocab"])) {
      throw new UserError(`${file("tokenizer.json")}: missing model.vocab`);
    }
    vocab = model["vocab"];
    mergeList = Array.isArray(model["merges"]) ? model["merges"] : [];
    const addedTokens = json["added_tokens"];
    for (const t of Array.isArray(addedTokens) ? addedTokens : []) {
      if (typeof t === "object" && t !== null && !Array.isArray(t) && typeof t["id"] === "number" && typeof t["content"] === "string") {
        added.set(t["id"], { content: t["content"], special: t["special"] === true });
      }
    }
  } else if (fs.existsSync(file("vocab.json"))) {
    vocab = readJson(file("vocab.json"));
    checkRegularFile(file("merges.txt"));
    const lines = fs.readFileSync(file("merges.txt"), "utf8").split("\n").map((l) => l.replace(/\r$/, ""));
    if (lines[0]?.startsWith("#version")) lines.shift();
    mergeList = lines.filter((l) => l !== "");
  } else {
    throw new UserError(`no tokenizer in ${dir}: expected tokenizer.json, or vocab.json and merges.txt`);
  }

  // An id past every token the files define would size the tables below (99,999,999: gigabytes).
  const bound = Math.max(vocabSize, Object.keys(vocab).length + added.size);
  const ids: [string, Json][] = [...Object.entries(vocab), ...[...added].map(([id, t]): [string, Json] => [t.content, id])];
  for (const [token, id] of ids) if (typeof id === "number" && id >= bound) throw new UserError(`${dir}: token ${JSON.stringify(token)} has id ${id}, beyond the ${bound} tokens of the model and its tokenizer`);
  let size = vocabSize;
  for (const id of [...Object.values(vocab), ...added.keys()]) if (typeof id === "number") size = Math.max(size, id + 1);
  const tokens: string[] = new Array<string>(size).fill("");
  const tokenTypes: number[] = new Array<number>(size).fill(TokenType.UNUSED);
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw new UserError(`${dir}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
    tokens[id] = token;
    tokenTypes[id] = TokenType.NORMAL;
  }
  for (const [id, t] of added) {
    tokens[id] = t.content;
    tokenTypes[id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  for (let id = 0; id < size; id++) if (tokenTypes[id] === TokenType.UNUSED) tokens[id] = `[PAD${id}]`;

  const merges = mergeList.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw new UserError(`${dir}: merge #${i} is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
  });

  const config = fs.existsSync(file("tokenizer_config.json")) ? readJson(file("tokenizer_config.json")) : null;
  const idOf = (key: string): number | null => {
    const content = config === null ? "<|endoftext|>" : tokenContent(config[key]);
    if (content === null) return null;
    const id = tokens.indexOf(content);
    return id >= 0 ? id : null;
  };
  const bosTokenId = idOf("bos_token");
  const eosTokenId = idOf("eos_token");
  const unknownTokenId = idOf("unk_token");
  // vocab.json cannot flag specials; the tokens the config names are control tokens all the same.
  for (const id of [bosTokenId, eosTokenId, unknownTokenId]) if (id !== null && tokenTypes[id] === TokenType.NORMAL) tokenTypes[id] = TokenType.CONTROL;
  const template = config?.["chat_template"];
  return { tokens, tokenTypes, merges, bosTokenId, eosTokenId, unknownTokenId, chatTemplate: typeof template === "string" ? template : null };
}
