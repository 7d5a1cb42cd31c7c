import type { StreamDecoder } from "./stream.js";
import type { AddedToken } from "./pipeline/added-tokens.js";
import type { BpeModelOptions } from "./pipeline/bpe-model.js";
import type { DecoderSpec } from "./pipeline/decoders.js";
import type { NormalizerSpec } from "./pipeline/normalizers.js";
import type { SpecialWrap } from "./pipeline/post-processor.js";
import type { PreTokenizerSpec } from "./pipeline/pre-tokenizers.js";

export type { StreamDecoder } from "./stream.js";
export type { AddedToken } from "./pipeline/added-tokens.js";

export interface EncodeOptions {
  /**
   * Adds the special tokens the tokenizer wraps a text in (Llama 2's BOS; GPT-2 and Qwen2 add
   * none), as HF's encode does by default. False is HF's add_special_tokens=False: for text that
   * already holds them, such as a rendered chat template. Either way, special tokens written in
   * the text become their ids.
   */
  readonly addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leaves out tokens marked special (HF's skip_special_tokens); by default they come out as their text. */
  readonly skipSpecialTokens?: boolean;
}

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
  /** HF's encode: with the special tokens the tokenizer adds unless `addSpecialTokens` is false. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Special tokens come out as their text unless skipped; ids outside the vocabulary are skipped, as HF does. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The raw bytes of one token (possibly part of a UTF-8 character); empty for unknown ids. */
  tokenBytes(id: number): Uint8Array;
  /**
   * `context` is what the stream continues (the prompt ids): SentencePiece-style tokenizers drop
   * the leading space of the first piece of text — from tokenizer.json as HF does (special tokens
   * do not count), from GGUF as llama.cpp does (only when nothing comes before). Byte-level ones ignore it.
   */
  createStreamDecoder(context?: readonly number[]): StreamDecoder;
}

export interface SpecialToken {
  id: number;
  content: string;
}

export interface BpeTokenizerOptions {
  /** vocab[id] is the model's token ("Ġthe" in byte-level form, "▁the" in SentencePiece form); "" marks an unused id. */
  vocab: readonly string[];
  /** In rank order: merges[0] is applied first. */
  merges: readonly (readonly [string, string])[];
  /** Tokens cut out of the text before BPE and decoded as their literal content, with HF's flags. */
  addedTokens?: readonly AddedToken[];
  /** Added tokens with a special token's default flags. */
  specialTokens?: readonly SpecialToken[];
  bosTokenId?: number | null;
  eosTokenId?: number | null;
  chatTemplate?: string | null;
  /** ByteLevel's add_prefix_space when `preTokenizer` is not given: encode "Hello" like " Hello" (RoBERTa-style). GPT-2: false. */
  addPrefixSpace?: boolean;
  normalizer?: NormalizerSpec | null;
  /** Default: GPT-2's ByteLevel. */
  preTokenizer?: PreTokenizerSpec | null;
  /** Default: GPT-2's ByteLevel. */
  decoder?: readonly DecoderSpec[];
  /** The model options other than byteLevel, which follows from the pre-tokenizer. */
  model?: Partial<Omit<BpeModelOptions, "byteLevel">>;
  /** The special tokens encode adds around a text. Default: none. */
  wrap?: SpecialWrap;
}
