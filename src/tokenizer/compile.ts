import { UserError } from "../errors.js";
import { byteToChar, tokenStringToBytes } from "./bytes.js";
import type { BpeTokenizerOptions, SpecialToken } from "./types.js";

/**
 * A tokenizer's tables in flat typed arrays: what BpeTokenizer runs on. A few large arrays
 * instead of 100k small strings and objects keep the tokenizer small in the JS heap, and can
 * be moved from the worker that parses tokenizer.json without copying.
 */
export interface CompiledTokenizer {
  /** One past the largest id, including special tokens. */
  readonly vocabSize: number;
  readonly tokenBytes: Uint8Array<ArrayBuffer>; // every token's raw bytes (special tokens: their UTF-8 text), concatenated
  readonly tokenOffsets: Uint32Array<ArrayBuffer>; // (vocabSize + 1,): token id is tokenBytes[offsets[id], offsets[id + 1])
  readonly merges: Int32Array<ArrayBuffer>; // (3 · merges,): merge r fuses ids merges[3r] and merges[3r + 1] into merges[3r + 2]
  readonly byteIds: Int32Array<ArrayBuffer>; // (256,): the id of each single-byte token, -1 if the vocabulary lacks it
  readonly specialTokens: readonly SpecialToken[];
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly chatTemplate: string | null;
  readonly addPrefixSpace: boolean;
}

const utf8 = new TextEncoder();

/** Resolves a string vocabulary and merges to ids, checking every merge and special id. */
export function compileTokenizer(options: BpeTokenizerOptions): CompiledTokenizer {
  const { vocab, merges } = options;
  const specials = options.specialTokens ?? [];
  for (const t of specials) checkId(t.id, `special token "${t.content}"`);
  const vocabSize = Math.max(vocab.length, ...specials.map((t) => t.id + 1));

  const tokenToId = new Map<string, number>();
  vocab.forEach((token, id) => {
    if (token !== "" && !tokenToId.has(token)) tokenToId.set(token, id);
  });
  const mergeIds = new Int32Array(3 * merges.length);
  merges.forEach(([left, right], rank) => {
    const a = tokenToId.get(left);
    const b = tokenToId.get(right);
    const merged = tokenToId.get(left + right);
    if (a === undefined || b === undefined || merged === undefined) {
      throw new UserError(`merge #${rank} "${left} ${right}" uses or produces a token missing from the vocabulary`);
    }
    mergeIds.set([a, b, merged], 3 * rank);
  });

  const bytesById: Uint8Array[] = Array.from({ length: vocabSize }, (_, id) => tokenStringToBytes(vocab[id] ?? ""));
  for (const t of specials) bytesById[t.id] = utf8.encode(t.content);
  const tokenOffsets = new Uint32Array(vocabSize + 1);
  bytesById.forEach((b, id) => (tokenOffsets[id + 1] = tokenOffsets[id] + b.length));
  const tokenBytes = new Uint8Array(tokenOffsets[vocabSize]);
  bytesById.forEach((b, id) => tokenBytes.set(b, tokenOffsets[id]));

  const knownId = (id: number | null | undefined, what: string): number | null => {
    if (id === undefined || id === null) return null;
    checkId(id, `${what} token id`);
    if (id >= vocabSize) throw new UserError(`${what} token id ${id} is outside the vocabulary (size ${vocabSize})`);
    return id;
  };
  return {
    vocabSize,
    tokenBytes,
    tokenOffsets,
    merges: mergeIds,
    byteIds: Int32Array.from(byteToChar, (ch) => tokenToId.get(ch) ?? -1),
    specialTokens: specials,
    bosTokenId: knownId(options.bosTokenId, "bos"),
    eosTokenId: knownId(options.eosTokenId, "eos"),
    chatTemplate: options.chatTemplate ?? null,
    addPrefixSpace: options.addPrefixSpace ?? false,
  };
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0) throw new UserError(`${what} has invalid id ${id}`);
}
