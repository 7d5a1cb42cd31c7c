import type { StreamDecoder } from "./stream.js";

export type { StreamDecoder } from "./stream.js";

/** What the engine needs from a tokenizer: text <-> ids, plus the ids it treats specially. */
export interface Tokenizer {
  /** One past the largest id, including special tokens. */
  readonly vocabSize: number;
  /** False for a checkpoint without a tokenizer: prompts and output are token ids only. */
  readonly hasText: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  /** The Jinja chat template from tokenizer_config.json, if the model ships one. */
  readonly chatTemplate: string | null;
  encode(text: string): number[];
  /** Special tokens come out as their text; ids outside the vocabulary are skipped, as HF does. */
  decode(ids: ArrayLike<number>): string;
  /** The raw bytes of one token (possibly part of a UTF-8 character); empty for unknown ids. */
  tokenBytes(id: number): Uint8Array;
  /**
   * `context` is what the stream continues (the prompt ids): SentencePiece-style tokenizers drop
   * a piece's leading space right after BOS. Byte-level ones ignore it.
   */
  createStreamDecoder(context?: readonly number[]): StreamDecoder;
}

export interface SpecialToken {
  id: number;
  content: string;
}

export interface BpeTokenizerOptions {
  /** vocab[id] is the token in GPT-2 byte-to-unicode form ("Ġthe"); "" marks an unused id. */
  vocab: readonly string[];
  /** In rank order: merges[0] is applied first. */
  merges: readonly (readonly [string, string])[];
  /** Tokens cut out of the text before BPE and decoded as their literal content. */
  specialTokens?: readonly SpecialToken[];
  bosTokenId?: number | null;
  eosTokenId?: number | null;
  chatTemplate?: string | null;
  /** ByteLevel's add_prefix_space: encode "Hello" like " Hello" (RoBERTa-style). GPT-2: false. */
  addPrefixSpace?: boolean;
}
