import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { TokenType } from "../io/gguf.js";
import { checkRegularFile } from "../io/regular-file.js";
import type { TokenizerTables } from "./gguf.js";

// Node only (convert, info): a folder's tokenizer as GGUF tables.

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
