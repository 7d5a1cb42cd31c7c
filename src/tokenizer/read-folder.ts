import { UserError } from "../errors.js";
import type { Folder } from "../io/folder.js";
import { tokenStringToBytes } from "./bytes.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { isObject, parseJsonObject, type Json, type JsonObject } from "./json.js";
import type { SpecialToken } from "./types.js";

/** The parts of a tokenizer that differ between the two on-disk formats. */
interface Tables {
  vocab: string[];
  merges: [string, string][];
  specialTokens: SpecialToken[];
  addPrefixSpace: boolean;
  /** How many tokens the files define: no id may reach it (see checkIdBound). */
  tokenCount: number;
}

/**
 * Reads a model folder's tokenizer files into compiled tables: tokenizer.json if present (what
 * current transformers writes), otherwise the older vocab.json + merges.txt pair;
 * tokenizer_config.json, when present, supplies the bos/eos tokens and the chat template.
 */
export function readTokenizerFiles(folder: Folder): CompiledTokenizer {
  const file = (name: string): string => folder.path(name);
  const json = (name: string): JsonObject => parseJsonObject(folder.text(name), file(name));
  let tables: Tables;
  if (folder.has("tokenizer.json")) {
    tables = parseTokenizerJson(json("tokenizer.json"), file("tokenizer.json"));
  } else if (folder.has("vocab.json")) {
    const vocab = json("vocab.json");
    const tokenCount = Object.keys(vocab).length;
    tables = {
      vocab: vocabArray(vocab, file("vocab.json"), tokenCount),
      merges: parseMergesTxt(folder.text("merges.txt"), file("merges.txt")),
      specialTokens: [],
      addPrefixSpace: false,
      tokenCount,
    };
  } else {
    throw new UserError(`no tokenizer in ${folder.where}: expected tokenizer.json, or vocab.json and merges.txt`);
  }

  const configFile = file("tokenizer_config.json");
  const config = folder.has("tokenizer_config.json") ? json("tokenizer_config.json") : null;
  const chatTemplate = templateFromConfig(config) ?? (folder.has("chat_template.jinja") ? folder.text("chat_template.jinja") : null);

  // Without a config, fall back to what HF's GPT2Tokenizer assumes: <|endoftext|> is both.
  const bos = config === null ? "<|endoftext|>" : tokenContent(config["bos_token"]);
  const eos = config === null ? "<|endoftext|>" : tokenContent(config["eos_token"]);
  const resolve = (token: string | null, what: string): number | null => {
    if (token === null) return null;
    const id = tables.specialTokens.find((t) => t.content === token)?.id ?? tables.vocab.indexOf(token);
    if (id >= 0) return id;
    if (config === null) return null;
    throw new UserError(`${configFile}: ${what} "${token}" is not in the vocabulary`);
  };
  const bosTokenId = resolve(bos, "bos_token");
  const eosTokenId = resolve(eos, "eos_token");

  // The config's named tokens are special even when only the vocabulary lists them (vocab.json
  // has no "special" flag), so "<|endoftext|>" typed in a prompt still becomes one id.
  const specialTokens = [...tables.specialTokens, ...addedTokensFromConfig(config, configFile, tables.tokenCount)];
  for (const id of [bosTokenId, eosTokenId]) {
    if (id === null || specialTokens.some((t) => t.id === id)) continue;
    specialTokens.push({ id, content: new TextDecoder().decode(tokenStringToBytes(tables.vocab[id])) });
  }

  return compileTokenizer({ ...tables, specialTokens, bosTokenId, eosTokenId, chatTemplate });
}

function parseTokenizerJson(json: JsonObject, file: string): Tables {
  const model = json["model"];
  if (!isObject(model)) throw new UserError(`invalid ${file}: missing "model"`);
  const type = model["type"] ?? "BPE"; // very old files omit the type; they are BPE
  if (type !== "BPE") throw new UserError(`${file}: unsupported tokenizer model type "${String(type)}" (only BPE is supported)`);

  // Anything but a plain ByteLevel pre-tokenizer would split text differently; refuse rather
  // than silently produce ids the model was not trained on.
  const pre = json["pre_tokenizer"];
  if (!isObject(pre) || pre["type"] !== "ByteLevel" || pre["use_regex"] === false) {
    throw new UserError(`${file}: unsupported pre_tokenizer ${JSON.stringify(pre)} (only GPT-2's ByteLevel is supported)`);
  }
  const normalizer = json["normalizer"];
  if (normalizer !== undefined && normalizer !== null) {
    throw new UserError(`${file}: unsupported normalizer ${JSON.stringify(normalizer)}`);
  }

  const vocab = model["vocab"];
  if (!isObject(vocab)) throw new UserError(`invalid ${file}: model.vocab must be an object`);
  const merges = model["merges"] ?? [];
  if (!Array.isArray(merges)) throw new UserError(`invalid ${file}: model.merges must be an array`);
  const added = json["added_tokens"] ?? [];
  if (!Array.isArray(added)) throw new UserError(`invalid ${file}: added_tokens must be an array`);
  const tokenCount = Object.keys(vocab).length + added.length;
  return {
    specialTokens: addedTokens(added, file, tokenCount),
    vocab: vocabArray(vocab, file, tokenCount),
    merges: merges.map((m, i) => parseMerge(m, i, file)),
    addPrefixSpace: pre["add_prefix_space"] === true,
    tokenCount,
  };
}

/**
 * Ids are dense: n tokens (vocabulary and added tokens together) use ids below n, give or take
 * tokens listed in both. A larger id would make the tables grow to its size, which for an id
 * like 99,999,999 means gigabytes before anything else fails.
 */
function checkIdBound(token: string, id: number, tokenCount: number, file: string): void {
  if (id >= tokenCount) {
    throw new UserError(`invalid ${file}: token ${JSON.stringify(token)} has id ${id}, beyond the ${tokenCount} tokens the file defines (ids must be below ${tokenCount})`);
  }
}

/** { token: id } -> token by id, with "" for ids nothing maps to. */
function vocabArray(vocab: JsonObject, file: string, tokenCount: number): string[] {
  const out: string[] = [];
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new UserError(`invalid ${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
    }
    checkIdBound(token, id, tokenCount, file);
    while (out.length <= id) out.push("");
    out[id] = token;
  }
  return out;
}

/** A merge is "a b" in older files and ["a", "b"] in newer ones. */
function parseMerge(merge: Json, index: number, file: string): [string, string] {
  const parts = typeof merge === "string" ? merge.split(" ") : merge;
  if (Array.isArray(parts) && parts.length === 2 && typeof parts[0] === "string" && typeof parts[1] === "string") {
    return [parts[0], parts[1]];
  }
  throw new UserError(`invalid ${file}: merge #${index} is ${JSON.stringify(merge)}, expected "a b" or ["a", "b"]`);
}

function parseMergesTxt(text: string, file: string): [string, string][] {
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  // Only a first line can be the header: "#" alone is a real token, so "# #" is a real merge.
  if (lines[0]?.startsWith("#version")) lines.shift();
  return lines.filter((line) => line !== "").map((line, i) => parseMerge(line, i, file));
}

/**
 * tokenizer.json's added_tokens. All of them are cut out of the text before BPE, as HF does by
 * default; "special" only matters to skip_special_tokens, which this tokenizer does not offer.
 */
function addedTokens(list: Json[], file: string, tokenCount: number): SpecialToken[] {
  return list.map((t) => {
    if (isObject(t) && typeof t["id"] === "number" && typeof t["content"] === "string") {
      if (Number.isInteger(t["id"])) checkIdBound(t["content"], t["id"], tokenCount, file);
      return { id: t["id"], content: t["content"] };
    }
    throw new UserError(`invalid ${file}: bad added token ${JSON.stringify(t)}`);
  });
}

/** tokenizer_config.json's added_tokens_decoder: { "50256": { "content": "<|endoftext|>", ... } }. */
function addedTokensFromConfig(config: JsonObject | null, file: string, tokenCount: number): SpecialToken[] {
  const decoder = config?.["added_tokens_decoder"];
  if (!isObject(decoder)) return [];
  const bound = tokenCount + Object.keys(decoder).length;
  return Object.entries(decoder).map(([id, t]) => {
    if (isObject(t) && typeof t["content"] === "string" && /^\d+$/.test(id)) {
      checkIdBound(t["content"], Number(id), bound, file);
      return { id: Number(id), content: t["content"] };
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
