import { UserError } from "../errors.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import type { AnyCompiledTokenizer } from "./compiled.js";
import { ggufPre, ggufPreTokenizer, SUPPORTED_GGUF_PRES } from "./gguf-pre.js";
import type { AddedToken } from "./pipeline/added-tokens.js";
import type { SpmVocabulary } from "./spm.js";
import { TokenType, type GGUFEntry } from "../io/gguf.js";
import { metaString, metaStringArray, type GGUFFile } from "../io/gguf-parse.js";

/**
 * A tokenizer as GGUF stores it (tokenizer.ggml.*): one text and one type per token, and either
 * merges ("gpt2": byte-level BPE, tokens in byte-level form, merges as "a b" in rank order) or
 * scores ("llama": SentencePiece-style, spaces spelled "▁", byte tokens "<0xXX>"). The same tables
 * come from a GGUF file (to load it) or from a Hugging Face folder (to write one).
 */
export interface TokenizerTables {
  /** tokenizer.ggml.model; a missing one is "gpt2". */
  readonly model?: "gpt2" | "llama";
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[];
  readonly merges: readonly string[];
  /** "llama" only: one score per token, the higher merged first. */
  readonly scores?: readonly number[];
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly unknownTokenId: number | null;
  readonly chatTemplate: string | null;
  /** tokenizer.ggml.pre (null: missing, which llama.cpp reads as "default"); tokenizerMetadata writes "gpt-2" when unset. */
  readonly pre?: string | null;
  /** tokenizer.ggml.add_bos_token / add_eos_token when the file has them. */
  readonly addBos?: boolean | null;
  readonly addEos?: boolean | null;
  /** tokenizer.ggml.add_space_prefix when the file has it ("llama" reads a missing one as true). */
  readonly addSpacePrefix?: boolean | null;
}

const LLAMA_DEFAULT_IDS = { bos: 1, eos: 2, unk: 0 } as const;

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
  if (model === "llama") return null;
  if (model !== "gpt2") return `tokenizer.ggml.model "${model}" is not supported yet`;
  const pre = metaString(g, "tokenizer.ggml.pre");
  if (ggufPre(pre) === null) return `tokenizer.ggml.pre "${pre}" is not supported yet`;
  return null;
}

export function tokenizerTablesFromGGUF(g: GGUFFile): TokenizerTables {
  const model = metaString(g, "tokenizer.ggml.model");
  if (model === null) throw new UserError(`${g.file}: no tokenizer (tokenizer.ggml.model is missing)`);
  if (model !== "gpt2" && model !== "llama") throw new UserError(`${g.file}: unsupported tokenizer.ggml.model "${model}" (supported: gpt2, byte-level BPE; llama, SentencePiece-style)`);
  const pre = metaString(g, "tokenizer.ggml.pre");
  if (model === "gpt2" && ggufPre(pre) === null) throw new UserError(`${g.file}: unsupported tokenizer.ggml.pre "${pre}" (supported: ${SUPPORTED_GGUF_PRES.join(", ")})`);
  const tokens = metaStringArray(g, "tokenizer.ggml.tokens");
  const merges = model === "gpt2" && g.metadata.has("tokenizer.ggml.merges") ? metaStringArray(g, "tokenizer.ggml.merges") : [];
  const numbers = (key: string, what: string): number[] | null => {
    const raw = g.metadata.get(key);
    if (raw === undefined) return null;
    if (Array.isArray(raw) && raw.length === tokens.length && raw.every((t): t is number => typeof t === "number")) return raw;
    throw new UserError(`${g.file}: ${key} must be ${tokens.length} ${what}, one per token`);
  };
  const tokenTypes = numbers("tokenizer.ggml.token_type", "integers") ?? tokens.map(() => TokenType.NORMAL);
  const scores = model === "llama" ? (numbers("tokenizer.ggml.scores", "numbers") ?? tokens.map(() => 0)) : undefined;
  // llama.cpp's defaults for a SentencePiece vocabulary, used when the file names no id.
  const defaults: Partial<Record<"bos" | "eos" | "unk", number>> = model === "llama" ? LLAMA_DEFAULT_IDS : {};
  const id = (key: string, fallback: number | undefined): number | null => {
    const v = g.metadata.get(key);
    if (v === undefined) return fallback !== undefined && fallback < tokens.length ? fallback : null;
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
    model,
    pre,
    addBos: flag("tokenizer.ggml.add_bos_token"),
    addEos: flag("tokenizer.ggml.add_eos_token"),
    addSpacePrefix: flag("tokenizer.ggml.add_space_prefix"),
    tokens,
    tokenTypes,
    merges,
    scores,
    bosTokenId: id("tokenizer.ggml.bos_token_id", defaults.bos),
    eosTokenId: id("tokenizer.ggml.eos_token_id", defaults.eos),
    unknownTokenId: id("tokenizer.ggml.unknown_token_id", defaults.unk),
    chatTemplate: metaString(g, "tokenizer.chat_template"),
  };
}

/** A GGUF file's tokenizer tables compiled for whichever tokenizer its model names. */
export function compileGGUFTokenizer(t: TokenizerTables, source: string): AnyCompiledTokenizer {
  return t.model === "llama" ? { kind: "spm", vocabulary: spmVocabulary(t, source) } : { kind: "bpe", tables: compileTokenizerFromTables(t, source) };
}

/**
 * A "llama" vocabulary as llama.cpp loads it: an empty token becomes "[EMPTY_<id>]", a type it
 * does not know counts as undefined (no text), BOS is added and a space prefixed unless the file
 * says otherwise.
 */
export function spmVocabulary(t: TokenizerTables, source: string): SpmVocabulary {
  const scores = t.scores ?? t.tokens.map(() => 0);
  if (scores.length !== t.tokens.length) throw new UserError(`${source}: ${scores.length} scores for ${t.tokens.length} tokens`);
  const bad = scores.findIndex((s) => Number.isNaN(s));
  if (bad >= 0) throw new UserError(`${source}: token ${bad} has a NaN score`);
  const known = new Set<number>(Object.values(TokenType));
  return {
    tokens: t.tokens.map((token, id) => (token === "" ? `[EMPTY_${id}]` : token)),
    scores: Float32Array.from(scores),
    tokenTypes: Uint8Array.from(t.tokenTypes, (type) => (known.has(type) ? type : 0)),
    bosTokenId: t.bosTokenId,
    eosTokenId: t.eosTokenId,
    addBos: t.addBos ?? true,
    addEos: t.addEos ?? false,
    addSpacePrefix: t.addSpacePrefix ?? true,
    chatTemplate: t.chatTemplate,
  };
}

/**
 * The engine's tokenizer tables, split and merged as llama.cpp does for tokenizer.ggml.pre:
 * control and user-defined tokens are cut out of text (control ones are special), and BOS/EOS
 * are added as tokenizer.ggml.add_bos_token/add_eos_token (or the pre-tokenizer's default) say.
 */
export function compileTokenizerFromTables(t: TokenizerTables, source: string): CompiledTokenizer {
  if (t.model === "llama") throw new UserError(`${source}: a "llama" vocabulary is compiled by compileGGUFTokenizer, not as byte-level BPE`);
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

/** The tokenizer.ggml.* metadata llama.cpp reads: a byte-level BPE vocabulary (GPT-2's pre unless `pre` says otherwise) or a SentencePiece-style one. */
export function tokenizerMetadata(t: TokenizerTables): [string, GGUFEntry][] {
  const entries: [string, GGUFEntry][] =
    t.model === "llama"
      ? [
          ["tokenizer.ggml.model", { type: "string", value: "llama" }],
          ["tokenizer.ggml.pre", { type: "string", value: t.pre ?? "default" }],
          ["tokenizer.ggml.tokens", { type: "string[]", value: t.tokens }],
          ["tokenizer.ggml.scores", { type: "f32[]", value: t.scores ?? t.tokens.map(() => 0) }],
          ["tokenizer.ggml.token_type", { type: "i32[]", value: t.tokenTypes }],
        ]
      : [
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
  if (typeof t.addSpacePrefix === "boolean") entries.push(["tokenizer.ggml.add_space_prefix", { type: "bool", value: t.addSpacePrefix }]);
  return entries;
}
