import { randomInt } from "node:crypto";
import path from "node:path";
import { UserError } from "../errors.js";
import type { KVDType } from "../kernels/backend.js";
import type { Backend } from "../kernels/index.js";
import type { LoadedModel } from "../model/load.js";
import type { ModelSpec } from "../model/model.js";
import type { ModelShape } from "../model/shape.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { BlockManager, type BlockStats } from "./block-manager.js";
import { tokenLogprobs } from "./logprobs.js";
import { kvDTypeOf, loadOnBackend, type KVBudget, type ModelLoadOptions } from "./load-model.js";
import { ModelRunner } from "./model-runner.js";
import { PagedKVCache } from "./paged-cache.js";
import { checkContextLength, checkPrompt } from "./prompt-checks.js";
import { AbortedError, QueueFullError, SequenceHandle, type SequenceRequest, type SequenceResult } from "./request.js";
import type { SamplingParams } from "./sampling-params.js";
import { ScheduledSequence, Scheduler, type ScheduledChunk } from "./scheduler.js";
import { endTokenIds, Sequence } from "./sequence.js";

export { AbortedError, QueueFullError, SequenceHandle, type SequenceRequest, type SequenceResult, type TokenEvent } from "./request.js";

export interface EngineOptions extends ModelLoadOptions {
  /** Sequences in the running batch at most. */
  maxBatch?: number;
  /** Positions per sequence; the model's context by default. */
  contextLength?: number;
  /** Size of the KV block pool in MiB; by default enough for maxBatch full contexts, at most 1 GiB. */
  kvMemoryMB?: number;
  /** Pool size in blocks, overriding kvMemoryMB. */
  numBlocks?: number;
  /** Positions per KV block. */
  blockSize?: number;
  /** Tokens per forward pass (decode tokens plus prefill chunks); raised to maxBatch if lower. */
  maxStepTokens?: number;
  /** Sequences waiting for a batch slot at most; more are refused with QueueFullError. */
  maxQueue?: number;
  /** Reuse the blocks of earlier prompts with the same prefix. */
  prefixCaching?: boolean;
  /** The name the model is served as; load() uses the folder's name. */
  modelName?: string;
}

const DEFAULTS = { maxBatch: 64, blockSize: 16, maxStepTokens: 256, maxQueue: 1024, defaultKvCapMB: 1024 };

export interface EngineStats {
  readonly waiting: number;
  readonly running: number;
  readonly preemptions: number;
  readonly steps: number;
  /** Prompt tokens admitted, and tokens sampled. */
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly blocks: BlockStats;
}

/**
 * The serving engine (nano-vllm's LLMEngine): requests join a queue, and a loop of steps runs
 * schedule → one forward pass over every scheduled chunk → sample, stream and retire. Steps are
 * spaced with setImmediate so network I/O runs between them; one step is the longest the event
 * loop is ever blocked. Every sequence samples with its own seeded Sampler, and its keys and
 * values do not depend on its neighbours, so batching never changes a result.
 */
export class LLMEngine {
  readonly shape: ModelShape;
  readonly tokenizer: Tokenizer;
  /** The ids generation stops on (unless ignore_eos). */
  readonly eosTokenIds: readonly number[];
  readonly modelName: string;
  readonly contextLength: number;
  readonly cache: PagedKVCache;
  readonly blocks: BlockManager;
  readonly scheduler: Scheduler;
  readonly maxQueue: number;
  readonly runner: ModelRunner;
  private readonly handles = new Map<number, SequenceHandle>();
  private nextId = 0;
  private loopPending = false;
  private closed = false;
  private steps = 0;
  private promptTokens = 0;
  private generatedTokens = 0;

  constructor(
    model: LoadedModel,
    readonly backend: Backend,
    options: EngineOptions = {},
  ) {
    this.shape = model.model.shape;
    this.tokenizer = model.tokenizer;
    this.eosTokenIds = endTokenIds(model.eosTokenIds, model.tokenizer);
    this.modelName = options.modelName ?? model.model.family;
    const shape = this.shape;
    const maxBatch = positiveInt(options.maxBatch ?? DEFAULTS.maxBatch, "maxBatch");
    const blockSize = positiveInt(options.blockSize ?? DEFAULTS.blockSize, "blockSize");
    this.contextLength = checkContextLength(options.contextLength, shape);
    this.maxQueue = positiveInt(options.maxQueue ?? DEFAULTS.maxQueue, "maxQueue");
    const maxStepTokens = Math.max(positiveInt(options.maxStepTokens ?? DEFAULTS.maxStepTokens, "maxStepTokens"), maxBatch);
    const kvDtype = kvDTypeOf(options);
    const numBlocks = options.numBlocks ?? poolBlocks(shape, this.contextLength, options.kvMemoryMB, blockSize, maxBatch, kvDtype);
    positiveInt(numBlocks, "numBlocks");
    this.cache = new PagedKVCache(shape, backend, numBlocks, blockSize, maxBatch, this.contextLength, kvDtype);
    this.blocks = new BlockManager(numBlocks, blockSize);
    this.scheduler = new Scheduler(this.blocks, this.cache.tables, {
      maxBatch,
      maxStepTokens,
      prefixCaching: options.prefixCaching ?? true,
      watermarkBlocks: Math.ceil(numBlocks * 0.01),
    });
    // Logit rows: one per decoding sequence, or one per token of a chunk that wants prompt logprobs.
    this.runner = new ModelRunner(model.model, this.cache, { maxTokens: maxStepTokens, maxChunks: maxBatch, maxLogitRows: maxStepTokens });
  }

  static async load(source: string, options: EngineOptions = {}): Promise<LLMEngine> {
    // The constructor's sizes, worked out before the weights so a pool that cannot fit is refused first.
    const budget = (spec: ModelSpec): KVBudget => {
      const blockSize = positiveInt(options.blockSize ?? DEFAULTS.blockSize, "blockSize");
      const contextLength = checkContextLength(options.contextLength, spec.shape);
      const kvDtype = kvDTypeOf(options);
      const numBlocks = options.numBlocks ?? poolBlocks(spec.shape, contextLength, options.kvMemoryMB, blockSize, positiveInt(options.maxBatch ?? DEFAULTS.maxBatch, "maxBatch"), kvDtype);
      const what = options.numBlocks !== undefined ? `${numBlocks} blocks` : options.kvMemoryMB !== undefined ? `--kv-memory ${options.kvMemoryMB} MB` : "the default pool";
      return { bytes: numBlocks * PagedKVCache.bytesPerBlock(spec.shape, blockSize, kvDtype), what: `${what} of ${kvDtype}`, flag: "--kv-memory" };
    };
    const { model, tokenizer, eosTokenIds, backend } = await loadOnBackend(source, options, budget);
    try {
      return new LLMEngine({ model, tokenizer, eosTokenIds }, backend, { ...options, modelName: options.modelName ?? path.basename(path.resolve(source)) });
    } catch (e) {
      backend.close();
      throw e;
    }
  }

  get maxBatch(): number {
    return this.scheduler.limits.maxBatch;
  }

  /** Throws a UserError, with the numbers, if a prompt and max_tokens can never be served. */
  validate(promptIds: readonly number[], maxTokens: number): void {
    checkPrompt(promptIds, maxTokens, this.shape, this.contextLength);
    const total = promptIds.length + maxTokens;
    // The last sampled token is never fed back, so it needs no cache position.
    const positions = Math.max(promptIds.length, total - 1);
    const blocks = this.blocks.blocksFor(positions);
    if (blocks > this.blocks.numBlocks) {
      const bs = this.blocks.blockSize;
      throw new UserError(
        `the request needs ${positions} KV positions (${blocks} blocks of ${bs}) but the KV pool has ${this.blocks.numBlocks} blocks (${this.blocks.numBlocks * bs} positions): raise --kv-memory or lower max_tokens`,
      );
    }
  }

  /** Whether `n` more sequences fit in the queue. */
  canQueue(n: number): boolean {
    return this.scheduler.waiting.length + n <= this.maxQueue;
  }

  /** Queues one sequence. Throws UserError if it can never fit, QueueFullError if the queue is full. */
  add(request: SequenceRequest): SequenceHandle {
    if (this.closed) throw new Error("LLMEngine: closed");
    this.validate(request.promptIds, request.params.maxTokens);
    if (!this.canQueue(1)) throw new QueueFullError(`the queue is full (${this.maxQueue} waiting sequences)`);
    const seed = request.seed ?? request.params.seed ?? randomInt(2 ** 31);
    const seq = new Sequence([...request.promptIds], request.params, this.tokenizer, this.shape.vocabSize, seed, this.eosTokenIds);
    const wantPromptLogits = request.promptLogprobs !== null && request.promptLogprobs !== undefined;
    const handle = new SequenceHandle(this, new ScheduledSequence(this.nextId++, seq, wantPromptLogits), request, seed);
    if (seq.finishReason !== null && !wantPromptLogits) {
      handle.resolve(handle.toResult()); // max_tokens 0: nothing to compute
      return handle;
    }
    this.handles.set(handle.id, handle);
    this.scheduler.add(handle.state);
    this.promptTokens += seq.promptIds.length;
    this.kick();
    return handle;
  }

  /** Generates one completion (a convenience over add()). */
  generate(prompt: string | readonly number[], params: SamplingParams): Promise<SequenceResult> {
    // A text prompt gets the special tokens the model expects around it (Llama 2's BOS), as HF's encode gives.
    const promptIds = typeof prompt === "string" ? this.tokenizer.encode(prompt, { addSpecialTokens: true }) : prompt;
    return this.add({ promptIds, params }).result;
  }

  abort(handle: SequenceHandle): void {
    if (!this.handles.delete(handle.id)) return;
    this.scheduler.finish(handle.state);
    handle.reject(new AbortedError("the request was cancelled"));
  }

  stats(): EngineStats {
    return {
      waiting: this.scheduler.waiting.length,
      running: this.scheduler.running.length,
      preemptions: this.scheduler.numPreemptions,
      steps: this.steps,
      promptTokens: this.promptTokens,
      generatedTokens: this.generatedTokens,
      blocks: this.blocks.stats(),
    };
  }

  /** Sequences queued or running. */
  get numActive(): number {
    return this.handles.size;
  }

  /** Aborts everything in flight and releases the backend. */
  close(): void {
    if (this.closed) return;
    for (const h of [...this.handles.values()]) this.abort(h);
    this.closed = true;
    this.backend.close();
  }

  private kick(): void {
    if (this.loopPending || this.closed || !this.scheduler.hasWork()) return;
    this.loopPending = true;
    setImmediate(this.loop);
  }

  private readonly loop = (): void => {
    this.loopPending = false;
    if (this.closed) return;
    try {
      this.step();
    } catch (e) {
      this.failAll(e);
    }
    this.kick();
  };

  /** One iteration: schedule, run the model once, then sample and retire. */
  step(): void {
    if (!this.schedule()) return;
    this.runner.run();
    this.postprocess();
  }

  /** Fills the runner's batch with this step's chunks; false if there is nothing to run. */
  schedule(): boolean {
    this.scheduler.schedule(this.runner.batch);
    if (this.runner.batch.numTokens > 0) return true;
    if (this.scheduler.hasWork()) throw new Error("scheduler made no progress");
    return false;
  }

  /** After run(): records what was computed, samples, streams and retires. */
  postprocess(): void {
    const { scheduler } = this;
    this.steps++;
    for (let i = 0; i < scheduler.numChunks; i++) {
      const chunk = scheduler.chunks[i];
      scheduler.completed(chunk);
      const handle = this.handles.get(chunk.seq.id);
      if (handle !== undefined) this.postprocessChunk(handle, chunk);
    }
  }

  private postprocessChunk(h: SequenceHandle, chunk: ScheduledChunk): void {
    const s = chunk.seq;
    if (s.wantPromptLogits) this.recordPromptLogprobs(h, chunk);
    if (chunk.start + chunk.length < s.numTokens) return; // a prefill chunk before the last
    const seq = s.seq;
    if (seq.finishReason === null) {
      const logits = this.runner.logits(chunk.firstLogitRow + chunk.numLogitRows - 1);
      const id = seq.sampler.sample(logits);
      const before = seq.outputIds.length;
      const lp = h.logprobs !== null ? tokenLogprobs(logits, id, h.request.logprobs ?? 0) : null;
      const piece = seq.append(id);
      const isOutput = seq.outputIds.length > before;
      if (lp !== null && isOutput) h.logprobs?.push(lp);
      h.completionTokens++;
      this.generatedTokens++;
      if (h.firstTokenAt === 0) h.firstTokenAt = performance.now();
      const onToken = h.request.onToken;
      if (onToken !== undefined) {
        try {
          onToken({ piece, id, logprobs: isOutput ? lp : null, finishReason: seq.finishReason });
        } catch (e) {
          this.fail(h, e);
          return;
        }
      }
    }
    if (seq.finishReason !== null && this.handles.delete(h.id)) {
      this.scheduler.finish(s);
      h.resolve(h.toResult());
    }
  }

  private recordPromptLogprobs(h: SequenceHandle, chunk: ScheduledChunk): void {
    const s = chunk.seq;
    const promptLength = s.seq.promptIds.length;
    const topN = h.request.promptLogprobs ?? 0;
    for (let j = 0; j < chunk.numLogitRows; j++) {
      const next = chunk.start + j + 1;
      if (next >= promptLength) break;
      // Indexed by position, so a recompute after preemption overwrites instead of appending.
      if (h.promptLogprobs !== null) h.promptLogprobs[next - 1] = tokenLogprobs(this.runner.logits(chunk.firstLogitRow + j), s.tokenAt(next), topN);
    }
    if (chunk.start + chunk.length >= promptLength) s.wantPromptLogits = false;
  }

  private fail(h: SequenceHandle, e: unknown): void {
    if (!this.handles.delete(h.id)) return;
    this.scheduler.finish(h.state);
    h.reject(e);
  }

  /** A step threw (a bug or a backend failure): fail what was in flight, keep serving. */
  private failAll(e: unknown): void {
    for (const h of [...this.handles.values()]) this.fail(h, e);
  }
}

function positiveInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`invalid ${what} ${n}: must be an integer >= 1`);
  return n;
}

/** KV pool blocks for `kvMemoryMB` MiB, or by default maxBatch full contexts capped at 1 GiB. */
function poolBlocks(shape: ModelShape, contextLength: number, kvMemoryMB: number | undefined, blockSize: number, maxBatch: number, kvDtype: KVDType): number {
  const bytesPerBlock = PagedKVCache.bytesPerBlock(shape, blockSize, kvDtype);
  if (kvMemoryMB === undefined) {
    const full = maxBatch * Math.ceil(contextLength / blockSize);
    return Math.max(1, Math.min(full, Math.floor((DEFAULTS.defaultKvCapMB * 2 ** 20) / bytesPerBlock)));
  }
  if (!(kvMemoryMB > 0)) throw new UserError(`invalid KV memory ${kvMemoryMB} MB: must be > 0`);
  const n = Math.floor((kvMemoryMB * 2 ** 20) / bytesPerBlock);
  if (n < 1) throw new UserError(`KV memory of ${kvMemoryMB} MB holds no block: one block of ${blockSize} positions takes ${(bytesPerBlock / 2 ** 20).toFixed(2)} MB`);
  return n;
}
