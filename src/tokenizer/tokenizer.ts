import { compileTokenizer, type CompiledTokenizer } from "./compile.js";
import { AddedTokenMatcher } from "./pipeline/added-tokens.js";
import { BpeModel } from "./pipeline/bpe-model.js";
import { applyTextStart, initialPending } from "./pipeline/decoders.js";
import { makeNormalizer, type Normalizer } from "./pipeline/normalizers.js";
import { makePreTokenizer, type PreTokenizer } from "./pipeline/pre-tokenizers.js";
import { createStreamDecoder, type StreamDecoder } from "./stream.js";
import type { BpeTokenizerOptions, DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";

const EMPTY = new Uint8Array(0);

/**
 * A BPE tokenizer run as HF's tokenizers library runs tokenizer.json: added tokens cut out,
 * then per stretch of text normalizer, pre-tokenizer and BPE model, then the post-processor's
 * special tokens; decoding through the decoder (see load.ts for reading a model folder).
 */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly hasText = true;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;

  private readonly tables: CompiledTokenizer;
  private readonly model: BpeModel;
  private readonly normalize: Normalizer | null;
  private readonly preTokenize: PreTokenizer;
  private readonly rawAdded: AddedTokenMatcher;
  private readonly normalizedAdded: AddedTokenMatcher;
  /** special[id] is 1 for added tokens marked special. */
  private readonly special: Uint8Array;
  private readonly textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

  /** A tokenizer from string tables, as a tokenizer.json or a GGUF file holds them. */
  static fromVocab(options: BpeTokenizerOptions): BpeTokenizer {
    return new BpeTokenizer(compileTokenizer(options));
  }

  constructor(tables: CompiledTokenizer) {
    this.tables = tables;
    this.vocabSize = tables.vocabSize;
    this.model = new BpeModel(tables.model);
    const normalize = tables.normalizer === null ? null : makeNormalizer(tables.normalizer);
    this.normalize = normalize;
    this.preTokenize = makePreTokenizer(tables.preTokenizer);
    this.rawAdded = new AddedTokenMatcher(tables.addedTokens.filter((t) => !t.normalized));
    this.normalizedAdded = new AddedTokenMatcher(
      tables.addedTokens.filter((t) => t.normalized),
      (t) => (normalize === null ? t.content : normalize(t.content)),
    );
    this.special = new Uint8Array(this.vocabSize);
    for (const t of tables.addedTokens) if (t.special) this.special[t.id] = 1;
    this.bosTokenId = tables.bosTokenId;
    this.eosTokenId = tables.eosTokenId;
    this.bosToken = this.bosTokenId === null ? null : this.decode([this.bosTokenId]);
    this.eosToken = this.eosTokenId === null ? null : this.decode([this.eosTokenId]);
    this.chatTemplate = tables.chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecialTokens ?? true;
    const ids: number[] = addSpecial ? [...this.tables.wrap.prefix] : [];
    for (const segment of this.rawAdded.split(text)) {
      if ("id" in segment) {
        ids.push(segment.id);
        continue;
      }
      const normalized = this.normalize === null ? segment.text : this.normalize(segment.text);
      for (const part of this.normalizedAdded.split(normalized)) {
        if ("id" in part) ids.push(part.id);
        else for (const word of this.preTokenize(part.text, segment.start === 0 && part.start === 0)) this.model.encodeWord(word, ids);
      }
    }
    if (addSpecial) for (const id of this.tables.wrap.suffix) ids.push(id);
    return ids;
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return EMPTY;
    const { tokenBytes, tokenOffsets } = this.tables;
    return tokenBytes.subarray(tokenOffsets[id], tokenOffsets[id + 1]);
  }

  private isSpecial(id: number): boolean {
    return this.special[id] === 1;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const start = this.tables.textStart;
    const state = { pending: initialPending(start) };
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const raw = this.tokenBytes(id);
      if (raw.length === 0 || (skip && this.isSpecial(id))) continue;
      const bytes = applyTextStart(start, raw, state);
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

  /** The text starts after the context's last text token; its special tokens do not count. */
  createStreamDecoder(context: readonly number[] = []): StreamDecoder {
    const start = this.tables.textStart;
    const state = { pending: initialPending(start) };
    for (const id of context) if (state.pending > 0 && !this.isSpecial(id)) applyTextStart(start, this.tokenBytes(id), state);
    return createStreamDecoder((id) => (this.isSpecial(id) ? this.tokenBytes(id) : applyTextStart(start, this.tokenBytes(id), state)));
  }
}
