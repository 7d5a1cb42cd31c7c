import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { TokenType } from "../io/gguf.js";
import { diskFolder } from "../io/disk.js";
import { checkRegularFile } from "../io/regular-file.js";
import type { TokenizerTables } from "./gguf.js";
import { readTokenizerFiles } from "./read-folder.js";

/** A valid tokenizer that GGUF's metadata cannot express (`info` still describes it; `convert` refuses it). */
export class NotWritableToGGUF extends UserError {}

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
 * Reads a Hugging Face tokenizer (tokenizer.json, or vocab.json + merges.txt) into GGUF tables the
 * way llama.cpp's convert_hf_to_gguf.py does, so llama.cpp (and this engine) tokenize the GGUF as
 * the folder does:
 *
 * - A SentencePiece-style tokenizer.json (BPE with byte_fallback: Llama 2, TinyLlama, Mistral)
 *   becomes a "llama" vocabulary, as its LlamaHfVocab writes one: tokens as they are, "<0xXX>"
 *   typed BYTE. Scores differ: LlamaHfVocab gives every token -1000, so llama.cpp, which merges
 *   the best-scoring pair first, would merge leftmost-first instead; here a token scores minus the
 *   rank of the first merge that makes it, which replays tokenizer.json's merge order.
 * - A byte-level BPE (GPT-2, Llama 3, Qwen2/3, SmolLM) becomes "gpt2" with its merges and the
 *   tokenizer.ggml.pre its pre-tokenizer's regexes are (see preOfTokenizerJson).
 *
 * Added tokens marked special (or looking special, "<|...|>") become CONTROL, other added tokens
 * USER_DEFINED, ids the vocabulary lacks up to `vocabSize` "[PADn]" UNUSED. add_bos_token and
 * add_eos_token are written as the folder's tokenizer behaves (tokenizer_config.json, else the
 * post-processor), and the chat template is the one the folder's tokenizer uses.
 */
export function tokenizerTablesFromFolder(dir: string, vocabSize: number): TokenizerTables {
  const file = (name: string) => path.join(dir, name);
  let vocab: JsonObject;
  let mergeList: Json[];
  let json: JsonObject | null = null;
  const added = new Map<number, { content: string; special: boolean }>();
  if (fs.existsSync(file("tokenizer.json"))) {
    json = readJson(file("tokenizer.json"));
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
  const sentencePiece = json !== null && isSentencePieceStyle(json);

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
    tokenTypes[id] = sentencePiece && BYTE_TOKEN.test(token) ? TokenType.BYTE : TokenType.NORMAL;
  }
  for (const [id, t] of added) {
    tokens[id] = t.content;
    tokenTypes[id] = t.special || looksSpecial(t.content) ? TokenType.CONTROL : TokenType.USER_DEFINED;
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
  for (const id of [bosTokenId, eosTokenId, unknownTokenId]) if (id !== null && tokenTypes[id] !== TokenType.CONTROL) tokenTypes[id] = TokenType.CONTROL;

  // What the folder's own tokenizer does (the engine's reading of it): which specials encode adds, which template.
  const folder = readTokenizerFiles(diskFolder(dir));
  const flagFor = (what: string, ids: readonly number[], id: number | null): boolean => {
    if (ids.length === 0) return false;
    if (ids.length === 1 && ids[0] === id) return true;
    throw new NotWritableToGGUF(`${dir}: the tokenizer adds ${JSON.stringify(ids)} ${what} a text, which a GGUF file cannot say (only its ${what === "before" ? "BOS" : "EOS"} token)`);
  };
  const common = {
    tokens,
    tokenTypes,
    bosTokenId,
    eosTokenId,
    unknownTokenId,
    chatTemplate: folder.chatTemplate,
    addBos: flagFor("before", folder.wrap.prefix, bosTokenId),
    addEos: flagFor("after", folder.wrap.suffix, eosTokenId),
  };
  if (sentencePiece) {
    const prefixSpace = config?.["add_prefix_space"];
    return { ...common, model: "llama", pre: "default", merges: [], scores: mergeScores(tokens, merges, dir), addSpacePrefix: typeof prefixSpace === "boolean" ? prefixSpace : null };
  }
  const pre = json === null ? "gpt-2" : preOfTokenizerJson(json, file("tokenizer.json"));
  return { ...common, model: "gpt2", pre, merges };
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;
/** Below every merge's score: tokens no merge makes (characters, bytes, specials) are merged to last. */
const UNMERGED_SCORE = -1e9;

/** LlamaHfVocab's test: a BPE model with byte fallback and a decoder Sequence is a SentencePiece-style vocabulary. */
function isSentencePieceStyle(json: JsonObject): boolean {
  const model = json["model"];
  const decoder = json["decoder"];
  return isObject(model) && model["type"] === "BPE" && model["byte_fallback"] === true && isObject(decoder) && decoder["type"] === "Sequence";
}

/** Scores that make highest-score-first merging replay the merges in rank order: a token scores minus its first merge's rank. */
function mergeScores(tokens: readonly string[], merges: readonly string[], dir: string): number[] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, id) => idOf.set(t, id));
  const scores = tokens.map(() => UNMERGED_SCORE);
  const scored = new Uint8Array(tokens.length);
  merges.forEach((m, rank) => {
    const id = idOf.get(m.replace(" ", ""));
    if (id === undefined) throw new UserError(`${dir}: merge #${rank} ${JSON.stringify(m)} makes a token missing from the vocabulary`);
    if (scored[id] === 1) return;
    scored[id] = 1;
    scores[id] = -rank;
  });
  return scores;
}

/** convert_hf_to_gguf.py's does_token_look_special: added tokens some models forget to mark special. */
function looksSpecial(token: string): boolean {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(token) || (token.startsWith("<|") && token.endsWith("|>")) || (token.startsWith("<｜") && token.endsWith("｜>")) || (token.startsWith("<unused") && token.endsWith(">"));
}

/** Hugging Face's spelling of the split regexes of llama.cpp's pre-tokenizers. */
const HF_REGEXES: readonly (readonly [string, string])[] = [
  ["llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  ["qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
];

/**
 * The tokenizer.ggml.pre whose splitting is the byte-level tokenizer.json's pre-tokenizer.
 * llama.cpp's converter hashes the ids of a test text instead; recognising the pre-tokenizer
 * itself names the same types for these files: ByteLevel with its regex (GPT-2's, "gpt-2"),
 * digits one by one then that ("smollm"), or one Split regex then ByteLevel without its own
 * (Llama 3's "llama-bpe", Qwen2's "qwen2").
 */
export function preOfTokenizerJson(json: JsonObject, file: string): string {
  const pre = json["pre_tokenizer"];
  const steps = isObject(pre) && pre["type"] === "Sequence" && Array.isArray(pre["pretokenizers"]) ? pre["pretokenizers"] : [pre ?? null];
  const byteLevel = (s: Json, useRegex: boolean) => isObject(s) && s["type"] === "ByteLevel" && (s["use_regex"] ?? true) === useRegex && s["add_prefix_space"] !== true;
  let name: string | null = null;
  if (steps.length === 1 && byteLevel(steps[0], true)) name = "gpt-2";
  else if (steps.length === 2 && isObject(steps[0]) && steps[0]["type"] === "Digits" && steps[0]["individual_digits"] === true && byteLevel(steps[1], true)) name = "smollm";
  else if (steps.length === 2 && isObject(steps[0]) && steps[0]["type"] === "Split" && steps[0]["behavior"] === "Isolated" && steps[0]["invert"] !== true && byteLevel(steps[1], false)) {
    const pattern = steps[0]["pattern"];
    const regex = isObject(pattern) ? pattern["Regex"] : undefined;
    name = HF_REGEXES.find(([, r]) => r === regex)?.[0] ?? null;
  }
  if (name === null) throw new NotWritableToGGUF(`${file}: its pre-tokenizer is none that llama.cpp's tokenizer.ggml.pre names (known: gpt-2, smollm, llama-bpe, qwen2), so it cannot be written to GGUF`);
  return name;
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
