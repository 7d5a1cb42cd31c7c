import { UserError } from "../errors.js";
import type { Folder } from "../io/folder.js";
import { tokenStringToBytes } from "./bytes.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { isObject, parseJsonObject, type Json, type JsonObject } from "./json.js";
import { parseAddedToken, specialToken, type AddedToken } from "./pipeline/added-tokens.js";
import type { SpecialWrap } from "./pipeline/post-processor.js";
import { checkIdBound, parseMergesTxt, parseTokenizerJson, vocabArray, type FileTables } from "./tokenizer-json.js";

/**
 * Reads a model folder's tokenizer files into compiled tables: tokenizer.json if present (what
 * current transformers writes), otherwise the older vocab.json + merges.txt pair;
 * tokenizer_config.json, when present, supplies the bos/eos tokens, add_bos/eos_token and the
 * chat template (chat_template.jinja first).
 */
export function readTokenizerFiles(folder: Folder): CompiledTokenizer {
  const file = (name: string): string => folder.path(name);
  const json = (name: string): JsonObject => parseJsonObject(folder.text(name), file(name));
  let tables: FileTables;
  if (folder.has("tokenizer.json")) {
    tables = parseTokenizerJson(json("tokenizer.json"), file("tokenizer.json"));
  } else if (folder.has("vocab.json")) {
    const vocab = json("vocab.json");
    const tokenCount = Object.keys(vocab).length;
    // The older pair is GPT-2's format: its pipeline is GPT-2's, compileTokenizer's default.
    tables = {
      vocab: vocabArray(vocab, file("vocab.json"), tokenCount),
      merges: parseMergesTxt(folder.text("merges.txt"), file("merges.txt")),
      addedTokens: [],
      tokenCount,
    };
  } else {
    throw new UserError(`no tokenizer in ${folder.where}: expected tokenizer.json, or vocab.json and merges.txt`);
  }

  const configFile = file("tokenizer_config.json");
  const config = folder.has("tokenizer_config.json") ? json("tokenizer_config.json") : null;
  // chat_template.jinja, written by current transformers, wins over tokenizer_config.json as it does there.
  const chatTemplate = folder.has("chat_template.jinja") ? folder.text("chat_template.jinja") : templateFromConfig(config);

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
