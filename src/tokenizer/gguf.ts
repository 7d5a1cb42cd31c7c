import { UserError } from "../errors.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { ggufPre, ggufPreTokenizer, SUPPORTED_GGUF_PRES } from "./gguf-pre.js";
import type { AddedToken } from "./pipeline/added-tokens.js";
import { TokenType, type GGUFEntry } from "../io/gguf.js";
import { metaString, metaStringArray, type GGUFFile } from "../io/gguf-parse.js";

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
