import { UserError } from "../errors.js";
import { BpeMerger } from "./bpe.js";
import { byteToChar, tokenStringToBytes } from "./bytes.js";
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
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;

  private readonly bytesById: Uint8Array[];
  /** byteIds[b] is the id of the single-byte token for b, or -1 if the vocabulary lacks it. */
  private readonly byteIds: Int32Array;
  private readonly merger: BpeMerger;
  private readonly splitter: SpecialSplitter;
  private readonly addPrefixSpace: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(options: BpeTokenizerOptions) {
    const specials = options.specialTokens ?? [];
    for (const t of specials) checkId(t.id, `special token "${t.content}"`);
    this.vocabSize = Math.max(options.vocab.length, ...specials.map((t) => t.id + 1));

    const tokenToId = new Map<string, number>();
    options.vocab.forEach((token, id) => {
      if (token !== "" && !tokenToId.has(token)) tokenToId.set(token, id);
    });
    this.byteIds = Int32Array.from(byteToChar, (ch) => tokenToId.get(ch) ?? -1);
    this.merger = new BpeMerger(tokenToId, options.merges, this.vocabSize);
    this.splitter = new SpecialSplitter(specials);
    this.addPrefixSpace = options.addPrefixSpace ?? false;

    // Precomputed because decoding is on the hot path of generation, once per token.
    this.bytesById = Array.from({ length: this.vocabSize }, (_, id) =>
      id < options.vocab.length ? tokenStringToBytes(options.vocab[id]) : EMPTY,
    );
    // A special token's content is literal text, not byte-level form ("<|endoftext|>" happens
    // to read the same either way, but "<|im_start|>"-style tokens with non-ASCII would not).
    for (const t of specials) this.bytesById[t.id] = utf8.encode(t.content);

    this.bosTokenId = this.knownId(options.bosTokenId, "bos");
    this.eosTokenId = this.knownId(options.eosTokenId, "eos");
    this.bosToken = this.bosTokenId === null ? null : this.decode([this.bosTokenId]);
    this.eosToken = this.eosTokenId === null ? null : this.decode([this.eosTokenId]);
    this.chatTemplate = options.chatTemplate ?? null;
  }

  private knownId(id: number | null | undefined, what: string): number | null {
    if (id === undefined || id === null) return null;
    checkId(id, `${what} token id`);
    if (id >= this.vocabSize) throw new UserError(`${what} token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return id;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const segment of this.splitter.split(text)) {
      if ("id" in segment) {
        ids.push(segment.id);
        continue;
      }
      // HF's ByteLevel adds the prefix space per segment between special tokens, so we do too.
      const plain = this.addPrefixSpace && !segment.text.startsWith(" ") ? " " + segment.text : segment.text;
      // A loop, not push(...word): one huge word would overflow the argument limit.
      for (const word of pretokenize(plain)) for (const id of this.encodeWord(word)) ids.push(id);
    }
    return ids;
  }

  private encodeWord(word: string): number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const symbols: number[] = [];
    for (const b of utf8.encode(word)) {
      // Without an unknown token there is nothing to emit for a byte missing from the vocabulary;
      // HF drops it too. Byte-level vocabularies (GPT-2's included) contain all 256.
      if (this.byteIds[b] >= 0) symbols.push(this.byteIds[b]);
    }
    const ids = this.merger.merge(symbols);
    if (word.length <= MAX_CACHED_WORD) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  tokenBytes(id: number): Uint8Array {
    return this.bytesById[id] ?? EMPTY;
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

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0) throw new UserError(`${what} has invalid id ${id}`);
}
