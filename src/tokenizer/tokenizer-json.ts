import { UserError } from "../errors.js";
import { isObject, type Json, type JsonObject } from "./json.js";
import { parseAddedToken, type AddedToken } from "./pipeline/added-tokens.js";
import { parseDecoder } from "./pipeline/decoders.js";
import { parseNormalizer } from "./pipeline/normalizers.js";
import { parsePostProcessor } from "./pipeline/post-processor.js";
import { parsePreTokenizer } from "./pipeline/pre-tokenizers.js";
import type { BpeTokenizerOptions } from "./types.js";

/** A model folder's tokenizer before tokenizer_config.json has had its say. */
export interface FileTables extends BpeTokenizerOptions {
  readonly vocab: string[];
  readonly addedTokens: AddedToken[];
  /** How many tokens the files define: no id may reach it (see checkIdBound). */
  readonly tokenCount: number;
}

/**
 * Reads tokenizer.json: the BPE model and the pipeline around it. Every part is checked here, on
 * the loader thread, so a type this engine does not implement fails the load with its name
 * rather than producing ids the model was not trained on.
 */
export function parseTokenizerJson(json: JsonObject, file: string): FileTables {
  const model = json["model"];
  if (!isObject(model)) throw new UserError(`invalid ${file}: missing "model"`);
  const type = model["type"] ?? "BPE"; // very old files omit the type; they are BPE
  if (type !== "BPE") throw new UserError(`${file}: unsupported tokenizer model type "${String(type)}" (only BPE is supported)`);
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== "") throw new UserError(`${file}: BPE ${key} ${JSON.stringify(v)} is not supported`);
  }
  const dropout = model["dropout"];
  if (dropout !== undefined && dropout !== null && dropout !== 0) throw new UserError(`${file}: BPE dropout ${JSON.stringify(dropout)} is not supported (it makes encoding random)`);

  const vocab = model["vocab"];
  if (!isObject(vocab)) throw new UserError(`invalid ${file}: model.vocab must be an object`);
  const merges = model["merges"] ?? [];
  if (!Array.isArray(merges)) throw new UserError(`invalid ${file}: model.merges must be an array`);
  const added = json["added_tokens"] ?? [];
  if (!Array.isArray(added)) throw new UserError(`invalid ${file}: added_tokens must be an array`);
  const tokenCount = Object.keys(vocab).length + added.length;
  const addedTokens = added.map((t) => {
    const token = parseAddedToken(t, file);
    if (Number.isInteger(token.id)) checkIdBound(token.content, token.id, tokenCount, file);
    return token;
  });
  const vocabList = vocabArray(vocab, file, tokenCount);

  const unk = model["unk_token"];
  let unkTokenId: number | null = null;
  if (typeof unk === "string") {
    unkTokenId = addedTokens.find((t) => t.content === unk)?.id ?? (typeof vocab[unk] === "number" ? vocab[unk] : null);
    if (unkTokenId === null) throw new UserError(`${file}: unk_token ${JSON.stringify(unk)} is not in the vocabulary`);
  }
  return {
    vocab: vocabList,
    merges: merges.map((m, i) => parseMerge(m, i, file)),
    addedTokens,
    tokenCount,
    normalizer: parseNormalizer(json["normalizer"], file),
    preTokenizer: parsePreTokenizer(json["pre_tokenizer"], file),
    decoder: parseDecoder(json["decoder"], file),
    wrap: parsePostProcessor(json["post_processor"], file),
    model: {
      byteFallback: model["byte_fallback"] === true,
      unkTokenId,
      fuseUnk: model["fuse_unk"] === true,
      ignoreMerges: model["ignore_merges"] === true,
    },
  };
}

/**
 * Ids are dense: n tokens (vocabulary and added tokens together) use ids below n, give or take
 * tokens listed in both. A larger id would make the tables grow to its size, which for an id
 * like 99,999,999 means gigabytes before anything else fails.
 */
export function checkIdBound(token: string, id: number, tokenCount: number, file: string): void {
  if (id >= tokenCount) {
    throw new UserError(`invalid ${file}: token ${JSON.stringify(token)} has id ${id}, beyond the ${tokenCount} tokens the file defines (ids must be below ${tokenCount})`);
  }
}

/** { token: id } -> token by id, with "" for ids nothing maps to. */
export function vocabArray(vocab: JsonObject, file: string, tokenCount: number): string[] {
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

export function parseMergesTxt(text: string, file: string): [string, string][] {
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  // Only a first line can be the header: "#" alone is a real token, so "# #" is a real merge.
  if (lines[0]?.startsWith("#version")) lines.shift();
  return lines.filter((line) => line !== "").map((line, i) => parseMerge(line, i, file));
}
