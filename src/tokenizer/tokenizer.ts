import { BpeMerger } from "./bpe.js";
import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { pretokenize } from "./pretokenize.js";
import { SpecialSplitter } from "./special.js";
import { createStreamDecoder, type StreamDecoder } from "./stream.js";
import type { BpeTokenizerOptions, Tokenizer } from "./types.js";

/** Words longer than this are not cached: they are rare, and would let one input bloat memory. */
const MAX_CACHED_WORD = 64;
const MAX_CACHE_ENTRIES = 50_000;

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** GPT-2's byte-level BPE, built from in-memory tables (see load.ts for reading a model folder). */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly hasText = true;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;

  private readonly tables: CompiledTokenizer;
  private readonly merger: BpeMerger;
  private readonly splitter: SpecialSplitter;
  private readonly cache = new Map<string, number[]>();
  private readonly textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

  /** A tokenizer from string tables, as a tokenizer.json or a GGUF file holds them. */
  static fromVocab(options: BpeTokenizerOptions): BpeTokenizer {
    return new BpeTokenizer(compileTokenizer(options));
  }

  constructor(tables: CompiledTokenizer) {
    this.tables = tables;
    this.vocabSize = tables.vocabSize;
    this.merger = new BpeMerger(tables.merges);
    this.splitter = new SpecialSplitter(tables.specialTokens);
    this.bosTokenId = tables.bosTokenId;
    this.eosTokenId = tables.eosTokenId;
    this.bosToken = this.bosTokenId === null ? null : this.decode([this.bosTokenId]);
    this.eosToken = this.eosTokenId === null ? null : this.decode([this.eosTokenId]);
    this.chatTemplate = tables.chatTemplate;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const segment of this.splitter.split(text)) {
      if ("id" in segment) {
        ids.push(segment.id);
        continue;
      }
      // HF's ByteLevel adds the prefix space per segment between special tokens, so we do too.
      const plain = this.tables.addPrefixSpace && !segment.text.startsWith(" ") ? " " + segment.text : segment.text;
      // A loop, not push(...word): one huge word would overflow the argument limit.
      for (const word of pretokenize(plain)) for (const id of this.encodeWord(word)) ids.push(id);
    }
    return ids;
  }

  private encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const symbols: number[] = [];
    const byteIds = this.tables.byteIds;
    for (const b of utf8.encode(word)) {
      // Without an unknown token there is nothing to emit for a byte missing from the vocabulary;
      // HF drops it too. Byte-level vocabularies (GPT-2's included) contain all 256.
      if (byteIds[b] >= 0) symbols.push(byteIds[b]);
    }
    const ids = this.merger.merge(symbols);
    if (word.length <= MAX_CACHED_WORD) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return EMPTY;
    const { tokenBytes, tokenOffsets } = this.tables;
    return tokenBytes.subarray(tokenOffsets[id], tokenOffsets[id + 1]);
  }

  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokenBytes(ids[i]);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let offset = 0;
    for (const bytes of parts) {
      all.set(bytes, offset);
      offset += bytes.length;
    }
    // Invalid UTF-8 (a lone continuation byte, a cut-off emoji) becomes U+FFFD, like HF.
    return this.textDecoder.decode(all);
  }

  createStreamDecoder(): StreamDecoder {
    return createStreamDecoder((id) => this.tokenBytes(id));
  }
}
