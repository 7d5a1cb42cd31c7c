import { randomInt } from "node:crypto";
import { UserError } from "../errors.js";
import type { KVArray, KVDType } from "../kernels/backend.js";
import type { Backend } from "../kernels/index.js";
import { profileBackend, type KernelProfiler } from "../kernels/profile.js";
import type { WeightDType } from "../model/matrix.js";
import type { Model, ModelSpec } from "../model/model.js";
import type { ModelShape } from "../model/shape.js";
import type { EncodeOptions, Tokenizer } from "../tokenizer/index.js";
import { decodeOne, prefill } from "./generate.js";
import { kvDTypeOf, loadOnBackend, type KVBudget, type ModelLoadOptions } from "./load-model.js";
import { ModelRunner } from "./model-runner.js";
import { resolveSamplingParams, type SamplingParams } from "./sampling-params.js";
import { checkContextLength, checkPrompt } from "./prompt-checks.js";
import { endTokenIds, Sequence, type FinishReason } from "./sequence.js";
import { StaticKVCache } from "./static-cache.js";

export interface LoadOptions extends ModelLoadOptions {
  /** Sequences generated together at most (slots in the static KV cache). */
  maxBatch?: number;
  /** Tokens per sequence the KV cache holds; the model's context by default. */
  contextLength?: number;
  /** Tokens per prefill pass; longer prompts are prefilled in chunks. */
  prefillChunk?: number;
  /** Time every kernel call (see `profiler`); costs two clock reads per call. */
  profile?: boolean;
}

export interface Timings {
  promptTokens: number;
  promptMs: number;
  promptTokensPerSecond: number;
  generatedTokens: number;
  generateMs: number;
  generatedTokensPerSecond: number;
}

export interface GenerationResult {
  text: string;
  tokens: number[]; // generated ids (the end-of-text token is not included)
  promptTokens: number[];
  finishReason: FinishReason;
  timings: Timings;
}

export type Prompt = string | readonly number[];

/**
 * A loaded model ready to generate: weights in the backend's memory, a static KV cache with
 * `maxBatch` slots, and the buffers of one step, all allocated once here.
 */
export class LLM {
  readonly contextLength: number;
  private readonly runner: ModelRunner;
  private readonly cache: StaticKVCache;
  private scoringRunner: ModelRunner | null = null;

  readonly shape: ModelShape;
  /** The ids generation stops on (unless ignoreEos). */
  readonly eosTokenIds: readonly number[];

  private constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    declaredEosTokenIds: readonly number[],
    readonly backend: Backend,
    /** How the weight matrices are stored when asked for; null: each as the checkpoint stores it. */
    readonly dtype: WeightDType | null,
    readonly maxBatch: number,
    contextLength: number,
    private readonly prefillChunk: number,
    kvDtype: KVDType,
    /** Per-kernel timings when loaded with `profile: true`. */
    readonly profiler: KernelProfiler | null = null,
  ) {
    this.shape = model.shape;
    this.eosTokenIds = endTokenIds(declaredEosTokenIds, tokenizer);
    this.contextLength = contextLength;
    this.cache = new StaticKVCache(model.shape, backend, maxBatch, contextLength, kvDtype);
    this.runner = new ModelRunner(model, this.cache, {
      maxTokens: Math.max(prefillChunk, maxBatch),
      maxChunks: maxBatch,
      maxLogitRows: maxBatch,
    });
  }

  static async load(modelSource: string, options: LoadOptions = {}): Promise<LLM> {
    const maxBatch = options.maxBatch ?? 1;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new UserError(`invalid maxBatch ${maxBatch}: must be an integer >= 1`);
    const kvDtype = kvDTypeOf(options);
    const budget = (spec: ModelSpec): KVBudget => {
      const contextLength = checkContextLength(options.contextLength, spec.shape);
      const bytes = StaticKVCache.bytes(spec.shape, maxBatch, contextLength, kvDtype);
      return { bytes, what: `${maxBatch} × ${contextLength} positions of ${kvDtype}`, flag: "context length" };
    };
    let profiler: KernelProfiler | null = null;
    const { model, tokenizer, eosTokenIds, backend, dtype } = await loadOnBackend(modelSource, options, budget, (created) => {
      profiler = options.profile ? profileBackend(created) : null;
      return profiler?.backend ?? created;
    });
    try {
      return new LLM(model, tokenizer, eosTokenIds, backend, dtype, maxBatch, checkContextLength(options.contextLength, model.shape), options.prefillChunk ?? 128, kvDtype, profiler);
    } catch (e) {
      backend.close();
      throw e;
    }
  }

  /**
   * Text to ids as HF's encode does: with the special tokens the tokenizer adds (Llama 2's BOS,
   * which a prompt to continue needs) unless `addSpecialTokens` is false.
   */
  tokenize(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, options);
  }

  detokenize(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(ids);
  }

  /** Streams the continuation of one prompt as text pieces; `result` resolves when it ends. */
  generate(prompt: Prompt, params: Partial<SamplingParams> = {}): Generation {
    return new Generation(this, prompt, params);
  }

  /** Continues several prompts together, one decode pass per step; each result equals a solo run. */
  generateBatch(prompts: readonly Prompt[], params: Partial<SamplingParams> = {}): GenerationResult[] {
    const run = this.start(prompts, params);
    while (run.step() !== null);
    return run.results();
  }

  /** Prepares sequences, validates sizes and prefills every prompt; `step()` then decodes. */
  start(prompts: readonly Prompt[], params: Partial<SamplingParams>): BatchRun {
    if (prompts.length === 0) throw new UserError("no prompts given");
    if (prompts.length > this.maxBatch) throw new UserError(`${prompts.length} prompts exceed the batch size of ${this.maxBatch}`);
    const resolved = resolveSamplingParams(params);
    const seed = resolved.seed ?? randomInt(2 ** 31);
    const sequences = prompts.map((p) => {
      const ids = typeof p === "string" ? this.tokenize(p) : [...p];
      checkPrompt(ids, resolved.maxTokens, this.shape, this.contextLength);
      return new Sequence(ids, resolved, this.tokenizer, this.shape.vocabSize, seed, this.eosTokenIds);
    });
    return new BatchRun(this.runner, sequences);
  }

  /**
   * Runs ids through the model from position 0 and hands over the next-token logits (V,) of
   * every position, in order: for perplexity, prompt logprobs and tests.
   */
  forEachPositionLogits(ids: readonly number[], onLogits: (position: number, logits: Float32Array) => void): void {
    checkPrompt(ids, 0, this.shape, this.contextLength);
    this.scoringRunner ??= new ModelRunner(this.model, this.cache, {
      maxTokens: this.prefillChunk,
      maxChunks: 1,
      maxLogitRows: this.prefillChunk,
    });
    const runner = this.scoringRunner;
    for (let start = 0; start < ids.length; start += this.prefillChunk) {
      const end = Math.min(start + this.prefillChunk, ids.length);
      runner.batch.clear();
      runner.batch.add(0, start, ids, start, end, "all");
      runner.run();
      for (let i = 0; i < end - start; i++) onLogits(start + i, runner.logits(i));
    }
  }

  /**
   * Mean negative log-likelihood (natural log) of ids, cut into consecutive non-overlapping
   * windows of `context` tokens; inside each window every token after the first is predicted
   * from the ones before it.
   */
  perplexity(ids: readonly number[], context = this.contextLength): { tokens: number; predictions: number; nll: number; ppl: number } {
    if (!Number.isInteger(context) || context < 2 || context > this.contextLength) {
      throw new UserError(`invalid context ${context}: must be an integer in [2, ${this.contextLength}]`);
    }
    let total = 0;
    let predictions = 0;
    for (let start = 0; start + 1 < ids.length; start += context) {
      const window = ids.slice(start, start + context);
      this.forEachPositionLogits(window, (pos, logits) => {
        if (pos + 1 < window.length) {
          total -= logSoftmaxAt(logits, window[pos + 1]);
          predictions++;
        }
      });
    }
    if (predictions === 0) throw new UserError(`the text has ${ids.length} tokens: perplexity needs at least 2`);
    const nll = total / predictions;
    return { tokens: ids.length, predictions, nll, ppl: Math.exp(nll) };
  }

  close(): void {
    this.backend.close();
  }
}

/** log softmax(logits)[id], computed stably in f64. */
export function logSoftmaxAt(logits: Float32Array, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(sum);
}

/** A batch in progress over the static cache: prefilled on creation, then one `step()` per token. */
export class BatchRun {
  private readonly pieces: string[];
  private readonly startedAt = performance.now();
  private readonly prefillMs: number;
  private decodeMs = 0;

  constructor(private readonly runner: ModelRunner, readonly sequences: Sequence[]) {
    this.pieces = sequences.map(() => "");
    sequences.forEach((seq, slot) => {
      if (seq.finishReason === null) this.pieces[slot] = seq.appendFrom(prefill(runner, slot, seq.promptIds));
    });
    this.prefillMs = performance.now() - this.startedAt;
  }

  /** The text pieces of the prefill (the first token of each sequence). */
  firstPieces(): readonly string[] {
    return this.pieces;
  }

  /** Decodes one token for every unfinished sequence; null when all have finished. */
  step(): readonly string[] | null {
    if (this.sequences.every((s) => s.finishReason !== null)) return null;
    const t0 = performance.now();
    decodeOne(this.runner, this.sequences, this.pieces);
    this.decodeMs += performance.now() - t0;
    return this.pieces;
  }

  results(): GenerationResult[] {
    return this.sequences.map((seq) => {
      const promptTokens = seq.promptIds.length;
      const generated = seq.outputIds.length;
      // The first token comes out of the prefill; the others out of decode steps.
      const decoded = Math.max(0, generated - 1);
      return {
        text: seq.text,
        tokens: [...seq.outputIds],
        promptTokens: [...seq.promptIds],
        finishReason: seq.finishReason ?? "length",
        timings: {
          promptTokens,
          promptMs: this.prefillMs,
          promptTokensPerSecond: (promptTokens / this.prefillMs) * 1000,
          generatedTokens: generated,
          generateMs: this.decodeMs,
          generatedTokensPerSecond: this.decodeMs > 0 ? (decoded / this.decodeMs) * 1000 : 0,
        },
      };
    });
  }
}

/** One prompt's continuation as an async iterable of text pieces. */
export class Generation implements AsyncIterable<string> {
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: unknown) => void;
  /** Resolves with the whole result once iteration has finished. */
  readonly result: Promise<GenerationResult>;

  constructor(private readonly llm: LLM, private readonly prompt: Prompt, private readonly params: Partial<SamplingParams>) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => {}); // the iterator rethrows; an unobserved result must not crash the process
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    try {
      const run = this.llm.start([this.prompt], this.params);
      const first = run.firstPieces()[0];
      if (first !== "") yield first;
      for (let pieces = run.step(); pieces !== null; pieces = run.step()) {
        if (pieces[0] !== "") yield pieces[0];
      }
      this.resolveResult(run.results()[0]);
    } catch (e) {
      this.rejectResult(e);
      throw e;
    }
  }
}
