import { UserError } from "../errors.js";
import { byteLevelTokenBytes, byteToChar } from "./bytes.js";
import { specialToken, type AddedToken } from "./pipeline/added-tokens.js";
import type { BpeModelOptions, BpeModelTables } from "./pipeline/bpe-model.js";
import { BYTE_LEVEL_DECODER, tokenDecoder, type TextStart } from "./pipeline/decoders.js";
import type { NormalizerSpec } from "./pipeline/normalizers.js";
import { NO_WRAP, type SpecialWrap } from "./pipeline/post-processor.js";
import { isByteLevel, type PreTokenizerSpec } from "./pipeline/pre-tokenizers.js";
import type { BpeTokenizerOptions } from "./types.js";

/**
 * A tokenizer's tables in flat typed arrays, plus its pipeline as plain data: what BpeTokenizer
 * runs on. A few large arrays instead of 100k small strings and objects keep the tokenizer small
 * in the JS heap, and can be moved from the worker that parses tokenizer.json without copying.
 */
export interface CompiledTokenizer {
  /** One past the largest id, including added tokens. */
  readonly vocabSize: number;
  readonly tokenBytes: Uint8Array<ArrayBuffer>; // every token's bytes as the decoder renders it, concatenated
  readonly tokenOffsets: Uint32Array<ArrayBuffer>; // (vocabSize + 1,): token id is tokenBytes[offsets[id], offsets[id + 1])
  readonly model: BpeModelTables & {
    readonly merges: Int32Array<ArrayBuffer>;
    readonly byteIds: Int32Array<ArrayBuffer>;
    readonly keyBytes: Uint8Array<ArrayBuffer>;
    readonly keyOffsets: Uint32Array<ArrayBuffer>;
  };
  readonly addedTokens: readonly AddedToken[];
  readonly normalizer: NormalizerSpec | null;
  readonly preTokenizer: PreTokenizerSpec | null;
  readonly textStart: TextStart;
  /** What encode adds when asked for special tokens. */
  readonly wrap: SpecialWrap;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly chatTemplate: string | null;
}

/** The buffers postMessage can move rather than copy. */
export function transferables(t: CompiledTokenizer): ArrayBuffer[] {
  const m = t.model;
  return [t.tokenBytes.buffer, t.tokenOffsets.buffer, m.merges.buffer, m.byteIds.buffer, m.keyBytes.buffer, m.keyOffsets.buffer];
}

const utf8 = new TextEncoder();

/** GPT-2's pre-tokenizer: ByteLevel with its regex. */
export function gpt2PreTokenizer(addPrefixSpace: boolean): PreTokenizerSpec {
  return { type: "ByteLevel", addPrefixSpace, useRegex: true };
}

/** Resolves a string vocabulary and merges to ids, checking every merge and added-token id. */
export function compileTokenizer(options: BpeTokenizerOptions): CompiledTokenizer {
  const { vocab, merges } = options;
  const added = [...(options.addedTokens ?? []), ...(options.specialTokens ?? []).map((t) => specialToken(t.id, t.content))];
  for (const t of added) checkId(t.id, `added token "${t.content}"`);
  const vocabSize = Math.max(vocab.length, ...added.map((t) => t.id + 1));
  const preTokenizer = options.preTokenizer === undefined ? gpt2PreTokenizer(options.addPrefixSpace ?? false) : options.preTokenizer;
  const byteLevel = isByteLevel(preTokenizer);

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

  // A byte-level word is looked up by its bytes; a token with a character outside GPT-2's table
  // can never be such a word, so it gets no key.
  const keyOf = (token: string | undefined) => (token === undefined || token === "" ? null : byteLevel ? byteLevelTokenBytes(token) : utf8.encode(token));
  const keyList = Array.from({ length: vocabSize }, (_, id) => keyOf(vocab[id]));
  const keys = concat(vocabSize, (id) => keyList[id]);
  const steps = options.decoder ?? BYTE_LEVEL_DECODER;
  const decoder = tokenDecoder(steps, "decoder");
  const addedById = new Map(added.map((t) => [t.id, t.content]));
  // With ByteLevel alone (GPT-2, Llama 3, Qwen2) a vocabulary token's text is its key, or its UTF-8.
  const keyIsText = byteLevel && steps.length === 1 && steps[0].type === "ByteLevel";
  const text = concat(vocabSize, (id) => {
    const added = addedById.get(id);
    if (added !== undefined) return decoder.bytes(added);
    return keyIsText ? (keyList[id] ?? utf8.encode(vocab[id] ?? "")) : decoder.bytes(vocab[id] ?? "");
  });

  const byteToken = (b: number) => (byteLevel ? byteToChar[b] : `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const model: BpeModelOptions = {
    byteLevel,
    byteFallback: options.model?.byteFallback ?? false,
    unkTokenId: knownId(options.model?.unkTokenId, "unk", vocabSize),
    fuseUnk: options.model?.fuseUnk ?? false,
    ignoreMerges: options.model?.ignoreMerges ?? false,
  };
  return {
    vocabSize,
    tokenBytes: text.bytes,
    tokenOffsets: text.offsets,
    model: {
      options: model,
      merges: mergeIds,
      byteIds: Int32Array.from({ length: 256 }, (_, b) => tokenToId.get(byteToken(b)) ?? -1),
      keyBytes: keys.bytes,
      keyOffsets: keys.offsets,
    },
    addedTokens: added,
    normalizer: options.normalizer ?? null,
    preTokenizer,
    textStart: decoder.start,
    wrap: options.wrap ?? NO_WRAP,
    bosTokenId: knownId(options.bosTokenId, "bos", vocabSize),
    eosTokenId: knownId(options.eosTokenId, "eos", vocabSize),
    chatTemplate: options.chatTemplate ?? null,
  };
}

/** Byte strings by id, concatenated, with offsets. */
function concat(count: number, bytesOf: (id: number) => Uint8Array | null): { bytes: Uint8Array<ArrayBuffer>; offsets: Uint32Array<ArrayBuffer> } {
  const parts = Array.from({ length: count }, (_, id) => bytesOf(id));
  const offsets = new Uint32Array(count + 1);
  parts.forEach((b, id) => (offsets[id + 1] = offsets[id] + (b?.length ?? 0)));
  const bytes = new Uint8Array(offsets[count]);
  parts.forEach((b, id) => {
    if (b !== null) bytes.set(b, offsets[id]);
  });
  return { bytes, offsets };
}

function knownId(id: number | null | undefined, what: string, vocabSize: number): number | null {
  if (id === undefined || id === null) return null;
  checkId(id, `${what} token id`);
  if (id >= vocabSize) throw new UserError(`${what} token id ${id} is outside the vocabulary (size ${vocabSize})`);
  return id;
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0) throw new UserError(`${what} has invalid id ${id}`);
}
