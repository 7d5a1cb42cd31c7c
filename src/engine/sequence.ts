import type { StreamDecoder, Tokenizer } from "../tokenizer/index.js";
import { Sampler } from "./sampler.js";
import type { SamplingParams } from "./sampling-params.js";
import { StopStringMatcher } from "./stop-strings.js";

/** Why a sequence ended, in OpenAI's words: "stop" (end of text or a stop string) or "length". */
export type FinishReason = "stop" | "length";

/**
 * The ids generation stops on: every end id the checkpoint's configs declare (a list for Llama 3
 * Instruct, Qwen and others) and the tokenizer's eos_token, which some checkpoints name only there.
 */
export function endTokenIds(declared: readonly number[], tokenizer: Tokenizer): number[] {
  const ids = [...declared];
  if (tokenizer.eosTokenId !== null && !ids.includes(tokenizer.eosTokenId)) ids.push(tokenizer.eosTokenId);
  return ids;
}

/** One prompt being continued: its tokens, its sampler, and the text it has produced so far. */
export class Sequence {
  readonly outputIds: number[] = [];
  text = "";
  finishReason: FinishReason | null = null;
  readonly sampler: Sampler;
  private readonly decoder: StreamDecoder;
  private readonly stops: StopStringMatcher;
  private readonly eosTokenIds: readonly number[];

  constructor(
    readonly promptIds: readonly number[],
    readonly params: SamplingParams,
    tokenizer: Tokenizer,
    vocabSize: number,
    readonly seed: number,
    /** Every id that ends the sequence (see endTokenIds). */
    eosTokenIds: readonly number[],
  ) {
    this.sampler = new Sampler(params, vocabSize, seed);
    this.sampler.observePrompt(promptIds);
    this.decoder = tokenizer.createStreamDecoder(promptIds);
    this.stops = new StopStringMatcher(params.stop);
    this.eosTokenIds = params.ignoreEos ? [] : eosTokenIds;
    if (params.maxTokens === 0) this.finishReason = "length";
  }

  /** Prompt plus generated tokens: the next position to fill in the cache. */
  get length(): number {
    return this.promptIds.length + this.outputIds.length;
  }

  /** The last token, which the next decode step feeds in. */
  get lastToken(): number {
    return this.outputIds.length > 0 ? this.outputIds[this.outputIds.length - 1] : this.promptIds[this.promptIds.length - 1];
  }

  /** Samples the next token from its logits (V,); returns the text it adds ("" while held back). */
  appendFrom(logits: Float32Array): string {
    const id = this.sampler.sample(logits);
    return this.append(id);
  }

  /** Records a chosen token and returns the text it adds. */
  append(id: number): string {
    if (this.finishReason !== null) throw new Error("Sequence.append: sequence already finished");
    let piece: string;
    if (this.eosTokenIds.includes(id)) {
      piece = this.finish("stop");
    } else {
      this.outputIds.push(id);
      this.sampler.observeOutput(id);
      piece = this.stops.push(this.decoder.push(id));
      if (this.stops.stopped) this.finishReason = "stop";
      else if (this.outputIds.length >= this.params.maxTokens) piece += this.finish("length");
    }
    this.text += piece;
    return piece;
  }

  /** Ends the sequence and returns the text still held back by the decoder and stop matcher. */
  private finish(reason: FinishReason): string {
    this.finishReason = reason;
    return this.stops.push(this.decoder.flush()) + this.stops.flush();
  }
}
