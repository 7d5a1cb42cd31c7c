import { StepBatch } from "../model/batch.js";
import type { KVCache } from "../model/kv-cache.js";
import type { ForwardPass, Model, StepLimits } from "../model/model.js";

/** The model plus the buffers of one forward pass over a KV cache: fill `batch`, call `run()`. */
export class ModelRunner {
  readonly batch: StepBatch;
  private readonly pass: ForwardPass;

  constructor(
    readonly model: Model,
    readonly cache: KVCache,
    limits: StepLimits,
  ) {
    this.batch = new StepBatch(limits.maxTokens, limits.maxChunks, limits.maxLogitRows);
    this.pass = model.forwardPass(limits);
  }

  run(): void {
    this.pass.run(this.cache, this.batch);
  }

  /** The logits (V,) of the i-th logit row of the last run. */
  logits(i: number): Float32Array {
    const V = this.model.shape.vocabSize;
    return this.pass.logits.subarray(i * V, (i + 1) * V);
  }
}
