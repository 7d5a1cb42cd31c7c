import type { PreTokenizerSpec } from "./pipeline/pre-tokenizers.js";
import { translateRegex } from "./pipeline/regex.js";

/**
 * A GGUF byte-level BPE vocabulary's tokenizer.ggml.pre, as llama.cpp's llama-vocab.cpp reads
 * it: the regexes that split text one after the other (each keeps the text between its matches
 * as words too), whether a word that is a token skips the merges, and whether BOS is added unless
 * tokenizer.ggml.add_bos_token says otherwise.
 */
export interface GGUFPre {
  readonly regexes: readonly string[];
  readonly ignoreMerges: boolean;
  readonly addBos: boolean;
}

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN35 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

const plain = (regexes: string[]): GGUFPre => ({ regexes, ignoreMerges: false, addBos: false });

/** llama.cpp's pre-tokenizer types this engine implements, by the names that select them. */
const TYPES: readonly (readonly [readonly string[], GGUFPre])[] = [
  [["default"], plain(["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"])],
  [["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"], plain([GPT2])],
  [["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"], { regexes: [LLAMA3], ignoreMerges: true, addBos: true }],
  [["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2"], plain([QWEN2])],
  [["qwen35"], plain([QWEN35])],
  [["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"], plain(["\\p{N}", GPT2])],
  [["falcon"], plain(["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"])],
];

/** The pre-tokenizer named by tokenizer.ggml.pre (llama.cpp reads a missing one as "default"), or null if unknown. */
export function ggufPre(name: string | null): GGUFPre | null {
  const wanted = name ?? "default";
  return TYPES.find(([names]) => names.includes(wanted))?.[1] ?? null;
}

export const SUPPORTED_GGUF_PRES: readonly string[] = TYPES.flatMap(([names]) => names);

/** The pre-tokenizer spec: each regex splits in turn (words kept isolated), then the words become bytes. */
export function ggufPreTokenizer(pre: GGUFPre, where: string): PreTokenizerSpec {
  return {
    type: "Sequence",
    preTokenizers: [
      ...pre.regexes.map((r): PreTokenizerSpec => ({ type: "Split", pattern: translateRegex(r, where), behavior: "Isolated", invert: false })),
      { type: "ByteLevel", addPrefixSpace: false, useRegex: false },
    ],
  };
}
