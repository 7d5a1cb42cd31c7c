import type { TokenLogprobs } from "./logprobs.js";
import type { SamplingParams } from "./sampling-params.js";
import type { ScheduledSequence } from "./scheduler.js";
import type { FinishReason } from "./sequence.js";

/** What one sequence asks for. */
export interface SequenceRequest {
  promptIds: readonly number[];
  params: SamplingParams;
  /** The sampler's seed; params.seed, else a random one. */
  seed?: number;
  /** Report each generated token's logprob with this many top alternatives (0: the token only). */
  logprobs?: number | null;
  /** The same for every prompt token after the first; turns prefix caching off for the sequence. */
  promptLogprobs?: number | null;
  /** Called after each sampled token, in order. */
  onToken?: (event: TokenEvent) => void;
}

export interface TokenEvent {
  /** Text this token adds: "" while a partial character or a possible stop string is held back. */
  readonly piece: string;
  readonly id: number;
  /** Null for the end-of-text token, which is not part of the output, or when not asked for. */
  readonly logprobs: TokenLogprobs | null;
  readonly finishReason: FinishReason | null;
}

export interface SequenceResult {
  readonly text: string;
  /** Generated ids; the end-of-text token is not included. */
  readonly tokenIds: readonly number[];
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** Tokens sampled, the end-of-text token included. */
  readonly completionTokens: number;
  /** Prompt tokens whose keys and values came from the prefix cache. */
  readonly cachedTokens: number;
  readonly logprobs: readonly TokenLogprobs[] | null;
  /** Entry i is the prompt's token i + 1 given those before it. */
  readonly promptLogprobs: readonly TokenLogprobs[] | null;
  readonly seed: number;
  /** From add() to the first sampled token, and to the end. */
  readonly timeToFirstTokenMs: number;
  readonly totalMs: number;
}

export class QueueFullError extends Error {
  override readonly name = "QueueFullError";
}

/** A request was cancelled before it finished. */
export class AbortedError extends Error {
  override readonly name = "AbortedError";
}

/** A sequence in flight: its scheduling state, its outputs so far, and who to tell. */
export class SequenceHandle {
  readonly result: Promise<SequenceResult>;
  readonly logprobs: TokenLogprobs[] | null;
  readonly promptLogprobs: TokenLogprobs[] | null;
  completionTokens = 0;
  firstTokenAt = 0;
  readonly startedAt = performance.now();
  resolve!: (r: SequenceResult) => void;
  reject!: (e: unknown) => void;

  constructor(
    private readonly engine: { abort(handle: SequenceHandle): void },
    readonly state: ScheduledSequence,
    readonly request: SequenceRequest,
    readonly seed: number,
  ) {
    this.logprobs = request.logprobs === null || request.logprobs === undefined ? null : [];
    this.promptLogprobs = state.wantPromptLogits ? [] : null;
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.result.catch(() => {}); // an abandoned result must not become an unhandled rejection
  }

  get id(): number {
    return this.state.id;
  }

  /** Cancels the sequence: its blocks and batch slot are freed now, and `result` rejects. */
  abort(): void {
    this.engine.abort(this);
  }

  toResult(): SequenceResult {
    const seq = this.state.seq;
    const now = performance.now();
    return {
      text: seq.text,
      tokenIds: [...seq.outputIds],
      finishReason: seq.finishReason ?? "length",
      promptTokens: seq.promptIds.length,
      completionTokens: this.completionTokens,
      cachedTokens: this.state.numCachedTokens,
      logprobs: this.logprobs,
      promptLogprobs: this.promptLogprobs,
      seed: this.seed,
      timeToFirstTokenMs: (this.firstTokenAt || now) - this.startedAt,
      totalMs: now - this.startedAt,
    };
  }
}
