import type { Backend } from "../kernels/backend.js";
import { StepBatch } from "../model/batch.js";
import type { GPT2Config } from "../model/config.js";
import { forward } from "../model/gpt2.js";
import type { KVCache } from "../model/kv-cache.js";
import { RunState } from "../model/run-state.js";
import type { GPT2Weights } from "../model/weights.js";

/** The model plus the buffers of one forward pass over a KV cache: fill `batch`, call `run()`. */
export class ModelRunner {
  readonly batch: StepBatch;
  readonly state: RunState;

  constructor(
    readonly config: GPT2Config,
    readonly weights: GPT2Weights,
    readonly backend: Backend,
    readonly cache: KVCache,
    limits: { maxTokens: number; maxChunks: number; maxLogitRows: number },
  ) {
    this.batch = new StepBatch(limits.maxTokens, limits.maxChunks, limits.maxLogitRows);
    this.state = new RunState(config, backend, limits.maxTokens, limits.maxLogitRows, limits.maxChunks);
  }

  run(): void {
    forward(this.config, this.weights, this.backend, this.state, this.cache, this.batch);
  }

  /** The logits (V,) of the i-th logit row of the last run. */
  logits(i: number): Float32Array {
    const V = this.config.vocabSize;
    return this.state.logits.subarray(i * V, (i + 1) * V);
  }
}
